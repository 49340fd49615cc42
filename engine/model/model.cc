#include "engine/model/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "base/check.h"
#include "engine/io/dequant.h"
#include "engine/model/scaling.h"
#include "engine/model/validate.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/gemv.h"
#include "kernels/plan.h"
#include "kernels/worker_pool.h"

namespace lmul::engine {
namespace {

// The tensor `name` with GGUF ne == `ne` and a dequantizable type.
Result<const GgufTensor*> Expect(const GgufFile& g, const std::string& name,
                                 const std::vector<int64_t>& ne) {
  auto t = g.GetTensor(name);
  if (!t.ok()) return t;
  if ((*t)->ne != ne) {
    GgufTensor want;
    want.ne = ne;
    return MakeError(g.path() + ": tensor '" + name + "': expected shape " + want.ShapeString() +
                     ", found " + (*t)->ShapeString());
  }
  if (!CanDequantize((*t)->type)) {
    return MakeError(g.path() + ": tensor '" + name + "': type " + GgmlTypeName((*t)->type) +
                     " is not supported (" + DequantizableTypes() + ")");
  }
  return t;
}

Status LoadVector(const GgufFile& g, const std::string& name, int n, std::vector<float>* out) {
  auto t = Expect(g, name, {n});
  if (!t.ok()) return MakeError(t.error());
  auto v = DequantizeTensor(**t);
  if (!v.ok()) return MakeError(g.path() + ": " + v.error());
  *out = std::move(*v);
  return Status::Ok();
}

}  // namespace

kernels::RowFormat RowFormatOf(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return kernels::RowFormat::kF32;
    case GgmlType::kQ8_0:
      return kernels::RowFormat::kQ8_0;
    case GgmlType::kQ4_0:
      return kernels::RowFormat::kQ4_0;
    case GgmlType::kQ4_1:
      return kernels::RowFormat::kQ4_1;
    default:
      return kernels::RowFormat::kOther;
  }
}

namespace {

// Rows of a weight group (its tensors stacked along N) dequantized on demand.
class GroupRowSource final : public kernels::RowSource {
 public:
  explicit GroupRowSource(std::vector<const GgufTensor*> parts) : parts_(std::move(parts)) {}
  void set_interleaved(const kernels::InterleavedRows* il) { interleaved_ = il; }
  const kernels::InterleavedRows* Interleaved() const override { return interleaved_; }
  void Rows(int n0, int count, float* out) const override {
    int64_t first = 0;  // first row of the part
    for (const GgufTensor* t : parts_) {
      const int64_t rows = t->n_rows(), len = t->row_length();
      const int64_t lo = std::max<int64_t>(n0, first),
                    hi = std::min<int64_t>(n0 + count, first + rows);
      if (lo < hi) {
        Status st = DequantizeRows(*t, lo - first, hi - lo, out + (lo - n0) * len);
        LMUL_CHECK(st.ok(), "%s", st.error().c_str());  // types and shapes validated at load
      }
      first += rows;
    }
  }
  // The stored form of rows n.. of the part holding row n, when the kernels decode it.
  kernels::RowRun Run(int n) const override {
    int64_t first = 0;
    for (const GgufTensor* t : parts_) {
      const int64_t rows = t->n_rows();
      if (n < first + rows) {
        kernels::RowRun run;
        run.format = RowFormatOf(t->type);
        run.row_bytes = t->row_bytes();
        run.data = t->data.data() + static_cast<size_t>(n - first) * run.row_bytes;
        run.rows = static_cast<int>(first + rows - n);
        return run;
      }
      first += rows;
    }
    return {};
  }

 private:
  std::vector<const GgufTensor*> parts_;
  const kernels::InterleavedRows* interleaved_ = nullptr;
};

}  // namespace

const char* WeightStorageName(WeightStorage s) {
  switch (s) {
    case WeightStorage::kCompact:
      return "compact";
    case WeightStorage::kPacked:
      return "packed";
    case WeightStorage::kAuto:
      break;
  }
  return "auto";
}

Result<WeightStorage> ParseWeightStorage(const std::string& name) {
  if (name == "compact") return WeightStorage::kCompact;
  if (name == "packed") return WeightStorage::kPacked;
  if (name == "auto") return WeightStorage::kAuto;
  return MakeError("unknown weight storage '" + name + "' (expected compact, packed or auto)");
}

