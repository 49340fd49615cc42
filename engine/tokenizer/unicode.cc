#include "engine/tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <iterator>

namespace lmul::engine::unicode {
namespace {

struct UnicodeRange {
  uint32_t first;
  uint8_t category;  // GeneralCategory
};
#include "engine/tokenizer/unicode_tables.inc"

constexpr uint16_t ClassOfCategory(GeneralCategory c) {
  switch (c) {
    case GeneralCategory::kCn:
      return kUndefined;
    case GeneralCategory::kCc:
    case GeneralCategory::kCf:
    case GeneralCategory::kCo:
    case GeneralCategory::kCs:
      return kOther;
    case GeneralCategory::kLl:
    case GeneralCategory::kLm:
    case GeneralCategory::kLo:
    case GeneralCategory::kLt:
    case GeneralCategory::kLu:
      return kLetter;
    case GeneralCategory::kMc:
    case GeneralCategory::kMe:
    case GeneralCategory::kMn:
      return kMark;
    case GeneralCategory::kNd:
    case GeneralCategory::kNl:
    case GeneralCategory::kNo:
      return kNumber;
    case GeneralCategory::kPc:
    case GeneralCategory::kPd:
    case GeneralCategory::kPe:
    case GeneralCategory::kPf:
    case GeneralCategory::kPi:
    case GeneralCategory::kPo:
    case GeneralCategory::kPs:
      return kPunctuation;
    case GeneralCategory::kSc:
    case GeneralCategory::kSk:
    case GeneralCategory::kSm:
    case GeneralCategory::kSo:
      return kSymbol;
    case GeneralCategory::kZl:
    case GeneralCategory::kZp:
    case GeneralCategory::kZs:
      return kSeparator;
  }
  return kUndefined;
}

uint16_t SlowClassOf(uint32_t cp) {
  uint16_t cls = ClassOfCategory(CategoryOf(cp));
  if (std::binary_search(std::begin(kUnicodeWhiteSpace), std::end(kUnicodeWhiteSpace), cp)) {
    cls |= kWhitespace;
  }
  return cls;
}

// Classes of U+0000..U+FFFF, filled once (128 KiB); the rest by binary search.
struct BmpClassTable {
  std::array<uint16_t, 0x10000> cls;
  BmpClassTable() {
    for (uint32_t cp = 0; cp < 0x10000; ++cp) cls[cp] = SlowClassOf(cp);
  }
};
const BmpClassTable& Bmp() {
  static const BmpClassTable table;
  return table;
}

struct ByteLevelTables {
  std::array<uint32_t, 256> byte_to_cp;
  std::array<int16_t, 512> cp_to_byte;  // every byte-level code point is < U+0200
  ByteLevelTables() {
    cp_to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      byte_to_cp[b] = printable ? b : 256 + n++;
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};
const ByteLevelTables& ByteLevel() {
  static const ByteLevelTables tables;
  return tables;
}

}  // namespace

const char* UnicodeVersion() { return LMUL_UNICODE_VERSION; }

GeneralCategory CategoryOf(uint32_t cp) {
  if (cp > 0x10FFFF) return GeneralCategory::kCn;
  // Last range whose first code point is <= cp.
  const auto it = std::upper_bound(std::begin(kUnicodeRanges), std::end(kUnicodeRanges), cp,
                                   [](uint32_t v, const UnicodeRange& r) { return v < r.first; });
  return static_cast<GeneralCategory>(std::prev(it)->category);
}

uint16_t ClassOf(uint32_t cp) {
  if (cp < 0x10000) return Bmp().cls[cp];
  if (cp > 0x10FFFF) return kUndefined;
  return SlowClassOf(cp);
}

void DecodeUtf8Lenient(std::string_view s, std::vector<uint32_t>* out) {
  out->clear();
  out->reserve(s.size());
  const size_t n = s.size();
  size_t i = 0;
  auto cont = [&](size_t k) { return k < n && (static_cast<uint8_t>(s[k]) & 0xC0) == 0x80; };
  while (i < n) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      if (cont(i + 1)) {
        cp = ((c & 0x1Fu) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu);
        len = 2;
      }
    } else if ((c & 0xF0) == 0xE0) {
      if (cont(i + 1) && cont(i + 2)) {
        cp = ((c & 0x0Fu) << 12) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 6) |
             (static_cast<uint8_t>(s[i + 2]) & 0x3Fu);
        len = 3;
      }
    } else if ((c & 0xF8) == 0xF0) {
      if (cont(i + 1) && cont(i + 2) && cont(i + 3)) {
        const uint32_t v = ((c & 0x07u) << 18) | ((static_cast<uint8_t>(s[i + 1]) & 0x3Fu) << 12) |
                           ((static_cast<uint8_t>(s[i + 2]) & 0x3Fu) << 6) |
                           (static_cast<uint8_t>(s[i + 3]) & 0x3Fu);
        if (v <= 0x10FFFF) {
          cp = v;
          len = 4;
        }
      }
    }
    out->push_back(cp);
    i += len;
  }
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const uint8_t d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

uint32_t ByteToCodepoint(uint8_t b) { return ByteLevel().byte_to_cp[b]; }

int CodepointToByte(uint32_t cp) { return cp < 512 ? ByteLevel().cp_to_byte[cp] : -1; }

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(c)), &out);
  return out;
}

std::string ByteLevelToBytes(std::string_view text, bool* all_mapped) {
  std::vector<uint32_t> cps;
  DecodeUtf8Lenient(text, &cps);
  std::string out;
  out.reserve(cps.size());
  bool ok = true;
  for (uint32_t cp : cps) {
    const int b = CodepointToByte(cp);
    if (b >= 0) {
      out.push_back(static_cast<char>(b));
    } else {
      ok = false;
      AppendUtf8(cp, &out);
    }
  }
  if (all_mapped != nullptr) *all_mapped = ok;
  return out;
}

}  // namespace lmul::engine::unicode
