// L-Matmul driver: packing (conversion + range analysis), kernel choice,
// threads. The SIMD micro-kernels live in gemm_simd.cc; a portable scalar
// kernel serves the few exact/* cases the SIMD kernels do not cover.
//
// Packing converts every operand once: reduced to the format (carrier bits),
// zeros of lmul/mitchell canonicalised, A pre-offset for the fast kernel. It
// records the smallest/largest nonzero magnitude and the presence of Inf/NaN,
// from which the driver proves (or not) that no product can overflow or
// underflow: then the fast kernel (one integer add per product) is exact.
#include "kernels/gemm.h"

#include <algorithm>
#include <cfloat>
#include <thread>

#include "base/check.h"
#include "kernels/arith_ops.h"
#include "kernels/gemm_internal.h"

namespace lmul::kernels {

const char* AccumName(Accum a) { return a == Accum::kFp32 ? "fp32" : "bf16"; }

namespace {

using internal::ArithConsts;
using internal::Bits;
using internal::Float;
using internal::GemmJob;
using internal::GemmKind;

constexpr int kNR = PackedB::kPanelWidth;
static_assert(kNR == internal::kPanelWidth);

using Stats = internal::RunStats;
bool AnyNonzero(const Stats& s) { return s.max_mag != 0; }

GemmKind ChooseKind(const ArithConsts& c, const Stats& a, const Stats& b, bool* simd) {
  *simd = true;
  if (c.exact) {
    if (c.exact_fp32_out) return GemmKind::kExactFp32;
    const bool exact_in_fp32 = c.man_bits <= 11;  // (m+1)-bit significands: product <= 24 bits
    if (exact_in_fp32 && !a.special && !b.special) {
      if (!AnyNonzero(a) || !AnyNonzero(b)) return GemmKind::kExactRound;
      const double lo = static_cast<double>(Float(a.min_mag)) * Float(b.min_mag);
      const double hi = static_cast<double>(Float(a.max_mag)) * Float(b.max_mag);
      if (lo >= 0x1p-100 && hi <= FLT_MAX) return GemmKind::kExactRound;
    }
    *simd = false;
    return GemmKind::kExactRound;
  }
  if (a.special || b.special) return GemmKind::kLMulGeneral;
  if (!AnyNonzero(a) || !AnyNonzero(b)) return GemmKind::kLMulFast;
  const uint64_t lo = uint64_t{a.min_mag} + b.min_mag, hi = uint64_t{a.max_mag} + b.max_mag;
  if (lo >= c.c_lo && hi <= c.c_hi) return GemmKind::kLMulFast;
  return GemmKind::kLMulGeneral;
}

// Portable kernel (exact/* outside the SIMD kernels' range): one C element at a
// time in the canonical order.
void PortablePanels(const GemmJob& j, int panel_begin, int panel_end) {
  const size_t K = static_cast<size_t>(j.K);
  for (int p = panel_begin; p < panel_end; ++p) {
    const uint32_t* bp = j.b + static_cast<size_t>(p) * K * kNR;
    const int ncols = std::min(kNR, j.N - p * kNR);
    for (int i = 0; i < j.M; ++i) {
      constexpr int RB = internal::kRowBlock;
      const uint32_t* arow = j.a + static_cast<size_t>(i / RB) * K * RB + i % RB;
      for (int col = 0; col < ncols; ++col) {
        float acc = 0.0f;
        for (size_t k = 0; k < K; ++k) {
          acc = acc + internal::ExactProduct(*j.c, Float(arow[k * RB]), Float(bp[k * kNR + col]));
          if (j.bf16) acc = internal::RoundBf16(acc);
        }
        j.out[static_cast<size_t>(i) * j.ldc + static_cast<size_t>(p) * kNR + col] = acc;
      }
    }
  }
}

thread_local GemmKind last_kind = GemmKind::kLMulGeneral;
thread_local bool last_simd = false;

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

namespace internal {
GemmKind LastGemmKind() { return last_kind; }
bool LastGemmUsedSimd() { return last_simd; }
}  // namespace internal

// PackedB's private statistics are reached through this accessor (friend).
struct PackedBAccess {
  static Stats GetStats(const PackedB& b) {
    Stats s;
    s.min_mag = b.min_mag_;
    s.max_mag = b.max_mag_;
    s.special = b.has_special_;
    return s;
  }
  static const uint8_t* PanelZero(const PackedB& b) { return b.panel_zero_.data(); }
};

PackedB PackB(const Arith& arith, int K, int N, const float* b, int ldb, bool b_trans) {
  LMUL_CHECK(K >= 0 && N >= 0, "PackB: K=%d N=%d", K, N);
  const ArithConsts c = internal::MakeConsts(arith);
  PackedB pb;
  pb.arith_ = arith;
  pb.k_ = K;
  pb.n_ = N;
  const int panels = (N + kNR - 1) / kNR;
  pb.data_.assign(static_cast<size_t>(panels) * K * kNR, 0u);
  pb.panel_zero_.assign(panels, 0);
  Stats st;
  // Converted one contiguous run of B at a time (a row of B, or of B^T), then
  // scattered into the panels.
  const int runs = b_trans ? N : K, run_len = b_trans ? K : N;
  std::vector<uint32_t> buf(run_len);
  for (int r = 0; r < runs; ++r) {
    internal::ConvertRunSimd(c, b + static_cast<size_t>(r) * ldb, run_len, buf.data(), &st);
    for (int x = 0; x < run_len; ++x) {
      const int k = b_trans ? x : r, n = b_trans ? r : x;
      const int p = n / kNR;
      const uint32_t v = buf[x];
      pb.data_[(static_cast<size_t>(p) * K + k) * kNR + n % kNR] = v;
      if ((v & 0x7FFFFFFFu) == 0) pb.panel_zero_[p] = 1;
    }
  }
  pb.has_special_ = st.special;
  pb.min_mag_ = st.min_mag;
  pb.max_mag_ = st.max_mag;
  return pb;
}

void GemmPacked(int M, const float* a, int lda, const PackedB& b, float* c, int ldc,
                const GemmOptions& opts) {
  const int K = b.K(), N = b.N();
  LMUL_CHECK(M >= 0, "GemmPacked: M=%d", M);
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int i = 0; i < M; ++i)
      std::fill(c + static_cast<size_t>(i) * ldc, c + static_cast<size_t>(i) * ldc + N, 0.0f);
    return;
  }
  const ArithConsts cs = internal::MakeConsts(b.arith());
  constexpr int RB = internal::kRowBlock;
  const int blocks = (M + RB - 1) / RB;
  const size_t MKp = static_cast<size_t>(blocks) * RB * K;  // rows padded to the block
  std::vector<uint32_t> ap(MKp, 0u);
  Stats ast;
  {
    std::vector<uint32_t> row(K);
    for (int i = 0; i < M; ++i) {
      internal::ConvertRunSimd(cs, a + static_cast<size_t>(i) * lda, K, row.data(), &ast);
      uint32_t* dst = ap.data() + static_cast<size_t>(i / RB) * K * RB + i % RB;
      for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * RB] = row[k];
    }
  }
  const Stats bst = PackedBAccess::GetStats(b);
  bool simd;
  const GemmKind kind = ChooseKind(cs, ast, bst, &simd);
  last_kind = kind;
  last_simd = simd;
  GemmJob job;
  job.c = &cs;
  job.kind = kind;
  job.bf16 = opts.accum == Accum::kBf16;
  job.specials = ast.special || bst.special;
  job.M = M;
  job.N = N;
  job.K = K;
  job.b = b.data();
  job.out = c;
  job.ldc = ldc;
  std::vector<float> za;
  std::vector<uint8_t> row_zero;
  if (kind == GemmKind::kLMulFast) {
    if (!AnyNonzero(ast) || !AnyNonzero(bst)) {  // every product is a zero
      for (int i = 0; i < M; ++i)
        std::fill(c + static_cast<size_t>(i) * ldc, c + static_cast<size_t>(i) * ldc + N, 0.0f);
      return;
    }
    const uint32_t safe = ast.min_mag - cs.c_off;  // keeps p finite; multiplied by 0
    za.assign(MKp, 1.0f);
    row_zero.assign(static_cast<size_t>(blocks) * RB, 0);
    for (size_t idx = 0; idx < MKp; ++idx) {
      if ((ap[idx] & 0x7FFFFFFFu) == 0) {  // zero (canonical +0); padding rows too
        ap[idx] = safe;
        za[idx] = 0.0f;
        row_zero[(idx / (static_cast<size_t>(K) * RB)) * RB + idx % RB] = 1;
      } else {
        ap[idx] -= cs.c_off;
      }
    }
    job.za = za.data();
    job.row_zero = row_zero.data();
    job.panel_zero = PackedBAccess::PanelZero(b);
  }
  job.a = ap.data();
  const int panels = (N + kNR - 1) / kNR;
  auto run = [&](int begin, int end) {
    if (simd) {
      internal::GemmPanelsSimd(job, begin, end);
    } else {
      PortablePanels(job, begin, end);
    }
  };
  const int threads = std::min(ResolveThreads(opts.threads), panels);
  if (threads <= 1) {
    run(0, panels);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) {
    pool.emplace_back(run, panels * t / threads, panels * (t + 1) / threads);
  }
  run(0, panels / threads);
  for (auto& th : pool) th.join();
}

void Gemm(const Arith& arith, int M, int N, int K, const float* a, int lda, const float* b, int ldb,
          bool b_trans, float* c, int ldc, const GemmOptions& opts) {
  LMUL_CHECK(M >= 0 && N >= 0 && K >= 0, "Gemm: M=%d N=%d K=%d", M, N, K);
  const PackedB pb = PackB(arith, K, N, b, ldb, b_trans);
  GemmPacked(M, a, lda, pb, c, ldc, opts);
}

}  // namespace lmul::kernels
