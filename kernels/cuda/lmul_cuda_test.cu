// The CUDA kernels against the scalar reference, bit for bit: operand reduction for every
// format and rounding; products exhaustively over all fp8 x fp8 code pairs and over every
// bf16 value (against a sample of partners); the special-value matrix for every format and
// operation; GEMM against kernels::ReferenceGemm (canonical order) for shapes that hit the
// tile tails, both B layouts, strided operands and the three accumulation modes.
// Needs a CUDA device (skipped, saying so, without one).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cuda/lmul_cuda.h"
#include "kernels/reference.h"
#include "kernels/test_util.h"
#include "numeric/arith.h"

namespace lmul::kernels::cuda {
namespace {

#define CUDA_OK(expr)                                                      \
  do {                                                                     \
    const cudaError_t e_ = (expr);                                         \
    ASSERT_EQ(e_, cudaSuccess) << #expr << ": " << cudaGetErrorString(e_); \
  } while (0)

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n > 0 && cudaMalloc(&p_, n * sizeof(T)) != cudaSuccess) p_ = nullptr;
  }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return p_; }
  void Upload(const std::vector<T>& v) {
    cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  std::vector<T> Download() const {
    std::vector<T> v(n_);
    cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost);
    return v;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

bool HaveDevice() {
  static const bool have = DeviceInfo().ok();
  return have;
}
#define REQUIRE_DEVICE() \
  if (!HaveDevice()) GTEST_SKIP() << "no CUDA device: " << DeviceInfo().error()

using testing::B;  // float bits (kernels/test_util.h)
using testing::F;  // bits -> float

// fn(i) for i < n on every host core (the scalar reference is the slow side).
template <typename Fn>
void ParallelFor(size_t n, Fn fn) {
  const unsigned T = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < T; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = t; i < n; i += T) fn(i);
    });
  }
  for (auto& th : pool) th.join();
}

// Host reference: out[i] = f(i).
template <typename Fn>
std::vector<float> HostMap(size_t n, Fn f) {
  std::vector<float> out(n);
  ParallelFor(n, [&](size_t i) { out[i] = f(i); });
  return out;
}

// Compares bit patterns, NaN included (elementwise results are bit-exact); prints the first
// few mismatches and the count. GEMMs use testing::ExpectSame (a NaN sum matches any NaN).
::testing::AssertionResult SameBits(const std::vector<float>& want, const std::vector<float>& got,
                                    const std::vector<float>& x, const std::vector<float>& y,
                                    const std::string& what) {
  size_t bad = 0;
  std::string first;
  for (size_t i = 0; i < want.size(); ++i) {
    if (B(want[i]) != B(got[i])) {
      if (bad < 3) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "\n  [%zu] x=%08x y=%08x: reference %08x, cuda %08x", i,
                      B(x[i]), i < y.size() ? B(y[i]) : 0u, B(want[i]), B(got[i]));
        first += buf;
      }
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": " << bad << " of " << want.size() << " results differ" << first;
}

std::vector<float> DeviceMul(const Arith& ar, const std::vector<float>& x,
                             const std::vector<float>& y) {
  DeviceBuffer<float> dx(x.size()), dy(y.size()), dz(x.size());
  dx.Upload(x);
  dy.Upload(y);
  const Status s = MulElementwise(ar, dx.get(), dy.get(), dz.get(), x.size());
  EXPECT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return dz.Download();
}

const char* kFormats[] = {"fp32", "bf16", "fp16", "e5m2", "e4m3", "e8m1", "e8m3", "e8m4", "e8m10"};

// The kernels tests' special values (zeros, subnormals, range edges, Inf, NaN with payloads,
// fp8/fp16 overflow and underflow) plus rounding ties and edges of the carrier forms here
// (bf16 rne overflow ties, the L-Mul constant, fp16's smallest normal and below), each with
// both signs.
std::vector<float> SpecialValues() {
  std::vector<float> v = testing::SpecialValues();
  for (float x : {1.75f, 3.0f, 0.1f, 480.0f, 1e-7f, 6e-8f, 0.015625f, 0.0019531f}) v.push_back(x);
  for (uint32_t r : {0x00400000u, 0x00800001u, 0x7F7F8000u, 0x7F7FC000u, 0x7FFFFFFFu, 0x3F818000u,
                     0x3F800001u, 0x3F780000u, 0x387FE000u, 0x38800000u, 0x33800000u}) {
    v.push_back(F(r));
  }
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) v.push_back(-v[i]);
  return v;
}

