// Per-token energy of a real model under an engine arithmetic policy
// (engine/model/policy.h): multiplication counts per site, derived analytically
// from the model config and counted by running the engine with an
// ActivationObserver (engine/model/observer.h); the two are cross-checked in
// token_energy_model_test.cc. Llama-style models (Gemma's sliding window is
// not modelled by the analytic count).
#ifndef LMUL_ANALYSIS_ENERGY_TOKEN_ENERGY_H_
#define LMUL_ANALYSIS_ENERGY_TOKEN_ENERGY_H_

#include <array>
#include <string>
#include <vector>

#include "analysis/energy/energy.h"
#include "engine/model/model.h"
#include "engine/model/observer.h"
#include "engine/model/policy.h"

namespace lmul::energy {

// Products per site for one decoded token (index: engine::Site).
struct SiteCounts {
  std::array<double, engine::kNumSites> products{};
  double total() const;
};

// Counts every product the engine reports: a GEMM event (M x K).(K x N) is
// M*K*N products, an elementwise event rows*cols.
class OpCounter : public engine::ActivationObserver {
 public:
  void OnSite(const engine::SiteEvent& e) override;
  const SiteCounts& counts() const { return counts_; }
  void Reset() { counts_ = {}; }

 private:
  SiteCounts counts_;
};

ModelShape ShapeOf(const engine::ModelConfig& c, double weight_bits, double kv_bits);
// The inverse, for counting without the model file: a Llama config of that
// shape (RoPE over the whole head).
engine::ModelConfig ConfigOf(const ModelShape& m);

// Analytic products of the token decoded at position ctx-1 (ctx tokens in the
// KV cache including it).
SiteCounts AnalyticCounts(const engine::ModelConfig& c, int ctx);

// Runs ctx-1 tokens, then counts the products of decoding one more token.
Result<SiteCounts> CountDecodeStep(const engine::Model& model, int ctx);

// The products of one decoded token at context ctx, as `lmul energy` reports them: with a
// model, counted by CountDecodeStep (counted_by says whether that equals the analytic
// count); without one (model == nullptr), the analytic count of the built-in SmolLM2-135M
// config.
struct TokenCount {
  engine::ModelConfig config;
  SiteCounts counts;
  std::string counted_by;  // how the counts were obtained, printed and in the JSON
};
Result<TokenCount> CountTokenProducts(const engine::Model* model, const std::string& model_path,
                                      int ctx);

struct PolicyEnergy {
  std::array<double, engine::kNumSites> site_pj{};
  double arith_pj = 0, memory_pj = 0;
  double weight_bytes = 0, kv_bytes = 0;
};
// GEMM sites: products x (product + accumulating add); elementwise: product only.
// Accumulation add: fp32_add (policy accum fp32) or fp16_add (bf16 accum, as an
// approximation). Memory: weight bytes (weight_bits per weight, read once per
// token) + KV bytes, at `mem_key` (dram_byte or sram_byte).
PolicyEnergy EnergyOf(const SiteCounts& counts, const engine::Policy& policy, const EnergyTable& t,
                      const TokenOps& memory, const std::string& mem_key = "dram_byte");

// One row of a policy comparison: a policy's energy and its savings against the baseline.
struct PolicyComparison {
  std::string policy;  // as given
  PolicyEnergy energy;
  double arith_saving_pct = 0, total_saving_pct = 0;  // 100 * (1 - this / baseline)
};
// The baseline first (its savings 0 %), then each policy not equal to it (a policy that parses
// to the baseline's is not repeated), savings always against the baseline: a single policy is
// compared with the baseline, never with itself. Errors: a policy that does not parse.
Result<std::vector<PolicyComparison>> ComparePolicies(const SiteCounts& counts,
                                                      const std::string& baseline,
                                                      const std::vector<std::string>& policies,
                                                      const EnergyTable& t, const TokenOps& memory,
                                                      const std::string& mem_key = "dram_byte");

}  // namespace lmul::energy

#endif  // LMUL_ANALYSIS_ENERGY_TOKEN_ENERGY_H_
