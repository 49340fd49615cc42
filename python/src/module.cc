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
#include <array>
#include <atomic>
#include <bit>
#include <climits>
#include <cmath>
#include <initializer_list>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/io/dequant.h"
#include "engine/io/gguf.h"
#include "engine/model/model.h"
#include "engine/model/ops.h"
#include "engine/model/policy.h"
#include "engine/model/scaling.h"
#include "engine/model/session.h"
#include "engine/tokenizer/tokenizer.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/plan.h"
#include "numeric/arith.h"
#include "numeric/format.h"
#ifdef LMUL_PYTHON_CUDA
#include "kernels/cuda/lmul_cuda.h"
#endif

namespace nb = nanobind;

namespace {

// Any-stride float32 CPU array (strides in elements).
using F32In = nb::ndarray<const float, nb::device::cpu>;
// C-contiguous writable float32 CPU output.
using F32Out = nb::ndarray<float, nb::c_contig, nb::device::cpu>;
using F32Contig = nb::ndarray<const float, nb::c_contig, nb::device::cpu>;

[[noreturn]] void ThrowValue(const std::string& message) { throw nb::value_error(message.c_str()); }

// Parsed specs by their string: the torch ops pass the same few specs on every call, so
// each is parsed once. Bounded (cleared past 256 entries) so that a caller cycling through
// specs cannot grow it without limit; bad specs are not cached.
lmul::Arith ParseArith(const std::string& spec) {
  static std::mutex mu;
  static std::unordered_map<std::string, lmul::Arith> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(spec); it != cache.end()) return it->second;
  auto arith = lmul::Arith::Parse(spec);
  if (!arith.ok()) ThrowValue(arith.error());
  if (cache.size() >= 256) cache.clear();
  cache.emplace(spec, *arith);
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
  lmul::kernels::ReduceElementwise(f, r, xp, yp, n);
}

// Reduce on n contiguous elements at addresses (the torch op; see MatmulPtr below), on
// `threads` threads (0 = all cores; the result does not depend on it).
void ReducePtr(uintptr_t x, uintptr_t y, int64_t n, const std::string& fmt,
               const std::string& rounding, int threads) {
  const lmul::Format f = ParseFormat(fmt);
  const lmul::Rounding r = ParseRounding(rounding);
  if (n < 0) ThrowValue("reduce: negative element count");
  if (threads < 0) ThrowValue("reduce: threads must be >= 0 (0 = all cores)");
  if ((x == 0 || y == 0) && n > 0) ThrowValue("reduce: null address");
  const float* xp = reinterpret_cast<const float*>(x);
  float* yp = reinterpret_cast<float*>(y);
  nb::gil_scoped_release release;
  lmul::kernels::ReduceElementwise(f, r, xp, yp, static_cast<size_t>(n), threads);
}

// y[i] = expf(x[i]) on n contiguous elements: the C library's expf, the function the engine's
// softmax and SiLU call (std::exp on a float), for lmul.torch.patch's engine-exact exp.
void ExpfPtr(uintptr_t x, uintptr_t y, int64_t n) {
  if (n < 0) ThrowValue("expf: negative element count");
  if ((x == 0 || y == 0) && n > 0) ThrowValue("expf: null address");
  const float* xp = reinterpret_cast<const float*>(x);
  float* yp = reinterpret_cast<float*>(y);
  nb::gil_scoped_release release;
  for (int64_t i = 0; i < n; ++i) yp[i] = std::exp(xp[i]);
}

// -v as torch's neg: the sign bit flipped, NaN included. Through an opaque register, so the
// compiler cannot fold it into the next operation (a + (-b) -> a - b, (-a) * b -> -(a * b)
// give other NaN signs than the two torch ops).
inline float Neg(float v) {
  uint32_t bits = std::bit_cast<uint32_t>(v) ^ 0x80000000u;
  asm volatile("" : "+r"(bits));
  return std::bit_cast<float>(bits);
}

// ---- elementwise work of a training step (lmul.torch's fast paths; python/tests/test_fast_paths.py
// compares each with the torch formulation it replaces, bit for bit) ----

// out[i] = (float)((double)g[i] * e[i]) on n contiguous elements: g fp32, e float64. The
// gradient of exp in lmul.torch.patch's float64 formulation, fp32(fp64(g) * exp(fp64(x))),
// with e = exp(fp64(x)) computed by torch: one pass instead of two conversions and a multiply
// (IEEE double multiply and a round-to-nearest conversion, as torch's ops).
void ExpGradPtr(uintptr_t g, uintptr_t e, uintptr_t out, int64_t n) {
  if (n < 0) ThrowValue("exp_grad: negative element count");
  if ((g == 0 || e == 0 || out == 0) && n > 0) ThrowValue("exp_grad: null address");
  const float* gp = reinterpret_cast<const float*>(g);
  const double* ep = reinterpret_cast<const double*>(e);
  float* op = reinterpret_cast<float*>(out);
  nb::gil_scoped_release release;
  for (int64_t i = 0; i < n; ++i) op[i] = static_cast<float>(static_cast<double>(gp[i]) * ep[i]);
}

