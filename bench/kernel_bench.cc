#include "bench/kernel_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <thread>

#include "base/escape.h"
#include "bench/json_text.h"
#include "bench/native_bf16.h"
#include "bench/openblas.h"
#include "hwy/targets.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/plan.h"
#include "kernels/worker_pool.h"
#include "numeric/arith.h"
#include "numeric/bits.h"

namespace lmul::bench {
namespace {

template <class F>
double BestSeconds(int repeats, F&& f) {
  f();  // warm-up
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

int AllCores() { return kernels::ResolveThreads(0); }

// The plan the benchmarks run with: the host's, or fewer features (RestrictIsa).
kernels::KernelPlan& BenchPlan() {
  static kernels::KernelPlan plan = kernels::KernelPlan::Host();
  return plan;
}

// The 16-bit-lane kernel (and the native bf16 baseline) can run.
bool HasBf16Dot() { return NativeBf16Available(BenchPlan()); }

}  // namespace

std::vector<float> RandomMatrix(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

std::vector<uint16_t> RandomBf16(size_t n, uint32_t seed) {
  const std::vector<float> f = RandomMatrix(n, seed);
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint16_t>(FloatBits(f[i]) >> 16);
  return v;
}

void PlainMultiply(const float* a, const float* b, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
  asm volatile("" : : "r"(y) : "memory");  // the stores happen: nothing is elided
}

void PlainMultiplyBf16(const uint16_t* a, const uint16_t* b, uint16_t* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = Bf16CodeRne(Bf16CodeFloat(a[i]) * Bf16CodeFloat(b[i]));
  asm volatile("" : : "r"(y) : "memory");
}

std::string KernelTargetName() { return kernels::SimdTargetName(); }

Result<bool> RestrictIsa(const std::string& isa) {
  if (isa == "native") return true;
  if (isa != "avx2") return MakeError("unknown --isa '" + isa + "': expected native or avx2");
  if ((hwy::SupportedTargets() & HWY_AVX2) == 0) {
    return MakeError("--isa avx2: this CPU (or build) has no AVX2 target");
  }
  hwy::SetSupportedTargetsForTest(HWY_AVX2);
  BenchPlan() = kernels::KernelPlan::Host().Without(kernels::kCpuAvx512All);
  setenv("LMUL_OPENBLAS_CORETYPE", "Haswell", /*overwrite=*/0);
  return true;
}

Result<GemmShape> ParseShape(const std::string& text) {
  // Digits only, each dimension at most 5 digits before the range check: no sscanf %d
  // (whose overflow is undefined: 4294967300 read as 4), no sign, no trailing text.
  int dims[3] = {0, 0, 0};
  size_t i = 0;
  bool ok = true;
  for (int d = 0; d < 3 && ok; ++d) {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 6) {
      dims[d] = dims[d] * 10 + (text[i++] - '0');
    }
    ok = i > start && dims[d] >= 1 && dims[d] <= 65536;
    if (ok && d < 2) ok = i < text.size() && text[i++] == 'x';
  }
  if (!ok || i != text.size()) {
    return MakeError("bad shape '" + EscapeUntrusted(text, 64) +
                     "': expected MxNxK with each in 1..65536");
  }
  return GemmShape{dims[0], dims[1], dims[2]};
}

Result<size_t> ParseCount(const std::string& text, size_t max) {
  const auto bad = [&] {
    return MakeError("bad count '" + text + "': expected 1.." + std::to_string(max) +
                     " as digits with an optional K, M or G (x1024, x1024^2, x1024^3) suffix, "
                     "e.g. 16K");
  };
  size_t i = 0, value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    const size_t digit = static_cast<size_t>(text[i] - '0');
    if (value > (max - digit) / 10) return bad();  // value * 10 + digit > max
    value = value * 10 + digit;
  }
  if (i == 0) return bad();
  int shift = 0;
  if (i + 1 == text.size()) {
    switch (text[i]) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
      default:
        return bad();
    }
  } else if (i != text.size()) {
    return bad();
  }
  if (value == 0 || value > (max >> shift)) return bad();
  return value << shift;
}

std::vector<std::string> DefaultGemmAriths() {
  // Bare lmul/bf16 is the 16-bit-lane path where it runs natively (elsewhere its
  // portable model is slow and lmul/bf16 is the fp32-order kernel).
  std::vector<std::string> out = {"lmul/fp32", "lmul/e8m4", "lmul/bf16"};
  if (HasBf16Dot()) out.push_back("lmul/bf16@fp32");
  for (const char* a : {"lmul/e4m3", "exact/fp32", "exact/bf16"}) out.push_back(a);
  return out;
}