bool Model::PacksGroup(const Arith& arith, kernels::Accum accum, bool scaled) const {
  if (scaled) return true;
  if (storage_ != WeightStorage::kAuto) return storage_ == WeightStorage::kPacked;
  // A decode step (M = 1) of the compact weights: packed unless the plan has the fused
  // exact/fp32 kernel (GemvKind::kFused). The reduced-operand fused kinds (kFusedExactWide,
  // kFusedLMulFast: bf16, fp8 wide, L-Mul) are deliberately not enough: at M = 1 they were
  // slower than the prepacked GEMM (docs/kernels.md §4.1), so auto still packs those groups.
  kernels::GemmOptions opts;
  opts.accum = accum;
  return kernels::ChooseGemvFor(arith, opts, 1, kernels::RowFormat::kOther).kind !=
         kernels::GemvKind::kFused;
}

Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::Load(const std::string& gguf_path,
                                           const LoadOptions& options) {
  auto gguf = GgufFile::Open(gguf_path);
  if (!gguf.ok()) return std::move(gguf).TakeError();
  std::unique_ptr<Model> m(new Model());
  m->gguf_ = std::move(gguf).value();
  m->storage_ = options.weights;
  const GgufFile& g = *m->gguf_;
  auto config = ModelConfig::FromGguf(g);
  if (!config.ok()) return std::move(config).TakeError();
  m->config_ = *config;
  LMUL_RETURN_IF_ERROR(ValidateModel(g, m->config_));  // cross-field consistency
  const ModelConfig& c = m->config_;
  const int64_t d = c.d_model, qd = int64_t{c.n_head} * c.head_dim,
                kvd = int64_t{c.n_kv_head} * c.head_dim;

  auto embd = Expect(g, "token_embd.weight", {d, c.n_vocab});
  if (!embd.ok()) return std::move(embd).TakeError();
  m->token_embd_ = *embd;
  if (c.tied_output) {
    m->output_ = m->token_embd_;
  } else {
    auto out = Expect(g, "output.weight", {d, c.n_vocab});
    if (!out.ok()) return std::move(out).TakeError();
    m->output_ = *out;
  }
  if (g.FindTensor("blk.0.attn_output.bias") != nullptr) {
    return MakeError(g.path() + ": tensor 'blk.0.attn_output.bias' is not supported (lmul runs " +
                     "q/k/v attention biases only)");
  }
  const ArchSettings& s = c.arch_settings;
  m->attn_norm_.resize(c.n_layer);
  m->ffn_norm_.resize(c.n_layer);
  m->layer_vectors_.resize(c.n_layer);
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerTensors lt;
    struct Want {
      const GgufTensor** slot;
      const char* name;
      std::vector<int64_t> ne;
    };
    const Want wants[] = {
        {&lt.q, "attn_q.weight", {d, qd}},          {&lt.k, "attn_k.weight", {d, kvd}},
        {&lt.v, "attn_v.weight", {d, kvd}},         {&lt.o, "attn_output.weight", {qd, d}},
        {&lt.gate, "ffn_gate.weight", {d, c.d_ff}}, {&lt.up, "ffn_up.weight", {d, c.d_ff}},
        {&lt.down, "ffn_down.weight", {c.d_ff, d}},
    };
    for (const Want& w : wants) {
      auto t = Expect(g, p + w.name, w.ne);
      if (!t.ok()) return std::move(t).TakeError();
      *w.slot = *t;
    }
    m->layers_.push_back(lt);
    LMUL_RETURN_IF_ERROR(LoadVector(g, p + "attn_norm.weight", c.d_model, &m->attn_norm_[l]));
    LMUL_RETURN_IF_ERROR(LoadVector(g, p + "ffn_norm.weight", c.d_model, &m->ffn_norm_[l]));
    // The vectors the architecture settings call for (config.h); all layers or none.
    LayerVectors& lv = m->layer_vectors_[l];
    struct Vec {
      bool wanted;
      const char* name;
      int n;
      std::vector<float>* out;
    };
    std::vector<float> bq, bk, bv;
    const Vec vecs[] = {
        {s.qk_norm, "attn_q_norm.weight", c.head_dim, &lv.q_norm},
        {s.qk_norm, "attn_k_norm.weight", c.head_dim, &lv.k_norm},
        {s.post_norms, "post_attention_norm.weight", c.d_model, &lv.post_attn_norm},
        {s.post_norms, "post_ffw_norm.weight", c.d_model, &lv.post_ffw_norm},
        {s.qkv_bias, "attn_q.bias", static_cast<int>(qd), &bq},
        {s.qkv_bias, "attn_k.bias", static_cast<int>(kvd), &bk},
        {s.qkv_bias, "attn_v.bias", static_cast<int>(kvd), &bv},
    };
    for (const Vec& v : vecs) {
      if (v.wanted) {
        LMUL_RETURN_IF_ERROR(LoadVector(g, p + v.name, v.n, v.out));
      } else if (g.FindTensor(p + v.name) != nullptr) {
        return MakeError(g.path() + ": tensor '" + p + v.name + "' is not used by " + c.arch +
                         (std::string(v.name).find("bias") != std::string::npos
                              ? " (attention biases must be present in every layer from 0)"
                              : ""));
      }
    }
    if (s.qkv_bias) {
      lv.qkv_bias = std::move(bq);
      lv.qkv_bias.insert(lv.qkv_bias.end(), bk.begin(), bk.end());
      lv.qkv_bias.insert(lv.qkv_bias.end(), bv.begin(), bv.end());
    }
  }
  if (s.rope_scaling == RopeScaling::kFreqFactors) {
    LMUL_RETURN_IF_ERROR(LoadVector(g, "rope_freqs.weight", c.rope_dim / 2, &m->rope_freqs_));
    for (float f : m->rope_freqs_) {
      if (!(f > 0) || !std::isfinite(f)) {
        return MakeError(g.path() + ": tensor 'rope_freqs.weight': expected finite factors > 0, " +
                         "found " + std::to_string(f));
      }
    }
  }
  LMUL_RETURN_IF_ERROR(LoadVector(g, "output_norm.weight", c.d_model, &m->output_norm_));
  m->interleaved_.resize(static_cast<size_t>(kGroupsPerLayer) * c.n_layer + 1);
  for (auto& slot : m->interleaved_) slot = std::make_unique<InterleavedSlot>();

  if (g.Has("tokenizer.ggml.model")) {
    auto tok = Tokenizer::FromGguf(g);
    if (!tok.ok()) return std::move(tok).TakeError();
    m->tokenizer_ = std::move(tok).value();
  }
  return m;
}