TEST(CudaReduce, MatchesSpecForEveryFormatAndRounding) {
  REQUIRE_DEVICE();
  std::vector<float> x = SpecialValues();
  for (uint32_t hi = 0; hi < 65536; ++hi) x.push_back(F(hi << 16));  // every bf16
  std::mt19937 rng(7);
  for (uint32_t hi = 0; hi < 65536; ++hi) x.push_back(F((hi << 16) | (rng() & 0xFFFFu)));
  for (int i = 0; i < (1 << 20); ++i) x.push_back(F(rng()));
  DeviceBuffer<float> dx(x.size()), dy(x.size());
  dx.Upload(x);
  for (const char* f : kFormats) {
    for (const char* r : {"rne", "trunc"}) {
      const Arith ar = *Arith::Parse(std::string("lmul/") + f + "," + r);
      ASSERT_TRUE(Reduce(ar, dx.get(), dy.get(), x.size()).ok());
      CUDA_OK(cudaDeviceSynchronize());
      const std::vector<float> want = HostMap(x.size(), [&](size_t i) { return ar.Reduce(x[i]); });
      EXPECT_TRUE(SameBits(want, dy.Download(), x, {}, ar.Name() + " Reduce"));
    }
  }
}

// All 256 x 256 code pairs of e4m3 and e5m2, every operation.
TEST(CudaMul, ExhaustiveFp8Pairs) {
  REQUIRE_DEVICE();
  for (const char* fmt : {"e4m3", "e5m2"}) {
    const Format f = *Format::Parse(fmt);
    std::vector<float> x, y;
    for (uint32_t a = 0; a < 256; ++a) {
      for (uint32_t b = 0; b < 256; ++b) {
        x.push_back(Decode(f, a));
        y.push_back(Decode(f, b));
      }
    }
    for (const char* op : {"lmul", "mitchell", "exact", "exact,wide", "lmul,rne"}) {
      std::string spec = std::string(op);
      const size_t comma = spec.find(',');
      spec = comma == std::string::npos ? spec + "/" + fmt
                                        : spec.substr(0, comma) + "/" + fmt + spec.substr(comma);
      const Arith ar = *Arith::Parse(spec);
      const std::vector<float> want =
          HostMap(x.size(), [&](size_t i) { return ar.Mul(x[i], y[i]); });
      EXPECT_TRUE(SameBits(want, DeviceMul(ar, x, y), x, y, ar.Name()));
    }
  }
}

// Every bf16 value against 512 partners (all sign/exponent classes), per operation.
TEST(CudaMul, EveryBf16ValueAgainstSampledPartners) {
  REQUIRE_DEVICE();
  std::mt19937 rng(11);
  std::vector<uint32_t> partners;
  for (uint32_t s : {0u, 0x8000u}) {
    for (uint32_t e : {0u, 1u, 2u, 64u, 100u, 126u, 127u, 128u, 150u, 200u, 253u, 254u, 255u}) {
      partners.push_back(s | (e << 7));
      partners.push_back(s | (e << 7) | 0x7Fu);
    }
  }
  while (partners.size() < 512) partners.push_back(rng() & 0xFFFFu);
  std::vector<float> x, y;
  x.reserve(65536 * partners.size());
  y.reserve(65536 * partners.size());
  for (uint32_t a = 0; a < 65536; ++a) {
    for (uint32_t b : partners) {
      x.push_back(F(a << 16));
      y.push_back(F(b << 16));
    }
  }
  for (const char* spec : {"lmul/bf16", "mitchell/bf16", "exact/bf16", "exact/bf16,wide"}) {
    const Arith ar = *Arith::Parse(spec);
    const std::vector<float> want = HostMap(x.size(), [&](size_t i) { return ar.Mul(x[i], y[i]); });
    EXPECT_TRUE(SameBits(want, DeviceMul(ar, x, y), x, y, ar.Name()));
  }
}

bool ExhaustiveRequested() {
  const char* e = std::getenv("LMUL_CUDA_EXHAUSTIVE");
  return e != nullptr && std::string(e) == "1";
}

// Every bf16 x bf16 pair (2^32), lmul and mitchell: opt-in (LMUL_CUDA_EXHAUSTIVE=1), as the
// host reference takes about a minute per operation on 16 cores.
TEST(CudaMul, AllBf16PairsExhaustive) {
  REQUIRE_DEVICE();
  if (!ExhaustiveRequested()) GTEST_SKIP() << "set LMUL_CUDA_EXHAUSTIVE=1 to run";
  constexpr uint32_t kRows = 256;  // values of x per chunk: 256 x 65536 pairs
  const size_t n = size_t{kRows} * 65536;
  std::vector<float> x(n), y(n);
  DeviceBuffer<float> dx(n), dy(n), dz(n);
  for (const char* spec : {"lmul/bf16", "mitchell/bf16"}) {
    const Arith ar = *Arith::Parse(spec);
    size_t bad = 0;
    for (uint32_t a0 = 0; a0 < 65536; a0 += kRows) {
      for (uint32_t r = 0; r < kRows; ++r) {
        for (uint32_t b = 0; b < 65536; ++b) {
          x[size_t{r} * 65536 + b] = F((a0 + r) << 16);
          y[size_t{r} * 65536 + b] = F(b << 16);
        }
      }
      dx.Upload(x);
      dy.Upload(y);
      ASSERT_TRUE(MulElementwise(ar, dx.get(), dy.get(), dz.get(), n).ok());
      CUDA_OK(cudaDeviceSynchronize());
      const std::vector<float> got = dz.Download();
      const std::vector<float> want = HostMap(n, [&](size_t i) { return ar.Mul(x[i], y[i]); });
      for (size_t i = 0; i < n; ++i) bad += B(want[i]) != B(got[i]);
      if (bad) {
        EXPECT_TRUE(SameBits(want, got, x, y, ar.Name() + " all bf16 pairs"));
        break;
      }
    }
    EXPECT_EQ(bad, 0u) << ar.Name();
    std::printf("%s: all 2^32 bf16 pairs bit-exact\n", ar.Name().c_str());
  }
}

