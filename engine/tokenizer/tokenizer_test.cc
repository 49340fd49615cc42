// Unit tests of the BPE tokenizer on hand-built vocabularies (no model needed).
#include "engine/tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/io/gguf_builder.h"
#include "engine/tokenizer/unicode.h"

namespace lmul::engine {
namespace {

using unicode::BytesToByteLevel;
using Ids = std::vector<int32_t>;

// Vocabulary: 0 "<|end|>" (control), 1 "<|user|>" (user-defined), 2 "<|end|>!" (control),
// 3..258 the 256 byte-level characters in byte order, then `extra` tokens (written as raw
// bytes; stored byte-level). Merges are raw "left right" pairs, converted the same way.
struct TinyVocab {
  TokenizerSpec spec;
  std::vector<std::string> raw;  // raw bytes of each token (specials verbatim)
  explicit TinyVocab(const std::vector<std::string>& extra,
                     const std::vector<std::pair<std::string, std::string>>& merges,
                     std::string pre = "gpt2") {
    spec.pre = std::move(pre);
    auto add = [&](const std::string& text, const std::string& stored, TokenType type) {
      raw.push_back(text);
      spec.tokens.push_back(stored);
      spec.token_types.push_back(static_cast<int32_t>(type));
    };
    add("<|end|>", "<|end|>", TokenType::kControl);
    add("<|user|>", "<|user|>", TokenType::kUserDefined);
    add("<|end|>!", "<|end|>!", TokenType::kControl);
    for (int b = 0; b < 256; ++b) {
      const std::string s(1, static_cast<char>(b));
      add(s, BytesToByteLevel(s), TokenType::kNormal);
    }
    for (const std::string& e : extra) add(e, BytesToByteLevel(e), TokenType::kNormal);
    for (const auto& [l, r] : merges) {
      spec.merges.push_back(BytesToByteLevel(l) + " " + BytesToByteLevel(r));
    }
    spec.bos = 0;
    spec.eos = 0;
  }
  int32_t Id(const std::string& raw_text) const {
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == raw_text) return static_cast<int32_t>(i);
    }
    ADD_FAILURE() << "no token " << raw_text;
    return -1;
  }
  Ids Ids_(const std::vector<std::string>& texts) const {
    Ids out;
    for (const auto& t : texts) out.push_back(Id(t));
    return out;
  }
  std::unique_ptr<Tokenizer> Build() const {
    auto t = Tokenizer::FromSpec(spec);
    EXPECT_TRUE(t.ok()) << t.error();
    return t.ok() ? std::move(t).value() : nullptr;
  }
};

TEST(TokenizerTest, LowestRankMergesFirst) {
  TinyVocab a({"ab", "bc"}, {{"b", "c"}, {"a", "b"}});
  EXPECT_EQ(a.Build()->Encode("abc", false, false), a.Ids_({"a", "bc"}));
  TinyVocab b({"ab", "bc"}, {{"a", "b"}, {"b", "c"}});
  EXPECT_EQ(b.Build()->Encode("abc", false, false), b.Ids_({"ab", "c"}));
}

TEST(TokenizerTest, LeftmostPairWinsTies) {
  TinyVocab v({"aa", "aaaa"}, {{"a", "a"}, {"aa", "aa"}});
  auto t = v.Build();
  EXPECT_EQ(t->Encode("aaa", false, false), v.Ids_({"aa", "a"}));
  EXPECT_EQ(t->Encode("aaaa", false, false), v.Ids_({"aaaa"}));
  EXPECT_EQ(t->Encode("aaaaa", false, false), v.Ids_({"aaaa", "a"}));
  EXPECT_EQ(t->Encode("aaaaaaa", false, false), v.Ids_({"aaaa", "aa", "a"}));
}

TEST(TokenizerTest, MergesBuildOnEarlierMerges) {
  // a b -> ab, c d -> cd, ab cd -> abcd; "b c" ranks last so it never fires.
  TinyVocab v({"ab", "cd", "abcd", "bc"}, {{"a", "b"}, {"c", "d"}, {"ab", "cd"}, {"b", "c"}});
  EXPECT_EQ(v.Build()->Encode("abcd", false, false), v.Ids_({"abcd"}));
  // With "b c" first, "ab" and "cd" can no longer form.
  TinyVocab w({"ab", "cd", "abcd", "bc"}, {{"b", "c"}, {"a", "b"}, {"c", "d"}, {"ab", "cd"}});
  EXPECT_EQ(w.Build()->Encode("abcd", false, false), w.Ids_({"a", "bc", "d"}));
}

TEST(TokenizerTest, MergesStayInsideWords) {
  // "b " would merge first, but "ab ab" pre-tokenizes to "ab", " ab".
  TinyVocab v({"b ", "ab", " ab"}, {{"b", " "}, {"a", "b"}, {" ", "ab"}});
  EXPECT_EQ(v.Build()->Encode("ab ab", false, false), v.Ids_({"ab", " ab"}));
}

