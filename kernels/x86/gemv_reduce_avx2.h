// Internal (kernels/x86/gemv_avx2.cc, gemv_reduced_avx2.cc; x86-64 only): fp32 vectors
// reduced to an exp8 format (bf16, e8m3, e8m4, ...: fp32's exponent, fewer mantissa bits) in
// registers, bit-identical to ConvertRunSimd (kernels/hwy/gemm_panels.cc ConvertRun with
// ReduceCarrier, keep_zero_sign = false), with the same statistics. Used while the fused
// GEMV decodes weights, so that the tile is written once, already in the format.
#ifndef LMUL_KERNELS_X86_GEMV_REDUCE_AVX2_H_
#define LMUL_KERNELS_X86_GEMV_REDUCE_AVX2_H_

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/gemm_internal.h"

namespace lmul::kernels::internal {

// kRne: round to nearest even (else truncate); kLMul: lmul/mitchell (zeros and subnormals
// become +0, statistics kept for the range check); exact: the reduced value only.
template <bool kRne, bool kLMul>
struct Exp8Reduce {
  __m256i abs, low, half, one, qnan, inf, zero_lim, special_gt, big;
  __m128i shift;
  __m256i vmin, vmax, vspecial, vzero;

  __attribute__((target("avx2"))) explicit Exp8Reduce(const ArithConsts& c) {
    abs = _mm256_set1_epi32(0x7FFFFFFF);
    low = _mm256_set1_epi32(static_cast<int>((1u << c.shift) - 1));
    half = _mm256_set1_epi32(static_cast<int>(((1u << c.shift) - 1) >> 1));
    one = _mm256_set1_epi32(1);
    qnan = _mm256_set1_epi32(0x7FC00000);
    inf = _mm256_set1_epi32(0x7F800000);
    zero_lim = _mm256_set1_epi32(static_cast<int>(c.c_zero_lim));
    special_gt = _mm256_set1_epi32(0x7F7FFFFF);
    big = abs;
    shift = _mm_cvtsi32_si128(c.shift);
    vmin = big;
    vmax = vspecial = vzero = _mm256_setzero_si256();
  }

  __attribute__((target("avx2"))) inline __m256 operator()(__m256 x) {
    const __m256i u = _mm256_castps_si256(x);
    const __m256i mag = _mm256_and_si256(u, abs);
    const __m256i is_nan = _mm256_cmpgt_epi32(mag, inf);
    // Rounding on the signed pattern: a finite magnitude never carries into the sign bit
    // (the largest rounds to Inf at most); NaNs are replaced below.
    __m256i v = u;
    if constexpr (kRne) {
      const __m256i lsb = _mm256_and_si256(_mm256_srl_epi32(u, shift), one);
      v = _mm256_add_epi32(v, _mm256_add_epi32(half, lsb));
    }
    v = _mm256_andnot_si256(low, v);  // overflow rounds to Inf (rne) or stays finite
    v = _mm256_blendv_epi8(v, _mm256_or_si256(_mm256_andnot_si256(abs, u), qnan), is_nan);
    if constexpr (kLMul) {
      // zero: below the smallest normal (-> +0).
      const __m256i r = _mm256_and_si256(v, abs);
      const __m256i special = _mm256_cmpgt_epi32(r, special_gt);
      const __m256i zero = _mm256_cmpgt_epi32(zero_lim, r);
      v = _mm256_andnot_si256(zero, v);
      const __m256i bad = _mm256_or_si256(zero, special);
      vmin = _mm256_min_epi32(vmin, _mm256_blendv_epi8(r, big, bad));
      vmax = _mm256_max_epi32(vmax, _mm256_andnot_si256(bad, r));
      vspecial = _mm256_or_si256(vspecial, special);
      vzero = _mm256_or_si256(vzero, zero);
    }
    return _mm256_castsi256_ps(v);
  }

  // The statistics of every value reduced (RunStats as ConvertRunSimd gives them).
  __attribute__((target("avx2"))) void Finish(RunStats* st) const {
    alignas(32) uint32_t mn[8], mx[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(mn), vmin);
    _mm256_store_si256(reinterpret_cast<__m256i*>(mx), vmax);
    uint32_t a = 0x7FFFFFFFu, b = 0;
    for (int i = 0; i < 8; ++i) a = std::min(a, mn[i]), b = std::max(b, mx[i]);
    if (a == 0x7FFFFFFFu) a = 0xFFFFFFFFu;
    st->min_mag = std::min(st->min_mag, a);
    st->max_mag = std::max(st->max_mag, b);
    st->special |= !_mm256_testz_si256(vspecial, vspecial);
    st->zero |= !_mm256_testz_si256(vzero, vzero);
  }
};

}  // namespace lmul::kernels::internal

#endif  // LMUL_KERNELS_X86_GEMV_REDUCE_AVX2_H_
