// MAC and dot-product units (hw/unit.h): the reference against independent
// formulations, and every generated unit simulated against the reference
// (Icarus Verilog), 0 mismatches.
// Exhaustive fp8 MAC runs (every pair x 16 accumulator values) carry the
// ctest label hw_long (lmul_hw_long_tests); the default label runs every pair
// with 2 accumulator values and 3000-vector dot-unit runs.
#include "hw/unit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace lmul::hw {
namespace {

UnitSpec Spec(const std::string& unit, const std::string& arith, const std::string& acc,
              int lanes = 1, const std::string& order = "seq", bool fused = false, int stages = 0) {
  auto s = MakeUnitSpec(unit, arith, acc, lanes, order, fused, stages);
  EXPECT_TRUE(s.ok()) << s.error();
  return s.ok() ? *s : UnitSpec{};
}

// ---- reference ---------------------------------------------------------------

TEST(UnitReference, MacFp32IsOneFp32AddOfTheSpecProduct) {
  const UnitSpec s = Spec("mac", "lmul/e4m3", "fp32");
  const Arith& ar = s.arith;
  for (uint32_t acc : AccTestValues(s.acc)) {
    for (uint32_t a = 0; a < 256; a += 3) {
      for (uint32_t b = 0; b < 256; b += 5) {
        const float want = BitsFloat(acc) + Decode(ar.format, ar.MulCodes(a, b));
        const uint32_t got = UnitReference(s, &a, &b, acc);
        if (std::isnan(want)) {
          EXPECT_TRUE(std::isnan(BitsFloat(got)));
        } else {
          EXPECT_EQ(got, FloatBits(want));
        }
      }
    }
  }
}

// The fused unit on fp8: exact products fit fp32, so it equals the canonical
// order with exact/e4m3,wide products (Arith::Mul), a different code path.
TEST(UnitReference, FusedFp8EqualsCanonicalWideOrder) {
  const UnitSpec s = Spec("dot", "exact/e4m3", "fp32", 4, "seq", true);
  const Arith wide = *Arith::Parse("exact/e4m3,wide");
  std::mt19937_64 rng(3);
  for (int t = 0; t < 20000; ++t) {
    uint32_t a[4], b[4];
    float acc = 0.0f;
    for (int k = 0; k < 4; ++k) {
      a[k] = rng() & 0xFF;
      b[k] = rng() & 0xFF;
    }
    for (int k = 0; k < 4; ++k) acc = acc + BitsFloat(wide.MulCodes(a[k], b[k]));
    const uint32_t got = UnitReference(s, a, b, 0);
    if (std::isnan(acc)) {
      EXPECT_TRUE(std::isnan(BitsFloat(got)));
    } else {
      EXPECT_EQ(got, FloatBits(acc)) << t;
    }
  }
}

// bf16 / fp16 accumulators: "fp32 add, then round to A" equals one rounding of
// the exact sum (computed in double, exact for these operands).
TEST(UnitReference, NarrowAccumulatorIsSingleRounding) {
  for (const char* accn : {"bf16", "fp16"}) {
    const UnitSpec s = Spec("mac", "lmul/e5m2", accn);
    std::mt19937_64 rng(5);
    const uint32_t mask = (1u << s.acc.Width()) - 1;
    int checked = 0;
    for (int t = 0; t < 200000; ++t) {
      uint32_t a = rng() & 0xFF, b = rng() & 0xFF;
      uint32_t acc = static_cast<uint32_t>(rng()) & mask;
      if (t % 2) acc = Encode(s.acc, Decode(s.arith.format, rng() & 0xFF), Rounding::kRne);
      const double x = Decode(s.acc, acc);
      const double p = Decode(s.arith.format, s.arith.MulCodes(a, b));
      if (!std::isfinite(x) || !std::isfinite(p)) continue;
      const double sum = x + p;    // exact: both are multiples of 2^-24..2^-133, < 2^128
      if (sum - x != p) continue;  // (not exact: skip)
      int e2 = 0;
      const double fr = std::frexp(std::fabs(sum), &e2);
      const uint64_t sig = static_cast<uint64_t>(std::ldexp(fr, 53));
      const uint32_t want = sum == 0 ? (std::signbit(sum) ? s.acc.SignBit() : 0u)
                                     : RoundToCode(s.acc, sum < 0, sig, e2 - 53, Rounding::kRne);
      ASSERT_EQ(UnitReference(s, &a, &b, acc), want)
          << accn << " acc " << acc << " a " << a << " b " << b;
      ++checked;
    }
    EXPECT_GT(checked, 100000);
  }
}

TEST(UnitReference, TreeOrderIsPairwise) {
  const UnitSpec tree = Spec("dot", "exact/bf16", "fp32", 4, "tree");
  const UnitSpec seq = Spec("dot", "exact/bf16", "fp32", 4, "seq");
  auto bf = [](float x) { return Encode(Format::Bf16(), x, Rounding::kRne); };
  // products 2^24, 1, -2^24, 1 (b = 1): seq gives ((0+2^24)+1)-2^24+1 = 1 (2^24+1 rounds
  // to 2^24); tree gives (2^24+1) + (-2^24+1) = 2^24 - 2^24 = 0 after rounding, + acc.
  const uint32_t a[4] = {bf(16777216.0f), bf(1.0f), bf(-16777216.0f), bf(1.0f)};
  const uint32_t b[4] = {bf(1.0f), bf(1.0f), bf(1.0f), bf(1.0f)};
  EXPECT_EQ(BitsFloat(UnitReference(seq, a, b, 0)), 1.0f);
  const float t01 = 16777216.0f + 1.0f, t23 = -16777216.0f + 1.0f;
  EXPECT_EQ(BitsFloat(UnitReference(tree, a, b, 0)), 0.0f + (t01 + t23));
  // odd lane count: the last product moves up a level unchanged
  const UnitSpec tree3 = Spec("dot", "exact/bf16", "fp32", 3, "tree");
  EXPECT_EQ(BitsFloat(UnitReference(tree3, a, b, FloatBits(0.5f))), 0.5f + (t01 + -16777216.0f));
}

TEST(UnitSpecCheck, Errors) {
  EXPECT_FALSE(MakeUnitSpec("mux", "lmul/e4m3", "fp32", 1, "seq", false, 0).ok());
  EXPECT_FALSE(MakeUnitSpec("mac", "lmul/e4m3", "fp32", 4, "seq", false, 0).ok());
  EXPECT_FALSE(MakeUnitSpec("dot", "lmul/e4m3", "e4m3", 4, "seq", false, 0).ok());
  EXPECT_FALSE(MakeUnitSpec("dot", "lmul/fp16", "bf16", 4, "seq", false, 0).ok());  // no embed
  EXPECT_FALSE(MakeUnitSpec("dot", "lmul/e4m3", "fp32", 4, "seq", true, 0).ok());   // fused lmul
  EXPECT_FALSE(MakeUnitSpec("dot", "exact/e4m3", "bf16", 4, "seq", true, 0).ok());
  EXPECT_FALSE(MakeUnitSpec("dot", "exact/e4m3", "fp32", 4, "tree", true, 0).ok());
  EXPECT_FALSE(MakeUnitSpec("dot", "lmul/e4m3", "fp32", 4, "seq", false, 6).ok());  // 5 levels
  EXPECT_TRUE(MakeUnitSpec("dot", "lmul/e4m3", "fp32", 4, "seq", false, 5).ok());
  EXPECT_FALSE(MakeUnitSpec("dot", "lmul/e4m3", "fp32", 0, "seq", false, 0).ok());
  const UnitSpec s = Spec("mac", "lmul/e4m3", "fp32");
  EXPECT_FALSE(GenerateUnitRtl(s, "9x").ok());
  auto v = GenerateUnitRtl(Spec("dot", "lmul/e4m3", "fp32", 4, "seq", false, 2), "d");
  ASSERT_TRUE(v.ok());
  EXPECT_NE(v->find("module d (\n    input clk,"), std::string::npos);
  EXPECT_NE(v->find("latency 2 cycles"), std::string::npos);
  EXPECT_FALSE(MakeUnitVectors(Spec("dot", "lmul/e4m3", "fp32", 2), true, 0, 1).ok());
}

// FP8ApproxLib (J. Sys. Arch. 2026) reports L-Mul MRE E4M3 0.068, E5M2 0.111;
// the significand formula gives 0.0689 / 0.1111 (hand-computed: for M = 1 the
// four pairs give (0.5 + 1/3 + 1/3 + 1/9) / 4 = 0.3194, their E6M1 0.319).
TEST(PairErrorTest, FormulaDefinitionAndUnit) {
  auto e4 = MeanRelativeError(*Arith::Parse("lmul/e4m3"));
  auto e5 = MeanRelativeError(*Arith::Parse("lmul/e5m2"));
  auto ex = MeanRelativeError(*Arith::Parse("exact/e4m3"));
  ASSERT_TRUE(e4.ok() && e5.ok() && ex.ok());
  EXPECT_NEAR(e4->formula, 0.0689, 5e-4);
  EXPECT_NEAR(e5->formula, 0.1111, 5e-4);
  EXPECT_EQ(e4->n_formula, 64u);
  EXPECT_EQ(ex->formula, 0.0);
  // The unit: relative errors are bounded (L-Mul of normals in range < 1/8 + carry effects).
  EXPECT_GT(e4->normal, 0.01);
  EXPECT_LT(e4->normal, 0.2);
  EXPECT_GT(e4->all, e4->normal);  // flushing subnormals and saturation add error
  // exact/e4m3 rounds to nearest: relative error <= 2^-4 per pair, far below L-Mul.
  EXPECT_LT(ex->normal, 1.0 / 16);
  EXPECT_LT(ex->normal, e4->normal);
  EXPECT_FALSE(MeanRelativeError(*Arith::Parse("lmul/bf16")).ok());
}

// ---- simulation --------------------------------------------------------------

std::string RunCapture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

std::string Simulator() {
  return std::system("iverilog -V >/dev/null 2>&1") == 0 &&
                 std::system("vvp -V >/dev/null 2>&1") == 0
             ? "iverilog"
             : "";
}

bool HaveVerilator() { return std::system("verilator --version >/dev/null 2>&1") == 0; }

// Generates, simulates; returns the mismatch count or -1 (log in *log).
long SimulateUnit(const UnitSpec& s, const std::vector<UnitVector>& vec, const std::string& tag,
                  const std::string& sim, std::string* log) {
  auto rtl = GenerateUnitRtl(s, "dut");
  EXPECT_TRUE(rtl.ok()) << rtl.error();
  if (!rtl.ok()) return -1;
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) /
                                    ("lmul_unit_" + tag + "_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "dut.v") << *rtl;
  std::ofstream(dir / "vectors.hex") << FormatUnitVectors(s, vec, "unit_test");
  std::ofstream(dir / "tb.v") << UnitTestbench(s, "dut", vec.size());
  const std::string d = dir.string();
  if (sim == "verilator") {
    // --binary --timing: the testbench's #delays run in Verilator's own scheduler.
    *log = RunCapture("cd " + d +
                      " && verilator --binary --timing -Wno-fatal -Wno-lint -Wno-style "
                      "--top-module tb -o sim --Mdir obj tb.v dut.v >build.log 2>&1 && "
                      "obj/sim +vectors=vectors.hex 2>&1 || tail -20 build.log");
  } else {
    *log = RunCapture("cd " + d +
                      " && iverilog -g2005 -o sim dut.v tb.v 2>&1 && vvp -n sim "
                      "+vectors=vectors.hex 2>&1");
  }
  const size_t at = log->find("MISMATCHES ");
  if (at == std::string::npos) return -1;
  const long bad = std::strtol(log->c_str() + at + 11, nullptr, 10);
  if (bad == 0) std::filesystem::remove_all(dir);
  return bad;
}

struct SimCase {
  const char* tag;
  const char* unit;
  const char* arith;
  const char* acc;
  int lanes;
  const char* order;
  bool fused;
  int stages;
  bool exhaustive;  // MAC: every pair x n_acc accumulator values
  int n;            // random vectors, or n_acc
};
// gtest prints a parameter it has no printer for as its raw bytes (in every test name).
void PrintTo(const SimCase& c, std::ostream* os) { *os << c.tag; }

class UnitSim : public testing::TestWithParam<SimCase> {};

TEST_P(UnitSim, MatchesReference) {
  const SimCase& c = GetParam();
  const std::string sim = Simulator();
  if (sim.empty()) {
    GTEST_SKIP() << "iverilog/vvp not found on PATH: unit simulation skipped (scripts/setup.sh "
                    "installs iverilog)";
  }
  const UnitSpec s = Spec(c.unit, c.arith, c.acc, c.lanes, c.order, c.fused, c.stages);
  auto vec = MakeUnitVectors(s, c.exhaustive, c.exhaustive ? 0 : c.n, 777, c.exhaustive ? c.n : -1);
  ASSERT_TRUE(vec.ok()) << vec.error();
  std::string log;
  const long bad = SimulateUnit(s, *vec, c.tag, sim, &log);
  EXPECT_EQ(bad, 0) << s.Name() << ": simulator output:\n" << log;
  std::printf("%s [%s]: %zu vectors, %ld mismatches\n", s.Name().c_str(), sim.c_str(), vec->size(),
              bad);
}

std::string CaseName(const testing::TestParamInfo<SimCase>& info) { return info.param.tag; }

// The testbench writes each operand bus whole: Verilator 5.006 (--timing) did not propagate
// writes to constant part-selects of the bus into the DUT's lane ports (docs/energy.md 6.1).
TEST(UnitTestbench, WritesOperandBusesWhole) {
  const UnitSpec s = Spec("dot", "lmul/e4m3", "fp32", 3, "seq", false, 0);
  const std::string tb = UnitTestbench(s, "dut", 5);
  EXPECT_NE(tb.find("a = {mem[i * 8 + 2][7:0], mem[i * 8 + 1][7:0], mem[i * 8 + 0][7:0]};"),
            std::string::npos)
      << tb;
  EXPECT_NE(tb.find("b = {mem[i * 8 + 5][7:0], mem[i * 8 + 4][7:0], mem[i * 8 + 3][7:0]};"),
            std::string::npos)
      << tb;
  EXPECT_EQ(tb.find("a[7:0] ="), std::string::npos) << tb;
}

// The same testbench under Verilator (hw_long only: each build takes 1-2 minutes here).
class UnitSimVerilator : public testing::TestWithParam<SimCase> {};

TEST_P(UnitSimVerilator, MatchesReference) {
  const SimCase& c = GetParam();
  if (!HaveVerilator()) {
    GTEST_SKIP() << "verilator not found on PATH: Verilator simulation skipped (scripts/setup.sh "
                    "installs verilator)";
  }
  const UnitSpec s = Spec(c.unit, c.arith, c.acc, c.lanes, c.order, c.fused, c.stages);
  auto vec = MakeUnitVectors(s, c.exhaustive, c.exhaustive ? 0 : c.n, 777, c.exhaustive ? c.n : -1);
  ASSERT_TRUE(vec.ok()) << vec.error();
  std::string log;
  const long bad = SimulateUnit(s, *vec, std::string("vl_") + c.tag, "verilator", &log);
  EXPECT_EQ(bad, 0) << s.Name() << ": Verilator output:\n" << log;
  std::printf("%s [verilator]: %zu vectors, %ld mismatches\n", s.Name().c_str(), vec->size(), bad);
}

#ifdef LMUL_HW_LONG
// hw_long: every fp8 pair x all 16 accumulator values (1,048,576 vectors per
// MAC), and 40000 random vectors per 8-lane dot unit.
INSTANTIATE_TEST_SUITE_P(
    Long, UnitSim,
    testing::Values(
        SimCase{"L_mac_lmul_e4m3_fp32", "mac", "lmul/e4m3", "fp32", 1, "seq", false, 0, true, 16},
        SimCase{"L_mac_lmul_e5m2_fp32", "mac", "lmul/e5m2", "fp32", 1, "seq", false, 0, true, 16},
        SimCase{"L_mac_mitchell_e4m3_fp32", "mac", "mitchell/e4m3", "fp32", 1, "seq", false, 0,
                true, 16},
        SimCase{"L_mac_exact_e4m3_fp32", "mac", "exact/e4m3", "fp32", 1, "seq", false, 0, true, 16},
        SimCase{"L_mac_exact_e5m2_fp32", "mac", "exact/e5m2", "fp32", 1, "seq", false, 0, true, 16},
        SimCase{"L_mac_exact_e4m3_fused", "mac", "exact/e4m3", "fp32", 1, "seq", true, 0, true, 16},
        SimCase{"L_mac_exact_e5m2_fused", "mac", "exact/e5m2", "fp32", 1, "seq", true, 0, true, 16},
        SimCase{"L_mac_lmul_e4m3_bf16", "mac", "lmul/e4m3", "bf16", 1, "seq", false, 0, true, 16},
        SimCase{"L_mac_lmul_e5m2_fp16", "mac", "lmul/e5m2", "fp16", 1, "seq", false, 0, true, 16},
        SimCase{"L_mac_exact_e4m3_bf16", "mac", "exact/e4m3", "bf16", 1, "seq", false, 1, true, 16},
        SimCase{"L_dot8_lmul_e4m3_fp32", "dot", "lmul/e4m3", "fp32", 8, "seq", false, 4, false,
                40000},
        SimCase{"L_dot8_exact_e4m3_fp32", "dot", "exact/e4m3", "fp32", 8, "seq", false, 0, false,
                40000},
        SimCase{"L_dot8_exact_e4m3_fused", "dot", "exact/e4m3", "fp32", 8, "seq", true, 0, false,
                40000},
        SimCase{"L_dot8_lmul_bf16_tree", "dot", "lmul/bf16", "fp32", 8, "tree", false, 2, false,
                40000},
        SimCase{"L_dot8_exact_bf16_fused", "dot", "exact/bf16", "fp32", 8, "seq", true, 0, false,
                40000},
        SimCase{"L_dot8_lmul_fp32", "dot", "lmul/fp32", "fp32", 8, "seq", false, 0, false, 40000},
        SimCase{"L_dot8_exact_fp32", "dot", "exact/fp32", "fp32", 8, "seq", false, 0, false, 40000},
        SimCase{"L_dot8_lmul_e4m3_bf16", "dot", "lmul/e4m3", "bf16", 8, "tree", false, 0, false,
                40000},
        // The remaining configurations scripts/synth_report.sh synthesizes, exactly as
        // synthesized (so every unit in the synthesis report is simulated against the reference).
        SimCase{"L_dot8_lmul_e4m3_fp32_s0", "dot", "lmul/e4m3", "fp32", 8, "seq", false, 0, false,
                5000},
        SimCase{"L_dot4_lmul_e4m3_fp32_s2", "dot", "lmul/e4m3", "fp32", 4, "seq", false, 2, false,
                10000},
        SimCase{"L_dot4_exact_e4m3_fp32_s2", "dot", "exact/e4m3", "fp32", 4, "seq", false, 2, false,
                10000},
        SimCase{"L_mac_exact_e4m3_bf16_s0", "mac", "exact/e4m3", "bf16", 1, "seq", false, 0, true,
                2},
        SimCase{"L_mac_lmul_bf16_fp32", "mac", "lmul/bf16", "fp32", 1, "seq", false, 0, false,
                20000},
        SimCase{"L_mac_exact_bf16_fp32", "mac", "exact/bf16", "fp32", 1, "seq", false, 0, false,
                20000},
        SimCase{"L_mac_exact_bf16_fused", "mac", "exact/bf16", "fp32", 1, "seq", true, 0, false,
                20000},
        SimCase{"L_mac_lmul_bf16_bf16", "mac", "lmul/bf16", "bf16", 1, "seq", false, 0, false,
                20000},
        SimCase{"L_mac_exact_bf16_bf16", "mac", "exact/bf16", "bf16", 1, "seq", false, 0, false,
                20000},
        SimCase{"L_mac_lmul_fp32_fp32", "mac", "lmul/fp32", "fp32", 1, "seq", false, 0, false,
                20000},
        SimCase{"L_mac_exact_fp32_fp32", "mac", "exact/fp32", "fp32", 1, "seq", false, 0, false,
                20000}),
    CaseName);
// Verilator: the multi-lane units it once got wrong (the 1-lane MAC always passed; the
// exhaustive lmul/e4m3 MAC under Verilator, 1,048,576 vectors, took 179 s here with its build
// and passed, duplicating the Icarus run, so it is not repeated).
INSTANTIATE_TEST_SUITE_P(Long, UnitSimVerilator,
                         testing::Values(SimCase{"L_dot8_lmul_e4m3_fp32", "dot", "lmul/e4m3",
                                                 "fp32", 8, "seq", false, 4, false, 40000},
                                         SimCase{"L_dot8_lmul_bf16_tree", "dot", "lmul/bf16",
                                                 "fp32", 8, "tree", false, 2, false, 40000}),
                         CaseName);
#else
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(UnitSimVerilator);
// Default label: every fp8 pair with 2 accumulator values (+0 and -0, the first
// two of AccTestValues), and 2000-3000 random vectors per dot unit.
INSTANTIATE_TEST_SUITE_P(
    Fast, UnitSim,
    testing::Values(
        SimCase{"mac_lmul_e4m3_fp32", "mac", "lmul/e4m3", "fp32", 1, "seq", false, 0, true, 2},
        SimCase{"mac_exact_e4m3_fused", "mac", "exact/e4m3", "fp32", 1, "seq", true, 0, true, 2},
        SimCase{"mac_lmul_e5m2_bf16", "mac", "lmul/e5m2", "bf16", 1, "seq", false, 0, false, 3000},
        SimCase{"dot4_lmul_e4m3_fp32", "dot", "lmul/e4m3", "fp32", 4, "seq", false, 0, false, 3000},
        SimCase{"dot4_lmul_e4m3_fp32_s3", "dot", "lmul/e4m3", "fp32", 4, "seq", false, 3, false,
                3000},
        SimCase{"dot5_exact_e4m3_tree", "dot", "exact/e4m3", "fp32", 5, "tree", false, 2, false,
                3000},
        SimCase{"dot4_exact_bf16_fused", "dot", "exact/bf16", "fp32", 4, "seq", true, 0, false,
                3000},
        SimCase{"dot4_lmul_bf16_bf16", "dot", "lmul/bf16", "bf16", 4, "seq", false, 0, false, 3000},
        SimCase{"dot4_lmul_fp32_fp32", "dot", "lmul/fp32", "fp32", 4, "tree", false, 0, false,
                2000},
        SimCase{"dot4_exact_fp32_fp32", "dot", "exact/fp32", "fp32", 4, "seq", false, 0, false,
                2000}),
    CaseName);
#endif

}  // namespace
}  // namespace lmul::hw
