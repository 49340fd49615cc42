#include "analysis/energy/token_energy.h"

#include <vector>

#include "engine/model/session.h"

namespace lmul::energy {

using engine::Site;
using engine::SiteOp;

double SiteCounts::total() const {
  double s = 0;
  for (double p : products) s += p;
  return s;
}

void OpCounter::OnSite(const engine::SiteEvent& e) {
  double n;
  if (e.site == Site::kElementwise) {
    n = static_cast<double>(e.a.rows) * e.a.cols;
  } else {
    n = static_cast<double>(e.a.rows) * e.a.cols * e.b.cols;
  }
  counts_.products[static_cast<int>(e.site)] += n;
}

ModelShape ShapeOf(const engine::ModelConfig& c, double weight_bits, double kv_bits) {
  ModelShape m;
  m.name = c.name.empty() ? c.arch : c.name;
  m.n_layer = c.n_layer;
  m.d_model = c.d_model;
  m.n_head = c.n_head;
  m.n_kv_head = c.n_kv_head;
  m.head_dim = c.head_dim;
  m.d_ff = c.d_ff;
  m.n_vocab = c.n_vocab;
  m.weight_bits = weight_bits;
  m.kv_bits = kv_bits;
  return m;
}

engine::ModelConfig ConfigOf(const ModelShape& m) {
  engine::ModelConfig c;
  c.arch = "llama";
  c.name = m.name;
  c.n_layer = m.n_layer;
  c.d_model = m.d_model;
  c.n_head = m.n_head;
  c.n_kv_head = m.n_kv_head;
  c.head_dim = m.head_dim;
  c.d_ff = m.d_ff;
  c.n_vocab = m.n_vocab;
  c.rope_dim = m.head_dim;
  return c;
}

SiteCounts AnalyticCounts(const engine::ModelConfig& c, int ctx) {
  SiteCounts s;
  const double d = c.d_model, L = c.n_layer;
  const double q = static_cast<double>(c.n_head) * c.head_dim;
  const double kv = static_cast<double>(c.n_kv_head) * c.head_dim;
  auto at = [&](Site site) -> double& { return s.products[static_cast<int>(site)]; };
  at(Site::kAttnProj) = L * (d * (q + 2 * kv) + q * d);
  at(Site::kMlp) = L * 3 * d * c.d_ff;
  at(Site::kLmHead) = static_cast<double>(c.n_vocab) * d;
  at(Site::kAttnQK) = L * c.n_head * c.head_dim * static_cast<double>(ctx);
  at(Site::kAttnAV) = at(Site::kAttnQK);
  // RMSNorm: x * 1/rms and * gamma, two norms per layer + the final norm;
  // RoPE: two products per rotated element of q and k; SwiGLU: d_ff.
  const double rope = 2.0 * (c.n_head + c.n_kv_head) * c.rope_dim;
  at(Site::kElementwise) = (2 * L + 1) * 2 * d + L * (rope + c.d_ff);
  return s;
}

Result<SiteCounts> CountDecodeStep(const engine::Model& model, int ctx) {
  if (ctx < 1) return MakeError("context length must be >= 1, got " + std::to_string(ctx));
  engine::Session session(model, engine::Policy{}, ctx, 1);
  std::vector<int32_t> prompt(ctx - 1);
  for (int i = 0; i < ctx - 1; ++i) prompt[i] = i % model.config().n_vocab;
  if (!prompt.empty()) LMUL_RETURN_IF_ERROR(session.ForwardLast(prompt, nullptr));
  OpCounter counter;
  session.set_observer(&counter);
  std::vector<float> logits;
  const int32_t next = 1 % model.config().n_vocab;
  LMUL_RETURN_IF_ERROR(session.Forward(std::span<const int32_t>(&next, 1), &logits));
  session.set_observer(nullptr);
  return counter.counts();
}

Result<TokenCount> CountTokenProducts(const engine::Model* model, const std::string& model_path,
                                      int ctx) {
  TokenCount t;
  t.config = model ? model->config() : ConfigOf(ModelShape::SmolLM2_135M());
  t.counts = AnalyticCounts(t.config, ctx);
  t.counted_by = "analytic (built-in SmolLM2-135M config; pass --model to count)";
  if (model) {
    auto c = CountDecodeStep(*model, ctx);
    if (!c.ok()) return std::move(c).TakeError();
    const bool same = c->products == t.counts.products;
    t.counted_by = "engine ActivationObserver on " + model_path +
                   (same ? " (equals the analytic count)" : " (DIFFERS from the analytic count)");
    t.counts = *c;
  }
  return t;
}

PolicyEnergy EnergyOf(const SiteCounts& counts, const engine::Policy& policy, const EnergyTable& t,
                      const TokenOps& memory, const std::string& mem_key) {
  PolicyEnergy e;
  const std::string acc = policy.accum == kernels::Accum::kFp32 ? "fp32_add" : "fp16_add";
  for (Site s : engine::kAllSites) {
    const OpCost c = CostOf(policy.at(s), t, acc);
    const double per = s == Site::kElementwise ? c.mul_pj : c.step_pj;
    e.site_pj[static_cast<int>(s)] = counts.products[static_cast<int>(s)] * per;
    e.arith_pj += e.site_pj[static_cast<int>(s)];
  }
  e.weight_bytes = memory.weight_bytes;
  e.kv_bytes = memory.kv_bytes;
  e.memory_pj = (memory.weight_bytes + memory.kv_bytes) * t.at(mem_key);
  return e;
}

Result<std::vector<PolicyComparison>> ComparePolicies(const SiteCounts& counts,
                                                      const std::string& baseline,
                                                      const std::vector<std::string>& policies,
                                                      const EnergyTable& t, const TokenOps& memory,
                                                      const std::string& mem_key) {
  auto base = engine::Policy::Parse(baseline);
  if (!base.ok()) return Error{"baseline policy '" + baseline + "': " + base.error()};
  std::vector<PolicyComparison> rows;
  rows.push_back({baseline, EnergyOf(counts, *base, t, memory, mem_key)});
  const double base_arith = rows[0].energy.arith_pj;
  const double base_total = base_arith + rows[0].energy.memory_pj;
  for (const std::string& name : policies) {
    auto p = engine::Policy::Parse(name);
    if (!p.ok()) return Error{"policy '" + name + "': " + p.error()};
    if (*p == *base) continue;
    PolicyComparison row{name, EnergyOf(counts, *p, t, memory, mem_key)};
    row.arith_saving_pct = SavingPercent(base_arith, row.energy.arith_pj);
    row.total_saving_pct = SavingPercent(base_total, row.energy.arith_pj + row.energy.memory_pj);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace lmul::energy