// Random fp32 pairs (reduction included) and the special-value matrix, every format and op.
TEST(CudaMul, RandomAndSpecialPairsEveryFormat) {
  REQUIRE_DEVICE();
  const std::vector<float> sv = SpecialValues();
  std::vector<float> x, y;
  for (float a : sv) {
    for (float b : sv) {
      x.push_back(a);
      y.push_back(b);
    }
  }
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int i = 0; i < (1 << 19); ++i) {  // typical values, then any bit pattern
    x.push_back(nd(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20));
    y.push_back(nd(rng));
  }
  for (int i = 0; i < (1 << 19); ++i) {
    x.push_back(F(rng()));
    y.push_back(F(rng()));
  }
  for (const char* f : kFormats) {
    for (const char* op : {"lmul", "mitchell", "exact"}) {
      const Arith ar = *Arith::Parse(std::string(op) + "/" + f);
      const std::vector<float> want =
          HostMap(x.size(), [&](size_t i) { return ar.Mul(x[i], y[i]); });
      EXPECT_TRUE(SameBits(want, DeviceMul(ar, x, y), x, y, ar.Name()));
    }
  }
}

const char* AccumLabel(Accum a) {
  return a == Accum::kFp32 ? "fp32" : a == Accum::kBf16 ? "bf16" : "bf16dot";
}

struct GemmCase {
  int M, N, K;
};

// GEMM bit for bit against the canonical-order reference.
TEST(CudaGemm, MatchesCanonicalReference) {
  REQUIRE_DEVICE();
  const GemmCase cases[] = {{1, 1, 1},      {1, 300, 1000}, {7, 13, 5}, {64, 64, 16},
                            {65, 129, 33},  {130, 70, 257}, {3, 5, 0},  {200, 1, 64},
                            {96, 160, 100}, {33, 40, 48}};
  const char* ariths[] = {"lmul/bf16",  "lmul/fp32",     "lmul/e4m3",
                          "lmul/e5m2",  "mitchell/fp16", "lmul/e8m4",
                          "exact/fp32", "exact/e4m3",    "exact/bf16,wide"};
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  int checked = 0;
  size_t nan_outputs = 0;
  for (const GemmCase& g : cases) {
    for (bool b_trans : {false, true}) {
      // Strided operands: lda = K + 3, ldb = (K or N) + 5, ldc = N + 2.
      const int lda = g.K + 3, ldb = (b_trans ? g.K : g.N) + 5, ldc = g.N + 2;
      std::vector<float> a(static_cast<size_t>(g.M) * lda),
          b(static_cast<size_t>(b_trans ? g.N : g.K) * ldb);
      for (float& v : a) v = (rng() % 11 == 0) ? 0.0f : nd(rng);
      for (float& v : b) v = (rng() % 13 == 0) ? 0.0f : nd(rng) * 0.5f;
      if (!a.empty() && g.M == 65) a[5] = std::numeric_limits<float>::infinity();  // specials
      if (!b.empty() && g.M == 65) b[7] = std::numeric_limits<float>::quiet_NaN();
      if (g.M == 33) {  // every exponent: products overflow, underflow, and hit subnormals
        for (float& v : a) v = std::ldexp(nd(rng), static_cast<int>(rng() % 280) - 150);
        for (float& v : b) v = std::ldexp(nd(rng), static_cast<int>(rng() % 280) - 150);
      }
      DeviceBuffer<float> da(a.size()), db(b.size()), dc(static_cast<size_t>(g.M) * ldc);
      da.Upload(a);
      db.Upload(b);
      for (const char* spec : ariths) {
        const Arith ar = *Arith::Parse(spec);
        for (Accum accum : {Accum::kFp32, Accum::kBf16, Accum::kBf16Dot}) {
          std::vector<float> want(static_cast<size_t>(g.M) * ldc, F(0xDEADBEEFu));
          ReferenceGemm(ar, g.M, g.N, g.K, a.data(), lda, b.data(), ldb, b_trans, want.data(), ldc,
                        accum);
          dc.Upload(std::vector<float>(want.size(), F(0xDEADBEEFu)));  // padding: untouched
          const Status s =
              Gemm(ar, g.M, g.N, g.K, da.get(), lda, db.get(), ldb, b_trans, dc.get(), ldc, accum);
          ASSERT_TRUE(s.ok()) << s.error();
          CUDA_OK(cudaDeviceSynchronize());
          const std::vector<float> got = dc.Download();
          testing::ExpectSame(got, want, g.M, g.N, ldc,
                              ar.Name() + " " + AccumLabel(accum) + " M=" + std::to_string(g.M) +
                                  " N=" + std::to_string(g.N) + " K=" + std::to_string(g.K) +
                                  (b_trans ? " B^T" : " B"));
          for (size_t i = 0; i < want.size(); ++i) nan_outputs += std::isnan(want[i]);
          ++checked;
        }
      }
    }
  }
  std::printf("checked %d GEMMs bit for bit (%zu NaN outputs compared as NaN)\n", checked,
              nan_outputs);
  EXPECT_GT(nan_outputs, 0u);  // the special-value case did produce NaNs
}

