// The tokenizer against llama.cpp's, on the default model (SmolLM2-135M-Instruct): goldens
// from scripts/make_tokenizer_goldens.py (tests/testdata/tokenizer/smollm2_goldens.json).
// Needs LMUL_MODEL (skipped otherwise); the WikiText-2 case also needs the data directory
// ($LMUL_DATA, default <repo>/../shared/data).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/io/gguf.h"
#include "engine/io/sha256.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/unicode.h"

namespace lmul::engine {
namespace {

using Ids = std::vector<int32_t>;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string ToHex(const std::string& s) {
  std::string out;
  char buf[3];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::string IdsSha256(const int32_t* ids, size_t n) {
  Sha256 h;
  for (size_t i = 0; i < n; ++i) {  // int32 little endian, as the script packs them
    const uint32_t v = static_cast<uint32_t>(ids[i]);
    const uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
                          static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
    h.Update(b, 4);
  }
  return h.HexDigest();
}

std::string Show(const Ids& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(ids[i]);
  }
  s += ']';
  return s;
}

class TokenizerGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* model = std::getenv("LMUL_MODEL");
    if (model == nullptr || *model == '\0') return;
    auto g = GgufFile::Open(model);
    ASSERT_TRUE(g.ok()) << g.error();
    gguf_ = std::move(g).value().release();
    auto t = Tokenizer::FromGguf(*gguf_);
    ASSERT_TRUE(t.ok()) << t.error();
    tok_ = std::move(t).value().release();
    golden_ = new nlohmann::json(nlohmann::json::parse(
        ReadFile(std::string(LMUL_TESTDATA_DIR) + "/tokenizer/smollm2_goldens.json")));
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete gguf_;
    delete golden_;
    tok_ = nullptr;
    gguf_ = nullptr;
    golden_ = nullptr;
  }
  void SetUp() override {
    if (tok_ == nullptr) GTEST_SKIP() << "LMUL_MODEL is not set (scripts/fetch_model.sh prints it)";
  }
  static inline GgufFile* gguf_ = nullptr;
  static inline Tokenizer* tok_ = nullptr;
  static inline nlohmann::json* golden_ = nullptr;
};

TEST_F(TokenizerGoldenTest, ModelMetadata) {
  EXPECT_EQ(tok_->n_vocab(), 49152);
  EXPECT_EQ(tok_->bos(), 1);
  EXPECT_EQ(tok_->eos(), 2);
  EXPECT_FALSE(tok_->add_bos_default());
  EXPECT_EQ(tok_->pre_tokenizer(), PreTokenizer::kSmollm);
  EXPECT_TRUE(tok_->IsEndOfGeneration(2));  // <|im_end|>
  EXPECT_TRUE(tok_->IsEndOfGeneration(0));  // <|endoftext|>
  EXPECT_EQ(tok_->TokenPiece(2), "<|im_end|>");
}

TEST_F(TokenizerGoldenTest, IdenticalIdsForEveryGolden) {
  int n_cases = 0, n_roundtrip = 0;
  for (const auto& c : (*golden_)["cases"]) {
    const std::string name = c["name"];
    const std::string text = FromHex(c["text_hex"]);
    const bool special = c["parse_special"];
    const Ids expected = c["ids"].get<Ids>();
    const Ids got = tok_->Encode(text, /*add_bos=*/false, special);
    EXPECT_EQ(got, expected) << name << ": text " << c["text"].dump() << "\n  llama.cpp "
                             << Show(expected) << "\n  lmul      " << Show(got);
    EXPECT_EQ(ToHex(tok_->Decode(expected)), c["decoded_hex"].get<std::string>()) << name;
    if (unicode::IsValidUtf8(text)) {
      EXPECT_EQ(tok_->Decode(got), text) << name << ": Decode(Encode(x)) != x";
      ++n_roundtrip;
    }
    ++n_cases;
  }
  EXPECT_GE(n_cases, 200);
  std::printf("%d golden cases compared, %d round trips checked\n", n_cases, n_roundtrip);
}

