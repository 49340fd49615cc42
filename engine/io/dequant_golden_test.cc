// Dequantization against PyPI gguf 0.19.0 (llama.cpp's Python package), goldens made
// by scripts/make_engine_goldens.py (tests/testdata/engine/README.md):
//   - dequant_types.gguf: random blocks of F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K Q5_K Q6_K, each
//     with "<name>.expected" holding gguf's dequantization: must match bit for bit.
//   - smollm2_dequant.txt (model test, needs LMUL_MODEL): sha256 of whole dequantized
//     tensors of the real model and sample values.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "engine/io/dequant.h"
#include "engine/io/gguf.h"
#include "engine/io/sha256.h"
#include "engine/io/testing/tensor_goldens.h"

namespace lmul::engine {
namespace {

const std::string kTestdata = LMUL_TESTDATA_DIR "/engine";

using testing_goldens::Bits;

TEST(Sha256Test, KnownVectors) {
  Sha256 a;
  EXPECT_EQ(a.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 b;
  b.Update("abc", 3);
  EXPECT_EQ(b.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 c;
  const std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  c.Update(m.data(), 10);
  c.Update(m.data() + 10, m.size() - 10);
  EXPECT_EQ(c.HexDigest(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(DequantGoldenTest, EveryTypeMatchesGgufPython) {
  auto f = GgufFile::Open(kTestdata + "/dequant_types.gguf");
  ASSERT_TRUE(f.ok()) << f.error();
  int checked = 0;
  for (const GgufTensor& t : (*f)->tensors()) {
    if (t.name.find(".expected") != std::string::npos) continue;
    const GgufTensor* want = (*f)->FindTensor(t.name + ".expected");
    ASSERT_NE(want, nullptr) << t.name;
    auto got = DequantizeTensor(t);
    ASSERT_TRUE(got.ok()) << got.error();
    auto exp = DequantizeTensor(*want);
    ASSERT_TRUE(exp.ok());
    ASSERT_EQ(got->size(), exp->size()) << t.name;
    int mismatches = 0;
    for (size_t i = 0; i < got->size(); ++i) {
      if (Bits((*got)[i]) != Bits((*exp)[i]) && mismatches++ < 5) {
        ADD_FAILURE() << t.name << "[" << i << "]: " << (*got)[i] << " vs gguf " << (*exp)[i];
      }
    }
    EXPECT_EQ(mismatches, 0) << t.name;
    std::printf("%-5s %zu values bit-exact with gguf\n", GgmlTypeName(t.type), got->size());
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

TEST(DequantGoldenTest, RealModelTensorsMatchGgufPython) {
  const char* model = std::getenv("LMUL_MODEL");
  if (model == nullptr || *model == '\0')
    GTEST_SKIP() << "LMUL_MODEL not set (scripts/fetch_model.sh prints it)";
  auto f = GgufFile::Open(model);
  ASSERT_TRUE(f.ok()) << f.error();
  const testing_goldens::GoldenSummary checked =
      testing_goldens::CheckTensorShaGoldens(**f, kTestdata + "/smollm2_dequant.txt");
  EXPECT_GE(checked.tensors, 5);
}

}  // namespace
}  // namespace lmul::engine
