// Dequantization of the tensor types Gemma 3 270M adds (Q5_0; Q5_1 alongside) against
// PyPI gguf 0.19.0, goldens by scripts/make_gemma3_goldens.py (tests/testdata/engine/):
//   - q5_blocks.txt: random Q5_0 / Q5_1 blocks and gguf's values, bit for bit;
//   - gemma3_dequant.txt (needs LMUL_GEMMA3 = scripts/fetch_gemma3.sh's path; skipped
//     without): sha256 of whole dequantized tensors of every type in the real file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/io/dequant.h"
#include "engine/io/gguf.h"
#include "engine/io/gguf_builder.h"
#include "engine/io/sha256.h"
#include "engine/io/testing/tensor_goldens.h"

namespace lmul::engine {
namespace {

const std::string kTestdata = LMUL_TESTDATA_DIR "/engine";

using testing_goldens::Bits;

TEST(DequantQ5Test, RandomBlocksMatchGgufPython) {
  std::ifstream in(kTestdata + "/q5_blocks.txt");
  ASSERT_TRUE(in) << "missing q5_blocks.txt";
  // Collect all blocks of a type into one tensor (rows of one block), then compare.
  std::map<std::string, std::vector<uint8_t>> raw;
  std::map<std::string, std::vector<uint32_t>> want;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string type, hex;
    ss >> type >> hex;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      raw[type].push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
    }
    for (int j = 0; j < 32; ++j) {
      std::string v;
      ss >> v;
      want[type].push_back(static_cast<uint32_t>(std::stoul(v, nullptr, 16)));
    }
  }
  ASSERT_EQ(raw.size(), 2u);
  GgufBuilder b;
  b.AddTensor("q5_0", GgmlType::kQ5_0, {32, static_cast<int64_t>(want["Q5_0"].size() / 32)},
              raw["Q5_0"]);
  b.AddTensor("q5_1", GgmlType::kQ5_1, {32, static_cast<int64_t>(want["Q5_1"].size() / 32)},
              raw["Q5_1"]);
  const std::string path =
      ::testing::TempDir() + "/q5_blocks_" + std::to_string(getpid()) + ".gguf";
  ASSERT_TRUE(b.WriteFile(path).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error();
  for (const auto& [name, type] : {std::pair{"q5_0", "Q5_0"}, std::pair{"q5_1", "Q5_1"}}) {
    const GgufTensor* t = (*f)->FindTensor(name);
    ASSERT_NE(t, nullptr);
    EXPECT_TRUE(CanDequantize(t->type));
    auto got = DequantizeTensor(*t);
    ASSERT_TRUE(got.ok()) << got.error();
    ASSERT_EQ(got->size(), want[type].size());
    int mismatches = 0;
    for (size_t i = 0; i < got->size(); ++i) {
      if (Bits((*got)[i]) != want[type][i] && mismatches++ < 5) {
        ADD_FAILURE() << name << "[" << i << "]: " << (*got)[i];
      }
    }
    EXPECT_EQ(mismatches, 0) << name;
    std::printf("%s: %zu values bit-exact with gguf\n", type, got->size());
  }
}

TEST(DequantQ5Test, Gemma3TensorsMatchGgufPython) {
  const char* model = std::getenv("LMUL_GEMMA3");
  if (model == nullptr || *model == '\0')
    GTEST_SKIP() << "LMUL_GEMMA3 not set (scripts/fetch_gemma3.sh prints the path)";
  auto f = GgufFile::Open(model);
  ASSERT_TRUE(f.ok()) << f.error();
  const std::set<std::string> types =
      testing_goldens::CheckTensorShaGoldens(**f, kTestdata + "/gemma3_dequant.txt").types;
  // F32 Q8_0 Q5_0 Q4_K Q6_K: every type in the file.
  EXPECT_EQ(types.size(), 5u);
  // Every tensor of the file dequantizes (types supported, no error).
  for (const GgufTensor& t : (*f)->tensors()) EXPECT_TRUE(CanDequantize(t.type)) << t.name;
}

}  // namespace
}  // namespace lmul::engine