// The other pre-tokenizers: the same vocabulary with tokenizer.ggml.pre replaced, against
// llama.cpp on a copy of the GGUF with that key changed.
TEST_F(TokenizerGoldenTest, OtherPreTokenizersMatchLlamaCpp) {
  int n_variants = 0;
  for (const auto& v : (*golden_)["pre_variants"]) {
    auto spec = Tokenizer::SpecFromGguf(*gguf_);
    ASSERT_TRUE(spec.ok()) << spec.error();
    spec->pre = v["pre"].get<std::string>();
    auto tok = Tokenizer::FromSpec(std::move(spec).value());
    ASSERT_TRUE(tok.ok()) << tok.error();
    int n = 0;
    for (const auto& c : (*golden_)["cases"]) {
      const std::string name = c["name"];
      const Ids expected = v["ids"][name].get<Ids>();
      const Ids got = (*tok)->Encode(FromHex(c["text_hex"]), false, c["parse_special"]);
      EXPECT_EQ(got, expected) << "pre " << v["pre"] << ", " << name << ": text "
                               << c["text"].dump() << "\n  llama.cpp " << Show(expected)
                               << "\n  lmul      " << Show(got);
      ++n;
    }
    std::printf("pre %s: %d cases compared\n", v["pre"].get<std::string>().c_str(), n);
    ++n_variants;
  }
  EXPECT_EQ(n_variants, 2);
}

TEST_F(TokenizerGoldenTest, BosIsPrependedOnRequest) {
  EXPECT_EQ(tok_->Encode("Hello", true, false), (Ids{1, 19556}));
}

TEST_F(TokenizerGoldenTest, ChatTemplateMatchesJinjaRendering) {
  for (const auto& c : (*golden_)["chat"]) {
    const std::string msg = c["user_message"];
    const std::string rendered = c["rendered"];
    EXPECT_EQ(tok_->ApplyChatTemplate(msg), rendered);
    EXPECT_EQ(tok_->Encode(rendered, false, true), c["ids"].get<Ids>()) << msg;
  }
}

// The whole WikiText-2 test file (1.3 MB) as one text, as perplexity evaluation tokenizes it:
// identical to llama.cpp (sha256 of the ids). The time is printed, not asserted.
TEST_F(TokenizerGoldenTest, WholeWikiText2MatchesLlamaCpp) {
  const char* dir = std::getenv("LMUL_DATA");
  const std::string path = std::string(dir != nullptr && *dir ? dir : LMUL_DEFAULT_DATA_DIR) +
                           "/wikitext-2-raw/wiki.test.raw";
  const std::string text = ReadFile(path);
  if (text.empty()) GTEST_SKIP() << path << " not found (set LMUL_DATA)";
  const auto& w = (*golden_)["wikitext_full"];
  auto t0 = std::chrono::steady_clock::now();
  // A fresh tokenizer, so that the word cache starts empty.
  auto fresh = Tokenizer::FromGguf(*gguf_);
  ASSERT_TRUE(fresh.ok());
  auto t1 = std::chrono::steady_clock::now();
  const Ids ids = (*fresh)->Encode(text, false, false);
  auto t2 = std::chrono::steady_clock::now();
  const Ids again = (*fresh)->Encode(text, false, false);
  auto t3 = std::chrono::steady_clock::now();
  auto sec = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::printf(
      "WikiText-2 test: %zu bytes -> %zu tokens; build %.3f s, encode %.3f s (%.2f MB/s), "
      "again with warm cache %.3f s\n",
      text.size(), ids.size(), sec(t0, t1), sec(t1, t2), text.size() / 1e6 / sec(t1, t2),
      sec(t2, t3));
  EXPECT_EQ(again, ids);
  EXPECT_EQ(static_cast<int64_t>(ids.size()), w["n_tokens"].get<int64_t>());
  const Ids first = w["first_ids"].get<Ids>();
  ASSERT_GE(ids.size(), first.size());
  EXPECT_EQ(Ids(ids.begin(), ids.begin() + first.size()), first);
  const std::string sha = IdsSha256(ids.data(), ids.size());
  EXPECT_EQ(sha, w["ids_sha256"].get<std::string>());
  if (sha != w["ids_sha256"].get<std::string>()) {
    const size_t block = w["block"];
    const auto& blocks = w["block_sha256"];
    for (size_t b = 0; b < blocks.size() && b * block < ids.size(); ++b) {
      const size_t n = std::min(block, ids.size() - b * block);
      if (IdsSha256(ids.data() + b * block, n) != blocks[b].get<std::string>()) {
        ADD_FAILURE() << "first differing block of " << block << " ids: #" << b << " (ids "
                      << b * block << ".." << b * block + n << ")";
        break;
      }
    }
  }
  EXPECT_EQ(tok_->Decode(ids), text);
}

}  // namespace
}  // namespace lmul::engine