// a[i] = ops::Silu(g[i]) and d[i] = 1 + expf(-g[i]) (its denominator, kept for the gradient)
// on n contiguous elements: the engine's SiLU (lmul.torch.patch's gated MLP).
void SiluPtr(uintptr_t g, uintptr_t a, uintptr_t d, int64_t n) {
  if (n < 0) ThrowValue("silu: negative element count");
  if ((g == 0 || a == 0 || d == 0) && n > 0) ThrowValue("silu: null address");
  const float* gp = reinterpret_cast<const float*>(g);
  float* ap = reinterpret_cast<float*>(a);
  float* dp = reinterpret_cast<float*>(d);
  nb::gil_scoped_release release;
  for (int64_t i = 0; i < n; ++i) {
    ap[i] = lmul::engine::ops::Silu(gp[i]);
    dp[i] = 1.0f + std::exp(-gp[i]);
  }
}

// The gradient of a = g / d, d = 1 + exp(-g) as autograd computes it for lmul.torch.patch's
// torch formulation (div, add, the float64 exp gradient, neg), on n contiguous elements:
//   t1 = ga / d;  t2 = (-ga) * ((g / d) / d);  t3 = fp32(fp64(t2) * e[i]);  out = t1 + (-t3)
// with e = exp(fp64(-g)) computed by torch (fp32 steps rounded as torch's fp32 ops).
void SiluGradPtr(uintptr_t ga, uintptr_t g, uintptr_t d, uintptr_t e, uintptr_t out, int64_t n) {
  if (n < 0) ThrowValue("silu_grad: negative element count");
  if ((ga == 0 || g == 0 || d == 0 || e == 0 || out == 0) && n > 0)
    ThrowValue("silu_grad: null address");
  const float* gap = reinterpret_cast<const float*>(ga);
  const float* gp = reinterpret_cast<const float*>(g);
  const float* dp = reinterpret_cast<const float*>(d);
  const double* ep = reinterpret_cast<const double*>(e);
  float* op = reinterpret_cast<float*>(out);
  nb::gil_scoped_release release;
  for (int64_t i = 0; i < n; ++i) {
    const float t1 = gap[i] / dp[i];
    const float q = (gp[i] / dp[i]) / dp[i];
    const float t2 = Neg(gap[i]) * q;
    const float t3 = static_cast<float>(static_cast<double>(t2) * ep[i]);
    op[i] = t1 + Neg(t3);
  }
}

// ---- the engine's softmax of lmul.torch.patch (rows of `len` contiguous values; per-row
// values are (rows) arrays). Forward: mx = max (0 for a non-finite max), e = expf(s - mx), a
// float64 row sum and its reciprocal by torch; these passes compute the elementwise parts and
// the parts of autograd's gradient of that torch formulation (python/lmul/torch/patch.py
// _EngineSoftmax has the formulas step by step).

void CheckRows(const char* fn, std::initializer_list<uintptr_t> ptrs, int64_t rows, int64_t len) {
  const std::string name(fn);
  if (rows < 0 || len < 0) ThrowValue(name + ": negative rows or length");
  if (rows > 0 && len > INT64_MAX / rows) ThrowValue(name + ": rows * len overflows");
  for (uintptr_t p : ptrs)
    if (p == 0 && rows * len > 0) ThrowValue(name + ": null address");
}

// e = expf(s - mx[row]) (fp32 subtraction, the C library's expf as the engine's softmax);
// count[row] = how many s equal mxr[row] (the raw max: amax's gradient splits among them).
void SoftmaxExpPtr(uintptr_t s, uintptr_t mx, uintptr_t mxr, uintptr_t e, uintptr_t count,
                   int64_t rows, int64_t len) {
  CheckRows("softmax_exp", {s, mx, mxr, e, count}, rows, len);
  const float* sp = reinterpret_cast<const float*>(s);
  const float* mp = reinterpret_cast<const float*>(mx);
  const float* rp = reinterpret_cast<const float*>(mxr);
  float* ep = reinterpret_cast<float*>(e);
  float* cp = reinterpret_cast<float*>(count);
  nb::gil_scoped_release release;
  for (int64_t r = 0; r < rows; ++r) {
    const float* si = sp + r * len;
    float* ei = ep + r * len;
    int64_t c = 0;
    for (int64_t i = 0; i < len; ++i) {
      ei[i] = std::exp(si[i] - mp[r]);
      c += si[i] == rp[r];
    }
    cp[r] = static_cast<float>(c);
  }
}

