// lmul._lmul: the Python extension module (nanobind). A thin layer: every function parses
// its arguments, checks them, releases the GIL and calls the C++ library (numeric/,
// kernels/, engine/). The public, typed API is the Python package python/lmul, which
// wraps these functions (dtype checks, broadcasting, output allocation).
//
// Errors: anything from outside (spec strings, shapes, files, token ids) raises
// ValueError with the library's one-line message (the CLI's message); a wrong dtype or
// device raises TypeError. Nothing here aborts on user input.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/io/dequant.h"
#include "engine/io/gguf.h"
#include "engine/model/model.h"
#include "engine/model/policy.h"
#include "engine/model/scaling.h"
#include "engine/model/session.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "numeric/arith.h"
#include "numeric/format.h"

namespace nb = nanobind;

namespace {

// Any-stride float32 CPU array (strides in elements).
using F32In = nb::ndarray<const float, nb::device::cpu>;
// C-contiguous writable float32 CPU output.
using F32Out = nb::ndarray<float, nb::c_contig, nb::device::cpu>;
using F32Contig = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;

[[noreturn]] void ThrowValue(const std::string& message) { throw nb::value_error(message.c_str()); }

lmul::Arith ParseArith(const std::string& spec) {
  auto arith = lmul::Arith::Parse(spec);
  if (!arith.ok()) ThrowValue(arith.error());
  return *arith;
}

lmul::kernels::Accum ParseAccum(const std::string& name, const lmul::Arith& arith) {
  if (name == "fp32") return lmul::kernels::Accum::kFp32;
  if (name == "bf16") return lmul::kernels::Accum::kBf16;
  if (name == "bf16dot") {
    if (!lmul::kernels::SupportsBf16Dot(arith)) {
      ThrowValue("accum 'bf16dot' needs lmul or mitchell on a format that fits bf16 (bf16, "
                 "e8m1..e8m7, e5m2, e4m3), got '" +
                 arith.Name() + "'");
    }
    return lmul::kernels::Accum::kBf16Dot;
  }
  ThrowValue("bad accum '" + name + "': expected fp32, bf16 or bf16dot");
}

// y = arith.Mul(x, w) elementwise; x, w, y contiguous with the same number of elements.
void Mul(F32Contig x, F32Contig w, F32Out y, const std::string& spec) {
  const lmul::Arith arith = ParseArith(spec);
  const size_t n = x.size();
  if (w.size() != n || y.size() != n) {
    ThrowValue("mul: operands have " + std::to_string(n) + " and " + std::to_string(w.size()) +
               " elements, output " + std::to_string(y.size()) + ": expected equal sizes");
  }
  const float* xp = x.data();
  const float* wp = w.data();
  float* yp = y.data();
  nb::gil_scoped_release release;
  lmul::kernels::MulElementwise(arith, xp, wp, yp, n);
}

lmul::Format ParseFormat(const std::string& name) {
  auto f = lmul::Format::Parse(name);
  if (!f.ok()) ThrowValue(f.error());
  return *f;
}

lmul::Rounding ParseRounding(const std::string& name) {
  if (name == "rne") return lmul::Rounding::kRne;
  if (name == "trunc") return lmul::Rounding::kTrunc;
  ThrowValue("bad rounding '" + name + "': expected rne or trunc");
}

// y = Reduce(fmt, x, rounding) elementwise.
void Reduce(F32Contig x, F32Out y, const std::string& fmt, const std::string& rounding) {
  const lmul::Format f = ParseFormat(fmt);
  const lmul::Rounding r = ParseRounding(rounding);
  const size_t n = x.size();
  if (y.size() != n) ThrowValue("reduce: output size differs from input size");
  const float* xp = x.data();
  float* yp = y.data();
  nb::gil_scoped_release release;
  for (size_t i = 0; i < n; ++i) yp[i] = lmul::Reduce(f, xp[i], r);
}

// A 2-D operand as the kernels take it: base pointer, leading dimension, transposed or not.
struct Operand2D {
  const float* data;
  int ld;
  bool trans;  // element (r, c) at data[c * ld + r]; else data[r * ld + c]
};

int CheckedInt(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) ThrowValue(std::string("matmul: ") + what + " out of range");
  return static_cast<int>(v);
}

