// L-Matmul driver: packing (conversion + range analysis), the query to the
// kernel plan (kernels/plan.h: which kernel runs), threads. The Highway
// micro-kernels live in kernels/hwy/gemm_panels.cc, the raw AVX-512 ones in
// kernels/x86/; a portable scalar kernel here serves the few exact/* cases the
// SIMD kernels do not cover.
//
// Packing converts every operand once: reduced to the format (carrier bits),
// zeros of lmul/mitchell canonicalised, A pre-offset for the fast kernel. It
// records the smallest/largest nonzero magnitude and the presence of Inf/NaN,
// from which the driver proves (or not) that no product can overflow or
// underflow: then the fast kernel (one integer add per product) is exact.
#include "kernels/gemm.h"

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <mutex>

#include "base/check.h"
#include "kernels/arith_ops.h"
#include "kernels/gemm_internal.h"
#include "kernels/plan.h"
#include "kernels/worker_pool.h"

namespace lmul::kernels {

const char* AccumName(Accum a) {
  switch (a) {
    case Accum::kFp32:
      return "fp32";
    case Accum::kBf16:
      return "bf16";
    case Accum::kBf16Dot:
      return "bf16dot";
  }
  return "?";
}

bool SupportsBf16Dot(const Arith& arith) {
  return arith.op != Op::kExact && arith.format.exp_bits <= 8 && arith.format.man_bits <= 7;
}

namespace {

using internal::ArithConsts;
using internal::GemmJob;
using internal::GemmKind;

constexpr int kNR = tiles::kPanelWidth;

using Stats = internal::RunStats;
bool AnyNonzero(const Stats& s) { return s.max_mag != 0; }

// The raw AVX-512 kernels' job (kernels/x86/avx512.h) from the driver's.
void Avx512Panels(const GemmJob& job, int panel_begin, int panel_end) {
  internal::Fp32Job fj;
  fj.kind = job.general_fma ? 2 : job.kind == GemmKind::kExactFp32 ? 1 : 0;
  fj.gen_hi = job.gen_hi;
  fj.gen_lo = job.gen_lo;
  fj.gen_clamp = job.gen_clamp;
  fj.M = job.M;
  fj.N = job.N;
  fj.K = job.K;
  fj.row_block = internal::kRowBlock;
  fj.a = job.a;
  fj.za = job.za;
  fj.row_zero = job.row_zero;
  fj.b = job.b;
  fj.panel_zero = job.panel_zero;
  fj.c = job.out;
  fj.ldc = job.ldc;
  internal::Fp32PanelsAvx512(fj, panel_begin, panel_end);
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
          acc = acc +
                internal::ExactProduct(*j.c, BitsFloat(arow[k * RB]), BitsFloat(bp[k * kNR + col]));
          if (j.bf16) acc = RoundBf16(acc);
        }
        j.out[static_cast<size_t>(i) * j.ldc + static_cast<size_t>(p) * kNR + col] = acc;
      }
    }
  }
}

using internal::ParallelFor;

const KernelPlan& PlanOf(const GemmOptions& opts) {
  const KernelPlan& plan = opts.plan != nullptr ? *opts.plan : KernelPlan::Host();
  LMUL_CHECK(plan.Runnable(), "GemmOptions::plan has CPU features the host lacks: %s (host: %s)",
             CpuFeatureNames(plan.features()).c_str(), CpuFeatureNames(HostCpuFeatures()).c_str());
  return plan;
}

}  // namespace