Result<std::pair<Arith, kernels::Accum>> ParseGemmArith(const std::string& spec) {
  const size_t at = spec.find('@');
  auto a = Arith::Parse(spec.substr(0, at));
  if (!a.ok()) return MakeError(a.error());
  kernels::Accum accum = kernels::Accum::kFp32;
  if (at == std::string::npos && a->Name() == "lmul/bf16" && HasBf16Dot()) {
    accum = kernels::Accum::kBf16Dot;
  }
  if (at != std::string::npos) {
    const std::string acc = spec.substr(at + 1);
    if (acc == "bf16dot") {
      accum = kernels::Accum::kBf16Dot;
    } else if (acc == "bf16") {
      accum = kernels::Accum::kBf16;
    } else if (acc != "fp32") {
      return MakeError("bad accumulation '@" + acc + "' in '" + spec +
                       "': expected @fp32, @bf16 or @bf16dot");
    }
  }
  if (accum == kernels::Accum::kBf16Dot && !kernels::SupportsBf16Dot(*a)) {
    return MakeError("'" + spec + "': @bf16dot needs lmul/mitchell on a format that fits bf16");
  }
  return std::make_pair(*a, accum);
}

std::vector<GemmShape> DefaultGemmShapes() {
  return {{512, 512, 512},   {1024, 1024, 1024}, {2048, 2048, 2048}, {64, 576, 576},
          {128, 576, 1536},  {128, 1536, 576},   {512, 576, 576},    {64, 2048, 2048},
          {128, 2048, 2048}, {512, 2048, 2048}};
}

