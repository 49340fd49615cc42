#include "analysis/precision/distribution.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <numbers>

#include "analysis/precision/npy.h"

namespace lmul::precision {

namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Xoshiro256 {
 public:
  Xoshiro256(uint64_t seed, uint64_t stream) {
    uint64_t st = seed ^ (0xD1B54A32D192ED03ull * (stream + 1));
    for (auto& w : s_) w = SplitMix64(&st);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

bool ParseDouble(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && errno == 0 && std::isfinite(*v);
}

bool ParseInt(const std::string& s, int* v) {
  double d;
  if (!ParseDouble(s, &d) || d != std::floor(d) || std::fabs(d) > 1000) return false;
  *v = static_cast<int>(d);
  return true;
}

}  // namespace

const char* Distribution::Help() {
  return "distributions: uniform[:EMIN:EMAX] (uniform 23-bit mantissa, exponent uniform in "
         "[EMIN,EMAX], default -2:1), gaussian[:SIGMA] (default 1), laplace[:B] (default 1), "
         "exhaustive:e4m3 | exhaustive:e5m2 (all pairs of finite nonzero codes; suffix :normal: "
         "normal codes with the exact product in the normal range), "
         "activations:FILE (NPY float32, shape (n, 2))";
}

Result<Distribution> Distribution::Parse(const std::string& spec) {
  auto fail = [&](const std::string& why) {
    return MakeError("bad distribution '" + spec + "': " + why + "\n" + Help());
  };
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const bool has_arg = colon != std::string::npos;
  Distribution d;
  if (kind == "uniform") {
    d.kind = Kind::kUniform;
    if (has_arg) {
      const size_t c2 = arg.find(':');
      if (c2 == std::string::npos || !ParseInt(arg.substr(0, c2), &d.emin) ||
          !ParseInt(arg.substr(c2 + 1), &d.emax)) {
        return fail("expected uniform:EMIN:EMAX with integer exponents");
      }
      if (d.emin > d.emax || d.emin < -60 || d.emax > 60) {
        return fail("need -60 <= EMIN <= EMAX <= 60");
      }
    }
  } else if (kind == "gaussian" || kind == "laplace") {
    d.kind = kind == "gaussian" ? Kind::kGaussian : Kind::kLaplace;
    if (has_arg && (!ParseDouble(arg, &d.scale) || !(d.scale > 0) || d.scale > 1e30)) {
      return fail("the scale must be a positive number");
    }
  } else if (kind == "exhaustive") {
    d.kind = Kind::kExhaustive;
    std::string fmt = arg;
    if (fmt.size() > 7 && fmt.substr(fmt.size() - 7) == ":normal") {
      d.normal_only = true;
      fmt = fmt.substr(0, fmt.size() - 7);
    }
    if (fmt == "e4m3") {
      d.format = Format::E4M3();
    } else if (fmt == "e5m2") {
      d.format = Format::E5M2();
    } else {
      return fail("expected exhaustive:e4m3, exhaustive:e5m2 (optionally :normal)");
    }
  } else if (kind == "activations") {
    d.kind = Kind::kActivations;
    if (arg.empty()) return fail("expected activations:FILE");
    d.path = arg;
  } else {
    return fail("unknown distribution '" + kind + "'");
  }
  return d;
}

std::string Distribution::Name() const {
  char buf[64];
  switch (kind) {
    case Kind::kUniform:
      if (emin == -2 && emax == 1) return "uniform";
      return "uniform:" + std::to_string(emin) + ":" + std::to_string(emax);
    case Kind::kGaussian:
    case Kind::kLaplace:
      if (scale == 1) return kind == Kind::kGaussian ? "gaussian" : "laplace";
      std::snprintf(buf, sizeof buf, "%s:%.9g", kind == Kind::kGaussian ? "gaussian" : "laplace",
                    scale);
      return buf;
    case Kind::kExhaustive:
      return "exhaustive:" + format.Name() + (normal_only ? ":normal" : "");
    case Kind::kActivations: {
      const size_t slash = path.find_last_of('/');
      return "activations:" + (slash == std::string::npos ? path : path.substr(slash + 1));
    }
  }
  return "?";
}

namespace {

float Draw(const Distribution& d, Xoshiro256& rng) {
  switch (d.kind) {
    case Distribution::Kind::kUniform: {
      const uint64_t r = rng.Next();
      const uint32_t mant = static_cast<uint32_t>(r & 0x7FFFFF);
      const uint32_t sign = static_cast<uint32_t>((r >> 23) & 1);
      const uint64_t span = static_cast<uint64_t>(d.emax - d.emin + 1);
      // r >> 24 has 40 bits; the modulo bias is < span/2^40, immaterial.
      const int e = d.emin + static_cast<int>((r >> 24) % span);
      return BitsFloat(sign << 31 | static_cast<uint32_t>(e + 127) << 23 | mant);
    }
    case Distribution::Kind::kGaussian: {
      // Box–Muller, one value per pair of uniforms (keeps the stream simple).
      const double u1 = 1.0 - rng.Uniform();  // (0, 1]
      const double u2 = rng.Uniform();
      return static_cast<float>(d.scale * std::sqrt(-2.0 * std::log(u1)) *
                                std::cos(2 * std::numbers::pi * u2));
    }
    case Distribution::Kind::kLaplace: {
      const uint64_t r = rng.Next();
      const double u = 1.0 - static_cast<double>(r >> 11) * 0x1.0p-53;  // (0, 1]
      const double mag = -d.scale * std::log(u);
      return static_cast<float>((r & 1) ? -mag : mag);
    }
    default:
      return 0;
  }
}

bool Usable(float x, float y) {
  const double p = static_cast<double>(x) * static_cast<double>(y);
  return std::isfinite(p) && p != 0;
}

}  // namespace

Result<OperandPairs> MakeOperandPairs(const Distribution& d, uint64_t samples, uint64_t seed) {
  OperandPairs out;
  if (d.IsRandom()) {
    if (samples == 0) return MakeError("--samples must be positive");
    out.x.reserve(samples);
    out.y.reserve(samples);
    for (uint64_t block = 0; block * kBlockSize < samples; ++block) {
      Xoshiro256 rng(seed, block);
      const uint64_t end = std::min(samples, (block + 1) * kBlockSize);
      for (uint64_t i = block * kBlockSize; i < end;) {
        const float x = Draw(d, rng), y = Draw(d, rng);
        if (!Usable(x, y)) {  // a zero draw (probability ~2^-60): draw again, same stream
          ++out.skipped;
          continue;
        }
        out.x.push_back(x);
        out.y.push_back(y);
        ++i;
      }
    }
    return out;
  }
  if (d.kind == Distribution::Kind::kExhaustive) {
    std::vector<float> values;
    for (uint32_t code = 0; code < (1u << d.format.Width()); ++code) {
      if (d.format.IsNan(code) || d.format.IsInf(code)) continue;
      if ((code & d.format.MagnitudeMask()) == 0) continue;  // ±0
      if (d.normal_only && d.format.IsZeroOrSubnormal(code)) continue;
      values.push_back(Decode(d.format, code));
    }
    const float max_finite = Decode(d.format, d.format.MaxFiniteField());
    const double min_normal = std::ldexp(1.0, d.format.MinNormalExp());
    for (float x : values) {
      for (float y : values) {
        if (d.normal_only) {
          const double p = std::fabs(static_cast<double>(x) * y);
          if (p < min_normal || p > max_finite) continue;
        }
        out.x.push_back(x);
        out.y.push_back(y);
      }
    }
    return out;
  }
  auto pairs = ReadNpyPairs(d.path);
  if (!pairs.ok()) return std::move(pairs).TakeError();
  const uint64_t n = pairs->size() / 2;
  for (uint64_t i = 0; i < n && (samples == 0 || out.x.size() < samples); ++i) {
    const float x = (*pairs)[2 * i], y = (*pairs)[2 * i + 1];
    if (!Usable(x, y)) {
      ++out.skipped;
      continue;
    }
    out.x.push_back(x);
    out.y.push_back(y);
  }
  if (out.x.empty()) {
    return MakeError(d.path + ": no usable operand pair (all " + std::to_string(n) +
                     " rows have a zero or non-finite product)");
  }
  return out;
}

}  // namespace lmul::precision
