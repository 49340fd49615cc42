// SpmTokenizer (engine/tokenizer/spm.h): a hand-made vocabulary (unit), and Gemma 3's real
// vocabulary against Google's sentencepiece (tests/testdata/engine/gemma3_tokens.txt, made by
// scripts/make_gemma3_tokenizer_goldens.py; needs LMUL_GEMMA3, skipped when unset).
#include "engine/tokenizer/spm.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/tokenizer/tokenizer.h"

namespace lmul::engine {
namespace {

std::unique_ptr<SpmTokenizer> Tiny(bool space_prefix) {
  // ids: 0 <bos> (control), 1..256 bytes, then pieces.
  std::vector<std::string> tok = {"<bos>"};
  std::vector<float> sc = {0};
  std::vector<int32_t> ty = {3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tok.push_back(buf);
    sc.push_back(0);
    ty.push_back(6);
  }
  const std::pair<const char*, float> pieces[] = {{"a", -1},
                                                  {"b", -2},
                                                  {"c", -3},
                                                  {"\xE2\x96\x81", -4},
                                                  {"ab", -5},
                                                  {"bc", -1},
                                                  {"abc", -6},
                                                  {"\xE2\x96\x81"
                                                   "a",
                                                   -7},
                                                  {"\n", -100}};
  for (const auto& [p, s] : pieces) {
    tok.push_back(p);
    sc.push_back(s);
    ty.push_back(std::string(p) == "\n" ? 4 : 1);
  }
  auto t = SpmTokenizer::FromVocab(tok, sc, ty, 0, space_prefix);
  EXPECT_TRUE(t.ok()) << t.error();
  return std::move(*t);
}

TEST(SpmTokenizerTest, MergesByScoreAndFallsBackToBytes) {
  auto t = Tiny(false);
  const int a = 257, c = 259, sp = 260, ab = 261, bc = 262, abc = 263, spa = 264, nl = 265;
  // "abc": bc (-1) beats ab (-5), then a + bc = abc (-6) merges.
  EXPECT_EQ(t->Encode("abc", false), (std::vector<int32_t>{abc}));
  // "bca": bc, then bc + a is no piece.
  EXPECT_EQ(t->Encode("bca", false), (std::vector<int32_t>{bc, a}));
  // " ab" = "▁ab": ab (-5) beats ▁a (-7); ▁ + ab is no piece. "x": byte 0x78 = id 1 + 0x78.
  EXPECT_EQ(t->Encode(" ab", false), (std::vector<int32_t>{sp, ab}));
  EXPECT_EQ(t->Encode(" a", false), (std::vector<int32_t>{spa}));
  EXPECT_EQ(t->Encode("x", true), (std::vector<int32_t>{0, 1 + 0x78}));
  // User-defined "\n" is cut out first; the space before it is its own symbol.
  EXPECT_EQ(t->Encode("c \nc", false), (std::vector<int32_t>{c, sp, nl, c}));
  EXPECT_EQ(t->Decode(t->Encode("c \nc x", false)), "c \nc x");
  // Space prefix.
  EXPECT_EQ(Tiny(true)->Encode("a", false), (std::vector<int32_t>{spa}));
  EXPECT_TRUE(t->Encode("", false).empty());
}

TEST(SpmTokenizerTest, RejectsBadVocabulary) {
  EXPECT_FALSE(SpmTokenizer::FromVocab({"a"}, {0}, {1}, -1, false).ok());  // no byte tokens
  EXPECT_FALSE(SpmTokenizer::FromVocab({"a"}, {0, 1}, {1}, -1, false).ok());
}

TEST(SpmTokenizerTest, Gemma3MatchesSentencepiece) {
  const char* path = std::getenv("LMUL_GEMMA3");
  if (path == nullptr || *path == '\0') {
    GTEST_SKIP() << "LMUL_GEMMA3 not set (scripts/fetch_gemma3.sh prints the path)";
  }
  auto g = GgufFile::Open(path);
  ASSERT_TRUE(g.ok()) << g.error();
  auto t = SpmTokenizer::FromGguf(**g);
  ASSERT_TRUE(t.ok()) << t.error();
  // The same through the engine's Tokenizer (special tokens cut out llama.cpp's way).
  auto full = Tokenizer::FromGguf(**g);
  ASSERT_TRUE(full.ok()) << full.error();
  EXPECT_EQ((*full)->n_vocab(), 262144);
  EXPECT_TRUE((*full)->add_bos_default());
  EXPECT_EQ((*full)->bos(), 2);
  const std::vector<int32_t> turn = (*full)->Encode("<start_of_turn>user\nHi", true, true);
  ASSERT_EQ(turn.size(), 5u);
  EXPECT_EQ(turn[0], 2);
  EXPECT_EQ((*full)->TokenText(turn[1]), "<start_of_turn>");
  EXPECT_EQ((*full)->TokenText(turn[3]), "\n");
  EXPECT_TRUE((*full)->IsEndOfGeneration(106));  // <end_of_turn>
  EXPECT_EQ((*full)->TokenText(106), "<end_of_turn>");
  std::ifstream in(LMUL_TESTDATA_DIR "/engine/gemma3_tokens.txt");
  ASSERT_TRUE(in) << "missing gemma3_tokens.txt";
  std::string line, text;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    std::string kind;
    ss >> kind;
    if (kind == "text") {
      std::string hex;
      ss >> hex;
      text.clear();
      for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        text += static_cast<char>(std::stoul(hex.substr(i, 2), nullptr, 16));
      }
    } else if (kind == "ids") {
      int n;
      ss >> n;
      std::vector<int32_t> want;
      int32_t x;
      while (ss >> x) want.push_back(x);
      ASSERT_EQ(static_cast<int>(want.size()), n);
      EXPECT_EQ((*t)->Encode(text, false), want) << "text: " << text;
      EXPECT_EQ((*t)->Decode(want), text);
      EXPECT_EQ((*full)->Encode(text, false, false), want) << "Tokenizer, text: " << text;
      EXPECT_EQ((*full)->Decode(want), text);
      ++checked;
    }
  }
  EXPECT_GE(checked, 14);
}

}  // namespace
}  // namespace lmul::engine