namespace internal {

DataRange RangeOf(const ArithConsts& c, const RunStats& a, const RunStats& b) {
  if (a.special || b.special) return DataRange::kAny;
  if (!AnyNonzero(a) || !AnyNonzero(b)) return DataRange::kInRange;  // every product a zero
  if (c.exact) {
    const double lo = static_cast<double>(BitsFloat(a.min_mag)) * BitsFloat(b.min_mag);
    const double hi = static_cast<double>(BitsFloat(a.max_mag)) * BitsFloat(b.max_mag);
    return lo >= 0x1p-100 && hi <= FLT_MAX ? DataRange::kInRange : DataRange::kFinite;
  }
  const uint64_t lo = uint64_t{a.min_mag} + b.min_mag, hi = uint64_t{a.max_mag} + b.max_mag;
  return lo >= c.c_lo && hi <= c.c_hi ? DataRange::kInRange : DataRange::kFinite;
}

RunStats ConvertRows(const ArithConsts& c, const float* src, size_t ld, int rows, size_t n,
                     uint32_t* dst, size_t ld_dst, bool keep_zero_sign, int threads) {
  RunStats st;
  std::mutex mu;
  if (static_cast<size_t>(rows) * n < (size_t{1} << 16)) threads = 1;
  ParallelFor(threads, rows, [&](int r0, int r1) {
    RunStats part;
    for (int r = r0; r < r1; ++r) {
      ConvertRunSimd(c, src + static_cast<size_t>(r) * ld, n, dst + static_cast<size_t>(r) * ld_dst,
                     &part, keep_zero_sign);
    }
    std::lock_guard<std::mutex> lock(mu);
    st.Merge(part);
  });
  return st;
}
}  // namespace internal

namespace {
// The fp32 layout of PackedB (gemm.h): panels of kNR columns, each k-major over all K rows.
// One row k of B (N values at `row`) converted into every panel of `data` (K rows per panel;
// buf: panels * kNR words whose padding columns are +0); its statistics into *st, its zeros
// into pz (per panel).
void PackRow(const ArithConsts& c, const float* row, int k, int K, int N, int panels,
             uint32_t* data, uint32_t* buf, Stats* st, uint8_t* pz) {
  Stats r;
  internal::ConvertRunSimd(c, row, N, buf, &r);
  st->Merge(r);
  for (int p = 0; p < panels; ++p) {
    std::memcpy(data + (static_cast<size_t>(p) * K + k) * kNR, buf + p * kNR,
                kNR * sizeof(uint32_t));
  }
  if (r.zero) {
    for (int n = 0; n < N; ++n) pz[n / kNR] |= (buf[n] & 0x7FFFFFFFu) == 0;
  }
}

// One column n of B (K values at `col`: a row of Bᵀ) converted into its panel of `data`
// (buf: K words); statistics and zeros as PackRow.
void PackColumn(const ArithConsts& c, const float* col, int n, int K, uint32_t* data,
                uint32_t* buf, Stats* st, uint8_t* pz) {
  Stats r;
  internal::ConvertRunSimd(c, col, K, buf, &r);
  st->Merge(r);
  pz[n / kNR] |= r.zero;
  uint32_t* dst = data + static_cast<size_t>(n / kNR) * K * kNR + n % kNR;
  for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * kNR] = buf[k];
}
}  // namespace

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
  static uint8_t Properties(const PackedB& b) { return b.arith_props_; }
  // PackB into an existing object (its buffers reused).
  static void Pack(PackedB& pb, const Arith& arith, int K, int N, const float* b, int ldb,
                   bool b_trans, Accum accum, int threads = 1);
  // AppendBColumns / AppendBRows (kernels/gemm.h).
  static void AppendColumns(PackedB& pb, int count, const float* bt, int ldb);
  static void AppendRows(PackedB& pb, int count, const float* b, int ldb);
  static const uint32_t* DotB(const PackedB& b) { return b.dot_b_.data(); }
  static const uint32_t* DotZ(const PackedB& b) {
    return b.dot_z_.empty() ? nullptr : b.dot_z_.data();
  }
};

