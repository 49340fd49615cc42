// PyRandom: CPython's random.Random (MT19937, seeded by init_by_array from the seed's
// 32-bit words, as random.seed(int) does), for the methods lm-evaluation-harness's few-shot
// sampler calls: getrandbits, _randbelow (rejection on getrandbits(n.bit_length())) and
// sample(population, k) (both of CPython 3.11's branches: the shrinking pool for small
// populations, the rejection set otherwise). Checked against Python's own output in
// eval_test.cc (PyRandomTest). lm-eval: ContextSampler(rnd=1234).sample(docs, k).
#ifndef LMUL_EVAL_PY_RANDOM_H_
#define LMUL_EVAL_PY_RANDOM_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lmul::eval {

class PyRandom {
 public:
  explicit PyRandom(uint64_t seed);  // random.Random(seed), seed >= 0
  uint32_t GenRand32();              // genrand_uint32
  uint64_t GetRandBits(int k);       // random.getrandbits(k), 1 <= k <= 64
  uint64_t RandBelow(uint64_t n);    // random._randbelow(n), n >= 1
  // Indices of random.sample(range(n), k) (0 <= k <= n), in the order Python returns them.
  std::vector<size_t> Sample(size_t n, size_t k);

 private:
  std::array<uint32_t, 624> mt_{};
  int mti_ = 625;
};

}  // namespace lmul::eval

#endif  // LMUL_EVAL_PY_RANDOM_H_