// A (rows x cols) matrix at `data` with element strides (s0, s1), as an operand: used in
// place when it is row-major (s1 == 1, s0 >= cols) or, if `allow_trans`, column-major;
// otherwise (broadcast, negative or other strides) copied to row-major into `scratch`.
Operand2D View2D(const float* data, int64_t rows, int64_t cols, int64_t s0, int64_t s1,
                 bool allow_trans, std::vector<float>* scratch) {
  if (rows <= 1) s0 = std::max<int64_t>(cols, 1);
  if (cols <= 1) s1 = 1;
  if (s1 == 1 && s0 >= cols && s0 <= INT_MAX) return {data, static_cast<int>(std::max<int64_t>(s0, 1)), false};
  if (allow_trans) {
    int64_t t0 = s0, t1 = s1;
    if (cols <= 1) t1 = std::max<int64_t>(rows, 1);
    if (rows <= 1) t0 = 1;
    if (t0 == 1 && t1 >= rows && t1 <= INT_MAX) return {data, static_cast<int>(std::max<int64_t>(t1, 1)), true};
  }
  scratch->resize(static_cast<size_t>(rows) * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) (*scratch)[r * cols + c] = data[r * s0 + c * s1];
  return {scratch->data(), static_cast<int>(std::max<int64_t>(cols, 1)), false};
}