const Tokenizer& Model::tokenizer() const {
  LMUL_CHECK(tokenizer_ != nullptr, "Model::tokenizer(): %s has no tokenizer",
             gguf_->path().c_str());
  return *tokenizer_;
}

void Model::Embed(int32_t token, float* out) const {
  LMUL_CHECK(token >= 0 && token < config_.n_vocab, "Embed: token %d", token);
  Status st = DequantizeRows(*token_embd_, token, 1, out);
  LMUL_CHECK(st.ok(), "%s", st.error().c_str());  // type and range validated at load
}

int Model::GroupK(WeightGroup g) const {
  const ModelConfig& c = config_;
  switch (g) {
    case WeightGroup::kQkv:
    case WeightGroup::kGateUp:
    case WeightGroup::kLmHead:
      return c.d_model;
    case WeightGroup::kAttnOut:
      return c.n_head * c.head_dim;
    case WeightGroup::kDown:
      return c.d_ff;
  }
  return 0;
}

int Model::GroupN(WeightGroup g) const {
  const ModelConfig& c = config_;
  switch (g) {
    case WeightGroup::kQkv:
      return (c.n_head + 2 * c.n_kv_head) * c.head_dim;
    case WeightGroup::kGateUp:
      return 2 * c.d_ff;
    case WeightGroup::kLmHead:
      return c.n_vocab;
    case WeightGroup::kAttnOut:
    case WeightGroup::kDown:
      return c.d_model;
  }
  return 0;
}

std::vector<int> Model::GroupPartRows(WeightGroup g) const {
  const ModelConfig& c = config_;
  switch (g) {
    case WeightGroup::kQkv:
      return {c.n_head * c.head_dim, c.n_kv_head * c.head_dim, c.n_kv_head * c.head_dim};
    case WeightGroup::kGateUp:
      return {c.d_ff, c.d_ff};
    default:
      return {GroupN(g)};
  }
}

std::vector<const GgufTensor*> Model::GroupParts(WeightGroup g, int layer) const {
  std::vector<const GgufTensor*> parts;
  if (g == WeightGroup::kLmHead) {
    parts = {output_};
  } else {
    LMUL_CHECK(layer >= 0 && layer < config_.n_layer, "layer %d", layer);
    const LayerTensors& lt = layers_[layer];
    switch (g) {
      case WeightGroup::kQkv:
        parts = {lt.q, lt.k, lt.v};
        break;
      case WeightGroup::kAttnOut:
        parts = {lt.o};
        break;
      case WeightGroup::kGateUp:
        parts = {lt.gate, lt.up};
        break;
      case WeightGroup::kDown:
        parts = {lt.down};
        break;
      default:
        break;
    }
  }
  return parts;
}

int64_t Model::GroupFileBytes(WeightGroup g, int layer) const {
  int64_t bytes = 0;
  for (const GgufTensor* t : GroupParts(g, layer)) bytes += static_cast<int64_t>(t->n_bytes);
  return bytes;
}

