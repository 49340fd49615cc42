// Dequantization of GGUF tensor data to fp32, following ggml-quants.c's
// dequantize_row_* (and PyPI gguf's quants.py, which the goldens check against):
//   F32, F16, BF16                      plain conversions
//   Q8_0  (32/block)  d:f16 q:int8[32]                      x = d*q
//   Q4_0  (32/block)  d:f16 q:nibbles[16]                   x = d*(q-8)
//   Q4_1  (32/block)  d:f16 m:f16 q:nibbles[16]             x = d*q + m
//   Q5_0  (32/block)  d:f16 qh:u32 q:nibbles[16]            x = d*((q | bit5<<4) - 16)
//   Q5_1  (32/block)  d:f16 m:f16 qh:u32 q:nibbles[16]      x = d*(q | bit5<<4) + m
//   Q4_K  (256/block) d,dmin:f16 scales:6-bit x(8+8) q:nibbles[128]   x = (d*sc)*q - dmin*m
//   Q5_K  (256/block) like Q4_K plus qh[32] (fifth bit)
//   Q6_K  (256/block) ql[128] qh[64] scales:int8[16] d:f16   x = (d*sc)*(q-32)
// Element j of a block is low nibble qs[j] for j < 16 and high nibble qs[j-16]
// above (Q4_0/Q4_1); the K-quants interleave per 32/64-element group exactly as ggml.
// All arithmetic is fp32 in ggml's order (no contraction), so results are bit-exact
// with ggml's scalar reference and with gguf's numpy.
#ifndef LMUL_ENGINE_IO_DEQUANT_H_
#define LMUL_ENGINE_IO_DEQUANT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/io/gguf.h"
#include "numeric/bits.h"

namespace lmul::engine {

// True when DequantizeRows supports the type (one row of the decoder table in dequant.cc).
bool CanDequantize(GgmlType type);
// The supported type names, space-separated ("F32 F16 BF16 Q8_0 ..."), for error messages.
std::string DequantizableTypes();

// IEEE half / bfloat16 bits -> fp32 (exact): numeric/bits.h's HalfToFloat and
// Bf16CodeFloat (the one home of both).
using ::lmul::HalfToFloat;

// Rows [row_begin, row_begin + n_rows) of `t` (each row has t.row_length() elements) to
// out[n_rows * row_length]. Errors: unsupported type, rows out of range.
Status DequantizeRows(const GgufTensor& t, int64_t row_begin, int64_t n_rows, float* out);

// The whole tensor, n_elements floats in GGUF order (row-major, outermost first).
Result<std::vector<float>> DequantizeTensor(const GgufTensor& t);

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_IO_DEQUANT_H_
