#include "engine/model/scaling.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/check.h"

namespace lmul::engine {

bool ScalingSupported(const Arith& arith) {
  return arith.op == Op::kExact && arith.wide && arith.format.exp_bits <= 5;
}

int MaxFiniteExponent(const Format& f) { return f.MaxExp() - f.bias; }

float MaxFiniteValue(const Format& f) { return Decode(f, f.MaxFiniteField()); }

int ScaleExponent(const Format& f, float amax) {
  if (!(amax > 0.0f) || !std::isfinite(amax)) return 0;
  // ilogb: floor(log2 |x|), exact for subnormals (as if normalised). amax * 2^e is exact
  // in double.
  const int e = MaxFiniteExponent(f) - std::ilogb(amax);
  const bool above_max = std::ldexp(static_cast<double>(amax), e) > MaxFiniteValue(f);
  return above_max ? e - 1 : e;
}

float FiniteAmax(const float* x, int rows, int cols, ptrdiff_t rs, ptrdiff_t cs) {
  float amax = 0.0f;
  for (int i = 0; i < rows; ++i) {
    const float* row = x + static_cast<ptrdiff_t>(i) * rs;
    for (int j = 0; j < cols; ++j) {
      const float a = std::fabs(row[static_cast<ptrdiff_t>(j) * cs]);
      if (std::isfinite(a)) amax = std::max(amax, a);
    }
  }
  return amax;
}

namespace {

// 2^e in double, e in [-400, 400] (checked; `fn` names the caller).
double Pow2(int e, const char* fn) {
  LMUL_CHECK(e >= -400 && e <= 400, "%s: exponent %d", fn, e);
  return std::ldexp(1.0, e);
}
// y * s, s = 2^e: exact in double (|y| * 2^e stays inside double's normal range), one
// rounding to fp32. The one formula of Pow2Mul and Pow2MulArray.
float MulPow2(float y, double s) { return static_cast<float>(static_cast<double>(y) * s); }
// ScaleSaturate given v = x * 2^e: finite x clamped (as std::clamp: -0 stays -0); Inf * 2^e
// = Inf and NaN pass unchanged. The one rule of ScaleSaturate and ScaleSaturateArray.
float Saturate(float x, float v, float max_finite) {
  return std::isfinite(x) ? std::clamp(v, -max_finite, max_finite) : v;
}

}  // namespace

float Pow2Mul(float y, int e) { return MulPow2(y, Pow2(e, "Pow2Mul")); }

float ScaleSaturate(float x, int e, float max_finite) {
  return Saturate(x, Pow2Mul(x, e), max_finite);
}

namespace {
ScaledTensor ScaleWith(const Format& f, const float* x, int rows, int cols, ptrdiff_t rs,
                       ptrdiff_t cs, int e) {
  ScaledTensor t;
  t.exp = e;
  const float mx = MaxFiniteValue(f);
  t.data.resize(static_cast<size_t>(rows) * cols);
  for (int i = 0; i < rows; ++i) {
    const float* row = x + static_cast<ptrdiff_t>(i) * rs;
    float* out = t.data.data() + static_cast<size_t>(i) * cols;
    for (int j = 0; j < cols; ++j)
      out[j] = ScaleSaturate(row[static_cast<ptrdiff_t>(j) * cs], t.exp, mx);
  }
  return t;
}
}  // namespace

ScaledTensor ScaleTensor(const Format& f, const float* x, int rows, int cols, ptrdiff_t rs,
                         ptrdiff_t cs) {
  return ScaleWith(f, x, rows, cols, rs, cs, ScaleExponent(f, FiniteAmax(x, rows, cols, rs, cs)));
}

ScaledTensor ScaleRows(const Format& f, const float* x, int rows, int cols, ptrdiff_t rs, int e) {
  return ScaleWith(f, x, rows, cols, rs, 1, e);
}

void UnscaleBlock(float* c, int rows, int cols, ptrdiff_t ldc, int e) {
  if (e == 0) return;
  for (int i = 0; i < rows; ++i) {
    float* row = c + static_cast<ptrdiff_t>(i) * ldc;
    for (int j = 0; j < cols; ++j) row[j] = Pow2Mul(row[j], -e);
  }
}

float FiniteAmaxArray(const float* x, size_t n) {
  // On the magnitude bits: finite magnitudes order as their bit patterns do, so an integer
  // max (which vectorizes) equals the float max; Inf and NaN (>= 0x7F800000) are skipped.
  uint32_t amax = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t b;
    std::memcpy(&b, x + i, sizeof b);
    b &= 0x7FFFFFFFu;
    amax = std::max(amax, b < 0x7F800000u ? b : 0u);
  }
  float r;
  std::memcpy(&r, &amax, sizeof r);
  return r;
}

void ScaleSaturateArray(const float* x, float* y, size_t n, int e, float max_finite) {
  const double s = Pow2(e, "ScaleSaturateArray");
  for (size_t i = 0; i < n; ++i) y[i] = Saturate(x[i], MulPow2(x[i], s), max_finite);
}

void Pow2MulArray(const float* x, float* y, size_t n, int e) {
  const double s = Pow2(e, "Pow2MulArray");
  for (size_t i = 0; i < n; ++i) y[i] = MulPow2(x[i], s);
}

}  // namespace lmul::engine