// out = x * v[row] (fp32 multiply; the probabilities e * (1 / sum)).
void RowMulPtr(uintptr_t x, uintptr_t v, uintptr_t out, int64_t rows, int64_t len) {
  CheckRows("row_mul", {x, v, out}, rows, len);
  const float* xp = reinterpret_cast<const float*>(x);
  const float* vp = reinterpret_cast<const float*>(v);
  float* op = reinterpret_cast<float*>(out);
  nb::gil_scoped_release release;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < len; ++i) op[r * len + i] = xp[r * len + i] * vp[r];
}

// out = fp64(s - mx[row]): the float64 argument of exp's gradient.
void SoftmaxShift64Ptr(uintptr_t s, uintptr_t mx, uintptr_t out, int64_t rows, int64_t len) {
  CheckRows("softmax_shift64", {s, mx, out}, rows, len);
  const float* sp = reinterpret_cast<const float*>(s);
  const float* mp = reinterpret_cast<const float*>(mx);
  double* op = reinterpret_cast<double*>(out);
  nb::gil_scoped_release release;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < len; ++i) op[r * len + i] = static_cast<double>(sp[r * len + i] - mp[r]);
}

// ge = g * inv[row] + gtot[row] (the two gradients of e, in autograd's order), gx =
// fp32(fp64(ge) * e64) (exp's float64 gradient), neg = -gx (the shift's gradient, summed by torch).
void SoftmaxGradPtr(uintptr_t g, uintptr_t inv, uintptr_t gtot, uintptr_t e64, uintptr_t gx,
                    uintptr_t neg, int64_t rows, int64_t len) {
  CheckRows("softmax_grad", {g, inv, gtot, e64, gx, neg}, rows, len);
  const float* gp = reinterpret_cast<const float*>(g);
  const float* ip = reinterpret_cast<const float*>(inv);
  const float* tp = reinterpret_cast<const float*>(gtot);
  const double* ep = reinterpret_cast<const double*>(e64);
  float* xp = reinterpret_cast<float*>(gx);
  float* np = reinterpret_cast<float*>(neg);
  nb::gil_scoped_release release;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < len; ++i) {
      const int64_t k = r * len + i;
      const float ge = gp[k] * ip[r] + tp[r];
      xp[k] = static_cast<float>(static_cast<double>(ge) * ep[k]);
      np[k] = Neg(xp[k]);
    }
}

// gx += (gmx[row] / count[row]) * (s == mxr[row] ? 1 : 0): amax's gradient (shared among the
// maxima) added to the shift's, as autograd accumulates them. In place.
void SoftmaxMaxGradPtr(uintptr_t gx, uintptr_t s, uintptr_t mxr, uintptr_t gmx, uintptr_t count,
                       int64_t rows, int64_t len) {
  CheckRows("softmax_max_grad", {gx, s, mxr, gmx, count}, rows, len);
  float* xp = reinterpret_cast<float*>(gx);
  const float* sp = reinterpret_cast<const float*>(s);
  const float* rp = reinterpret_cast<const float*>(mxr);
  const float* mp = reinterpret_cast<const float*>(gmx);
  const float* cp = reinterpret_cast<const float*>(count);
  nb::gil_scoped_release release;
  for (int64_t r = 0; r < rows; ++r) {
    const float q = mp[r] / cp[r];
    for (int64_t i = 0; i < len; ++i) {
      const int64_t k = r * len + i;
      xp[k] = xp[k] + q * (sp[k] == rp[r] ? 1.0f : 0.0f);
    }
  }
}

// out[i] = g[i] * Reduce(fmt, y[i], rounding) (fp32 multiply) on n contiguous elements: the
// ste gradient of an elementwise product (the other operand reduced as the forward used it),
// in blocks that stay in L1 instead of a reduced copy of y and a second pass. out may alias g.
void MulReducedPtr(uintptr_t g, uintptr_t y, uintptr_t out, int64_t n, const std::string& fmt,
                   const std::string& rounding) {
  const lmul::Format f = ParseFormat(fmt);
  const lmul::Rounding r = ParseRounding(rounding);
  if (n < 0) ThrowValue("mul_reduced: negative element count");
  if ((g == 0 || y == 0 || out == 0) && n > 0) ThrowValue("mul_reduced: null address");
  const float* gp = reinterpret_cast<const float*>(g);
  const float* yp = reinterpret_cast<const float*>(y);
  float* op = reinterpret_cast<float*>(out);
  nb::gil_scoped_release release;
  constexpr int64_t kBlock = 4096;
  float buf[kBlock];
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t len = std::min(kBlock, n - i0);
    lmul::kernels::ReduceElementwise(f, r, yp + i0, buf, static_cast<size_t>(len));
    for (int64_t i = 0; i < len; ++i) op[i0 + i] = gp[i0 + i] * buf[i];
  }
}

