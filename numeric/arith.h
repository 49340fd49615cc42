// lmul::Arith — one arithmetic of the spec: an operation on a format
// (docs/numerics.md §3). Parsed from "OP/FORMAT[,OPTION...]", e.g. "lmul/bf16",
// "lmul/e8m4,rne", "exact/e4m3,wide", "mitchell/fp32".
//
// This is the scalar reference ("the spec"): every SIMD/GEMM kernel, the RTL
// generator and the engine are tested bit for bit against Arith::Mul.
#ifndef LMUL_NUMERIC_ARITH_H_
#define LMUL_NUMERIC_ARITH_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "numeric/format.h"

namespace lmul {

enum class Op : uint8_t {
  kLMul,      // integer add of magnitude fields minus (bias << M) - 2^M >> l(M)
  kMitchell,  // the same without the 2^-l(M) term (Mitchell 1962)
  kExact,     // exact product rounded (rne) to the format, or to fp32 with `wide`
};

const char* OpName(Op op);

// l(M) of the paper: M for M <= 3, 3 for M = 4, 4 for M > 4.
int LMulOffsetShift(int man_bits);
// The constant subtracted from fx + fy: C = (bias << M) - (2^M >> l(M)).
// fp32 0x3F780000, bf16 0x3F78, fp16 0x3BC0, e4m3 55, e5m2 59.
uint32_t LMulOffset(const Format& f);
// Mitchell: C = bias << M.
uint32_t MitchellOffset(const Format& f);

// The L-Mul / Mitchell operation on two codes of `f` with subtracted constant
// `c` (LMulOffset or MitchellOffset). Returns a code of `f`. Special values:
// NaN in -> NaN; Inf*0 -> NaN; Inf*x -> Inf (sign xor); a zero or subnormal
// operand -> signed zero; field sum below 2^M -> signed zero (underflow);
// above the largest finite field -> Inf (e4m3: +-448).
uint32_t AddFieldsCodes(const Format& f, uint32_t a, uint32_t b, uint32_t c);

// Exact product of two codes of `in`, rounded (rne) to a code of `out`.
uint32_t ExactMulCodes(const Format& in, uint32_t a, uint32_t b, const Format& out);

struct Arith {
  Op op = Op::kExact;
  Format format = Format::Fp32();
  Rounding reduce = Rounding::kRne;  // how fp32 operands are reduced to `format`
  bool wide = false;                 // exact only: keep the product in fp32

  // "OP/FORMAT[,OPTION...]". Options: rne, trunc, wide (exact only).
  // Defaults: trunc for lmul and mitchell, rne for exact.
  static Result<Arith> Parse(std::string_view spec);
  // Canonical spelling; options equal to the defaults are omitted.
  std::string Name() const;
  static const char* Help();  // grammar, operations and formats, for messages

  // The format results are encoded in: fp32 for exact+wide, else `format`.
  Format OutputFormat() const { return wide ? Format::Fp32() : format; }
  // The subtracted constant of lmul/mitchell (0 for exact).
  uint32_t Offset() const;

  // x reduced to the operand format (fp32 carrier).
  float Reduce(float x) const { return lmul::Reduce(format, x, reduce); }
  // Codes of `format` in, code of OutputFormat() out.
  uint32_t MulCodes(uint32_t a, uint32_t b) const;
  // Operands already representable in `format` (e.g. outputs of Reduce).
  float MulReduced(float x, float y) const;
  // The full operation on the fp32 carrier: reduce both operands, multiply.
  float Mul(float x, float y) const;

  bool operator==(const Arith&) const = default;
};

}  // namespace lmul

#endif  // LMUL_NUMERIC_ARITH_H_
