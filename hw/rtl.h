// Verilog generator for L-Mul, Mitchell and exact (RNE) multipliers of one
// format of the spec (docs/numerics.md §3), and golden test vectors.
//
// Every generated module is one combinational module
//   module NAME(input [W-1:0] a, input [W-1:0] b, output [W-1:0] y);
// with W = 1 + E + M; operands and result are codes of the format itself
// (for e8mK the top 9+K bits of the fp32 pattern). Operand reduction options
// (rne/trunc) do not apply: the operands are already in the format. `wide`
// (exact into fp32) is not supported by the generator.
#ifndef LMUL_HW_RTL_H_
#define LMUL_HW_RTL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "numeric/arith.h"

namespace lmul::hw {

// Checks that `arith` can be generated (`wide` is refused: the module's result
// is a code of the operand format; every format incl. fp32 is generated).
Status CheckRtlArith(const Arith& arith);

// Verilog-2001 source of the module `name` (a Verilog identifier).
Result<std::string> GenerateRtl(const Arith& arith, const std::string& name);

// Golden vectors: one "AA BB YY" line of hex codes per pair (width of the
// format), y = arith.MulCodes(a, b). `exhaustive` enumerates every pair
// (refused above 8 bits); else `count` pseudo-random pairs from `seed`, of
// which the first ones cover the special codes (zeros, subnormals, Inf, NaN,
// max finite) crossed with each other.
struct VectorPair {
  uint32_t a, b, y;
};
// Special codes of `f` in both signs: zero, smallest/largest subnormal, smallest normal,
// one and its successor, max finite, the all-ones magnitude (NaN or max), Inf when it has one.
std::vector<uint32_t> SpecialCodes(const Format& f);

Result<std::vector<VectorPair>> MakeVectors(const Arith& arith, bool exhaustive, uint64_t count,
                                            uint64_t seed);
// Header comment + lines.
std::string FormatVectors(const Arith& arith, const std::vector<VectorPair>& v,
                          const std::string& provenance);

}  // namespace lmul::hw

#endif  // LMUL_HW_RTL_H_