Result<std::vector<GemmRecord>> RunGemmBench(const GemmBenchOptions& opts) {
  std::string why;
  const OpenBlas* blas = OpenBlas::Get(&why);
  if (blas == nullptr) return MakeError(why);
  struct Item {
    Arith arith;
    kernels::Accum accum;
    std::string name;
  };
  std::vector<Item> ariths;
  for (const auto& spec : opts.ariths) {
    auto item = ParseGemmArith(spec);
    if (!item.ok()) return MakeError(item.error());
    // Records name the arith as given (bare lmul/bf16 stays bare); "accum" says
    // which accumulation ran.
    const size_t at = spec.find('@');
    std::string name = item->first.Name();
    if (at != std::string::npos) name += spec.substr(at);
    ariths.push_back({item->first, item->second, name});
  }
  std::fprintf(stderr, "baseline: %s (openblas_get_corename() = %s); kernels target: %s\n",
               blas->Name().c_str(), blas->corename().c_str(), KernelTargetName().c_str());
  std::vector<GemmRecord> out;
  const size_t total = opts.shapes.size() * opts.threads.size() * ariths.size();
  size_t done = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const GemmShape& s : opts.shapes) {
    const auto a = RandomMatrix(static_cast<size_t>(s.m) * s.k, 1);
    const auto b = RandomMatrix(static_cast<size_t>(s.k) * s.n, 2);
    std::vector<float> c(static_cast<size_t>(s.m) * s.n);
    const double flop = 2.0 * s.m * s.n * s.k;
    for (int t : opts.threads) {
      const int threads = t == 0 ? AllCores() : t;
      blas->SetThreads(threads);
      // The baseline is measured before the kernels and again after each one; the
      // best of all is the baseline of every record of this shape (on a shared,
      // noisy machine a single measurement of it can be far too low).
      // With several threads, OpenBLAS's workers busy-wait for a while after a call
      // and would take cores from the kernel measured next: besides a short
      // OPENBLAS_THREAD_TIMEOUT (bench/openblas.cc), wait until they sleep.
      auto measure_base = [&] {
        const double g = flop / 1e9 / BestSeconds(opts.repeats, [&] {
                           blas->Sgemm(s.m, s.n, s.k, a.data(), s.k, b.data(), s.n, c.data(), s.n);
                         });
        if (threads > 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
        return g;
      };
      double base = measure_base();
      const size_t first_record = out.size();
      // Native bf16 GEMM (operands rounded to bf16, vdpbf16ps, B packed once) where
      // the CPU has AVX512-BF16: what the 16-bit-lane L-Mul path is compared with.
      double native_bf16 = 0;
      if (HasBf16Dot()) {
        const auto nb = PackNativeBf16B(s.k, s.n, b.data(), s.n);
        native_bf16 = flop / 1e9 / BestSeconds(opts.repeats, [&] {
                        NativeBf16Gemm(s.m, a.data(), s.k, nb, c.data(), s.n, threads);
                      });
        std::fprintf(stderr,
                     "%dx%dx%d t=%d: openblas-sgemm %.1f GFLOP/s, native bf16 (vdpbf16ps, "
                     "prepacked) %.1f GFLOP/s\n",
                     s.m, s.n, s.k, threads, base, native_bf16);
      }
      for (const Item& item : ariths) {
        const Arith& arith = item.arith;
        const kernels::GemmOptions go{item.accum, threads, &BenchPlan()};
        GemmRecord r;
        r.arith = item.name;
        r.accum = kernels::AccumName(item.accum);
        r.m = s.m;
        r.n = s.n;
        r.k = s.k;
        r.threads = threads;
        r.gflops = flop / 1e9 / BestSeconds(opts.repeats, [&] {
                     kernels::Gemm(arith, s.m, s.n, s.k, a.data(), s.k, b.data(), s.n, false,
                                   c.data(), s.n, go);
                   });
        const kernels::PackedB pb =
            kernels::PackB(arith, s.k, s.n, b.data(), s.n, false, item.accum);
        const kernels::GemmKernelEntry* entry = nullptr;
        r.prepacked_gflops = flop / 1e9 / BestSeconds(opts.repeats, [&] {
                               entry =
                                   kernels::GemmPacked(s.m, a.data(), s.k, pb, c.data(), s.n, go);
                             });
        const char* kind = entry != nullptr ? entry->name : "none";
        r.baseline = blas->Name();
        r.baseline_gflops = base;
        r.native_bf16_gflops = native_bf16;
        r.ratio = r.gflops / base;
        r.prepacked_ratio = r.prepacked_gflops / base;
        out.push_back(r);
        base = std::max(base, measure_base());
        ++done;
        const double el =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fprintf(stderr,
                     "[%zu/%zu] %-12s %dx%dx%d t=%d kernel=%s  %.1f GFLOP/s (%.2fx), prepacked "
                     "%.1f (%.2fx)  ETA %.0fs\n",
                     done, total, r.arith.c_str(), s.m, s.n, s.k, threads, kind, r.gflops, r.ratio,
                     r.prepacked_gflops, r.prepacked_ratio, el / done * (total - done));
      }
      for (size_t i = first_record; i < out.size(); ++i) {
        out[i].baseline_gflops = base;
        out[i].ratio = out[i].gflops / base;
        out[i].prepacked_ratio = out[i].prepacked_gflops / base;
      }
      std::fprintf(stderr, "%dx%dx%d t=%d: best openblas-sgemm %.1f GFLOP/s\n", s.m, s.n, s.k,
                   threads, base);
    }
  }
  return out;
}

std::string GemmRecordsJson(const std::vector<GemmRecord>& records) {
  std::string s = "[";
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    s += i ? ",\n " : "\n ";
    s += "{\"arith\": " + JsonString(r.arith) + ", \"accum\": " + JsonString(r.accum) +
         ", \"m\": " + std::to_string(r.m) + ", \"n\": " + std::to_string(r.n) +
         ", \"k\": " + std::to_string(r.k) + ", \"threads\": " + std::to_string(r.threads) +
         ", \"gflops\": " + Fmt("%.3f", r.gflops) + ", \"baseline\": " + JsonString(r.baseline) +
         ", \"baseline_gflops\": " + Fmt("%.3f", r.baseline_gflops) +
         ", \"ratio\": " + Fmt("%.4f", r.ratio) +
         ", \"prepacked_gflops\": " + Fmt("%.3f", r.prepacked_gflops) +
         ", \"prepacked_ratio\": " + Fmt("%.4f", r.prepacked_ratio) +
         ", \"native_bf16_gflops\": " + Fmt("%.3f", r.native_bf16_gflops) + "}";
  }
  return s + "\n]\n";
}

