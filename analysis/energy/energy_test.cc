// Energy arithmetic on hand-computed cases.
#include "analysis/energy/energy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace lmul::energy {
namespace {

Arith A(const char* s) {
  auto a = Arith::Parse(s);
  EXPECT_TRUE(a.ok()) << s;
  return *a;
}

TEST(Energy, PaperSavingsReconstructed) {
  const EnergyTable t = EnergyTable::Horowitz45nm();
  // Elementwise: fp32 mult 3.7 pJ vs int32 add 0.1 pJ -> 1 - 0.1/3.7 = 97.297%.
  EXPECT_NEAR(SavingPercent(CostOf(A("exact/fp32"), t).mul_pj, CostOf(A("lmul/fp32"), t).mul_pj),
              97.2973, 1e-3);
  // Dot-product step: (3.7 + 0.9) vs (0.1 + 0.9) -> 1 - 1.0/4.6 = 78.26%.
  EXPECT_NEAR(SavingPercent(CostOf(A("exact/fp32"), t).step_pj, CostOf(A("lmul/fp32"), t).step_pj),
              78.2609, 1e-3);
  // fp16: 1.1 vs sqrt(0.003) = 0.05477 -> 95.02%; step (1.1+0.9) vs (0.0548+0.9) -> 52.3%.
  EXPECT_NEAR(SavingPercent(CostOf(A("exact/fp16"), t).mul_pj, CostOf(A("lmul/fp16"), t).mul_pj),
              95.0207, 1e-3);
  EXPECT_NEAR(SavingPercent(CostOf(A("exact/fp16"), t).step_pj, CostOf(A("lmul/fp16"), t).step_pj),
              52.2614, 1e-3);
  // fp8: int8 mult 0.2 vs int8 add 0.03 -> 85%.
  EXPECT_NEAR(SavingPercent(CostOf(A("exact/e4m3"), t).mul_pj, CostOf(A("lmul/e4m3"), t).mul_pj),
              85.0, 1e-9);
}

// The library's reconstruction (what `lmul energy` prints) is the same arithmetic.
TEST(Energy, ReconstructPaperClaims) {
  const PaperClaims c = ReconstructPaperClaims(EnergyTable::Horowitz45nm());
  EXPECT_NEAR(c.elementwise_fp32, 97.2973, 1e-3);
  EXPECT_NEAR(c.elementwise_fp16, 95.0207, 1e-3);
  EXPECT_NEAR(c.dot_fp32, 78.2609, 1e-3);
  EXPECT_NEAR(c.dot_fp16_fp32acc, 52.2614, 1e-3);
  // Every operation 1 pJ: no saving anywhere.
  EnergyTable flat = EnergyTable::Horowitz45nm();
  for (auto& [k, v] : flat.pj) v = 1;
  const PaperClaims f = ReconstructPaperClaims(flat);
  EXPECT_EQ(f.elementwise_fp32, 0);
  EXPECT_EQ(f.dot_fp32, 0);
  EXPECT_EQ(f.dot_fp16_fp32acc, 0);
}

TEST(Energy, SavingsMatrix) {
  const EnergyTable t = EnergyTable::Horowitz45nm();
  const auto s = Savings(t, SavingsLMulAriths(), SavingsBaselines());
  ASSERT_EQ(s.size(), SavingsLMulAriths().size() * SavingsBaselines().size());
  EXPECT_EQ(s[0].lmul, "lmul/fp32");
  EXPECT_EQ(s[0].baseline, "exact/fp32");
  EXPECT_NEAR(s[0].elementwise_pct, 97.2973, 1e-3);
  EXPECT_NEAR(s[0].dot_step_pct, 78.2609, 1e-3);
  // lmul/e4m3 vs exact/e4m3 (last cell): int8 mult 0.2 vs int8 add 0.03 -> 85 %.
  EXPECT_EQ(s.back().lmul, "lmul/e4m3");
  EXPECT_EQ(s.back().baseline, "exact/e4m3");
  EXPECT_NEAR(s.back().elementwise_pct, 85.0, 1e-9);
  for (const std::string& a : PerOperationAriths()) EXPECT_TRUE(Arith::Parse(a).ok()) << a;
}

TEST(Energy, TokenCountsByHand) {
  ModelShape m{"tiny", 2, 8, 2, 1, 4, 16, 10, 16, 32};
  // per layer: q 8*8 + k,v 2*8*4 + o 8*8 + mlp 3*8*16 = 64+64+64+384 = 576; x2 + lm_head 80.
  const TokenOps o = CountTokenOps(m, 5);
  EXPECT_DOUBLE_EQ(o.linear_macs, 1232);
  EXPECT_DOUBLE_EQ(o.attention_macs, 2 * 2 * 4 * 2 * 5);  // 160
  EXPECT_DOUBLE_EQ(o.weight_bytes, 1232 * 2);
  EXPECT_DOUBLE_EQ(o.kv_bytes, 2 * 2 * 4 * 6 * 4);  // 384
  const EnergyTable t = EnergyTable::Horowitz45nm();
  const TokenEnergy e = TokenEnergyOf(o, A("exact/fp32"), A("lmul/fp32"), t);
  EXPECT_NEAR(e.arith_pj, 1232 * 4.6 + 160 * 1.0, 1e-9);
  EXPECT_NEAR(e.memory_pj, (2464 + 384) * 162.5, 1e-9);
}

TEST(Energy, SmolLM2ParameterCount) {
  // 134.5M parameters (tied embeddings): the linear MACs per token equal the
  // weight count of all matrices incl. the lm_head (= embedding).
  const TokenOps o = CountTokenOps(ModelShape::SmolLM2_135M(), 1);
  EXPECT_NEAR(o.linear_macs, 134.5e6, 0.2e6) << o.linear_macs;
}

TEST(Energy, JsonTable) {
  auto bad = EnergyTable::FromJson("{\"pj\": {\"fp32_mul\": 1}}", "t.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("t.json: field 'pj.fp32_add'"), std::string::npos) << bad.error();
  EXPECT_FALSE(EnergyTable::FromJson("[1,", "x.json").ok());
  std::string j = "{\"name\": \"n7\", \"pj\": {";
  bool first = true;
  for (const auto& k : EnergyTable::Keys()) {
    j += (first ? "\"" : ", \"") + k + "\": 2";
    first = false;
  }
  j += "}}";
  auto t = EnergyTable::FromJson(j, "ok.json");
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(t->name, "n7");
  EXPECT_DOUBLE_EQ(CostOf(A("lmul/bf16"), *t).step_pj, 4.0);
}

// GateEnergyOf on a hand-made report: calibration on the exact fp32 MAC, savings
// by NAND2-eq and LUTs, a missing fused unit is NaN.
TEST(Energy, GateEnergyFromReport) {
  const auto path = std::filesystem::path(testing::TempDir()) / "gates_test.json";
  std::ofstream(path) << R"({"tool": "t", "modules": [
    {"name": "mac_exact_fp32_fp32", "arith": "exact/fp32", "cells": 10, "nand2_eq": 1000},
    {"name": "mac_lmul_fp32_fp32", "arith": "lmul/fp32", "cells": 5, "nand2_eq": 400,
     "xilinx": {"lut": 30, "carry": 2, "ff": 0}},
    {"name": "mac_exact_e4m3_fp32", "arith": "exact/e4m3", "cells": 5, "nand2_eq": 500,
     "xilinx": {"lut": 100, "carry": 2, "ff": 0}},
    {"name": "mac_lmul_e4m3_fp32", "arith": "lmul/e4m3", "cells": 5, "nand2_eq": 450,
     "xilinx": {"lut": 80, "carry": 2, "ff": 0}},
    {"name": "mac_fused_e4m3_fp32", "arith": "exact/e4m3", "cells": 5, "nand2_eq": 600},
    {"name": "dot8_lmul_e4m3_fp32", "arith": "lmul/e4m3", "cells": 5, "nand2_eq": 3600},
    {"name": "dot4_lmul_e4m3_fp32_s2", "arith": "lmul/e4m3", "unit": "dot", "acc": "fp32",
     "lanes": 4, "stages": 2, "cells": 5, "nand2_eq": 2000,
     "xilinx": {"lut": 300, "carry": 2, "ff": 80}},
    {"name": "dot4_exact_e4m3_fp32_s2", "arith": "exact/e4m3", "unit": "dot", "acc": "fp32",
     "lanes": 4, "stages": 2, "cells": 5, "nand2_eq": 2500,
     "xilinx": {"lut": 400, "carry": 2, "ff": 80}},
    {"name": "dot2_lmul_e4m3_fp32", "arith": "lmul/e4m3", "unit": "dot", "acc": "fp32",
     "lanes": 2, "xilinx": {"lut": 150}},
    {"name": "dot2_exact_e4m3_fp32", "arith": "exact/e4m3", "unit": "dot", "acc": "fp32",
     "lanes": 2, "xilinx": {"lut": 200}},
    {"name": "dot8_lmul_e4m3_bf16", "arith": "lmul/e4m3", "unit": "dot", "acc": "bf16",
     "lanes": 8, "cells": 5, "nand2_eq": 900},
    {"name": "dot8_exact_e4m3_bf16", "arith": "exact/e4m3", "unit": "dot", "acc": "bf16",
     "lanes": 4, "cells": 5, "nand2_eq": 1000},
    {"name": "lut_only", "arith": "lmul/e4m3", "xilinx": {"lut": 7}}]})";
  auto r = LoadGateReport(path.string());
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->Find("lut_only")->cells, -1);
  EXPECT_EQ(r->Find("lut_only")->lut, 7);
  auto g = GateEnergyOf(*r);
  ASSERT_TRUE(g.ok()) << g.error();
  EXPECT_DOUBLE_EQ(g->pj_per_nand2, 4.6 / 1000);
  EXPECT_DOUBLE_EQ(g->dot8_over_8mac, 3600.0 / (8 * 450));
  ASSERT_EQ(g->rows.size(), 2u);  // fp32/fp32 and e4m3/fp32
  EXPECT_EQ(g->rows[0].operands, "fp32");
  EXPECT_NEAR(g->rows[0].saving_vs_exact_pct, 60.0, 1e-12);
  EXPECT_TRUE(std::isnan(g->rows[0].saving_vs_fused_pct));
  EXPECT_NEAR(g->rows[0].exact_pj, 4.6, 1e-12);
  EXPECT_EQ(g->rows[1].operands, "e4m3");
  EXPECT_NEAR(g->rows[1].saving_vs_exact_pct, 10.0, 1e-12);
  EXPECT_NEAR(g->rows[1].saving_vs_fused_pct, 25.0, 1e-12);
  EXPECT_NEAR(g->rows[1].lut_saving_vs_exact_pct, 20.0, 1e-12);
  // Dot units: paired by name with the same lanes/stages/acc (dot8 bf16: the
  // "exact" one has 4 lanes, so no pair); LUT-only pairs have NaN NAND2 ratios.
  ASSERT_EQ(g->dots.size(), 2u);
  const DotRow& d = g->dots[0];
  EXPECT_EQ(d.exact_name, "dot4_exact_e4m3_fp32_s2");
  EXPECT_EQ(d.operands, "e4m3");
  EXPECT_EQ(d.lanes, 4);
  EXPECT_EQ(d.stages, 2);
  EXPECT_EQ(d.ff, 80);
  EXPECT_NEAR(d.saving_vs_exact_pct, 20.0, 1e-12);
  EXPECT_NEAR(d.lut_saving_vs_exact_pct, 25.0, 1e-12);
  EXPECT_NEAR(d.lmul_over_n_mac, 2000.0 / (4 * 450), 1e-12);
  EXPECT_NEAR(d.exact_over_n_mac, 2500.0 / (4 * 500), 1e-12);
  EXPECT_NEAR(d.lmul_pj_per_product, 2000 * 4.6 / 1000 / 4, 1e-12);
  EXPECT_NEAR(d.exact_pj_per_product, 2500 * 4.6 / 1000 / 4, 1e-12);
  EXPECT_EQ(g->dots[1].lmul_name, "dot2_lmul_e4m3_fp32");
  EXPECT_NEAR(g->dots[1].lut_saving_vs_exact_pct, 25.0, 1e-12);
  EXPECT_TRUE(std::isnan(g->dots[1].saving_vs_exact_pct));
  EXPECT_TRUE(std::isnan(g->dots[1].lmul_over_n_mac));
  EXPECT_EQ(g->dots[1].lmul_pj_per_product, 0);
  // Ours beside the published figures: from the rows and units above.
  const std::string dot80 = OursBeside("paper_dot80", *r, *g);
  EXPECT_NE(dot80.find("MAC fp32->fp32 -60.0 %"), std::string::npos) << dot80;
  EXPECT_NE(dot80.find("e4m3->fp32 -10.0 %"), std::string::npos) << dot80;
  EXPECT_NE(dot80.find("dot4 e4m3->fp32 -20.0 %"), std::string::npos) << dot80;
  EXPECT_EQ(dot80.find("bf16->"), std::string::npos) << dot80;  // no bf16 MACs here
  EXPECT_EQ(OursBeside("vub_lut", *r, *g), "");                 // no bare multipliers
  EXPECT_EQ(OursBeside("no_such_id", *r, *g), "");
  for (const auto& p : PublishedFigures()) EXPECT_FALSE(p.id.empty()) << p.what;
  // Composition: no fp32 MACs, but the multipliers and an fp32-accumulator MAC.
  std::ofstream(path) << R"({"modules": [
    {"name": "lmul_e4m3", "arith": "lmul/e4m3", "cells": 1, "nand2_eq": 100},
    {"name": "exact_fp32", "arith": "exact/fp32", "cells": 1, "nand2_eq": 2000},
    {"name": "lmul_fp32", "arith": "lmul/fp32", "cells": 1, "nand2_eq": 300},
    {"name": "mac_lmul_e4m3_fp32", "arith": "lmul/e4m3", "unit": "mac", "acc": "fp32",
     "cells": 1, "nand2_eq": 1100}]})";
  auto comp = LoadGateReport(path.string());
  ASSERT_TRUE(comp.ok()) << comp.error();
  auto gc = GateEnergyOf(*comp);
  ASSERT_TRUE(gc.ok()) << gc.error();
  EXPECT_EQ(OursBeside("paper_mul95", *comp, *gc), "NAND2-eq, multiplier fp32 -85.0 %");
  EXPECT_TRUE(gc->calibration_composed);
  EXPECT_DOUBLE_EQ(gc->pj_per_nand2, 4.6 / 3000);  // 2000 + adder (1100 - 100)
  ASSERT_EQ(gc->rows.size(), 1u);                  // fp32/fp32: lmul 300 + 1000 vs 3000
  EXPECT_TRUE(gc->rows[0].composed);
  EXPECT_NEAR(gc->rows[0].saving_vs_exact_pct, 100.0 * (1 - 1300.0 / 3000), 1e-9);
  std::ofstream(path) << R"({"modules": [{"name": "x", "arith": "lmul/e4m3", "cells": 3}]})";
  auto bad = LoadGateReport(path.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("modules[0]"), std::string::npos) << bad.error();
  std::ofstream(path) << R"({"modules": []})";
  auto empty = LoadGateReport(path.string());
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(GateEnergyOf(*empty).ok());
  EXPECT_FALSE(PublishedFigures().empty());
}

}  // namespace
}  // namespace lmul::energy
