// Test-only: the real-model dequantization goldens shared by the dequant tests
// (tests/testdata/engine/{smollm2,gemma3}_dequant.txt, scripts/make_engine_goldens.py and
// scripts/make_gemma3_goldens.py). One line per tensor:
//   name type n_elements sha256(fp32 bytes of gguf's dequantization) 8 hex bit patterns of
//   the first row's first values, then 8 of the last row's
#ifndef LMUL_ENGINE_IO_TESTING_TENSOR_GOLDENS_H_
#define LMUL_ENGINE_IO_TESTING_TENSOR_GOLDENS_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "engine/io/dequant.h"
#include "engine/io/gguf.h"
#include "engine/io/sha256.h"
#include "numeric/bits.h"

namespace lmul::engine::testing_goldens {

inline uint32_t Bits(float f) { return FloatBits(f); }

struct GoldenSummary {
  int tensors = 0;              // lines checked
  std::set<std::string> types;  // their type names
};

// Checks every tensor listed in golden_path against f (gtest failures); returns what was
// checked (nothing if the file could not be read, which fails the test).
inline GoldenSummary CheckTensorShaGoldens(const GgufFile& f, const std::string& golden_path) {
  GoldenSummary out;
  std::ifstream in(golden_path);
  EXPECT_TRUE(in) << "missing " << golden_path;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string name, type, sha;
    int64_t n = 0;
    ss >> name >> type >> n >> sha;
    const GgufTensor* t = f.FindTensor(name);
    EXPECT_NE(t, nullptr) << name;
    if (t == nullptr) continue;
    EXPECT_EQ(GgmlTypeName(t->type), type);
    EXPECT_EQ(t->n_elements, n) << name;
    if (t->n_elements != n) continue;
    auto v = DequantizeTensor(*t);
    EXPECT_TRUE(v.ok()) << v.error();
    if (!v.ok()) continue;
    Sha256 h;
    h.Update(v->data(), v->size() * sizeof(float));
    EXPECT_EQ(h.HexDigest(), sha) << name;
    const size_t row = static_cast<size_t>(t->row_length());
    for (int part = 0; part < 2; ++part) {
      const size_t base = part == 0 ? 0 : v->size() - row;
      for (int i = 0; i < 8; ++i) {
        std::string hex;
        ss >> hex;
        EXPECT_EQ(Bits((*v)[base + i]), std::stoul(hex, nullptr, 16)) << name << " " << base + i;
      }
    }
    out.types.insert(type);
    ++out.tensors;
  }
  return out;
}

}  // namespace lmul::engine::testing_goldens

#endif  // LMUL_ENGINE_IO_TESTING_TENSOR_GOLDENS_H_
