#include "analysis/precision/npy.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "numeric/bits.h"

namespace lmul::precision {

namespace {

// Value of `key` in a Python-dict-literal header: the text after "'key':" up
// to the matching ',' or '}' at depth 0 (parentheses nest), trimmed.
bool HeaderField(const std::string& h, const std::string& key, std::string* out) {
  const std::string pat = "'" + key + "'";
  const size_t k = h.find(pat);
  if (k == std::string::npos) return false;
  size_t i = h.find(':', k + pat.size());
  if (i == std::string::npos) return false;
  ++i;
  int depth = 0;
  size_t j = i;
  for (; j < h.size(); ++j) {
    const char c = h[j];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    if (depth < 0) return false;
  }
  if (j == h.size()) return false;
  std::string v = h.substr(i, j - i);
  const size_t a = v.find_first_not_of(" \t"), b = v.find_last_not_of(" \t");
  *out = a == std::string::npos ? "" : v.substr(a, b - a + 1);
  return true;
}

}  // namespace

Result<std::vector<float>> ParseNpyPairs(const std::string& bytes, const std::string& name) {
  auto fail = [&](const std::string& why) { return MakeError(name + ": " + why); };
  static const char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) {
    return fail("not an NPY file (magic \\x93NUMPY expected at offset 0)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail("truncated: header length field (4 bytes at offset 8)");
    header_len = 0;
    for (int i = 0; i < 4; ++i) {
      header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    }
    header_start = 12;
  } else {
    return fail("NPY version " + std::to_string(major) + " not supported (expected 1, 2 or 3)");
  }
  if (header_len > bytes.size() - header_start) {
    return fail("header length " + std::to_string(header_len) + " beyond end of file (size " +
                std::to_string(bytes.size()) + ")");
  }
  const std::string header = bytes.substr(header_start, header_len);
  std::string descr, order, shape;
  if (!HeaderField(header, "descr", &descr) || !HeaderField(header, "fortran_order", &order) ||
      !HeaderField(header, "shape", &shape)) {
    return fail("header: expected keys 'descr', 'fortran_order', 'shape' in '" + header + "'");
  }
  if (descr != "'<f4'" && descr != "\"<f4\"") {
    return fail("header field 'descr' is " + descr + ": expected '<f4' (little-endian float32)");
  }
  if (order != "False")
    return fail("header field 'fortran_order' is " + order + ": expected False");
  // shape: "(n, 2)" with optional spaces.
  uint64_t n = 0, cols = 0;
  {
    std::string s;
    for (char c : shape) {
      if (c != ' ') s += c;
    }
    if (s.size() < 5 || s.front() != '(' || s.back() != ')') {
      return fail("header field 'shape' is " + shape + ": expected (n, 2)");
    }
    s = s.substr(1, s.size() - 2);
    const size_t comma = s.find(',');
    if (comma == std::string::npos || comma == 0 || s.find(',', comma + 1) != std::string::npos) {
      return fail("header field 'shape' is " + shape + ": expected (n, 2)");
    }
    auto parse_u = [](const std::string& t, uint64_t* v) {
      if (t.empty() || t.size() > 15) return false;
      *v = 0;
      for (char c : t) {
        if (c < '0' || c > '9') return false;
        *v = *v * 10 + static_cast<uint64_t>(c - '0');
      }
      return true;
    };
    if (!parse_u(s.substr(0, comma), &n) || !parse_u(s.substr(comma + 1), &cols) || cols != 2) {
      return fail("header field 'shape' is " + shape + ": expected (n, 2)");
    }
  }
  const size_t data_start = header_start + header_len;
  const uint64_t avail = bytes.size() - data_start;
  if (n > avail / 8 || avail != n * 8) {
    return fail("data size " + std::to_string(avail) + " bytes at offset " +
                std::to_string(data_start) + ": expected " + std::to_string(n) +
                " rows x 2 x 4 bytes = " + std::to_string(n * 8));
  }
  std::vector<float> out(n * 2);
  for (uint64_t i = 0; i < n * 2; ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[data_start + 4 * i + b]))
              << (8 * b);
    }
    out[i] = BitsFloat(bits);
  }
  return out;
}

Result<std::vector<float>> ReadNpyPairs(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return MakeError(path + ": cannot open for reading");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return MakeError(path + ": read error");
  return ParseNpyPairs(ss.str(), path);
}

std::string NpyPairsImage(const std::vector<float>& pairs) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(pairs.size() / 2) + ", 2), }";
  // Pad with spaces so that magic(6)+version(2)+len(2)+header+'\n' is a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  for (float v : pairs) {
    const uint32_t bits = FloatBits(v);
    for (int b = 0; b < 4; ++b) out += static_cast<char>((bits >> (8 * b)) & 0xFF);
  }
  return out;
}

Status WriteNpyPairs(const std::string& path, const std::vector<float>& pairs) {
  std::ofstream f(path, std::ios::binary);
  if (!f) return MakeError(path + ": cannot open for writing");
  const std::string img = NpyPairsImage(pairs);
  f.write(img.data(), static_cast<std::streamsize>(img.size()));
  if (!f) return MakeError(path + ": write error");
  return Status::Ok();
}

}  // namespace lmul::precision