// c (batch, M, N) = a (batch, M, K) . b (batch, K, N); 2-D arrays are a batch of one.
// b is used in place when each matrix is row- or column-major (b_trans), a when it is
// row-major; other layouts are copied (per matrix, with the GIL released).
void Matmul(F32In a, F32In b, F32Out c, const std::string& spec, const std::string& accum,
            int threads) {
  const lmul::Arith arith = ParseArith(spec);
  lmul::kernels::GemmOptions opts;
  opts.accum = ParseAccum(accum, arith);
  if (threads < 0) {
    ThrowValue("matmul: threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  }
  opts.threads = threads;
  const size_t nd = a.ndim();
  if ((nd != 2 && nd != 3) || b.ndim() != nd || c.ndim() != nd) {
    ThrowValue("matmul: expected 2-D (M, K) . (K, N) or 3-D (batch, M, K) . (batch, K, N), got " +
               std::to_string(a.ndim()) + "-D and " + std::to_string(b.ndim()) + "-D");
  }
  auto shape_str = [nd](const auto& x) {
    std::string s = "(";
    for (size_t i = 0; i < nd; ++i) s += std::to_string(x.shape(i)) + (i + 1 < nd ? ", " : ")");
    return s;
  };
  const size_t o = nd - 2;
  const int64_t batch = nd == 3 ? static_cast<int64_t>(a.shape(0)) : 1;
  const int64_t M = a.shape(o), K = a.shape(o + 1), N = b.shape(o + 1);
  if (static_cast<int64_t>(b.shape(o)) != K ||
      (nd == 3 && static_cast<int64_t>(b.shape(0)) != batch)) {
    ThrowValue("matmul: shapes " + shape_str(a) + " and " + shape_str(b) +
               " do not match: expected (M, K) and (K, N)" + (nd == 3 ? " with equal batch" : ""));
  }
  if (static_cast<int64_t>(c.shape(o)) != M || static_cast<int64_t>(c.shape(o + 1)) != N ||
      (nd == 3 && static_cast<int64_t>(c.shape(0)) != batch)) {
    ThrowValue("matmul: output shape " + shape_str(c) + " is not (M, N)");
  }
  const int m = CheckedInt(M, "M"), n = CheckedInt(N, "N"), k = CheckedInt(K, "K");
  CheckedInt(batch, "batch");
  const float* ap = a.data();
  const float* bp = b.data();
  const int64_t as0 = nd == 3 ? a.stride(0) : 0, bs0 = nd == 3 ? b.stride(0) : 0;
  const int64_t as1 = a.stride(o), as2 = a.stride(o + 1), bs1 = b.stride(o), bs2 = b.stride(o + 1);
  float* cp = c.data();
  nb::gil_scoped_release release;
  const size_t mn = static_cast<size_t>(m) * n;
  if (k == 0 || mn == 0) {
    std::fill(cp, cp + static_cast<size_t>(batch) * mn, 0.0f);
    return;
  }
  std::vector<float> a_scratch, b_scratch;
  for (int64_t t = 0; t < batch; ++t) {
    const Operand2D av = View2D(ap + t * as0, M, K, as1, as2, /*allow_trans=*/false, &a_scratch);
    const Operand2D bv = View2D(bp + t * bs0, K, N, bs1, bs2, /*allow_trans=*/true, &b_scratch);
    lmul::kernels::Gemm(arith, m, n, k, av.data, av.ld, bv.data, bv.ld, bv.trans, cp + t * mn, n,
                        opts);
  }
}

// (op, format, reduce rounding, wide, output format, canonical name) of a spec.
nb::dict ArithInfo(const std::string& spec) {
  const lmul::Arith a = ParseArith(spec);
  nb::dict d;
  d["op"] = lmul::OpName(a.op);
  d["format"] = a.format.Name();
  d["rounding"] = lmul::RoundingName(a.reduce);
  d["wide"] = a.wide;
  d["output_format"] = a.OutputFormat().Name();
  d["name"] = a.Name();
  d["supports_bf16dot"] = lmul::kernels::SupportsBf16Dot(a);
  return d;
}

lmul::engine::Policy ParsePolicy(const std::string& text) {
  auto p = lmul::engine::Policy::Parse(text);
  if (!p.ok()) ThrowValue(p.error());
  return *p;
}

// Site name -> canonical arith spec, plus "accum" and "name" (the preset name or the
// canonical inline form).
nb::dict PolicySites(const std::string& text) {
  const lmul::engine::Policy p = ParsePolicy(text);
  nb::dict d;
  for (lmul::engine::Site s : lmul::engine::kAllSites) {
    d[lmul::engine::SiteName(s)] = p.SiteValue(s);  // "...,scaled" on scaled sites
  }
  d["accum"] = lmul::kernels::AccumName(p.accum);
  d["name"] = p.Name();
  return d;
}

// The engine's per-tensor scaling of a scaled site (engine/model/scaling.h) on a flat
// tensor x of `fmt`: y = the scaled, saturated values, returns the exponent e (s = 2^e).
// lmul.torch's scaling is tested against it.
int ScaleTensor(F32Contig x, F32Out y, const std::string& fmt) {
  const lmul::Format f = ParseFormat(fmt);
  const size_t n = x.size();
  if (y.size() != n) ThrowValue("scale_tensor: x and out sizes differ");
  if (n > static_cast<size_t>(INT_MAX)) ThrowValue("scale_tensor: more than INT_MAX values");
  const int m = static_cast<int>(n);
  nb::gil_scoped_release release;
  lmul::engine::ScaledTensor t = lmul::engine::ScaleTensor(f, x.data(), 1, m, m);
  std::copy(t.data.begin(), t.data.end(), y.data());
  return t.exp;
}

// (emax, max finite value) of a format, for scaling.
std::pair<int, float> ScaleLimits(const std::string& fmt) {
  const lmul::Format f = ParseFormat(fmt);
  return {lmul::engine::MaxFiniteExponent(f), lmul::engine::MaxFiniteValue(f)};
}

// ---- engine ----

nb::ndarray<nb::numpy, float> NewArray(std::vector<float>&& v, std::vector<size_t> shape) {
  auto* heap = new std::vector<float>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  return nb::ndarray<nb::numpy, float>(heap->data(), shape.size(), shape.data(), owner);
}

nb::dict LoadTensors(const std::string& path) {
  std::unique_ptr<lmul::engine::GgufFile> file;
  {
    nb::gil_scoped_release release;
    auto f = lmul::engine::GgufFile::Open(path);
    if (!f.ok()) {
      nb::gil_scoped_acquire acquire;
      ThrowValue(f.error());
    }
    file = std::move(*f);
  }
  nb::dict out;
  for (const lmul::engine::GgufTensor& t : file->tensors()) {
    lmul::Result<std::vector<float>> v = lmul::MakeError("");
    {
      nb::gil_scoped_release release;
      v = lmul::engine::DequantizeTensor(t);
    }
    if (!v.ok()) ThrowValue(path + ": tensor '" + t.name + "': " + v.error());
    std::vector<size_t> shape;
    for (int64_t d : t.shape()) shape.push_back(static_cast<size_t>(d));
    out[t.name.c_str()] = NewArray(std::move(*v), std::move(shape));
  }
  return out;
}

struct PyModel {
  std::unique_ptr<lmul::engine::Model> model;
  std::string path;

  explicit PyModel(const std::string& p) : path(p) {
    lmul::Result<std::unique_ptr<lmul::engine::Model>> m = lmul::MakeError("");
    {
      nb::gil_scoped_release release;
      m = lmul::engine::Model::Load(p);
    }
    if (!m.ok()) ThrowValue(m.error());
    model = std::move(*m);
  }

  nb::dict Config() const {
    const lmul::engine::ModelConfig& c = model->config();
    nb::dict d;
    d["arch"] = c.arch;
    d["name"] = c.name;
    d["n_vocab"] = c.n_vocab;
    d["d_model"] = c.d_model;
    d["n_layer"] = c.n_layer;
    d["n_head"] = c.n_head;
    d["n_kv_head"] = c.n_kv_head;
    d["head_dim"] = c.head_dim;
    d["d_ff"] = c.d_ff;
    d["n_ctx_train"] = c.n_ctx_train;
    d["rope_dim"] = c.rope_dim;
    d["rope_freq_base"] = c.rope_freq_base;
    d["rms_eps"] = c.rms_eps;
    d["tied_output"] = c.tied_output;
    const lmul::engine::ArchSettings& a = c.arch_settings;
    d["post_norms"] = a.post_norms;
    d["qk_norm"] = a.qk_norm;
    d["qkv_bias"] = a.qkv_bias;
    d["embed_scale"] = a.embed_scale;
    d["attn_softcap"] = a.attn_softcap;
    d["final_softcap"] = a.final_softcap;
    d["sliding_window"] = c.sliding_window;
    d["swa_pattern"] = c.swa_pattern;
    d["rope_freq_base_swa"] = c.rope_freq_base_swa;
    nb::list sl;
    for (bool b : c.sliding_layer) sl.append(b);
    d["sliding_layer"] = sl;
    return d;
  }

  const lmul::engine::Tokenizer& Tok() const {
    if (!model->has_tokenizer()) ThrowValue(path + ": the model has no tokenizer metadata");
    return model->tokenizer();
  }

  std::vector<int32_t> Tokenize(const std::string& text, bool add_bos, bool parse_special) const {
    const auto& tok = Tok();
    nb::gil_scoped_release release;
    return tok.Encode(text, add_bos, parse_special);
  }

  nb::bytes Detokenize(const std::vector<int32_t>& ids) const {
    const auto& tok = Tok();
    for (int32_t id : ids) {
      if (id < 0 || id >= tok.n_vocab()) {
        ThrowValue("detokenize: token id " + std::to_string(id) + " outside [0, " +
                   std::to_string(tok.n_vocab()) + ")");
      }
    }
    const std::string s = tok.Decode(ids);
    return nb::bytes(s.data(), s.size());
  }
};

struct PySession {
  std::unique_ptr<lmul::engine::Session> session;
  int n_vocab;

  PySession(const PyModel& m, const std::string& policy, int n_ctx, int threads) {
    const lmul::engine::Policy p = ParsePolicy(policy);
    if (threads < 0) ThrowValue("Session: threads must be >= 0 (0 = all cores)");
    n_vocab = m.model->config().n_vocab;
    nb::gil_scoped_release release;
    session = std::make_unique<lmul::engine::Session>(*m.model, p, n_ctx, threads);
  }

  nb::ndarray<nb::numpy, float> Forward(const std::vector<int32_t>& tokens) {
    std::vector<float> logits;
    lmul::Status st;
    {
      nb::gil_scoped_release release;
      st = session->Forward(std::span<const int32_t>(tokens), &logits);
    }
    if (!st.ok()) ThrowValue(st.error());
    return NewArray(std::move(logits), {tokens.size(), static_cast<size_t>(n_vocab)});
  }

  void Rewind(int pos) {
    if (pos < 0 || pos > session->pos()) {
      ThrowValue("rewind: pos " + std::to_string(pos) + " outside [0, " +
                 std::to_string(session->pos()) + "] (tokens in the cache)");
    }
    session->Rewind(pos);
  }
};

}  // namespace

NB_MODULE(_lmul, m) {
  m.doc() = "lmul C++ core (use the lmul package, not this module)";
  m.def("mul", &Mul, nb::arg("x"), nb::arg("y"), nb::arg("out"), nb::arg("arith"));
  m.def("reduce", &Reduce, nb::arg("x"), nb::arg("out"), nb::arg("fmt"), nb::arg("rounding"));
  m.def("matmul", &Matmul, nb::arg("a"), nb::arg("b"), nb::arg("out"), nb::arg("arith"),
        nb::arg("accum"), nb::arg("threads"));
  m.def("arith_info", &ArithInfo, nb::arg("spec"));
  m.def("policy_sites", &PolicySites, nb::arg("text"));
  m.def("scale_tensor", &ScaleTensor, nb::arg("x"), nb::arg("out"), nb::arg("fmt"));
  m.def("scale_limits", &ScaleLimits, nb::arg("fmt"));
  m.def("policy_presets", [] { return lmul::engine::Policy::PresetNames(); });
  m.def("policy_describe", [](const std::string& text) { return ParsePolicy(text).Describe(); });
  m.def("load_tensors", &LoadTensors, nb::arg("path"));

  nb::class_<PyModel>(m, "Model")
      .def(nb::init<const std::string&>(), nb::arg("path"))
      .def_prop_ro("config", &PyModel::Config)
      .def_prop_ro("path", [](const PyModel& pm) { return pm.path; })
      .def_prop_ro("has_tokenizer", [](const PyModel& pm) { return pm.model->has_tokenizer(); })
      .def("tokenize", &PyModel::Tokenize, nb::arg("text"), nb::arg("add_bos"),
           nb::arg("parse_special"))
      .def("detokenize", &PyModel::Detokenize, nb::arg("ids"));

  nb::class_<PySession>(m, "Session")
      .def(nb::init<const PyModel&, const std::string&, int, int>(), nb::arg("model"),
           nb::arg("policy"), nb::arg("n_ctx"), nb::arg("threads"), nb::keep_alive<1, 2>())
      .def("forward", &PySession::Forward, nb::arg("tokens"))
      .def("rewind", &PySession::Rewind, nb::arg("pos"))
      .def_prop_ro("pos", [](const PySession& s) { return s.session->pos(); })
      .def_prop_ro("n_ctx", [](const PySession& s) { return s.session->n_ctx(); })
      .def_prop_ro("policy", [](const PySession& s) { return s.session->policy().Name(); });
}