// out (shape, contiguous) = arith.Mul(x, y) elementwise, where x and y are strided views of
// `shape` (1 to 4 dims; element strides >= 0, 0 for a broadcast dim): the torch op on a
// broadcast operand (RMSNorm's 1/rms and gamma, RoPE's cos/sin over heads) or a transposed
// one (the heads' (B, H, S, D) view) without materialising it. Rows of the last dim are
// gathered into blocks and multiplied by MulElementwise: the values are those of
// MulElementwise on the materialised operands (elementwise: blocking does not change them).
void MulStridedPtr(uintptr_t x, const std::vector<int64_t>& x_strides, uintptr_t y,
                   const std::vector<int64_t>& y_strides, uintptr_t out,
                   const std::vector<int64_t>& shape, const std::string& spec) {
  const lmul::Arith arith = ParseArith(spec);
  const size_t nd = shape.size();
  if (nd < 1 || nd > 4 || x_strides.size() != nd || y_strides.size() != nd) {
    ThrowValue("mul_strided: expected 1 to 4 dims with one stride each, got " +
               std::to_string(nd) + " dims, " + std::to_string(x_strides.size()) + " and " +
               std::to_string(y_strides.size()) + " strides");
  }
  int64_t dims[4] = {1, 1, 1, 1}, xs[4] = {0, 0, 0, 0}, ys[4] = {0, 0, 0, 0};
  int64_t total = 1;
  for (size_t i = 0; i < nd; ++i) {
    const size_t j = 4 - nd + i;
    dims[j] = shape[i];
    xs[j] = x_strides[i];
    ys[j] = y_strides[i];
    if (dims[j] < 0 || xs[j] < 0 || ys[j] < 0) ThrowValue("mul_strided: negative size or stride");
    if (dims[j] > 0 && total > INT64_MAX / dims[j]) ThrowValue("mul_strided: size overflows");
    total *= dims[j];
  }
  if (total == 0) return;
  if (x == 0 || y == 0 || out == 0) ThrowValue("mul_strided: null address");
  const float* xp = reinterpret_cast<const float*>(x);
  const float* yp = reinterpret_cast<const float*>(y);
  float* op = reinterpret_cast<float*>(out);
  nb::gil_scoped_release release;
  const int64_t w = dims[3];
  constexpr int64_t kBlock = 4096;
  std::vector<float> xb(static_cast<size_t>(std::max(kBlock, w))),
      yb(static_cast<size_t>(std::max(kBlock, w)));
  auto gather = [w](const float* src, int64_t stride, float* dst) {
    if (stride == 0) {
      std::fill(dst, dst + w, src[0]);
    } else {
      for (int64_t k = 0; k < w; ++k) dst[k] = src[k * stride];
    }
  };
  int64_t fill = 0;  // values gathered into xb, yb, not yet multiplied
  float* dst = op;
  for (int64_t a = 0; a < dims[0]; ++a)
    for (int64_t b = 0; b < dims[1]; ++b)
      for (int64_t c = 0; c < dims[2]; ++c) {
        if (fill + w > static_cast<int64_t>(xb.size())) {
          lmul::kernels::MulElementwise(arith, xb.data(), yb.data(), dst, static_cast<size_t>(fill));
          dst += fill;
          fill = 0;
        }
        gather(xp + a * xs[0] + b * xs[1] + c * xs[2], xs[3], xb.data() + fill);
        gather(yp + a * ys[0] + b * ys[1] + c * ys[2], ys[3], yb.data() + fill);
        fill += w;
      }
  if (fill > 0) lmul::kernels::MulElementwise(arith, xb.data(), yb.data(), dst, static_cast<size_t>(fill));
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

lmul::kernels::GemmOptions MatmulOptions(const lmul::Arith& arith, const std::string& accum,
                                         int threads) {
  lmul::kernels::GemmOptions opts;
  opts.accum = ParseAccum(accum, arith);
  if (threads < 0) {
    ThrowValue("matmul: threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  }
  opts.threads = threads;
  return opts;
}

// How many GEMMs each kernel of the plan (kernels/plan.h GemmKernels(), by index) ran through
// the torch ops (MatmulStrided): which kernel a training step's GEMMs take depends on the data
// (DataRange), so this is measured, not derived. Relaxed atomics: a count, not a barrier.
constexpr size_t kMaxGemmKernels = 32;
std::array<std::atomic<int64_t>, kMaxGemmKernels> g_gemm_kernel_runs{};

void CountGemmKernel(const lmul::kernels::GemmKernelEntry* e) {
  if (e == nullptr) return;
  const size_t i = static_cast<size_t>(e - lmul::kernels::GemmKernels().data());
  if (i < kMaxGemmKernels) g_gemm_kernel_runs[i].fetch_add(1, std::memory_order_relaxed);
}

// {kernel name: GEMMs run} since the last reset (kernels that ran at least once).
nb::dict GemmKernelCounts(bool reset) {
  nb::dict d;
  const auto& table = lmul::kernels::GemmKernels();
  for (size_t i = 0; i < table.size() && i < kMaxGemmKernels; ++i) {
    const int64_t n = reset ? g_gemm_kernel_runs[i].exchange(0, std::memory_order_relaxed)
                            : g_gemm_kernel_runs[i].load(std::memory_order_relaxed);
    if (n > 0) d[table[i].name] = n;
  }
  return d;
}

// A strided (batch, M, K) . (batch, K, N) -> c (batch, M, N), c contiguous; element strides
// (s0 batch, s1 row, s2 column). Call with the GIL released. b is used in place when each
// matrix is row- or column-major (b_trans), a when it is row-major; other layouts are
// copied per matrix.
void MatmulStrided(const lmul::Arith& arith, const lmul::kernels::GemmOptions& opts, int64_t batch,
                   int m, int k, int n, const float* ap, int64_t as0, int64_t as1, int64_t as2,
                   const float* bp, int64_t bs0, int64_t bs1, int64_t bs2, float* cp) {
  const size_t mn = static_cast<size_t>(m) * n;
  if (k == 0 || mn == 0) {
    std::fill(cp, cp + static_cast<size_t>(batch) * mn, 0.0f);
    return;
  }
  std::vector<float> a_scratch, b_scratch;
  for (int64_t t = 0; t < batch; ++t) {
    const Operand2D av = View2D(ap + t * as0, m, k, as1, as2, /*allow_trans=*/false, &a_scratch);
    const Operand2D bv = View2D(bp + t * bs0, k, n, bs1, bs2, /*allow_trans=*/true, &b_scratch);
    CountGemmKernel(lmul::kernels::Gemm(arith, m, n, k, av.data, av.ld, bv.data, bv.ld, bv.trans,
                                        cp + t * mn, n, opts));
  }
}

// c (batch, M, N) = a (batch, M, K) . b (batch, K, N); 2-D arrays are a batch of one.
void Matmul(F32In a, F32In b, F32Out c, const std::string& spec, const std::string& accum,
            int threads) {
  const lmul::Arith arith = ParseArith(spec);
  const lmul::kernels::GemmOptions opts = MatmulOptions(arith, accum, threads);
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
  float* cp = c.data();
  nb::gil_scoped_release release;
  MatmulStrided(arith, opts, batch, m, k, n, ap, as0, a.stride(o), a.stride(o + 1), bp, bs0,
                b.stride(o), b.stride(o + 1), cp);
}

// ---- the torch ops' entry points (python/lmul/torch/ops.py) ----
//
// Operands are addresses (Tensor.data_ptr()) and element strides of CPU float32 tensors
// that the caller has checked (dtype, device, shapes, c contiguous and fresh) and keeps
// alive during the call: the nb::ndarray conversion of a torch tensor goes through Python's
// __dlpack__ (~2 us per tensor), which would be most of a small op's cost. Not a public API:
// the sizes are range-checked here, the addresses cannot be.

const float* Addr(uintptr_t p, int64_t count, const char* what) {
  if (p == 0 && count > 0) ThrowValue(std::string("null address for ") + what);
  return reinterpret_cast<const float*>(p);
}

void MatmulPtr(uintptr_t a, int64_t as0, int64_t as1, int64_t as2, uintptr_t b, int64_t bs0,
               int64_t bs1, int64_t bs2, uintptr_t c, int64_t batch, int64_t M, int64_t K,
               int64_t N, const std::string& spec, const std::string& accum, int threads) {
  const lmul::Arith arith = ParseArith(spec);
  const lmul::kernels::GemmOptions opts = MatmulOptions(arith, accum, threads);
  const int m = CheckedInt(M, "M"), n = CheckedInt(N, "N"), k = CheckedInt(K, "K");
  CheckedInt(batch, "batch");
  const bool has_out = batch > 0 && m > 0 && n > 0;
  const float* ap = Addr(a, has_out && k > 0, "a");
  const float* bp = Addr(b, has_out && k > 0, "b");
  float* cp = const_cast<float*>(Addr(c, has_out, "out"));
  nb::gil_scoped_release release;
  MatmulStrided(arith, opts, batch, m, k, n, ap, as0, as1, as2, bp, bs0, bs1, bs2, cp);
}

// y = arith.Mul(x, w) on n contiguous elements.
void MulPtr(uintptr_t x, uintptr_t w, uintptr_t y, int64_t n, const std::string& spec) {
  const lmul::Arith arith = ParseArith(spec);
  if (n < 0) ThrowValue("mul: negative element count");
  const float* xp = Addr(x, n, "x");
  const float* wp = Addr(w, n, "y");
  float* yp = const_cast<float*>(Addr(y, n, "out"));
  nb::gil_scoped_release release;
  lmul::kernels::MulElementwise(arith, xp, wp, yp, static_cast<size_t>(n));
}

#ifdef LMUL_PYTHON_CUDA
// ---- CUDA (built with -DLMUL_CUDA=ON): the torch ops' CUDA kernels ----
//
// Device addresses of float32 tensors on the current device, launched on `stream` (the
// caller's torch.cuda.current_stream().cuda_stream) and returning after the launch, as
// torch's own kernels do. kernels/cuda reads A row-major and B row- or column-major: the
// caller makes other layouts contiguous first. Errors (a failed launch) raise RuntimeError.

void ThrowIfError(const lmul::Status& st) {
  if (!st.ok()) throw std::runtime_error(st.error());
}

void CudaMatmulPtr(uintptr_t a, int64_t as0, int64_t lda, uintptr_t b, int64_t bs0, int64_t ldb,
                   bool b_trans, uintptr_t c, int64_t batch, int64_t M, int64_t K, int64_t N,
                   const std::string& spec, const std::string& accum, uintptr_t stream) {
  const lmul::Arith arith = ParseArith(spec);
  const lmul::kernels::Accum acc = ParseAccum(accum, arith);
  const int m = CheckedInt(M, "M"), n = CheckedInt(N, "N"), k = CheckedInt(K, "K");
  CheckedInt(batch, "batch");
  const int la = CheckedInt(lda, "lda"), lb = CheckedInt(ldb, "ldb");
  const auto* ap = reinterpret_cast<const float*>(a);
  const auto* bp = reinterpret_cast<const float*>(b);
  auto* cp = reinterpret_cast<float*>(c);
  const size_t mn = static_cast<size_t>(m) * n;
  nb::gil_scoped_release release;
  for (int64_t t = 0; t < batch; ++t) {
    ThrowIfError(lmul::kernels::cuda::Gemm(arith, m, n, k, ap + t * as0, la, bp + t * bs0, lb,
                                           b_trans, cp + t * mn, n, acc,
                                           reinterpret_cast<void*>(stream)));
  }
}

void CudaMulPtr(uintptr_t x, uintptr_t y, uintptr_t out, int64_t n, const std::string& spec,
                uintptr_t stream) {
  const lmul::Arith arith = ParseArith(spec);
  if (n < 0) ThrowValue("mul: negative element count");
  nb::gil_scoped_release release;
  ThrowIfError(lmul::kernels::cuda::MulElementwise(
      arith, reinterpret_cast<const float*>(x), reinterpret_cast<const float*>(y),
      reinterpret_cast<float*>(out), static_cast<size_t>(n), reinterpret_cast<void*>(stream)));
}

void CudaReducePtr(uintptr_t x, uintptr_t out, int64_t n, const std::string& fmt,
                   const std::string& rounding, uintptr_t stream) {
  ParseFormat(fmt);  // the format's and the rounding's own messages on bad names
  ParseRounding(rounding);
  // kernels/cuda reduces operands per an arith: exact/<fmt>,<rounding> is that reduction.
  const lmul::Arith arith = ParseArith("exact/" + fmt + "," + rounding);
  if (n < 0) ThrowValue("reduce: negative element count");
  nb::gil_scoped_release release;
  ThrowIfError(lmul::kernels::cuda::Reduce(arith, reinterpret_cast<const float*>(x),
                                           reinterpret_cast<float*>(out), static_cast<size_t>(n),
                                           reinterpret_cast<void*>(stream)));
}
#endif  // LMUL_PYTHON_CUDA

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

// ---- scaled sites on tensor storage (lmul.torch's fast path; engine/model/scaling.h) ----
//
// x and y address `groups` blocks of `len` contiguous fp32 values each (a tensor's storage:
// one block per scaled tensor, e.g. one matrix of a batch); e addresses `e_count` int64
// exponents, 1 (every block) or `groups` (one per block).

struct Blocks {
  const float* x;
  float* y;
  size_t groups, len;
  std::vector<int> e;  // per block
};

// groups blocks of len values at x: counts >= 0, no overflow, an address when non-empty.
void CheckExtent(const std::string& name, uintptr_t x, int64_t groups, int64_t len) {
  if (groups < 0 || len < 0) ThrowValue(name + ": negative block count or length");
  if (groups > 0 && len > INT64_MAX / groups) ThrowValue(name + ": groups * len overflows");
  if (x == 0 && groups * len > 0) ThrowValue(name + ": null address");
}

Blocks CheckBlocks(const char* fn, uintptr_t x, uintptr_t y, int64_t groups, int64_t len,
                   uintptr_t e, int64_t e_count) {
  const std::string name(fn);
  CheckExtent(name, x, groups, len);
  CheckExtent(name, y, groups, len);
  if (e_count != 1 && e_count != groups)
    ThrowValue(name + ": e_count must be 1 or groups (" + std::to_string(groups) + "), got " +
               std::to_string(e_count));
  if (e == 0) ThrowValue(name + ": null exponent address");
  Blocks b{reinterpret_cast<const float*>(x), reinterpret_cast<float*>(y),
           static_cast<size_t>(groups), static_cast<size_t>(len), {}};
  const int64_t* ep = reinterpret_cast<const int64_t*>(e);
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t v = ep[e_count == 1 ? 0 : g];
    if (v < -400 || v > 400)
      ThrowValue(name + ": exponent " + std::to_string(v) + " outside [-400, 400]");
    b.e.push_back(static_cast<int>(v));
  }
  return b;
}

// e_out[g] = ScaleExponent(fmt, FiniteAmax(block g)) for `groups` blocks of `len` values.
void ScaleExponentsPtr(uintptr_t x, int64_t groups, int64_t len, const std::string& fmt,
                       uintptr_t e_out) {
  const lmul::Format f = ParseFormat(fmt);
  CheckExtent("scale_exponents", x, groups, len);
  if (e_out == 0) ThrowValue("scale_exponents: null address");
  const float* xp = reinterpret_cast<const float*>(x);
  int64_t* ep = reinterpret_cast<int64_t*>(e_out);
  nb::gil_scoped_release release;
  for (int64_t g = 0; g < groups; ++g)
    ep[g] = lmul::engine::ScaleExponent(
        f, lmul::engine::FiniteAmaxArray(xp + g * len, static_cast<size_t>(len)));
}

// y = ScaleSaturate(x, e, max(fmt)) per block.
void ScaleSaturatePtr(uintptr_t x, uintptr_t y, int64_t groups, int64_t len, uintptr_t e,
                      int64_t e_count, const std::string& fmt) {
  const float mx = lmul::engine::MaxFiniteValue(ParseFormat(fmt));
  Blocks b = CheckBlocks("scale_saturate", x, y, groups, len, e, e_count);
  nb::gil_scoped_release release;
  for (size_t g = 0; g < b.groups; ++g)
    lmul::engine::ScaleSaturateArray(b.x + g * b.len, b.y + g * b.len, b.len, b.e[g], mx);
}

// y = Pow2Mul(x, e) per block.
void Pow2MulPtr(uintptr_t x, uintptr_t y, int64_t groups, int64_t len, uintptr_t e,
                int64_t e_count) {
  Blocks b = CheckBlocks("pow2_mul", x, y, groups, len, e, e_count);
  nb::gil_scoped_release release;
  for (size_t g = 0; g < b.groups; ++g)
    lmul::engine::Pow2MulArray(b.x + g * b.len, b.y + g * b.len, b.len, b.e[g]);
}

// The operand as a scaled site used it, in unscaled units, per block:
// y = Pow2Mul(Reduce(fmt, ScaleSaturate(x, e, max(fmt)), rounding), -e); the reduction on
// `threads` threads (the result does not depend on it).
void DequantizePtr(uintptr_t x, uintptr_t y, int64_t groups, int64_t len, uintptr_t e,
                   int64_t e_count, const std::string& fmt, const std::string& rounding,
                   int threads) {
  const lmul::Format f = ParseFormat(fmt);
  const lmul::Rounding r = ParseRounding(rounding);
  if (threads < 0) ThrowValue("dequantize: threads must be >= 0 (0 = all cores)");
  const float mx = lmul::engine::MaxFiniteValue(f);
  Blocks b = CheckBlocks("dequantize", x, y, groups, len, e, e_count);
  nb::gil_scoped_release release;
  for (size_t g = 0; g < b.groups; ++g)
    lmul::engine::ScaleSaturateArray(b.x + g * b.len, b.y + g * b.len, b.len, b.e[g], mx);
  lmul::kernels::ReduceElementwise(f, r, b.y, b.y, b.groups * b.len, threads);
  for (size_t g = 0; g < b.groups; ++g)
    lmul::engine::Pow2MulArray(b.y + g * b.len, b.y + g * b.len, b.len, -b.e[g]);
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
  // The torch ops' entry points: addresses of checked CPU float32 tensors (internal).
  m.def("matmul_ptr", &MatmulPtr, nb::arg("a"), nb::arg("as0"), nb::arg("as1"), nb::arg("as2"),
        nb::arg("b"), nb::arg("bs0"), nb::arg("bs1"), nb::arg("bs2"), nb::arg("out"),
        nb::arg("batch"), nb::arg("m"), nb::arg("k"), nb::arg("n"), nb::arg("arith"),
        nb::arg("accum"), nb::arg("threads"));
  m.def("mul_ptr", &MulPtr, nb::arg("x"), nb::arg("y"), nb::arg("out"), nb::arg("n"),
        nb::arg("arith"));
  m.def("reduce_ptr", &ReducePtr, nb::arg("x"), nb::arg("out"), nb::arg("n"), nb::arg("fmt"),
        nb::arg("rounding"), nb::arg("threads") = 1);
  m.def("gemm_kernel_counts", &GemmKernelCounts, nb::arg("reset") = false);
  m.def("silu_ptr", &SiluPtr, nb::arg("g"), nb::arg("a"), nb::arg("d"), nb::arg("n"));
  m.def("silu_grad_ptr", &SiluGradPtr, nb::arg("ga"), nb::arg("g"), nb::arg("d"), nb::arg("e"),
        nb::arg("out"), nb::arg("n"));
  m.def("softmax_exp_ptr", &SoftmaxExpPtr, nb::arg("s"), nb::arg("mx"), nb::arg("mxr"),
        nb::arg("e"), nb::arg("count"), nb::arg("rows"), nb::arg("len"));
  m.def("row_mul_ptr", &RowMulPtr, nb::arg("x"), nb::arg("v"), nb::arg("out"), nb::arg("rows"),
        nb::arg("len"));
  m.def("softmax_shift64_ptr", &SoftmaxShift64Ptr, nb::arg("s"), nb::arg("mx"), nb::arg("out"),
        nb::arg("rows"), nb::arg("len"));
  m.def("softmax_grad_ptr", &SoftmaxGradPtr, nb::arg("g"), nb::arg("inv"), nb::arg("gtot"),
        nb::arg("e64"), nb::arg("gx"), nb::arg("neg"), nb::arg("rows"), nb::arg("len"));
  m.def("softmax_max_grad_ptr", &SoftmaxMaxGradPtr, nb::arg("gx"), nb::arg("s"), nb::arg("mxr"),
        nb::arg("gmx"), nb::arg("count"), nb::arg("rows"), nb::arg("len"));
  m.def("exp_grad_ptr", &ExpGradPtr, nb::arg("g"), nb::arg("e"), nb::arg("out"), nb::arg("n"));
  m.def("mul_reduced_ptr", &MulReducedPtr, nb::arg("g"), nb::arg("y"), nb::arg("out"), nb::arg("n"),
        nb::arg("fmt"), nb::arg("rounding"));
  m.def("mul_strided_ptr", &MulStridedPtr, nb::arg("x"), nb::arg("x_strides"), nb::arg("y"),
        nb::arg("y_strides"), nb::arg("out"), nb::arg("shape"), nb::arg("arith"));
  m.def("expf_ptr", &ExpfPtr, nb::arg("x"), nb::arg("out"), nb::arg("n"));
#ifdef LMUL_PYTHON_CUDA
  m.attr("has_cuda") = true;
  m.def("cuda_matmul_ptr", &CudaMatmulPtr, nb::arg("a"), nb::arg("as0"), nb::arg("lda"),
        nb::arg("b"), nb::arg("bs0"), nb::arg("ldb"), nb::arg("b_trans"), nb::arg("out"),
        nb::arg("batch"), nb::arg("m"), nb::arg("k"), nb::arg("n"), nb::arg("arith"),
        nb::arg("accum"), nb::arg("stream"));
  m.def("cuda_mul_ptr", &CudaMulPtr, nb::arg("x"), nb::arg("y"), nb::arg("out"), nb::arg("n"),
        nb::arg("arith"), nb::arg("stream"));
  m.def("cuda_reduce_ptr", &CudaReducePtr, nb::arg("x"), nb::arg("out"), nb::arg("n"),
        nb::arg("fmt"), nb::arg("rounding"), nb::arg("stream"));
  m.def("cuda_device_info", [] {
    auto info = lmul::kernels::cuda::DeviceInfo();
    if (!info.ok()) throw std::runtime_error(info.error());
    return *info;
  });
#else
  m.attr("has_cuda") = false;
#endif
  m.def("arith_info", &ArithInfo, nb::arg("spec"));
  m.def("policy_sites", &PolicySites, nb::arg("text"));
  m.def("scale_tensor", &ScaleTensor, nb::arg("x"), nb::arg("out"), nb::arg("fmt"));
  m.def("scale_limits", &ScaleLimits, nb::arg("fmt"));
  m.def("scale_exponents_ptr", &ScaleExponentsPtr, nb::arg("x"), nb::arg("groups"),
        nb::arg("len"), nb::arg("fmt"), nb::arg("e_out"));
  m.def("scale_saturate_ptr", &ScaleSaturatePtr, nb::arg("x"), nb::arg("y"), nb::arg("groups"),
        nb::arg("len"), nb::arg("e"), nb::arg("e_count"), nb::arg("fmt"));
  m.def("pow2_mul_ptr", &Pow2MulPtr, nb::arg("x"), nb::arg("y"), nb::arg("groups"),
        nb::arg("len"), nb::arg("e"), nb::arg("e_count"));
  m.def("dequantize_ptr", &DequantizePtr, nb::arg("x"), nb::arg("y"), nb::arg("groups"),
        nb::arg("len"), nb::arg("e"), nb::arg("e_count"), nb::arg("fmt"), nb::arg("rounding"),
        nb::arg("threads") = 1);
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