void PackedBAccess::Pack(PackedB& pb, const Arith& arith, int K, int N, const float* b, int ldb,
                         bool b_trans, Accum accum, int threads) {
  LMUL_CHECK(K >= 0 && N >= 0, "PackB: K=%d N=%d", K, N);
  // The constants are built once per arithmetic and kept with the packed operand
  // (a PackedB re-packed for the same arithmetic keeps them).
  if (pb.consts_ == nullptr || !(pb.arith_ == arith)) {
    pb.consts_ = std::make_shared<const ArithConsts>(internal::MakeConsts(arith));
    pb.arith_props_ = ArithProperties(arith);
  }
  const ArithConsts& c = *pb.consts_;
  pb.arith_ = arith;
  pb.k_ = K;
  pb.n_ = N;
  pb.bf16_dot_ = false;
  if (accum == Accum::kBf16Dot) {
    LMUL_CHECK(SupportsBf16Dot(arith),
               "PackB: Accum::kBf16Dot needs lmul/mitchell on a format that fits bf16, not %s",
               arith.Name().c_str());
    pb.bf16_dot_ = true;
    pb.data_.clear();
    // B reduced to the format, K x N row-major, zeros keeping their sign
    // (workspace reused from call to call on this thread).
    thread_local std::vector<uint32_t> tl_carrier;
    std::vector<uint32_t>& carrier = tl_carrier;
    carrier.resize(static_cast<size_t>(K) * N);
    Stats st;
    if (!b_trans) {
      st = internal::ConvertRows(c, b, ldb, K, N, carrier.data(), N, true, threads);
    } else {
      std::vector<uint32_t> buf(K);
      for (int n = 0; n < N; ++n) {
        internal::ConvertRunSimd(c, b + static_cast<size_t>(n) * ldb, K, buf.data(), &st, true);
        for (int k = 0; k < K; ++k) carrier[static_cast<size_t>(k) * N + n] = buf[k];
      }
    }
    internal::PackDotB(c, K, N, carrier.data(), st, &pb.dot_b_, &pb.dot_z_, &pb.panel_zero_,
                       threads);
    pb.has_special_ = st.special;
    pb.min_mag_ = st.min_mag;
    pb.max_mag_ = st.max_mag;
    return;
  }
  pb.dot_b_.clear();
  pb.dot_z_.clear();
  const int panels = (N + kNR - 1) / kNR;
  const size_t size = static_cast<size_t>(panels) * K * kNR;
  pb.data_.resize(size);
  pb.panel_zero_.assign(panels, 0);
  Stats st;
  std::mutex mu;
  auto merge = [&](const Stats& part) {
    std::lock_guard<std::mutex> lock(mu);
    st.Merge(part);
  };
  uint32_t* data = pb.data_.data();
  if (static_cast<size_t>(K) * N < (size_t{1} << 16)) threads = 1;
  // Panels with a zero (padding columns excluded), found from the converted
  // runs: only a run that has a zero is scanned.
  auto merge_zero = [&](const std::vector<uint8_t>& pz) {
    std::lock_guard<std::mutex> lock(mu);
    for (int p = 0; p < panels; ++p) pb.panel_zero_[p] |= pz[p];
  };
  if (!b_trans) {
    // Row k of B converted, then copied panel by panel (32 contiguous columns).
    ParallelFor(threads, K, [&](int k0, int k1) {
      std::vector<uint32_t> buf(static_cast<size_t>(panels) * kNR, 0u);  // padding: +0
      std::vector<uint8_t> pz(panels, 0);
      Stats part;
      for (int k = k0; k < k1; ++k) {
        PackRow(c, b + static_cast<size_t>(k) * ldb, k, K, N, panels, data, buf.data(), &part,
                pz.data());
      }
      merge(part);
      merge_zero(pz);
    });
  } else {
    ParallelFor(threads, panels, [&](int p0, int p1) {
      std::fill(data + static_cast<size_t>(p0) * K * kNR, data + static_cast<size_t>(p1) * K * kNR,
                0u);
      std::vector<uint32_t> buf(K);
      std::vector<uint8_t> pz(panels, 0);
      Stats part;
      for (int n = p0 * kNR; n < std::min(N, p1 * kNR); ++n) {
        PackColumn(c, b + static_cast<size_t>(n) * ldb, n, K, data, buf.data(), &part,
                   pz.data());
      }
      merge(part);
      merge_zero(pz);
    });
  }
  pb.has_special_ = st.special;
  pb.min_mag_ = st.min_mag;
  pb.max_mag_ = st.max_mag;
}

