// CountTokenProducts on the tiny synthetic Llama (no download): the observer's count of a
// decoded token equals the analytic one, and without a model the analytic count of the
// built-in SmolLM2-135M shape is used.
#include "analysis/energy/token_energy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "engine/model/testing/tiny_llama.h"

namespace lmul::energy {
namespace {

TEST(CountTokenProducts, WithoutModelIsAnalyticSmolLM2) {
  auto t = CountTokenProducts(nullptr, "", 512);
  ASSERT_TRUE(t.ok()) << t.error();
  const SiteCounts want = AnalyticCounts(ConfigOf(ModelShape::SmolLM2_135M()), 512);
  EXPECT_EQ(t->counts.products, want.products);
  EXPECT_EQ(t->config.n_layer, ModelShape::SmolLM2_135M().n_layer);
  EXPECT_NE(t->counted_by.find("analytic"), std::string::npos) << t->counted_by;
}

TEST(CountTokenProducts, TinyModelCountedEqualsAnalytic) {
  const std::string path =
      engine::testmodel::PerProcessPath(::testing::TempDir(), "token_energy_tiny_llama");
  ASSERT_TRUE(engine::testmodel::WriteTinyLlama({}, path).ok());
  auto model = engine::Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.error();
  for (int ctx : {1, 9}) {
    auto t = CountTokenProducts(model->get(), path, ctx);
    ASSERT_TRUE(t.ok()) << t.error();
    EXPECT_EQ(t->counts.products, AnalyticCounts((*model)->config(), ctx).products);
    EXPECT_GT(t->counts.total(), 0);
    EXPECT_NE(t->counted_by.find("(equals the analytic count)"), std::string::npos)
        << t->counted_by;
    EXPECT_NE(t->counted_by.find(path), std::string::npos);
  }
  // A context the model cannot hold is an error, not a crash.
  EXPECT_FALSE(CountTokenProducts(model->get(), path, 0).ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace lmul::energy