TEST(TokenizerTest, SmollmDigitsNeverMerge) {
  TinyVocab v({"12", " 1"}, {{"1", "2"}, {" ", "1"}}, "smollm");
  EXPECT_EQ(v.Build()->Encode("12 1", false, false), v.Ids_({"1", "2", " ", "1"}));
  TinyVocab g({"12", " 1"}, {{"1", "2"}, {" ", "1"}}, "gpt2");
  EXPECT_EQ(g.Build()->Encode("12 1", false, false), g.Ids_({"12", " 1"}));
}

TEST(TokenizerTest, SpecialTokens) {
  TinyVocab v({}, {});
  auto t = v.Build();
  const Ids end = {0}, user = {1}, end_bang = {2};
  // Control tokens only with parse_special; the longest special text wins.
  EXPECT_EQ(t->Encode("<|end|>", false, true), end);
  EXPECT_EQ(t->Encode("<|end|>!", false, true), end_bang);
  EXPECT_EQ(t->Encode("x<|end|>?", false, true), (Ids{v.Id("x"), 0, v.Id("?")}));
  EXPECT_EQ(t->Encode("<|end|>", false, false).size(), 7u);  // plain bytes
  // User-defined tokens are always matched.
  EXPECT_EQ(t->Encode("<|user|>", false, false), user);
  EXPECT_EQ(t->Encode("a<|user|><|end|>", false, true), (Ids{v.Id("a"), 1, 0}));
  EXPECT_EQ(t->Decode(Ids{1, 0, 2}), "<|user|><|end|><|end|>!");
  EXPECT_EQ(t->TokenPiece(0), "<|end|>");
}

TEST(TokenizerTest, BosAndEmptyText) {
  TinyVocab v({}, {});
  v.spec.bos = 1;
  v.spec.add_bos = true;
  auto t = v.Build();
  EXPECT_EQ(t->Encode("", false, false), Ids{});
  EXPECT_EQ(t->Encode("", true, false), Ids{1});
  EXPECT_EQ(t->Encode("a", true, false), (Ids{1, v.Id("a")}));
  EXPECT_TRUE(t->add_bos_default());
  EXPECT_EQ(t->bos(), 1);
  EXPECT_EQ(t->n_vocab(), 259);
}

TEST(TokenizerTest, DecodeInvertsEncodeOnValidUtf8) {
  TinyVocab v({"th", "the", " the", "in", " in"},
              {{"t", "h"}, {"th", "e"}, {" ", "the"}, {"i", "n"}, {" ", "in"}});
  auto t = v.Build();
  std::mt19937 rng(7);
  const std::vector<std::string> alphabet = {
      "t",       "h",        "e",  " ",        "in",           "\n",
      "\t",      "1",        "'s", "\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80",
      "<|end|>", "<|user|>", "!",  "  "};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s;
    const int n = static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    for (bool special : {false, true}) {
      const Ids ids = t->Encode(s, false, special);
      ASSERT_EQ(t->Decode(ids), s) << "special=" << special;
    }
  }
  EXPECT_EQ(t->TokenPiece(v.Id(" the")), " the");
  EXPECT_EQ(t->TokenText(v.Id(" the")), "\xC4\xA0the");
}

TEST(TokenizerTest, InvalidUtf8BecomesReplacementCharacter) {
  TinyVocab v({}, {});
  auto t = v.Build();
  EXPECT_EQ(t->Decode(t->Encode("a\xFF"
                                "b",
                                false, false)),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(t->Decode(t->Encode("\xC0\xAF", false, false)), "/");  // llama.cpp decodes overlongs
}

TEST(TokenizerTest, SymbolsThatAreNotTokensFallBackLikeLlamaCpp) {
  // Merge result "xy" is not a token: llama.cpp looks up each byte of its byte-level text.
  TinyVocab v({}, {{"x", "y"}});
  auto t = v.Build();
  EXPECT_EQ(t->Encode("xy", false, false), v.Ids_({"x", "y"}));
  // " x" merged (Ġ is two UTF-8 bytes, neither a token): only "x" survives.
  TinyVocab w({}, {{" ", "x"}});
  EXPECT_EQ(w.Build()->Encode(" x", false, false), w.Ids_({"x"}));
}

TEST(TokenizerTest, EncodeIsThreadSafe) {
  TinyVocab v({"ab", "abc"}, {{"a", "b"}, {"ab", "c"}});
  auto t = v.Build();
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "abc ab" + std::to_string(i % 97) + " ";
  const Ids expected = t->Encode(text, false, false);
  std::vector<Ids> got(4);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] { got[k] = t->Encode(text, false, false); });
  }
  for (auto& th : threads) th.join();
  for (const Ids& g : got) EXPECT_EQ(g, expected);
}