// The layout is Pack's: a new column lands in its panel (the last one, or new panels of
// zeros), a new row k of every panel at (panel * K + k) * kNR after panels 1.. move up to
// their new offsets; the statistics merge (min, max, or: the same as over the whole B).
void PackedBAccess::AppendColumns(PackedB& pb, int count, const float* bt, int ldb) {
  LMUL_CHECK(count >= 0 && pb.consts_ != nullptr && !pb.bf16_dot_,
             "AppendBColumns: count=%d onto %s", count,
             pb.consts_ == nullptr ? "an unpacked B" : "a B packed for bf16dot");
  const int K = pb.k_, n0 = pb.n_, N = n0 + count;
  const int panels = (N + kNR - 1) / kNR;
  pb.data_.resize(static_cast<size_t>(panels) * K * kNR, 0u);  // new panels: +0 padding
  pb.panel_zero_.resize(panels, 0);
  Stats st = GetStats(pb);
  std::vector<uint32_t> buf(K);
  for (int n = n0; n < N; ++n) {
    PackColumn(*pb.consts_, bt + static_cast<size_t>(n - n0) * ldb, n, K, pb.data_.data(),
               buf.data(), &st, pb.panel_zero_.data());
  }
  pb.n_ = N;
  pb.has_special_ = st.special;
  pb.min_mag_ = st.min_mag;
  pb.max_mag_ = st.max_mag;
}

void PackedBAccess::AppendRows(PackedB& pb, int count, const float* b, int ldb) {
  LMUL_CHECK(count >= 0 && pb.consts_ != nullptr && !pb.bf16_dot_, "AppendBRows: count=%d onto %s",
             count, pb.consts_ == nullptr ? "an unpacked B" : "a B packed for bf16dot");
  const int k0 = pb.k_, K = k0 + count, N = pb.n_;
  const int panels = (N + kNR - 1) / kNR;
  pb.data_.resize(static_cast<size_t>(panels) * K * kNR);
  uint32_t* data = pb.data_.data();
  // Panel p moves from p * k0 * kNR to p * K * kNR: the last first, so no source is
  // overwritten before it moves.
  for (int p = panels - 1; p > 0; --p) {
    std::memmove(data + static_cast<size_t>(p) * K * kNR, data + static_cast<size_t>(p) * k0 * kNR,
                 static_cast<size_t>(k0) * kNR * sizeof(uint32_t));
  }
  Stats st = GetStats(pb);
  std::vector<uint32_t> buf(static_cast<size_t>(panels) * kNR, 0u);  // padding: +0
  for (int k = k0; k < K; ++k) {
    PackRow(*pb.consts_, b + static_cast<size_t>(k - k0) * ldb, k, K, N, panels, data,
            buf.data(), &st, pb.panel_zero_.data());
  }
  pb.k_ = K;
  pb.has_special_ = st.special;
  pb.min_mag_ = st.min_mag;
  pb.max_mag_ = st.max_mag;
}

PackedB PackB(const Arith& arith, int K, int N, const float* b, int ldb, bool b_trans,
              Accum accum) {
  PackedB pb;
  PackedBAccess::Pack(pb, arith, K, N, b, ldb, b_trans, accum);
  return pb;
}

