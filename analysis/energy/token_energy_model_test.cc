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

}  // namespace
}  // namespace lmul::energy