TEST(TokenizerTest, EndOfGeneration) {
  TinyVocab v({"<|im_end|>"}, {});
  v.spec.token_types.back() = static_cast<int32_t>(TokenType::kControl);
  v.spec.eos = 1;
  auto t = v.Build();
  EXPECT_TRUE(t->IsEndOfGeneration(1));
  EXPECT_TRUE(t->IsEndOfGeneration(v.Id("<|im_end|>")));
  EXPECT_FALSE(t->IsEndOfGeneration(v.Id("a")));
  EXPECT_FALSE(t->IsEndOfGeneration(-1));
}

TEST(TokenizerTest, SpecErrorsNameTheField) {
  auto expect_error = [](TokenizerSpec spec, const std::string& what) {
    auto t = Tokenizer::FromSpec(std::move(spec));
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().find(what), std::string::npos) << t.error();
  };
  TinyVocab base({}, {});
  TokenizerSpec s = base.spec;
  s.tokens.push_back("a");
  s.token_types.push_back(1);
  expect_error(s, "duplicate token 'a'");
  s = base.spec;
  s.merges.push_back("nospace");
  expect_error(s, "tokenizer.ggml.merges[0]");
  s = base.spec;
  s.bos = 100000;
  expect_error(s, "bos_token_id");
  s = base.spec;
  s.token_types.pop_back();
  expect_error(s, "tokenizer.ggml.token_type");
  s = base.spec;
  s.pre = "qwen2";
  expect_error(s, "'qwen2'");
  s = base.spec;
  s.model = "llama";
  expect_error(s, "'llama'");
  s = base.spec;
  s.tokens.clear();
  s.token_types.clear();
  expect_error(s, "tokenizer.ggml.tokens");
}

std::string TempPath(const char* name) {
  return ::testing::TempDir() + "lmul_tok_" + std::to_string(getpid()) + "_" + name + ".gguf";
}