const GemmKernelEntry* GemmPacked(int M, const float* a, int lda, const PackedB& b, float* c,
                                  int ldc, const GemmOptions& opts) {
  const int K = b.K(), N = b.N();
  LMUL_CHECK(M >= 0, "GemmPacked: M=%d", M);
  const KernelPlan& plan = PlanOf(opts);
  if (M == 0 || N == 0) return nullptr;
  if (K == 0) {
    for (int i = 0; i < M; ++i)
      std::fill(c + static_cast<size_t>(i) * ldc, c + static_cast<size_t>(i) * ldc + N, 0.0f);
    return nullptr;
  }
  LMUL_CHECK((opts.accum == Accum::kBf16Dot) == b.packed_for_bf16_dot(),
             "GemmPacked: B packed for %s accumulation used with accum=%s",
             b.packed_for_bf16_dot() ? "bf16dot" : "fp32/bf16", AccumName(opts.accum));
  const ArithConsts& cs = b.consts();
  if (opts.accum == Accum::kBf16Dot) {
    return &internal::GemmPackedDot(plan, cs, M, a, lda, K, N, PackedBAccess::DotB(b),
                                    PackedBAccess::DotZ(b), PackedBAccess::PanelZero(b),
                                    PackedBAccess::GetStats(b), c, ldc,
                                    ResolveThreads(opts.threads));
  }
  constexpr int RB = internal::kRowBlock;
  const int blocks = (M + RB - 1) / RB;
  const size_t MKp = static_cast<size_t>(blocks) * RB * K;  // rows padded to the block
  // Workspace reused from call to call on this thread (no page faults per call).
  // (Local references: the lambdas below also run on other threads, where the
  // names of thread_local variables would denote those threads' own objects.)
  thread_local std::vector<uint32_t> tl_ac, tl_ap;
  thread_local std::vector<float> tl_za;
  thread_local std::vector<uint8_t> tl_row_zero;
  std::vector<uint32_t>& ac = tl_ac;
  std::vector<uint32_t>& ap = tl_ap;
  std::vector<float>& za = tl_za;
  std::vector<uint8_t>& row_zero = tl_row_zero;
  // Pass 1: A reduced to the format, row-major (contiguous SIMD runs), statistics.
  ac.resize(static_cast<size_t>(M) * K);
  // Packing threads: only when A is big enough to pay for splitting the work.
  const int pack_threads =
      static_cast<size_t>(M) * K >= (size_t{1} << 16) ? ResolveThreads(opts.threads) : 1;
  const Stats ast = internal::ConvertRows(cs, a, lda, M, K, ac.data(), K, false, pack_threads);
  const Stats bst = PackedBAccess::GetStats(b);
  GemmQuery query;
  query.op = cs.exact ? OpClass::kExact : OpClass::kLMul;
  query.accum = opts.accum;
  query.range = internal::RangeOf(cs, ast, bst);
  query.arith = PackedBAccess::Properties(b);
  query.simd_target = SimdTarget();
  const GemmKernelEntry& entry = plan.Choose(query);
  // The FMA form of the general L-Mul is the general kernel with its own packing of A.
  const bool general_fma = entry.kind == GemmKind::kLMulGeneralFma;
  const GemmKind kind = general_fma ? GemmKind::kLMulGeneral : entry.kind;
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
  const bool fast = kind == GemmKind::kLMulFast;
  if (fast && (!AnyNonzero(ast) || !AnyNonzero(bst))) {  // every product is a zero
    for (int i = 0; i < M; ++i)
      std::fill(c + static_cast<size_t>(i) * ldc, c + static_cast<size_t>(i) * ldc + N, 0.0f);
    return &entry;
  }
  // Pass 2: into blocks of RB rows, k-major: ap[(blk * K + k) * RB + r]. Fast:
  // pre-offset, zeros replaced by a safe in-range value with multiplier 0 in za.
  // AVX-512 general: |a| - c_off - 2^30, zeros 0 + that base, multiplier +-1/0.
  // Other kinds: carrier bits. Padding rows: zero operands (never stored to C).
  // Rows are read in chunks of kChunk k (sequential runs; reading all RB rows at
  // one k would alias in L1 when K is a power of two) into an L1-resident tile.
  const bool a_zero = fast && ast.zero;
  const bool with_za = a_zero || general_fma;
  ap.resize(MKp);
  if (with_za) za.resize(MKp);
  if (a_zero) row_zero.assign(static_cast<size_t>(blocks) * RB, 0);
  const uint32_t safe = fast ? ast.min_mag - cs.c_off : 0;  // keeps p finite; multiplied by 0
  const uint32_t off = fast ? cs.c_off : 0;
  const uint32_t base = 0u - cs.c_off - 0x40000000u;  // general: |a| - c_off - 2^30 (mod 2^32)
  const uint32_t zero_lim = cs.c_zero_lim;
  ParallelFor(pack_threads, blocks, [&](int blk0, int blk1) {
    constexpr size_t kChunk = 64;
    const size_t Ks = static_cast<size_t>(K);
    for (int blk = blk0; blk < blk1; ++blk) {
      const int rows = std::min(RB, M - blk * RB);
      uint32_t* dst = ap.data() + static_cast<size_t>(blk) * Ks * RB;
      float* zdst = with_za ? za.data() + static_cast<size_t>(blk) * Ks * RB : nullptr;
      const uint32_t* src = ac.data() + static_cast<size_t>(blk) * RB * Ks;
      for (size_t k0 = 0; k0 < Ks; k0 += kChunk) {
        const size_t k1 = std::min(Ks, k0 + kChunk);
        for (int r = 0; r < RB; ++r) {
          const uint32_t* s = src + static_cast<size_t>(r) * Ks;
          if (general_fma) {
            for (size_t k = k0; k < k1; ++k) {
              const uint32_t v = r < rows ? s[k] : 0u;
              const uint32_t mag = v & 0x7FFFFFFFu;
              const bool zero = mag < zero_lim;
              dst[k * RB + r] = (zero ? 0u : mag) + base;
              zdst[k * RB + r] = zero ? 0.0f : (v >> 31 ? -1.0f : 1.0f);
            }
          } else if (a_zero) {
            // Branch-free (zeros are data dependent): mask = all ones for a zero.
            uint32_t any = r < rows ? 0u : 1u;
            uint32_t* zbits = reinterpret_cast<uint32_t*>(zdst);
            for (size_t k = k0; k < k1; ++k) {
              const uint32_t v = r < rows ? s[k] : 0u;
              const uint32_t mask = 0u - static_cast<uint32_t>((v & 0x7FFFFFFFu) == 0);
              dst[k * RB + r] = ((v - off) & ~mask) | (safe & mask);
              zbits[k * RB + r] = 0x3F800000u & ~mask;  // 1.0f, or +0.0f for a zero
              any |= mask;
            }
            row_zero[static_cast<size_t>(blk) * RB + r] |= any != 0;
          } else if (r < rows) {
            for (size_t k = k0; k < k1; ++k) dst[k * RB + r] = s[k] - off;
          } else {
            for (size_t k = k0; k < k1; ++k) dst[k * RB + r] = safe;
          }
        }
      }
    }
  });
  if (fast) {
    job.za = a_zero ? za.data() : nullptr;
    job.row_zero = a_zero ? row_zero.data() : nullptr;
    job.panel_zero = PackedBAccess::PanelZero(b);
  }
  if (general_fma) {
    job.general_fma = true;
    job.gen_hi = static_cast<int32_t>(cs.c_sat - 0x40000000u);
    job.gen_lo = static_cast<int32_t>(cs.c_zero_lim - 0x40000000u);
    job.gen_clamp = uint64_t{ast.max_mag} + bst.max_mag > cs.c_hi;
    job.za = za.data();
  }
  job.a = ap.data();
  const int panels = (N + kNR - 1) / kNR;
  auto run = [&](int begin, int end) {
    switch (entry.impl) {
      case KernelImpl::kHighway:
        return internal::GemmPanelsSimd(job, begin, end);
      case KernelImpl::kX86Avx512:
        return Avx512Panels(job, begin, end);
      case KernelImpl::kPortable:
        return PortablePanels(job, begin, end);
      case KernelImpl::kX86Avx2:  // no GEMM entry (GemvKernels() only)
        break;
    }
    LMUL_CHECK(false, "GemmPacked: entry %s has no panel kernel", entry.name);
  };
  ParallelFor(ResolveThreads(opts.threads), panels, run);
  return &entry;
}

