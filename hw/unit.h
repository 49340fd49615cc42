// Multiply-accumulate (MAC) and N-lane dot-product units: their scalar
// reference and a Verilog generator (docs/energy.md "What a hardware architect
// gets").
//
// A unit computes, from N operand pairs (codes of the arithmetic's format) and
// an accumulator input (a code of the accumulator format A):
//
//   kSequential (docs/kernels.md §1, the canonical order):
//     acc = acc_in; for k = 0..N-1: acc = RNE_A(acc + p_k)
//   kTree (a stated tree order):
//     t = pairwise tree of the products: level by level, t_i = RNE_A(l_2i + l_2i+1),
//         an odd last element moves up unchanged; acc_out = RNE_A(acc_in + t)
//
// p_k = arith.MulCodes(a_k, b_k) (the spec's product, a code of the operand
// format, exactly representable in A), and RNE_A(x + y) the sum rounded once to
// A, nearest even, gradual underflow, overflow to Inf. For A = fp32 this is one
// IEEE fp32 add (the canonical order: a dot product of K = m*N terms is m passes
// through the unit with acc_out fed back to acc_in, starting at +0). For
// A = bf16 / fp16 it equals docs/kernels.md's "fp32 add, then round to A"
// (the double rounding is innocuous: both addends are in A and 24 >= 2p+1,
// p = 8 / 11; the simulation tests check it).
//
// fused (exact only, "FMA-style"): the product is not rounded;
//   acc = RNE_A(acc + a_k * b_k)       (one rounding per step; A = fp32 only)
// its reference is std::fma on the fp32 carrier (a*b exact, one rounding).
//
// MAC = a 1-lane sequential unit. NaN results: any NaN code (the reference's
// NaN sign/payload are not specified, as in docs/kernels.md §1); the RTL
// produces A's canonical positive NaN.
//
// Ports of the generated top module NAME:
//   [input clk,]  (only when stages > 0)
//   input  [N*W-1:0] a, b     lane k in bits [k*W +: W], W = operand width
//   input  [WA-1:0]  acc_in
//   output [WA-1:0]  acc_out
// stages = S > 0 inserts S register ranks (the last one at the output): the
// result for inputs presented before clock edge t appears after edge t+S-1,
// i.e. latency S cycles, one result per cycle.
#ifndef LMUL_HW_UNIT_H_
#define LMUL_HW_UNIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "numeric/arith.h"

namespace lmul::hw {

enum class UnitKind { kMac, kDot };
enum class DotOrder { kSequential, kTree };

struct UnitSpec {
  UnitKind kind = UnitKind::kMac;
  Arith arith;                  // the products (lmul/, mitchell/, exact/)
  Format acc = Format::Fp32();  // accumulator format: fp32, bf16 or fp16
  int lanes = 1;                // N (MAC: 1)
  DotOrder order = DotOrder::kSequential;
  bool fused = false;  // exact only: unrounded products, one rounding per add
  int stages = 0;      // register ranks (0: combinational)

  std::string Name() const;  // e.g. "dot8 lmul/e4m3 acc=fp32 seq"
};

// Parses the CLI words: unit "mac"|"dot", order "seq"|"tree", acc format name.
Result<UnitSpec> MakeUnitSpec(const std::string& unit, const std::string& arith,
                              const std::string& acc, int lanes, const std::string& order,
                              bool fused, int stages);
Status CheckUnit(const UnitSpec& s);

// The reference: acc_out code (of s.acc) for lanes a[0..N-1], b[0..N-1].
uint32_t UnitReference(const UnitSpec& s, const uint32_t* a, const uint32_t* b, uint32_t acc_in);
// True if two codes of `acc` are the same result (NaN: any NaN).
bool SameResult(const Format& acc, uint32_t x, uint32_t y);

// Verilog-2001: NAME and its submodules (NAME_mul, NAME_add).
Result<std::string> GenerateUnitRtl(const UnitSpec& s, const std::string& name);

struct UnitVector {
  std::vector<uint32_t> a, b;
  uint32_t acc = 0, y = 0;
};
// exhaustive: every operand pair (8-bit formats, MAC only) crossed with
// AccTestValues(acc) (or its first `n_acc` values); else `count` vectors from
// mt19937_64(seed): operands random codes or (1 in 4) special codes, acc_in
// likewise, and (1 in 4 vectors) lane pairs that cancel exactly.
Result<std::vector<UnitVector>> MakeUnitVectors(const UnitSpec& s, bool exhaustive, uint64_t count,
                                                uint64_t seed, int n_acc = -1);
// Accumulator values crossed with every pair: +0, -0, +-1, +-Inf, NaN, max
// finite, smallest subnormal, and a few ordinary values.
std::vector<uint32_t> AccTestValues(const Format& acc);
// Header comment, then one vector per line: a[0] .. a[N-1] b[0] .. b[N-1]
// acc_in y (hex words; $readmemh reads them as consecutive 32-bit entries).
std::string FormatUnitVectors(const UnitSpec& s, const std::vector<UnitVector>& v,
                              const std::string& provenance);
// Self-checking testbench for the module `name`: reads +vectors=FILE (default
// "vectors.hex", `count` vectors), prints "MISMATCHES n" and the first
// mismatches, then $finish. NaN expected: any NaN accepted.
std::string UnitTestbench(const UnitSpec& s, const std::string& name, uint64_t count);

// Mean relative error |approx - x*y| / |x*y| of a multiplier over every pair of
// codes of an 8-bit format (refused otherwise), on three definitions:
//  formula:  the L-Mul/Mitchell significand formula 1 + x + y + 2^-l(M) (Mitchell:
//            no 2^-l term) against (1+x)(1+y) over all 2^M x 2^M mantissa pairs,
//            no carry into the exponent and no range effects: the definition
//            that reproduces FP8ApproxLib's published table (E6M1 0.319, E5M2
//            0.111, E4M3 0.069 vs their 0.068); exact/: 0 by definition.
//  normal:   the unit (Arith::MulCodes): normal operands whose exact product is
//            in the normal range (the integer add carries into the exponent).
//  all:      the unit: every pair of finite nonzero operands (subnormal inputs
//            flushed, saturation and underflow included; an Inf result counts
//            as the largest finite value).
struct PairError {
  double formula = 0, normal = 0, all = 0;
  uint64_t n_formula = 0, n_normal = 0, n_all = 0;
};
Result<PairError> MeanRelativeError(const Arith& arith);

}  // namespace lmul::hw

#endif  // LMUL_HW_UNIT_H_