void Model::CompactGemm(WeightGroup g, int layer, const Arith& arith, int M, const float* a,
                        int lda, float* c, int ldc, const kernels::GemmOptions& opts) const {
  GroupRowSource src(GroupParts(g, layer));
  const int N = GroupN(g), K = GroupK(g);
  // The interleaved form of the group's rows, built on the first call whose plan entry
  // reads it (gemv-exact-fp32-x8: exact/fp32, M <= 64), then kept with the model
  // (the same bytes as the file's blocks) and shared by every session and policy.
  const kernels::RowFormat form = kernels::InterleavedForm(src.Run(0).format);
  if (form != kernels::RowFormat::kOther && K % 32 == 0 &&
      kernels::ChooseGemvFor(arith, opts, M, form).kind == kernels::GemvKind::kFusedInterleaved) {
    const size_t i = g == WeightGroup::kLmHead
                         ? interleaved_.size() - 1
                         : static_cast<size_t>(layer) * kGroupsPerLayer + static_cast<int>(g);
    LMUL_CHECK(i < interleaved_.size(), "group %d layer %d", static_cast<int>(g), layer);
    InterleavedSlot& slot = *interleaved_[i];
    std::call_once(slot.once, [&] {
      slot.rows = kernels::InterleaveRows(src, N, K);
      // The GEMVs of this group read the interleaved copy from now on: the file's pages
      // of its tensors leave the resident set (other readers map them again), so the
      // weights are not held twice (a tied embedding maps back the rows it looks up).
      if (slot.rows.format == kernels::RowFormat::kOther) return;
      for (const GgufTensor* t : GroupParts(g, layer)) gguf_->ReleasePages(*t);
    });
    src.set_interleaved(&slot.rows);  // format kOther (unused) when it could not be built
  }
  kernels::GemmRows(arith, M, N, K, a, lda, src, c, ldc, opts);
}

int64_t Model::InterleavedBytes() const {
  int64_t bytes = 0;
  for (const auto& slot : interleaved_) {
    // A slot is written once, inside its call_once; reading its size here may race with
    // a build in progress only in a caller that also runs GEMMs concurrently (tests and
    // benchmarks call this between forwards).
    bytes += static_cast<int64_t>(slot->rows.data.size());
  }
  return bytes;
}

std::vector<float> Model::DequantizeGroup(WeightGroup g, int layer) const {
  const std::vector<const GgufTensor*> parts = GroupParts(g, layer);
  std::vector<float> out(static_cast<size_t>(GroupN(g)) * GroupK(g));
  size_t at = 0;
  for (const GgufTensor* t : parts) {
    Status st = DequantizeRows(*t, 0, t->n_rows(), out.data() + at);
    LMUL_CHECK(st.ok(), "%s", st.error().c_str());
    at += static_cast<size_t>(t->n_elements);
  }
  LMUL_CHECK(at == out.size(), "group size");
  return out;
}

std::shared_ptr<const Model::Packs> Model::Packed(WeightGroup g, const Arith& arith, int threads,
                                                  bool scaled) const {
  LMUL_CHECK(!scaled || ScalingSupported(arith), "Packed: %s cannot be scaled",
             arith.Name().c_str());
  std::lock_guard<std::mutex> lock(pack_mu_);
  const auto key = std::make_pair(static_cast<int>(g), arith.Name() + (scaled ? ",scaled" : ""));
  if (auto it = pack_cache_.find(key); it != pack_cache_.end()) return it->second;
  const int n = g == WeightGroup::kLmHead ? 1 : config_.n_layer;
  auto packs = std::make_shared<Packs>(n);
  const int K = GroupK(g), N = GroupN(g);
  auto pack_one = [&](int i) {
    std::vector<float> w = DequantizeGroup(g, i);  // (N, K): B(k, n) = w[n * K + k]
    GroupPack& pack = (*packs)[i];
    if (scaled) {
      // Each part (a GGUF tensor: rows [begin, begin + rows) of w) is one tensor.
      pack.col_exp.resize(N);
      int begin = 0;
      for (int rows : GroupPartRows(g)) {
        ScaledTensor t =
            ScaleTensor(arith.format, w.data() + static_cast<size_t>(begin) * K, rows, K, K);
        std::copy(t.data.begin(), t.data.end(), w.begin() + static_cast<ptrdiff_t>(begin) * K);
        std::fill_n(pack.col_exp.begin() + begin, rows, t.exp);
        begin += rows;
      }
      LMUL_CHECK(begin == N, "group parts");
    }
    pack.b = kernels::PackB(arith, K, N, w.data(), K, /*b_trans=*/true);
  };
  threads = kernels::ResolveThreads(threads);
  threads = std::min(threads, n);
  if (threads <= 1) {
    for (int i = 0; i < n; ++i) pack_one(i);
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        for (int i = t; i < n; i += threads) pack_one(i);
      });
    }
    for (auto& th : pool) th.join();
  }
  std::shared_ptr<const Packs> result = packs;
  pack_cache_[key] = result;
  return result;
}

void Model::ClearPackCache() const {
  std::lock_guard<std::mutex> lock(pack_mu_);
  pack_cache_.clear();
}

}  // namespace lmul::engine