const GemmKernelEntry* Gemm(const Arith& arith, int M, int N, int K, const float* a, int lda,
                            const float* b, int ldb, bool b_trans, float* c, int ldc,
                            const GemmOptions& opts) {
  LMUL_CHECK(M >= 0 && N >= 0 && K >= 0, "Gemm: M=%d N=%d K=%d", M, N, K);
  thread_local PackedB pb;  // buffers reused from call to call (no page faults per call)
  RepackB(&pb, arith, K, N, b, ldb, b_trans, opts);
  return GemmPacked(M, a, lda, pb, c, ldc, opts);
}

void RepackB(PackedB* into, const Arith& arith, int K, int N, const float* b, int ldb, bool b_trans,
             const GemmOptions& opts) {
  LMUL_CHECK(into != nullptr, "RepackB: no PackedB");
  PackedBAccess::Pack(*into, arith, K, N, b, ldb, b_trans, opts.accum,
                      ResolveThreads(opts.threads));
}

void AppendBColumns(PackedB* into, int count, const float* bt, int ldb) {
  LMUL_CHECK(into != nullptr, "AppendBColumns: no PackedB");
  PackedBAccess::AppendColumns(*into, count, bt, ldb);
}

void AppendBRows(PackedB* into, int count, const float* b, int ldb) {
  LMUL_CHECK(into != nullptr, "AppendBRows: no PackedB");
  PackedBAccess::AppendRows(*into, count, b, ldb);
}

}  // namespace lmul::kernels
