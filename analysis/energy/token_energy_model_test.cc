// Cross-check: the analytic per-site product counts of one decoded token equal
// the counts of the engine's ActivationObserver on the real model (LMUL_MODEL;
// skipped without it).
#include <gtest/gtest.h>

#include <cstdlib>

#include "analysis/energy/token_energy.h"

namespace lmul::energy {
namespace {

TEST(TokenEnergyModel, AnalyticCountsMatchObserver) {
  const char* path = std::getenv("LMUL_MODEL");
  if (path == nullptr || *path == '\0') GTEST_SKIP() << "LMUL_MODEL not set";
  auto model = engine::Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.error();
  for (int ctx : {1, 7}) {
    auto counted = CountDecodeStep(**model, ctx);
    ASSERT_TRUE(counted.ok()) << counted.error();
    const SiteCounts analytic = AnalyticCounts((*model)->config(), ctx);
    for (engine::Site s : engine::kAllSites) {
      EXPECT_EQ(counted->products[static_cast<int>(s)], analytic.products[static_cast<int>(s)])
          << engine::SiteName(s) << " ctx " << ctx;
    }
    std::printf("ctx %d: %.6g products per token\n", ctx, counted->total());
  }
}

// `lmul energy` without --model counts from the built-in shape: it must be the
// default model's (a ModelShape -> ModelConfig round trip through the file).
TEST(TokenEnergyModel, BuiltInShapeIsTheDefaultModels) {
  const char* path = std::getenv("LMUL_MODEL");
  if (path == nullptr || *path == '\0') GTEST_SKIP() << "LMUL_MODEL not set";
  auto model = engine::Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.error();
  const engine::ModelConfig& file = (*model)->config();
  const engine::ModelConfig built_in = ConfigOf(ModelShape::SmolLM2_135M());
  EXPECT_EQ(built_in.arch, file.arch);
  EXPECT_EQ(built_in.n_layer, file.n_layer);
  EXPECT_EQ(built_in.d_model, file.d_model);
  EXPECT_EQ(built_in.n_head, file.n_head);
  EXPECT_EQ(built_in.n_kv_head, file.n_kv_head);
  EXPECT_EQ(built_in.head_dim, file.head_dim);
  EXPECT_EQ(built_in.d_ff, file.d_ff);
  EXPECT_EQ(built_in.n_vocab, file.n_vocab);
  EXPECT_EQ(built_in.rope_dim, file.rope_dim);
  const ModelShape round_trip = ShapeOf(built_in, 5, 32);
  EXPECT_EQ(round_trip.name, ModelShape::SmolLM2_135M().name);
  EXPECT_EQ(CountTokenOps(round_trip, 9).linear_macs,
            CountTokenOps(ModelShape::SmolLM2_135M(), 9).linear_macs);
}

// No model file needed: the analytic counts of the built-in shape.
TEST(TokenEnergy, ComparePoliciesIsAgainstTheBaselineNeverItself) {
  const auto cfg = ConfigOf(ModelShape::SmolLM2_135M());
  const SiteCounts counts = AnalyticCounts(cfg, 512);
  const auto ops = CountTokenOps(ShapeOf(cfg, 5.0, 32), 512);
  const EnergyTable t = EnergyTable::Horowitz45nm();
  // A single policy: compared with the fp32 baseline (the bug was 0.0 %: itself).
  auto rows = ComparePolicies(counts, "fp32", {"lmul-all"}, t, ops);
  ASSERT_TRUE(rows.ok()) << rows.error();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].policy, "fp32");
  EXPECT_EQ((*rows)[0].arith_saving_pct, 0.0);
  EXPECT_EQ((*rows)[1].policy, "lmul-all");
  const auto fp32 = EnergyOf(counts, *lmul::engine::Policy::Parse("fp32"), t, ops);
  const auto all = EnergyOf(counts, *lmul::engine::Policy::Parse("lmul-all"), t, ops);
  EXPECT_DOUBLE_EQ((*rows)[1].arith_saving_pct, SavingPercent(fp32.arith_pj, all.arith_pj));
  EXPECT_DOUBLE_EQ((*rows)[1].total_saving_pct,
                   SavingPercent(fp32.arith_pj + fp32.memory_pj, all.arith_pj + all.memory_pj));
  EXPECT_GT((*rows)[1].arith_saving_pct, 10.0);  // L-Mul GEMMs cost less than fp32 ones
  EXPECT_LT((*rows)[1].arith_saving_pct, 100.0);
  // The baseline listed again is not repeated; another baseline changes the reference.
  rows = ComparePolicies(counts, "bf16", {"bf16", "fp32", "lmul-all"}, t, ops);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].policy, "bf16");
  EXPECT_LT((*rows)[1].arith_saving_pct, 0.0);  // fp32 costs more than bf16
  auto bad = ComparePolicies(counts, "fp32", {"nonsense"}, t, ops);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("policy 'nonsense'"), std::string::npos);
  EXPECT_FALSE(ComparePolicies(counts, "nope", {}, t, ops).ok());
}

}  // namespace
}  // namespace lmul::energy
