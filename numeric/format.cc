// Scalar reference for formats: encode (with rounding) and decode.
// Integer bit manipulation only; the tests check it against a value-domain
// formulation in double precision (numeric/testing/value_oracle.h).
#include "numeric/format.h"

#include <bit>
#include <cstring>

#include "base/escape.h"

namespace lmul {

const char* RoundingName(Rounding r) { return r == Rounding::kRne ? "rne" : "trunc"; }

const char* Format::ValidNames() { return "fp32, bf16, fp16, e5m2, e4m3, e8m1..e8m23"; }

Result<Format> Format::Parse(std::string_view name) {
  if (name == "fp32") return Fp32();
  if (name == "bf16") return Bf16();
  if (name == "fp16") return Fp16();
  if (name == "e5m2") return E5M2();
  if (name == "e4m3") return E4M3();
  if (name.size() >= 4 && name.size() <= 5 && name.substr(0, 3) == "e8m") {
    int k = 0;
    for (char c : name.substr(3)) {
      if (c < '0' || c > '9') {
        k = -1;
        break;
      }
      k = k * 10 + (c - '0');
    }
    if (k >= 1 && k <= 23 && name[3] != '0') return E8M(k);
  }
  return MakeError("unknown format '" + EscapeUntrusted(name, 40) + "' (valid formats: " + ValidNames() +
                   ")");
}

std::string Format::Name() const {
  switch (kind) {
    case Kind::kFp32:
      return "fp32";
    case Kind::kBf16:
      return "bf16";
    case Kind::kFp16:
      return "fp16";
    case Kind::kE5M2:
      return "e5m2";
    case Kind::kE4M3:
      return "e4m3";
    case Kind::kE8M:
      return "e8m" + std::to_string(man_bits);
  }
  return "?";
}

bool Format::IsNan(uint32_t code) const {
  const uint32_t mag = code & MagnitudeMask();
  if (!has_inf) return mag == MagnitudeMask();
  return mag > InfField();
}

bool Format::IsInf(uint32_t code) const {
  return has_inf && (code & MagnitudeMask()) == InfField();
}

float Decode(const Format& f, uint32_t code) {
  const uint32_t sign = (code & f.SignBit()) ? 0x80000000u : 0u;
  const uint32_t mag = code & f.MagnitudeMask();
  if (f.IsNan(code)) return BitsFloat(sign | 0x7FC00000u);
  if (f.IsInf(code)) return BitsFloat(sign | 0x7F800000u);
  if (f.exp_bits == 8) {
    // fp32, bf16 and e8mK share the fp32 exponent: the code is the top bits of
    // the fp32 pattern (subnormals included).
    return BitsFloat(sign | (mag << (23 - f.man_bits)));
  }
  const uint32_t exp_field = mag >> f.man_bits;
  const uint32_t man = mag & ((1u << f.man_bits) - 1);
  // value = sig * 2^(e - man_bits); exactly representable in fp32 for every
  // format with exp_bits < 8 (fp16, e5m2, e4m3), normal or subnormal.
  uint32_t sig = exp_field == 0 ? man : (man | (1u << f.man_bits));
  int e = (exp_field == 0 ? 1 : static_cast<int>(exp_field)) - f.bias - f.man_bits;
  if (sig == 0) return BitsFloat(sign);
  // Normalize sig to 24 bits and build the fp32 pattern directly.
  int msb = 31 - std::countl_zero(sig);
  int unbiased = e + msb;  // value in [2^unbiased, 2^(unbiased+1))
  uint32_t frac = (sig << (23 - msb)) & 0x7FFFFFu;
  return BitsFloat(sign | (static_cast<uint32_t>(unbiased + 127) << 23) | frac);
}

uint32_t RoundToCode(const Format& f, bool negative, uint64_t sig, int exp2, Rounding r) {
  const uint32_t sign = negative ? f.SignBit() : 0u;
  if (sig == 0) return sign;
  const int m = f.man_bits;
  const int msb = 63 - std::countl_zero(sig);
  const int e = exp2 + msb;  // value in [2^e, 2^(e+1))
  const int emin = f.MinNormalExp();
  // Exponent of one unit in the last place of the result.
  const int quantum = (e < emin ? emin : e) - m;
  const int shift = quantum - exp2;  // n = sig * 2^-shift, rounded
  uint64_t n;
  if (shift <= 0) {
    n = sig << (-shift);  // exact; at most m + 1 bits
  } else if (shift >= 64) {
    n = 0;  // below half a quantum (sig < 2^63): rounds to zero either way
  } else {
    n = sig >> shift;
    if (r == Rounding::kRne) {
      const uint64_t rem = sig & ((uint64_t{1} << shift) - 1);
      const uint64_t half = uint64_t{1} << (shift - 1);
      if (rem > half || (rem == half && (n & 1))) ++n;
    }
  }
  // The magnitude field is continuous across the subnormal/normal boundary and
  // across a rounding carry into the exponent: field = n for subnormals,
  // ((e + bias) << m) + (n - 2^m) for normals.
  int64_t field;
  if (e < emin) {
    field = static_cast<int64_t>(n);
  } else {
    field = (static_cast<int64_t>(e + f.bias) << m) + static_cast<int64_t>(n) - (int64_t{1} << m);
  }
  if (field > static_cast<int64_t>(f.MaxFiniteField())) {
    if (r == Rounding::kTrunc || !f.has_inf) return sign | f.MaxFiniteField();
    return sign | f.InfField();
  }
  return sign | static_cast<uint32_t>(field);
}

uint32_t Encode(const Format& f, float x, Rounding r) {
  const uint32_t bits = FloatBits(x);
  const bool negative = bits >> 31;
  const uint32_t sign = negative ? f.SignBit() : 0u;
  const uint32_t exp_field = (bits >> 23) & 0xFF;
  const uint32_t frac = bits & 0x7FFFFF;
  if (exp_field == 0xFF) {
    if (frac != 0 || !f.has_inf) return sign | f.NanField();  // NaN, or Inf into e4m3
    return sign | f.InfField();
  }
  if (exp_field == 0) return RoundToCode(f, negative, frac, -149, r);
  return RoundToCode(f, negative, frac | 0x800000u, static_cast<int>(exp_field) - 150, r);
}

float Reduce(const Format& f, float x, Rounding r) { return Decode(f, Encode(f, x, r)); }

}  // namespace lmul
