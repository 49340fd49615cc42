#include "engine/tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/tokenizer/unicode.h"

namespace lmul::engine {
namespace {

// The words of `text` (valid UTF-8) under pre-tokenizer p.
std::vector<std::string> Split(PreTokenizer p, std::string_view text) {
  std::vector<uint32_t> cps;
  unicode::DecodeUtf8Lenient(text, &cps);
  std::vector<uint32_t> lengths;
  PreTokenize(p, cps, &lengths);
  std::vector<std::string> words;
  size_t pos = 0;
  for (uint32_t n : lengths) {
    EXPECT_GT(n, 0u);
    std::string w;
    for (size_t i = pos; i < pos + n; ++i) unicode::AppendUtf8(cps[i], &w);
    words.push_back(w);
    pos += n;
  }
  EXPECT_EQ(pos, cps.size());
  return words;
}

using W = std::vector<std::string>;
constexpr auto kGpt2 = PreTokenizer::kGpt2;
constexpr auto kSmollm = PreTokenizer::kSmollm;
constexpr auto kLlama3 = PreTokenizer::kLlama3;

TEST(PreTokenizerTest, Gpt2Words) {
  EXPECT_EQ(Split(kGpt2, ""), W{});
  EXPECT_EQ(Split(kGpt2, "Hello world"), (W{"Hello", " world"}));
  EXPECT_EQ(Split(kGpt2, " Hello"), (W{" Hello"}));
  EXPECT_EQ(Split(kGpt2, "Grüße, мир!"), (W{"Grüße", ",", " мир", "!"}));
  EXPECT_EQ(Split(kGpt2, "abc123 456"), (W{"abc", "123", " 456"}));
  EXPECT_EQ(Split(kGpt2, "a+=b;"), (W{"a", "+=", "b", ";"}));
  EXPECT_EQ(Split(kGpt2, "x ... y"), (W{"x", " ...", " y"}));
}

TEST(PreTokenizerTest, Gpt2Whitespace) {
  // \s+(?!\S): a run of spaces leaves its last space to the next word.
  EXPECT_EQ(Split(kGpt2, "a  b"), (W{"a", " ", " b"}));
  EXPECT_EQ(Split(kGpt2, "a    b"), (W{"a", "   ", " b"}));
  EXPECT_EQ(Split(kGpt2, "end   "), (W{"end", "   "}));
  EXPECT_EQ(Split(kGpt2, "   "), (W{"   "}));
  EXPECT_EQ(Split(kGpt2, "hello\n\nworld"), (W{"hello", "\n", "\n", "world"}));
  EXPECT_EQ(Split(kGpt2, "a\t b"), (W{"a", "\t", " b"}));
  EXPECT_EQ(Split(kGpt2, "a \nb"), (W{"a", " ", "\n", "b"}));
  EXPECT_EQ(Split(kGpt2, "\xC2\xA0x"), (W{"\xC2\xA0", "x"}));  // NBSP is \s but not ' '
}

TEST(PreTokenizerTest, Gpt2Contractions) {
  EXPECT_EQ(Split(kGpt2, "I'm you're it's we'd they'll I've don't"),
            (W{"I", "'m", " you", "'re", " it", "'s", " we", "'d", " they", "'ll", " I", "'ve",
               " don", "'t"}));
  EXPECT_EQ(Split(kGpt2, "I'M"), (W{"I", "'", "M"}));  // case-sensitive
  EXPECT_EQ(Split(kGpt2, "'x"), (W{"'", "x"}));
  EXPECT_EQ(Split(kGpt2, "''s"), (W{"''", "s"}));  // [^\s\p{L}\p{N}]+ wins at the first quote
}

TEST(PreTokenizerTest, Gpt2MarksAndOtherCodepoints) {
  // A combining mark is neither letter nor number: it starts a punctuation-class word.
  EXPECT_EQ(Split(kGpt2, "e\xCC\x81t"), (W{"e", "\xCC\x81", "t"}));
  // Emoji and ZWJ (Cf) are all [^\s\p{L}\p{N}].
  EXPECT_EQ(Split(kGpt2, " \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9"),
            (W{" \xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9"}));
  EXPECT_EQ(Split(kGpt2, "\x01\x02"), (W{"\x01\x02"}));
}

TEST(PreTokenizerTest, SmollmSplitsEveryDigit) {
  EXPECT_EQ(Split(kSmollm, "12345"), (W{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(Split(kSmollm, "a 1 b 22"), (W{"a", " ", "1", " b", " ", "2", "2"}));
  EXPECT_EQ(Split(kSmollm, "x1y"), (W{"x", "1", "y"}));
  EXPECT_EQ(Split(kSmollm, "3.14"), (W{"3", ".", "1", "4"}));
  // Any \p{N}: Arabic-Indic digits, roman numerals, fractions.
  EXPECT_EQ(Split(kSmollm, "\xD9\xA3\xD9\xA4"), (W{"\xD9\xA3", "\xD9\xA4"}));
  EXPECT_EQ(Split(kSmollm, "\xC2\xBD!"), (W{"\xC2\xBD", "!"}));
  // Without digits it is GPT-2.
  EXPECT_EQ(Split(kSmollm, "Hello  world's"), (W{"Hello", " ", " world", "'s"}));
  // Digit boundaries also end whitespace runs: "  1" -> "  ", "1" (no (?!\S) look-ahead).
  EXPECT_EQ(Split(kSmollm, "a  1"), (W{"a", "  ", "1"}));
}

TEST(PreTokenizerTest, Llama3) {
  EXPECT_EQ(Split(kLlama3, "Hello World's"), (W{"Hello", " World", "'s"}));
  EXPECT_EQ(Split(kLlama3, "I'M"), (W{"I", "'M"}));  // case-insensitive
  EXPECT_EQ(Split(kLlama3, "1234567"), (W{"123", "456", "7"}));
  EXPECT_EQ(Split(kLlama3, "a\n\nb"), (W{"a", "\n\n", "b"}));
  EXPECT_EQ(Split(kLlama3, "(hello)"), (W{"(hello", ")"}));
  EXPECT_EQ(Split(kLlama3, "x  \n y"), (W{"x", "  \n", " y"}));
  EXPECT_EQ(Split(kLlama3, "!!\n\nok"), (W{"!!\n\n", "ok"}));
}

TEST(PreTokenizerTest, Names) {
  EXPECT_EQ(*PreTokenizerFromName("smollm"), kSmollm);
  EXPECT_EQ(*PreTokenizerFromName("starcoder"), kSmollm);
  EXPECT_EQ(*PreTokenizerFromName("gpt2"), kGpt2);
  EXPECT_EQ(*PreTokenizerFromName("llama-bpe"), kLlama3);
  auto bad = PreTokenizerFromName("qwen2");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("'qwen2'"), std::string::npos) << bad.error();
}

}  // namespace
}  // namespace lmul::engine
