// Per-tensor power-of-two scaling of a site's operands ("scaled" sites; docs/engine.md,
// "Scaled fp8"), as FP8 recipes do: before the cast to the site's format a tensor x is
// multiplied by s = 2^e chosen from its amax so that amax * s lies in the format's top
// binade; after the product the result is multiplied by 2^-(e_a + e_b).
//
//   amax = max |x| over the tensor's finite elements (Inf and NaN are not counted)
//   e    = 0                                   if amax == 0 (all-zero, empty or no finite value)
//          emax(format) - floor(log2(amax))    otherwise (exact, subnormal amax included)
//   scaled element = x * 2^e rounded once to fp32, then, if finite, clamped to
//          [-max, +max] of the format (saturation, as hardware converters; the cast itself
//          is the site arithmetic's rne reduction); Inf and NaN pass unchanged, so the
//          cast and the product propagate them as without scaling (e4m3 has no Inf: NaN).
//   unscaled result = y * 2^-(e_a + e_b) rounded once to fp32 (exact unless it under- or
//          overflows fp32).
// emax is the unbiased exponent of the format's largest finite value: e4m3 8 (448),
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

// The scale exponent e of a tensor of largest finite magnitude amax (>= 0); see above.
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

// c(i, j) = Pow2Mul(c(i, j), -e) for the (rows, cols) block of c with leading dimension ldc.
void UnscaleBlock(float* c, int rows, int cols, ptrdiff_t ldc, int e);

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_MODEL_SCALING_H_
