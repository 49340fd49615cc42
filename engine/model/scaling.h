// Per-tensor power-of-two scaling of a site's operands ("scaled" sites; docs/engine.md,
// "Scaled fp8"), as FP8 recipes with power-of-two scales do (Transformer Engine's
// power-of-2 scales, torchao's): before the cast to the site's format a tensor x is
// multiplied by the largest power of two s = 2^e that keeps its amax within the format's
// max; after the product the result is multiplied by 2^-(e_a + e_b).
//
//   amax = max |x| over the tensor's finite elements (Inf and NaN are not counted)
//   e    = 0                                   if amax == 0 (all-zero, empty or no finite value)
//          floor(log2(max / amax))             otherwise, computed exactly: e' = emax -
//                                              floor(log2 amax) puts amax * 2^e' in the top
//                                              binade [2^emax, 2^(emax+1)); e = e' - 1 when
//                                              amax * 2^e' > max (subnormal amax included)
//          so amax * s lies in (max/2, max]: the top binade, or just below it when amax's
//          significand exceeds max's (e4m3 and e5m2: 1.75), instead of saturating it.
//   scaled element = x * 2^e rounded once to fp32, then, if finite, clamped to
//          [-max, +max] (saturation; never reached by the tensor's own values, since
//          |x| * s <= amax * s <= max, and rne never rounds a value <= max above it); the
//          cast itself is the site arithmetic's rne reduction. Inf and NaN pass unchanged,
//          so the cast and the product propagate them as without scaling (e4m3 has no Inf:
//          NaN).
//   unscaled result = y * 2^-(e_a + e_b) rounded once to fp32 (exact unless it under- or
//          overflows fp32).
// emax is the unbiased exponent of the format's largest finite value: e4m3 8 (max 448),
// e5m2 15 (57344), fp16 15 (65504). Power-of-two scales leave the cast's rounding unchanged.
//
// This is the one implementation; the engine's GEMM and elementwise sites call it, and
// lmul.torch (python/lmul/torch/ops.py) implements the same definition, tested equal.
#ifndef LMUL_ENGINE_MODEL_SCALING_H_
#define LMUL_ENGINE_MODEL_SCALING_H_

#include <cstddef>
#include <vector>

#include "numeric/arith.h"

namespace lmul::engine {

// Arithmetics a site may scale: exact products kept in fp32 (`wide`) of a format with at
// most 5 exponent bits (e4m3, e5m2, fp16): top-binade operands then multiply without
// overflowing fp32.
bool ScalingSupported(const Arith& arith);

// The unbiased exponent of the format's largest finite value (e4m3 8, e5m2 15).
int MaxFiniteExponent(const Format& f);
// The format's largest finite value (e4m3 448, e5m2 57344).
float MaxFiniteValue(const Format& f);

// The scale exponent e of a tensor of largest finite magnitude amax (>= 0): 0 for amax 0
// (or not finite), else floor(log2(max / amax)); see above.
int ScaleExponent(const Format& f, float amax);

// max |x| over the finite elements of the (rows, cols) matrix x(i, j) = x[i * rs + j * cs];
// 0 when there are none.
float FiniteAmax(const float* x, int rows, int cols, ptrdiff_t rs, ptrdiff_t cs = 1);

// x * 2^e rounded once to fp32; finite results clamped to [-max_finite, max_finite].
float ScaleSaturate(float x, int e, float max_finite);
// y * 2^e rounded once to fp32 (|e| <= 400).
float Pow2Mul(float y, int e);

// A tensor scaled for one site: the (rows, cols) operand, row-major and contiguous, and e.
struct ScaledTensor {
  std::vector<float> data;
  int exp = 0;
};
ScaledTensor ScaleTensor(const Format& f, const float* x, int rows, int cols, ptrdiff_t rs,
                         ptrdiff_t cs = 1);
// The same rows scaled with a given exponent e (part of a larger tensor whose e it is).
ScaledTensor ScaleRows(const Format& f, const float* x, int rows, int cols, ptrdiff_t rs, int e);

// c(i, j) = Pow2Mul(c(i, j), -e) for the (rows, cols) block of c with leading dimension ldc.
void UnscaleBlock(float* c, int rows, int cols, ptrdiff_t ldc, int e);

// Contiguous-array forms, element for element the values of the scalar functions above
// (lmul.torch's scaled sites call them on a tensor's storage; tested equal):
// FiniteAmax over x[0, n).
float FiniteAmaxArray(const float* x, size_t n);
// y[i] = ScaleSaturate(x[i], e, max_finite); y may alias x.
void ScaleSaturateArray(const float* x, float* y, size_t n, int e, float max_finite);
// y[i] = Pow2Mul(x[i], e); y may alias x.
void Pow2MulArray(const float* x, float* y, size_t n, int e);

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_SCALING_H_
