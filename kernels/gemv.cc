// GemmRows: the driver. The kernel plan (kernels/plan.h, GemvKernels()) chooses the
// entry; its AVX2 kernels live in kernels/x86/gemv_avx2.cc (decoders, exact/fp32) and
// kernels/x86/gemv_reduced_avx2.cc (reduced operands), the rest is portable.
#include "kernels/gemv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "kernels/plan.h"
#include "kernels/worker_pool.h"
#include "kernels/x86/gemv_avx2.h"
#include "kernels/x86/gemv_avx512.h"
#include "kernels/x86/gemv_reduced_avx2.h"

namespace lmul::kernels {
namespace {

using internal::kGemvBlock;
// Column block of the PackB + GemmPacked path: 8 panels, so that per-call costs (converting
// A, the kernel choice) are spread over enough products.
constexpr int kPackedBlock = 256;

struct Workspace {
  std::vector<float> rows, t, ctile;
  std::vector<uint32_t> tc;  // the tile reduced to the arithmetic's format (gemv_reduced_avx2.h)
};

Workspace& ThreadWorkspace() {
  thread_local Workspace w;
  return w;
}

// Rows [0, rows) of `run` decoded by the decoders of entry `e` (false: `e` does not
// decode this form).
bool DecodeRowsWith(const GemvKernelEntry& e, const RowRun& run, int K, int rows, float* out) {
  if (e.impl != KernelImpl::kX86Avx2 || rows > run.rows || !KernelPlan::Decodes(e, run, K)) {
    return false;
  }
  return internal::DecodeRowsAvx2(run, K, rows, out);
}

}  // namespace

RowFormat InterleavedForm(RowFormat f) {
  switch (f) {
    case RowFormat::kQ8_0:
      return RowFormat::kQ8_0x8;
    case RowFormat::kQ4_0:
      return RowFormat::kQ4_0x8;
    case RowFormat::kQ4_1:
      return RowFormat::kQ4_1x8;
    default:
      return RowFormat::kOther;
  }
}

namespace {

// One 32-element block of 8 rows (src[r]: row r's block, nullptr for a missing row) into
// the interleaved block at dst (gemv.h: scales, then the quants of each k side by side).
void InterleaveBlock(RowFormat f, const uint8_t* const src[8], uint8_t* dst) {
  const int head = f == RowFormat::kQ4_1 ? 4 : 2;  // scale bytes of the stored block
  for (int r = 0; r < 8; ++r) {
    if (src[r] == nullptr) continue;      // zero bytes (dst starts zeroed)
    std::memcpy(dst + 2 * r, src[r], 2);  // d
    if (f == RowFormat::kQ4_1) std::memcpy(dst + 16 + 2 * r, src[r] + 2, 2);  // m
    const uint8_t* q = src[r] + head;
    if (f == RowFormat::kQ8_0) {
      for (int k = 0; k < 32; ++k) dst[16 + k * 8 + r] = q[k];
      continue;
    }
    uint8_t* qd = dst + (f == RowFormat::kQ4_1 ? 32 : 16);
    for (int t = 0; t < 4; ++t) {
      // Elements 8t .. 8t+7: the low nibbles of bytes 8t.. (t < 2) or the high nibbles of
      // bytes 8(t-2).. (t >= 2), packed in element order (little-endian words, as the
      // kernel loads them).
      uint64_t x;
      std::memcpy(&x, q + 8 * (t & 1), 8);
      if (t >= 2) x >>= 4;
      x &= 0x0F0F0F0F0F0F0F0Full;
      x = (x | (x >> 4)) & 0x00FF00FF00FF00FFull;
      x = (x | (x >> 8)) & 0x0000FFFF0000FFFFull;
      x = (x | (x >> 16)) & 0x00000000FFFFFFFFull;
      const uint32_t word = static_cast<uint32_t>(x);
      std::memcpy(qd + (t * 8 + r) * 4, &word, 4);
    }
  }
}

}  // namespace

InterleavedRows InterleaveRows(const RowSource& b, int N, int K) {
  InterleavedRows out;
  if (N <= 0 || K <= 0 || K % 32 != 0) return out;
  const RowFormat stored = b.Run(0).format;
  const RowFormat form = InterleavedForm(stored);
  if (form == RowFormat::kOther) return out;
  const int blocks = K / 32;
  const size_t src_bb = RowBlockBytes(stored), bb = InterleavedBlockBytes(form);
  std::vector<const uint8_t*> rows(N);
  for (int n = 0; n < N; ++n) {
    const RowRun run = b.Run(n);
    if (run.format != stored || run.data == nullptr || run.rows < 1 ||
        run.row_bytes != src_bb * blocks) {
      return out;  // a row of another type (a group of mixed tensors): no interleaved form
    }
    rows[n] = run.data;
  }
  const int groups = (N + 7) / 8;
  out.group_bytes = bb * blocks;
  out.data.assign(out.group_bytes * groups, 0);
  for (int g = 0; g < groups; ++g) {
    for (int kb = 0; kb < blocks; ++kb) {
      const uint8_t* src[8];
      for (int r = 0; r < 8; ++r) {
        const int n = 8 * g + r;
        src[r] = n < N ? rows[n] + kb * src_bb : nullptr;
      }
      InterleaveBlock(stored, src, out.data.data() + g * out.group_bytes + kb * bb);
    }
  }
  out.format = form;
  out.n = N;
  out.k = K;
  return out;
}

bool DecodeRowRun(const RowRun& run, int K, int rows, float* out) {
  const KernelPlan& host = KernelPlan::Host();
  for (const GemvKernelEntry& e : GemvKernels()) {
    if ((host.features() & e.cpu) == e.cpu && DecodeRowsWith(e, run, K, rows, out)) return true;
  }
  return false;
}

const GemvKernelEntry* GemmRows(const Arith& arith, int M, int N, int K, const float* a, int lda,
                                const RowSource& b, float* c, int ldc, const GemmOptions& opts) {
  LMUL_CHECK(M >= 0 && N >= 0 && K >= 0, "GemmRows: M=%d N=%d K=%d", M, N, K);
  if (M == 0 || N == 0) return nullptr;
  if (K == 0) {
    for (int i = 0; i < M; ++i)
      std::fill(c + static_cast<size_t>(i) * ldc, c + static_cast<size_t>(i) * ldc + N, 0.0f);
    return nullptr;
  }
  const KernelPlan& plan = opts.plan != nullptr ? *opts.plan : KernelPlan::Host();
  LMUL_CHECK(plan.Runnable(), "GemmRows: the plan has CPU features the host lacks: %s",
             CpuFeatureNames(plan.features()).c_str());
  const InterleavedRows* il = b.Interleaved();
  const RowFormat form = il != nullptr && il->n == N && il->k == K ? il->format : RowFormat::kOther;
  const GemvKernelEntry& entry = ChooseGemvFor(arith, opts, M, form);
  if (entry.kind == GemvKind::kFusedInterleaved) {
    // Column chunks of 4 groups of 8 rows split over the threads; each output is one
    // thread's (the same operations for any split).
    const int groups = (N + 7) / 8, chunks = (groups + 3) / 4;
    const int threads = std::max(1, std::min(ResolveThreads(opts.threads), chunks));
    auto part = [&](int p) {
      const int c0 = static_cast<int>(int64_t{chunks} * p / threads);
      const int c1 = static_cast<int>(int64_t{chunks} * (p + 1) / threads);
      const int e0 = 4 * c0, e1 = std::min(groups, 4 * c1);
      const bool ok = entry.impl == KernelImpl::kX86Avx512
                          ? internal::GemvInterleavedAvx512(*il, e0, e1, M, a, lda, c, ldc)
                          : internal::GemvInterleavedAvx2(*il, e0, e1, M, a, lda, c, ldc);
      LMUL_CHECK(ok, "GemmRows: interleaved form %d not decoded", static_cast<int>(il->format));
    };
    if (threads == 1) {
      part(0);
    } else {
      internal::RunParts(threads, part);
    }
    return &entry;
  }
  // The fused entries: exact/fp32 (gemv-exact-fp32), or operands reduced to a narrower
  // format first (gemv-exact-wide, gemv-lmul-fast: A reduced here once, shared read-only
  // by the threads).
  const bool reduced =
      entry.kind == GemvKind::kFusedExactWide || entry.kind == GemvKind::kFusedLMulFast;
  const bool fused = entry.kind == GemvKind::kFused || reduced;
  thread_local internal::GemvReducedA tl_reduced_a;
  internal::GemvReducedA& reduced_a = tl_reduced_a;
  reduced_a.exp8 = false;
  if (reduced) internal::PrepareGemvReducedA(entry.kind, arith, M, K, a, lda, &reduced_a);
  const int width = fused ? kGemvBlock : kPackedBlock;
  const int blocks = (N + width - 1) / width;
  const int threads = std::max(1, std::min(ResolveThreads(opts.threads), blocks));
  // Columns [n0, n0 + w) through PackB + GemmPacked, B's rows already in ws.rows (the
  // packed entries, and the blocks a reduced fused entry hands back).
  auto packed = [&](Workspace& ws, int n0, int w) {
    if (entry.impl == KernelImpl::kX86Avx2) {
      // PackB reads a k-major B much faster than a transposed one: transpose the block
      // here (rows padded with zeros to a multiple of 8; PackB reads only w columns).
      const int w8 = (w + 7) & ~7;
      if (w8 > w)
        std::fill(ws.rows.begin() + static_cast<size_t>(w) * K,
                  ws.rows.begin() + static_cast<size_t>(w8) * K, 0.0f);
      const size_t t_size = static_cast<size_t>(width) * K;
      if (ws.t.size() < t_size) ws.t.resize(t_size);
      internal::TransposeRowsAvx2(ws.rows.data(), K, w8, ws.t.data(), width);
      const PackedB pb = PackB(arith, K, w, ws.t.data(), width, /*b_trans=*/false, opts.accum);
      GemmOptions one = opts;
      one.threads = 1;
      GemmPacked(M, a, lda, pb, c + n0, ldc, one);
      return;
    }
    const PackedB pb = PackB(arith, K, w, ws.rows.data(), K, /*b_trans=*/true, opts.accum);
    GemmOptions one = opts;
    one.threads = 1;
    GemmPacked(M, a, lda, pb, c + n0, ldc, one);
  };
  auto run = [&](int part) {
    const int b0 = static_cast<int>(int64_t{blocks} * part / threads);
    const int b1 = static_cast<int>(int64_t{blocks} * (part + 1) / threads);
    Workspace& ws = ThreadWorkspace();
    const size_t rows_size = static_cast<size_t>(width) * K;
    if (ws.rows.size() < rows_size) ws.rows.resize(rows_size);
    for (int blk = b0; blk < b1; ++blk) {
      const int n0 = blk * width, w = std::min(width, N - n0);
      if (fused) {  // the fused entries: AVX2 (kernels/x86/gemv_avx2.h, gemv_reduced_avx2.h)
        if (ws.t.size() < rows_size) ws.t.resize(rows_size);
        if (ws.ctile.size() < static_cast<size_t>(kGemvMaxRows) * kGemvBlock) {
          ws.ctile.resize(static_cast<size_t>(kGemvMaxRows) * kGemvBlock);
        }
        const RowRun run = b.Run(n0);
        const bool stored = w == width && run.rows >= w && KernelPlan::Decodes(entry, run, K);
        if (stored && reduced_a.exp8) {
          // Straight from the stored blocks into the tile, reduced to the format.
          internal::RunStats bst;
          internal::DecodeTileReducedAvx2(reduced_a, run, K, ws.t.data(), &bst);
          if (!internal::GemvReducedRun(reduced_a, reinterpret_cast<const uint32_t*>(ws.t.data()),
                                        bst, ws.ctile.data())) {
            // Data the fused L-Mul kernel is not exact on (out of range, Inf/NaN): this
            // block through the packed path (the general kernel), from the same rows.
            internal::DecodeRowsAvx2(run, K, w, ws.rows.data());
            packed(ws, n0, w);
            continue;
          }
        } else {
          if (stored) {
            internal::DecodeTileAvx2(run, K, ws.t.data());  // straight from the stored blocks
          } else {
            b.Rows(n0, w, ws.rows.data());
            // A partial block: the missing rows are zeros (their columns are not stored).
            if (w < width)
              std::fill(ws.rows.begin() + static_cast<size_t>(w) * K, ws.rows.begin() + rows_size,
                        0.0f);
            internal::TransposeRowsAvx2(ws.rows.data(), K, kGemvBlock, ws.t.data(), kGemvBlock);
          }
          if (!reduced) {
            internal::GemvExactFp32BlockAvx2(M, K, ws.t.data(), a, lda, ws.ctile.data());
          } else {
            if (ws.tc.size() < rows_size) ws.tc.resize(rows_size);
            if (!internal::GemvReducedBlock(reduced_a, ws.t.data(), ws.tc.data(),
                                            ws.ctile.data())) {
              // As above; the rows decoded again when they came straight from storage.
              if (stored) internal::DecodeRowsAvx2(run, K, w, ws.rows.data());
              packed(ws, n0, w);
              continue;
            }
          }
        }
        for (int i = 0; i < M; ++i) {
          std::memcpy(c + static_cast<size_t>(i) * ldc + n0,
                      ws.ctile.data() + static_cast<size_t>(i) * kGemvBlock, w * sizeof(float));
        }
        continue;
      }
      const RowRun run = b.Run(n0);
      if (run.rows < w || !DecodeRowsWith(entry, run, K, w, ws.rows.data())) {
        b.Rows(n0, w, ws.rows.data());
      }
      packed(ws, n0, w);
    }
  };
  if (threads == 1) {
    run(0);
  } else {
    internal::RunParts(threads, run);
  }
  return &entry;
}

}  // namespace lmul::kernels