TEST(TokenizerTest, FromGgufReadsMetadata) {
  TinyVocab v({"ab"}, {{"a", "b"}}, "smollm");
  GgufBuilder b;
  b.AddString("tokenizer.ggml.model", "gpt2");
  b.AddString("tokenizer.ggml.pre", "smollm");
  b.AddStringArray("tokenizer.ggml.tokens", v.spec.tokens);
  b.AddInt32Array("tokenizer.ggml.token_type", v.spec.token_types);
  b.AddStringArray("tokenizer.ggml.merges", v.spec.merges);
  b.AddUint32("tokenizer.ggml.bos_token_id", 1);
  b.AddUint32("tokenizer.ggml.eos_token_id", 0);
  b.AddBool("tokenizer.ggml.add_bos_token", true);
  b.AddString("tokenizer.chat_template", "{{'<|im_start|>' + message['content']}}");
  const std::string path = TempPath("ok");
  ASSERT_TRUE(b.WriteFile(path).ok());
  auto g = GgufFile::Open(path);
  ASSERT_TRUE(g.ok()) << g.error();
  auto t = Tokenizer::FromGguf(**g);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ((*t)->bos(), 1);
  EXPECT_EQ((*t)->eos(), 0);
  EXPECT_TRUE((*t)->add_bos_default());
  EXPECT_EQ((*t)->pre_tokenizer(), PreTokenizer::kSmollm);
  EXPECT_EQ((*t)->Encode("ab1", true, false), (Ids{1, v.Id("ab"), v.Id("1")}));
  EXPECT_EQ((*t)->ApplyChatTemplate("hi"),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  std::remove(path.c_str());
}

TEST(TokenizerTest, FromGgufErrors) {
  TinyVocab v({}, {});
  auto check = [&](const char* name, auto&& fill, const std::string& what) {
    GgufBuilder b;
    fill(b);
    const std::string path = TempPath(name);
    ASSERT_TRUE(b.WriteFile(path).ok());
    auto g = GgufFile::Open(path);
    ASSERT_TRUE(g.ok()) << g.error();
    auto t = Tokenizer::FromGguf(**g);
    ASSERT_FALSE(t.ok()) << name;
    EXPECT_NE(t.error().find(what), std::string::npos) << t.error();
    EXPECT_NE(t.error().find(path), std::string::npos) << t.error();
    std::remove(path.c_str());
  };
  auto base = [&](GgufBuilder& b) {
    b.AddStringArray("tokenizer.ggml.tokens", v.spec.tokens);
    b.AddStringArray("tokenizer.ggml.merges", v.spec.merges);
  };
  check(
      "spm",
      [&](GgufBuilder& b) {
        b.AddString("tokenizer.ggml.model", "llama");
        base(b);
      },
      "'llama'");
  check(
      "nopre",
      [&](GgufBuilder& b) {
        b.AddString("tokenizer.ggml.model", "gpt2");
        base(b);
      },
      "tokenizer.ggml.pre");
  check(
      "bos",
      [&](GgufBuilder& b) {
        b.AddString("tokenizer.ggml.model", "gpt2");
        b.AddString("tokenizer.ggml.pre", "gpt2");
        base(b);
        b.AddUint32("tokenizer.ggml.bos_token_id", 5000);
      },
      "tokenizer.ggml.bos_token_id");
  check(
      "types",
      [&](GgufBuilder& b) {
        b.AddString("tokenizer.ggml.model", "gpt2");
        b.AddString("tokenizer.ggml.pre", "gpt2");
        b.AddStringArray("tokenizer.ggml.tokens", v.spec.tokens);
        b.AddString("tokenizer.ggml.merges", "not an array");
      },
      "tokenizer.ggml.merges");
}

TEST(TokenizerTest, ChatTemplates) {
  TinyVocab v({"<|im_start|>"}, {});
  const std::string smollm2 =
      "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
      "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
      "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
      "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
      "{{ '<|im_start|>assistant\n' }}{% endif %}";
  v.spec.chat_template = smollm2;
  EXPECT_EQ(v.Build()->ApplyChatTemplate("Hi?"),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
            "Face<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n");
  v.spec.chat_template = "";  // no template, but ChatML tokens
  EXPECT_EQ(v.Build()->ApplyChatTemplate("Hi?"),
            "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n");
  v.spec.chat_template = "{{ bos_token }}<start_of_turn>user ...";
  EXPECT_EQ(v.Build()->ApplyChatTemplate("Hi?"),
            "<start_of_turn>user\nHi?<end_of_turn>\n<start_of_turn>model\n");
  v.spec.chat_template = "<|start_header_id|>...";
  EXPECT_EQ(v.Build()->ApplyChatTemplate("Hi?"),
            "<|start_header_id|>user<|end_header_id|>\n\nHi?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  TinyVocab plain({}, {});
  EXPECT_EQ(plain.Build()->ApplyChatTemplate("Hi?"), "Hi?");
}

// Multi-turn conversations against the text jinja2 renders with the real templates
// (SmolLM2's ChatML with its default system turn, Gemma 3, Llama 3), with and without the
// generation prompt; generated by scripts/make_chat_template_goldens.py.
TEST(TokenizerTest, ChatTemplatesMultiTurnMatchJinja) {
  const std::string path = std::string(LMUL_TESTDATA_DIR) + "/tokenizer/chat_template_goldens.json";
  std::ifstream f(path);
  ASSERT_TRUE(f.good()) << path;
  const nlohmann::json g = nlohmann::json::parse(f);
  ASSERT_EQ(g["bos_token"], "");
  int compared = 0, refused_by_jinja = 0;
  for (const auto& c : g["cases"]) {
    TinyVocab v({"<|im_start|>"}, {});
    v.spec.chat_template = g["templates"][c["template"].get<std::string>()];
    auto tok = v.Build();
    std::vector<ChatMessage> messages;
    for (const auto& m : c["messages"]) messages.push_back({m["role"], m["content"]});
    const std::string got = tok->ApplyChatTemplate(messages, c["add_generation_prompt"]);
    if (!c.contains("rendered")) {
      // Gemma's template raises (roles not alternating, no messages): rendered anyway.
      ++refused_by_jinja;
      continue;
    }
    EXPECT_EQ(got, c["rendered"].get<std::string>())
        << c["template"] << " " << c["messages"].dump()
        << " add_generation_prompt=" << c["add_generation_prompt"];
    if (messages.size() == 1 && messages[0].role == "user" && c["add_generation_prompt"]) {
      EXPECT_EQ(tok->ApplyChatTemplate(messages[0].content), got);  // single-message form
    }
    ++compared;
  }
  EXPECT_EQ(compared, 50);
  EXPECT_EQ(refused_by_jinja, 4);
}

TEST(TokenizerTest, ChatTemplatesWithoutTemplate) {
  TinyVocab chatml({"<|im_start|>"}, {});  // no template, ChatML tokens: no default system
  const std::vector<ChatMessage> conv = {{"system", "S"}, {"user", "U"}, {"assistant", "A"}};
  EXPECT_EQ(chatml.Build()->ApplyChatTemplate(conv, false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
            "<|im_start|>assistant\nA<|im_end|>\n");
  TinyVocab plain({}, {});
  EXPECT_EQ(plain.Build()->ApplyChatTemplate(conv), "S\nU\nA");
  EXPECT_EQ(plain.Build()->ApplyChatTemplate(std::span<const ChatMessage>()), "");
}

}  // namespace
}  // namespace lmul::engine