// Large GEMMs (opt-in, LMUL_CUDA_EXHAUSTIVE=1): 512 x 384 x 1024 and an LLM shape, the
// reference computed row block by row block on every host core.
TEST(CudaGemm, LargeShapesMatchReference) {
  REQUIRE_DEVICE();
  if (!ExhaustiveRequested()) GTEST_SKIP() << "set LMUL_CUDA_EXHAUSTIVE=1 to run";
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const GemmCase g : {GemmCase{512, 384, 1024}, GemmCase{300, 1536, 576}}) {
    std::vector<float> a(static_cast<size_t>(g.M) * g.K), b(static_cast<size_t>(g.K) * g.N);
    for (float& v : a) v = nd(rng);
    for (float& v : b) v = nd(rng);
    DeviceBuffer<float> da(a.size()), db(b.size()), dc(static_cast<size_t>(g.M) * g.N);
    da.Upload(a);
    db.Upload(b);
    for (const char* spec : {"lmul/bf16", "lmul/e4m3", "lmul/fp16", "exact/fp32"}) {
      const Arith ar = *Arith::Parse(spec);
      for (Accum accum : {Accum::kFp32, Accum::kBf16Dot}) {
        std::vector<float> want(static_cast<size_t>(g.M) * g.N);
        ParallelFor(g.M, [&](size_t i) {  // one row per call: rows are independent
          ReferenceGemm(ar, 1, g.N, g.K, a.data() + i * g.K, g.K, b.data(), g.N, false,
                        want.data() + i * g.N, g.N, accum);
        });
        ASSERT_TRUE(
            Gemm(ar, g.M, g.N, g.K, da.get(), g.K, db.get(), g.N, false, dc.get(), g.N, accum)
                .ok());
        CUDA_OK(cudaDeviceSynchronize());
        testing::ExpectSame(dc.Download(), want, g.M, g.N, g.N,
                            ar.Name() + " " + AccumLabel(accum) + " " + std::to_string(g.M) + "x" +
                                std::to_string(g.N) + "x" + std::to_string(g.K));
      }
    }
  }
}

TEST(CudaGemm, RejectsBadArguments) {
  const Arith ar = *Arith::Parse("lmul/bf16");
  float* p = reinterpret_cast<float*>(16);  // never dereferenced: the checks come first
  EXPECT_FALSE(Gemm(ar, -1, 4, 4, p, 4, p, 4, false, p, 4).ok());
  EXPECT_FALSE(Gemm(ar, 4, 4, 8, p, 7, p, 4, false, p, 4).ok());  // lda < K
  EXPECT_FALSE(Gemm(ar, 4, 4, 8, p, 8, p, 3, false, p, 4).ok());  // ldb < N
  EXPECT_FALSE(Gemm(ar, 4, 4, 8, p, 8, p, 7, true, p, 4).ok());   // ldb < K (B^T)
  EXPECT_FALSE(Gemm(ar, 4, 4, 8, p, 8, p, 4, false, p, 3).ok());  // ldc < N
  EXPECT_FALSE(Gemm(ar, 4, 4, 8, nullptr, 8, p, 4, false, p, 4).ok());
  const Status s = Gemm(ar, 4, 4, 8, p, 7, p, 4, false, p, 4);
  EXPECT_NE(s.error().find("lda 7 < K"), std::string::npos) << s.error();
  EXPECT_TRUE(Gemm(ar, 0, 4, 8, nullptr, 8, nullptr, 4, false, nullptr, 4).ok());  // empty
}

}  // namespace
}  // namespace lmul::kernels::cuda