std::string GemmRecordsTable(const std::vector<GemmRecord>& records) {
  std::string s;
  char line[256];
  std::snprintf(line, sizeof(line), "%-18s %-8s %-16s %3s %10s %8s %12s %8s  %s\n", "arith",
                "accum", "MxNxK", "thr", "GFLOP/s", "ratio", "prepacked", "ratio",
                "baseline GFLOP/s [native bf16 GFLOP/s]");
  s += line;
  for (const auto& r : records) {
    const std::string shape =
        std::to_string(r.m) + "x" + std::to_string(r.n) + "x" + std::to_string(r.k);
    std::snprintf(line, sizeof(line),
                  "%-18s %-8s %-16s %3d %10.1f %8.2f %12.1f %8.2f  %.1f (%s) [%.1f]\n",
                  r.arith.c_str(), r.accum.c_str(), shape.c_str(), r.threads, r.gflops, r.ratio,
                  r.prepacked_gflops, r.prepacked_ratio, r.baseline_gflops, r.baseline.c_str(),
                  r.native_bf16_gflops);
    s += line;
  }
  return s;
}

Result<std::vector<ElementwiseRecord>> RunElementwiseBench(const std::vector<std::string>& specs,
                                                           const std::vector<size_t>& sizes,
                                                           int repeats) {
  std::vector<Arith> ariths;
  for (const auto& spec : specs) {
    auto a = Arith::Parse(spec);
    if (!a.ok()) return MakeError(a.error());
    ariths.push_back(*a);
  }
  std::fprintf(stderr, "kernels target: %s\n", KernelTargetName().c_str());
  std::vector<ElementwiseRecord> out;
  for (size_t n : sizes) {
    const auto a = RandomMatrix(n, 3), b = RandomMatrix(n, 4);
    std::vector<float> y(n);
    // Enough passes that one timed sample lasts ~a few ms.
    const int passes =
        static_cast<int>(std::max<size_t>(1, (size_t{1} << 22) / std::max<size_t>(n, 1)));
    auto per_elem = [&](double sec) { return static_cast<double>(n) * passes / sec / 1e9; };
    const float* pa = a.data();
    const float* pb = b.data();
    float* py = y.data();
    // The plain multiply is measured before the kernels and again after each one;
    // the best of all is the baseline of every record of this size (as in gemm).
    auto measure_base = [&] {
      return per_elem(BestSeconds(repeats, [&] {
        for (int p = 0; p < passes; ++p) PlainMultiply(pa, pb, py, n);
      }));
    };
    double base = measure_base();
    const size_t first_record = out.size();
    for (const Arith& arith : ariths) {
      ElementwiseRecord r;
      r.arith = arith.Name();
      r.n = n;
      r.gelems = per_elem(BestSeconds(repeats, [&] {
        for (int p = 0; p < passes; ++p) kernels::MulElementwise(arith, pa, pb, py, n);
      }));
      r.gbps = r.gelems * 12;
      out.push_back(r);
      std::fprintf(stderr, "%-12s n=%zu  %.2f Gelem/s (plain so far %.2f)\n", r.arith.c_str(), n,
                   r.gelems, base);
      base = std::max(base, measure_base());
    }
    for (size_t i = first_record; i < out.size(); ++i) {
      out[i].baseline_gelems = base;
      out[i].ratio = out[i].gelems / base;
    }
  }
  return out;
}

std::string ElementwiseRecordsJson(const std::vector<ElementwiseRecord>& records) {
  std::string s = "[";
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    s += i ? ",\n " : "\n ";
    s += "{\"arith\": " + JsonString(r.arith) + ", \"n\": " + std::to_string(r.n) +
         ", \"gelems\": " + Fmt("%.4f", r.gelems) + ", \"gbps\": " + Fmt("%.3f", r.gbps) +
         ", \"baseline\": " + JsonString(r.baseline) +
         ", \"baseline_gelems\": " + Fmt("%.4f", r.baseline_gelems) +
         ", \"ratio\": " + Fmt("%.4f", r.ratio) + "}";
  }
  return s + "\n]\n";
}

std::string ElementwiseRecordsTable(const std::vector<ElementwiseRecord>& records) {
  std::string s;
  char line[256];
  std::snprintf(line, sizeof(line), "%-14s %10s %10s %8s %8s %14s\n", "arith", "n", "Gelem/s",
                "GB/s", "ratio", "plain mul Gelem/s");
  s += line;
  for (const auto& r : records) {
    std::snprintf(line, sizeof(line), "%-14s %10zu %10.2f %8.1f %8.2f %14.2f\n", r.arith.c_str(),
                  r.n, r.gelems, r.gbps, r.ratio, r.baseline_gelems);
    s += line;
  }
  return s;
}

}  // namespace lmul::bench
