// Google Benchmark suite of the kernels, on the harness of `lmul bench`
// (bench/kernel_bench.h: its data, its baselines). Compare within one run (the machine
// is shared): OpenBLAS SGEMM (BM_OpenBlasSgemm), the naive canonical-order
// reference (BM_ReferenceGemm), the kernels (BM_Gemm / BM_GemmPacked), and
// elementwise L-Mul against a plain multiply loop.
//   build/<dir>/bench/lmul_kernels_benchmark --benchmark_filter=Gemm
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "bench/kernel_bench.h"
#include "bench/openblas.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/gemv.h"
#include "kernels/plan.h"
#include "kernels/reference.h"

namespace {

using lmul::Arith;
namespace kernels = lmul::kernels;

using lmul::bench::PlainMultiply;
using lmul::bench::PlainMultiplyBf16;
using lmul::bench::RandomBf16;
using lmul::bench::RandomMatrix;

void SetFlops(benchmark::State& state, int m, int n, int k) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

const char* kAriths[] = {"lmul/fp32",  "lmul/e8m4",  "lmul/bf16", "lmul/e4m3",
                         "exact/fp32", "exact/bf16", "lmul/fp16"};

void BM_OpenBlasSgemm(benchmark::State& state) {
  const int s = static_cast<int>(state.range(0));
  std::string why;
  const auto* blas = lmul::bench::OpenBlas::Get(&why);
  if (blas == nullptr) {
    state.SkipWithError(why.c_str());
    return;
  }
  blas->SetThreads(1);
  state.SetLabel(blas->Name());
  const auto a = RandomMatrix(size_t(s) * s, 1), b = RandomMatrix(size_t(s) * s, 2);
  std::vector<float> c(size_t(s) * s);
  for (auto _ : state) blas->Sgemm(s, s, s, a.data(), s, b.data(), s, c.data(), s);
  SetFlops(state, s, s, s);
}
BENCHMARK(BM_OpenBlasSgemm)->Arg(128)->Arg(512)->Arg(1024)->Unit(benchmark::kMillisecond);

void BM_Gemm(benchmark::State& state) {
  const Arith arith = *Arith::Parse(kAriths[state.range(0)]);
  const int s = static_cast<int>(state.range(1));
  state.SetLabel(arith.Name());
  const auto a = RandomMatrix(size_t(s) * s, 1), b = RandomMatrix(size_t(s) * s, 2);
  std::vector<float> c(size_t(s) * s);
  for (auto _ : state) {
    kernels::Gemm(arith, s, s, s, a.data(), s, b.data(), s, false, c.data(), s);
  }
  SetFlops(state, s, s, s);
}
BENCHMARK(BM_Gemm)->ArgsProduct({{0, 1, 2, 3, 4, 5, 6}, {128, 512}})->Unit(benchmark::kMillisecond);

void BM_GemmPacked(benchmark::State& state) {
  const Arith arith = *Arith::Parse(kAriths[state.range(0)]);
  const int m = static_cast<int>(state.range(1)), nk = static_cast<int>(state.range(2));
  state.SetLabel(arith.Name());
  const auto a = RandomMatrix(size_t(m) * nk, 1), b = RandomMatrix(size_t(nk) * nk, 2);
  std::vector<float> c(size_t(m) * nk);
  const auto pb = kernels::PackB(arith, nk, nk, b.data(), nk, false);
  for (auto _ : state) kernels::GemmPacked(m, a.data(), nk, pb, c.data(), nk);
  SetFlops(state, m, nk, nk);
}
BENCHMARK(BM_GemmPacked)
    ->ArgsProduct({{0, 2, 4}, {64, 128}, {576, 1536}})
    ->Unit(benchmark::kMillisecond);

// Packing B alone (what Gemm adds to GemmPacked per call): elements/s.
// Args: arith (0 lmul/fp32, 2 lmul/bf16), K = N, accumulation (0 fp32, 1 bf16dot).
void BM_PackB(benchmark::State& state) {
  const Arith arith = *Arith::Parse(kAriths[state.range(0)]);
  const int s = static_cast<int>(state.range(1));
  const auto accum = state.range(2) ? kernels::Accum::kBf16Dot : kernels::Accum::kFp32;
  state.SetLabel(arith.Name() + (state.range(2) ? "@bf16dot" : ""));
  const auto b = RandomMatrix(size_t(s) * s, 2);
  for (auto _ : state) {
    auto pb = kernels::PackB(arith, s, s, b.data(), s, false, accum);
    benchmark::DoNotOptimize(pb);
  }
  state.SetItemsProcessed(state.iterations() * int64_t{s} * s);
}
BENCHMARK(BM_PackB)->ArgsProduct({{0}, {1024}, {0}})->ArgsProduct({{2}, {1024}, {0, 1}});

// The naive triple loop (kernels/reference.h): the speedup baseline.
void BM_ReferenceGemm(benchmark::State& state) {
  const Arith arith = *Arith::Parse(kAriths[state.range(0)]);
  const int s = static_cast<int>(state.range(1));
  state.SetLabel(arith.Name());
  const auto a = RandomMatrix(size_t(s) * s, 1), b = RandomMatrix(size_t(s) * s, 2);
  std::vector<float> c(size_t(s) * s);
  for (auto _ : state) {
    kernels::ReferenceGemm(arith, s, s, s, a.data(), s, b.data(), s, false, c.data(), s,
                           kernels::Accum::kFp32);
  }
  SetFlops(state, s, s, s);
}
BENCHMARK(BM_ReferenceGemm)->ArgsProduct({{0, 2}, {128}})->Unit(benchmark::kMillisecond);

void BM_PlainMultiply(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const auto a = RandomMatrix(n, 3), b = RandomMatrix(n, 4);
  std::vector<float> y(n);
  for (auto _ : state) {
    PlainMultiply(a.data(), b.data(), y.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_PlainMultiply)->Arg(2048)->Arg(1 << 16)->Arg(1 << 24);

void BM_MulElementwise(benchmark::State& state) {
  const Arith arith = *Arith::Parse(kAriths[state.range(0)]);
  const size_t n = static_cast<size_t>(state.range(1));
  state.SetLabel(arith.Name());
  const auto a = RandomMatrix(n, 3), b = RandomMatrix(n, 4);
  std::vector<float> y(n);
  for (auto _ : state) {
    kernels::MulElementwise(arith, a.data(), b.data(), y.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_MulElementwise)->ArgsProduct({{0, 2, 3, 4, 5}, {2048, 1 << 16, 1 << 24}});

// bf16 storage (MulElementwiseBf16) against a plain bf16 loop: widen, fp32
// multiply, round to bf16 rne (what a bf16 elementwise multiply costs natively).
void BM_PlainMultiplyBf16(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const auto a = RandomBf16(n, 3), b = RandomBf16(n, 4);
  std::vector<uint16_t> y(n);
  for (auto _ : state) {
    PlainMultiplyBf16(a.data(), b.data(), y.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_PlainMultiplyBf16)->Arg(2048)->Arg(1 << 16)->Arg(1 << 24);

void BM_MulElementwiseBf16(benchmark::State& state) {
  const Arith arith = *Arith::Parse(kAriths[state.range(0)]);
  const size_t n = static_cast<size_t>(state.range(1));
  state.SetLabel(arith.Name());
  const auto a = RandomBf16(n, 3), b = RandomBf16(n, 4);
  std::vector<uint16_t> y(n);
  for (auto _ : state) {
    kernels::MulElementwiseBf16(arith, a.data(), b.data(), y.data(), n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_MulElementwiseBf16)->ArgsProduct({{2, 5}, {2048, 1 << 16, 1 << 24}});

}  // namespace

// Decode-step GEMVs (M = 1, exact/fp32, 1 thread) on SmolLM2-135M's weight shapes, from
// random stored rows: `rows` = the tile GEMV decoding the GGUF rows (gemv-exact-fp32),
// `x8` = the interleaved form (gemv-exact-fp32-x8). GMAC/s = multiply-accumulates per second.
class RandomStoredRows final : public kernels::RowSource {
 public:
  RandomStoredRows(kernels::RowFormat f, int N, int K) : f_(f), k_(K) {
    const size_t bb = f == kernels::RowFormat::kQ8_0 ? 34 : 20;  // Q8_0 or Q4_1
    row_bytes_ = bb * (K / 32);
    n_ = N;
    bytes_.resize(row_bytes_ * N);
    std::mt19937 rng(7);
    for (uint8_t& b : bytes_) b = static_cast<uint8_t>(rng());
    for (size_t blk = 0; blk < bytes_.size() / bb; ++blk) {  // scales: halves in [2^-7, 2^-5)
      for (size_t s = 0; s < (f == kernels::RowFormat::kQ4_1 ? 2u : 1u); ++s) {
        const uint16_t h = static_cast<uint16_t>(0x2000 + rng() % 0x800);
        bytes_[blk * bb + 2 * s] = static_cast<uint8_t>(h);
        bytes_[blk * bb + 2 * s + 1] = static_cast<uint8_t>(h >> 8);
      }
    }
  }
  void Rows(int n0, int count, float* out) const override {
    kernels::DecodeRowRun(Run(n0), k_, count, out);
  }
  kernels::RowRun Run(int n) const override {
    return {f_, bytes_.data() + static_cast<size_t>(n) * row_bytes_, row_bytes_, n_ - n};
  }
  const kernels::InterleavedRows* Interleaved() const override { return il_; }
  const kernels::InterleavedRows* il_ = nullptr;

 private:
  kernels::RowFormat f_;
  int n_ = 0, k_;
  size_t row_bytes_ = 0;
  std::vector<uint8_t> bytes_;
};

// A GEMV of the default model's shapes on the compact weights: exact/fp32, M rows of A,
// the file form (tile GEMV) or the interleaved one (x8), `threads` threads; avx2_only: the
// host's plan without AVX-512 (the 256-bit interleaved kernel on an AVX-512 host).
void GemvDecode(benchmark::State& state, int shape, bool x8, int M, int threads,
                bool avx2_only = false) {
  struct Shape {
    const char* name;
    int n, k;
    kernels::RowFormat f;
  };
  static const Shape kShapes[] = {
      {"qkv 960x576 q4_1", 960, 576, kernels::RowFormat::kQ4_1},
      {"o 576x576 q4_1", 576, 576, kernels::RowFormat::kQ4_1},
      {"gate_up 3072x576 q4_1", 3072, 576, kernels::RowFormat::kQ4_1},
      {"down 576x1536 q4_1", 576, 1536, kernels::RowFormat::kQ4_1},
      {"lm_head 49152x576 q8_0", 49152, 576, kernels::RowFormat::kQ8_0},
  };
  const Shape& sh = kShapes[shape];
  RandomStoredRows rows(sh.f, sh.n, sh.k);
  const kernels::InterleavedRows il = kernels::InterleaveRows(rows, sh.n, sh.k);
  if (x8) rows.il_ = &il;
  const Arith arith = *Arith::Parse("exact/fp32");
  const auto a = RandomMatrix(static_cast<size_t>(M) * sh.k, 3);
  std::vector<float> c(static_cast<size_t>(M) * sh.n);
  kernels::GemmOptions o;
  o.threads = threads;
  const kernels::KernelPlan avx2 = kernels::KernelPlan::Host().Without(kernels::kCpuAvx512All);
  if (avx2_only) o.plan = &avx2;
  const kernels::GemvKernelEntry* e = nullptr;
  for (auto _ : state) {
    e = kernels::GemmRows(arith, M, sh.n, sh.k, a.data(), sh.k, rows, c.data(), sh.n, o);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetLabel(std::string(sh.name) + " M=" + std::to_string(M) +
                 (threads > 1 ? " threads=" + std::to_string(threads) : "") + " " +
                 (e != nullptr ? e->name : "none"));
  state.counters["GMAC/s"] = benchmark::Counter(
      double(M) * sh.n * sh.k * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
// Args: shape, x8 (0: tile GEMV on the file form, 1: interleaved), M (1: a decode step, or a
// multiple-choice branch batch: ARC ~40 rows). One thread.
void BM_GemvDecode(benchmark::State& state) {
  GemvDecode(state, static_cast<int>(state.range(0)), state.range(1) != 0,
             static_cast<int>(state.range(2)), 1);
}
BENCHMARK(BM_GemvDecode)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}, {1, 4, 8, 16, 24, 32, 40, 48, 64}})
    ->Unit(benchmark::kMicrosecond);

// The same through the host's plan without AVX-512 (the x8 kernel on an AVX-512 host): args
// shape, M. A proxy for AVX2-only CPUs (whose ports differ: docs/kernels.md §8).
void BM_GemvDecodeAvx2(benchmark::State& state) {
  GemvDecode(state, static_cast<int>(state.range(0)), true, static_cast<int>(state.range(1)), 1,
             /*avx2_only=*/true);
}
BENCHMARK(BM_GemvDecodeAvx2)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {1, 4, 8, 16, 40}})
    ->Unit(benchmark::kMicrosecond);

// Decode's thread scaling per shape (interleaved, M = 1): args shape, threads, plan (0: the
// host's, 1: without AVX-512); wall time.
void BM_GemvDecodeThreads(benchmark::State& state) {
  GemvDecode(state, static_cast<int>(state.range(0)), true, 1, static_cast<int>(state.range(1)),
             state.range(2) != 0);
}
BENCHMARK(BM_GemvDecodeThreads)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {1, 2}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
