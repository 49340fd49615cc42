#include "engine/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <queue>

#include "base/check.h"
#include "engine/tokenizer/unicode.h"

namespace lmul::engine {
namespace {

constexpr size_t kMaxCachedWords = 1 << 18;
constexpr size_t kMaxCachedWordBytes = 256;  // longer words are not cached

// Texts llama.cpp (src/llama-vocab.cpp, special_eog_ids) treats as end of generation.
constexpr const char* kEndOfGenerationTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>",         "<end_of_turn>",      "<|endoftext|>",
    "<|eom_id|>", "<EOT>",      "<|end_of_text|>", "<end_of_utterance>",
};

std::string Field(std::string_view key) { return "tokenizer metadata '" + std::string(key) + "'"; }

bool IsSpecialType(TokenType t) {
  return t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
}

// "<0xAB>" -> 0xAB, or -1.
int ParseByteToken(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = text[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& gguf) {
  if (auto m = gguf.GetString("tokenizer.ggml.model"); m.ok() && *m == "llama") {
    return FromGgufSpm(gguf);
  }
  auto spec = SpecFromGguf(gguf);
  if (!spec.ok()) return std::move(spec).TakeError();
  auto tok = FromSpec(std::move(spec).value());
  if (!tok.ok()) return MakeError(gguf.path() + ": " + tok.error());
  return tok;
}

Result<TokenizerSpec> Tokenizer::SpecFromGguf(const GgufFile& gguf) {
  const std::string where = gguf.path() + ": ";
  TokenizerSpec spec;
  auto model = gguf.GetString("tokenizer.ggml.model");
  if (!model.ok()) return MakeError(where + model.error());
  spec.model = *model;
  if (spec.model != "gpt2") {
    return MakeError(where + Field("tokenizer.ggml.model") + " = '" + spec.model +
                     "': only byte-level BPE ('gpt2') is implemented");
  }
  if (!gguf.Has("tokenizer.ggml.pre")) {
    return MakeError(where + Field("tokenizer.ggml.pre") +
                     " missing: a 'gpt2' tokenizer needs its pre-tokenizer name");
  }
  auto pre = gguf.GetString("tokenizer.ggml.pre");
  if (!pre.ok()) return MakeError(where + pre.error());
  spec.pre = *pre;
  auto tokens = gguf.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens.ok()) return MakeError(where + tokens.error());
  spec.tokens = std::move(tokens).value();
  if (gguf.Has("tokenizer.ggml.token_type")) {
    auto types = gguf.GetIntArray("tokenizer.ggml.token_type");
    if (!types.ok()) return MakeError(where + types.error());
    spec.token_types.reserve(types->size());
    for (int64_t t : *types) {
      spec.token_types.push_back(t >= 0 && t <= 6 ? static_cast<int32_t>(t) : 0);
    }
  }
  auto merges = gguf.GetStringArray("tokenizer.ggml.merges");
  if (!merges.ok()) return MakeError(where + merges.error());
  spec.merges = std::move(merges).value();
  const std::pair<const char*, int32_t*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &spec.bos},
      {"tokenizer.ggml.eos_token_id", &spec.eos},
      {"tokenizer.ggml.unknown_token_id", &spec.unk},
      {"tokenizer.ggml.padding_token_id", &spec.pad},
  };
  for (const auto& [key, slot] : ids) {
    if (!gguf.Has(key)) continue;
    auto v = gguf.GetInt(key);
    if (!v.ok()) return MakeError(where + v.error());
    if (*v < 0 || *v >= static_cast<int64_t>(spec.tokens.size())) {
      return MakeError(where + Field(key) + " = " + std::to_string(*v) +
                       ": expected a token id in [0, " + std::to_string(spec.tokens.size()) + ")");
    }
    *slot = static_cast<int32_t>(*v);
  }
  auto kind = PreTokenizerFromName(spec.pre);
  spec.add_bos = kind.ok() && *kind == PreTokenizer::kLlama3 &&
                 (spec.pre == "llama3" || spec.pre == "llama-v3" || spec.pre == "llama-bpe");
  if (gguf.Has("tokenizer.ggml.add_bos_token")) {
    auto v = gguf.GetBool("tokenizer.ggml.add_bos_token");
    if (!v.ok()) return MakeError(where + v.error());
    spec.add_bos = *v;
  }
  if (gguf.Has("tokenizer.chat_template")) {
    auto v = gguf.GetString("tokenizer.chat_template");
    if (!v.ok()) return MakeError(where + v.error());
    spec.chat_template = std::move(v).value();
  }
  return spec;
}

// SentencePiece-style vocabulary: the SpmTokenizer encodes raw fragments; this class keeps
// the vocabulary views, special tokens (cut out by Encode as for gpt2), pieces for Decode
// ("\u2581" -> ' ' in normal tokens, byte tokens -> their byte), ids and chat template.
Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGgufSpm(const GgufFile& gguf) {
  const std::string where =
      gguf.path() + ": " + Field("tokenizer.ggml.model") + " = 'llama' (SentencePiece BPE): ";
  auto spm = SpmTokenizer::FromGguf(gguf);
  if (!spm.ok()) return MakeError(where + spm.error());
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  auto tokens = gguf.GetStringArray("tokenizer.ggml.tokens");
  auto types = gguf.GetIntArray("tokenizer.ggml.token_type");
  if (!tokens.ok() || !types.ok()) return MakeError(where + "tokens / token_type unreadable");
  const size_t n = tokens->size();
  t->tokens_ = std::move(tokens).value();
  t->types_.resize(n);
  t->pieces_.resize(n);
  t->token_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t ty = (*types)[i];
    t->types_[i] = static_cast<TokenType>(ty);  // 0..6, checked by SpmTokenizer
    t->token_id_.emplace(t->tokens_[i], static_cast<int32_t>(i));
    const TokenType tt = t->types_[i];
    if (IsSpecialType(tt)) {
      t->pieces_[i] = t->tokens_[i];
      t->specials_.push_back(static_cast<int32_t>(i));
    } else if (tt == TokenType::kNormal) {
      t->pieces_[i] = (*spm)->Decode({static_cast<int32_t>(i)});
    } else if (tt == TokenType::kByte) {
      const int b = ParseByteToken(t->tokens_[i]);
      if (b >= 0) t->pieces_[i] = std::string(1, static_cast<char>(b));
    }
  }
  std::stable_sort(t->specials_.begin(), t->specials_.end(), [&](int32_t a, int32_t b) {
    return t->tokens_[a].size() > t->tokens_[b].size();
  });
  for (const char* text : kEndOfGenerationTexts) {
    auto it = t->token_id_.find(text);
    if (it != t->token_id_.end()) t->end_of_generation_.push_back(it->second);
  }
  const std::pair<const char*, int32_t*> ids[] = {
      {"tokenizer.ggml.bos_token_id", &t->bos_},
      {"tokenizer.ggml.eos_token_id", &t->eos_},
      {"tokenizer.ggml.unknown_token_id", &t->unk_},
      {"tokenizer.ggml.padding_token_id", &t->pad_},
  };
  for (const auto& [key, slot] : ids) {
    if (!gguf.Has(key)) continue;
    auto v = gguf.GetInt(key);
    if (!v.ok() || *v < 0 || *v >= static_cast<int64_t>(n)) {
      return MakeError(where + Field(key) + ": expected a token id in [0, " + std::to_string(n) +
                       ")");
    }
    *slot = static_cast<int32_t>(*v);
  }
  t->add_bos_ = true;  // llama.cpp's default for SPM vocabularies
  if (gguf.Has("tokenizer.ggml.add_bos_token")) {
    auto v = gguf.GetBool("tokenizer.ggml.add_bos_token");
    if (!v.ok()) return MakeError(where + v.error());
    t->add_bos_ = *v;
  }
  if (gguf.Has("tokenizer.chat_template")) {
    auto v = gguf.GetString("tokenizer.chat_template");
    if (!v.ok()) return MakeError(where + v.error());
    t->chat_template_ = std::move(v).value();
  }
  t->spm_ = std::move(spm).value();
  return t;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromSpec(TokenizerSpec spec) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  LMUL_RETURN_IF_ERROR(t->Build(std::move(spec)));
  return t;
}

int32_t Tokenizer::InternSymbol(const std::string& text) {
  auto [it, inserted] = symbol_id_.emplace(text, static_cast<int32_t>(symbol_token_.size()));
  if (inserted) {
    auto tok = token_id_.find(text);
    symbol_token_.push_back(tok == token_id_.end() ? -1 : tok->second);
  }
  return it->second;
}

Status Tokenizer::Build(TokenizerSpec spec) {
  if (spec.model != "gpt2") {
    return MakeError(Field("tokenizer.ggml.model") + " = '" + spec.model +
                     "': only byte-level BPE ('gpt2') is implemented");
  }
  auto pre = PreTokenizerFromName(spec.pre);
  if (!pre.ok()) return MakeError(pre.error());
  pre_ = *pre;
  ignore_merges_ = spec.pre == "llama3" || spec.pre == "llama-v3" || spec.pre == "llama-bpe";
  const size_t n = spec.tokens.size();
  if (n == 0 || n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return MakeError(Field("tokenizer.ggml.tokens") + ": expected 1.." +
                     std::to_string(std::numeric_limits<int32_t>::max()) + " tokens, found " +
                     std::to_string(n));
  }
  if (!spec.token_types.empty() && spec.token_types.size() != n) {
    return MakeError(Field("tokenizer.ggml.token_type") + ": expected " + std::to_string(n) +
                     " entries (one per token), found " + std::to_string(spec.token_types.size()));
  }
  for (const auto& [name, id] : {std::pair<const char*, int32_t>{"bos_token_id", spec.bos},
                                 {"eos_token_id", spec.eos},
                                 {"unknown_token_id", spec.unk},
                                 {"padding_token_id", spec.pad}}) {
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      return MakeError(Field(std::string("tokenizer.ggml.") + name) + " = " + std::to_string(id) +
                       ": expected a token id in [0, " + std::to_string(n) + ")");
    }
  }
  tokens_ = std::move(spec.tokens);
  types_.resize(n, TokenType::kNormal);
  pieces_.resize(n);
  token_id_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!spec.token_types.empty()) {
      const int32_t ty = spec.token_types[i];
      types_[i] = ty >= 0 && ty <= 6 ? static_cast<TokenType>(ty) : TokenType::kUndefined;
    }
    if (tokens_[i].empty()) tokens_[i] = "[EMPTY_" + std::to_string(i) + "]";  // as llama.cpp
    if (!token_id_.emplace(tokens_[i], static_cast<int32_t>(i)).second) {
      return MakeError(Field("tokenizer.ggml.tokens") + ": duplicate token '" + tokens_[i] +
                       "' at ids " + std::to_string(token_id_[tokens_[i]]) + " and " +
                       std::to_string(i));
    }
    const TokenType ty = types_[i];
    if (IsSpecialType(ty)) {
      pieces_[i] = tokens_[i];
      specials_.push_back(static_cast<int32_t>(i));
    } else if (ty == TokenType::kNormal) {
      pieces_[i] = unicode::ByteLevelToBytes(tokens_[i]);
    } else if (ty == TokenType::kByte) {
      const int b = ParseByteToken(tokens_[i]);
      if (b >= 0) pieces_[i] = std::string(1, static_cast<char>(b));
    }  // unused / undefined tokens render as nothing (llama.cpp token_to_piece)
  }
  std::stable_sort(specials_.begin(), specials_.end(),
                   [&](int32_t a, int32_t b) { return tokens_[a].size() > tokens_[b].size(); });
  for (const char* text : kEndOfGenerationTexts) {
    auto it = token_id_.find(text);
    if (it != token_id_.end()) end_of_generation_.push_back(it->second);
  }

  // BPE symbols and merges.
  symbol_id_.reserve(n + spec.merges.size());
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::AppendUtf8(unicode::ByteToCodepoint(static_cast<uint8_t>(b)), &s);
    byte_symbol_[b] = InternSymbol(s);
  }
  merges_.reserve(spec.merges.size());
  if (spec.merges.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return MakeError(Field("tokenizer.ggml.merges") + ": too many merges");
  }
  for (size_t i = 0; i < spec.merges.size(); ++i) {
    const std::string& m = spec.merges[i];
    const size_t sp = m.find(' ', 1);  // as llama.cpp: the first space after position 0
    if (sp == std::string::npos) {
      return MakeError(Field("tokenizer.ggml.merges[" + std::to_string(i) + "]") + " = '" + m +
                       "': expected 'left right'");
    }
    const std::string left = m.substr(0, sp), right = m.substr(sp + 1);
    const int32_t l = InternSymbol(left), r = InternSymbol(right);
    const int32_t merged = InternSymbol(left + right);
    const uint64_t key =
        (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
    merges_.emplace(key, Merge{static_cast<int32_t>(i), merged});  // the first rank wins
  }
  bos_ = spec.bos;
  eos_ = spec.eos;
  unk_ = spec.unk;
  pad_ = spec.pad;
  add_bos_ = spec.add_bos;
  chat_template_ = std::move(spec.chat_template);
  return Status::Ok();
}

void Tokenizer::BpeWord(std::string_view word, std::vector<int32_t>* out) const {
  const int n = static_cast<int>(word.size());
  if (n == 0) return;
  if (ignore_merges_) {
    auto it = token_id_.find(unicode::BytesToByteLevel(word));
    if (it != token_id_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  struct Symbol {
    int32_t sym;  // symbol id
    int32_t len;  // bytes; 0 once merged into its left neighbour
    int32_t prev, next;
  };
  std::vector<Symbol> s(n);
  for (int i = 0; i < n; ++i) {
    s[i] = {byte_symbol_[static_cast<uint8_t>(word[i])], 1, i - 1, i + 1 < n ? i + 1 : -1};
  }
  struct Pair {
    int32_t rank, left, right, left_len, right_len, merged;
  };
  // Lowest rank first, then leftmost (llama.cpp llm_bigram_bpe::comparator).
  auto later = [](const Pair& a, const Pair& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::priority_queue<Pair, std::vector<Pair>, decltype(later)> queue(later);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(s[left].sym)) << 32) |
                         static_cast<uint32_t>(s[right].sym);
    auto it = merges_.find(key);
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, right, s[left].len, s[right].len, it->second.merged});
  };
  for (int i = 1; i < n; ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Symbol& l = s[p.left];
    Symbol& r = s[p.right];
    // Stale: one side was merged into something else since the pair was queued.
    if (l.len == 0 || r.len == 0 || l.len != p.left_len || r.len != p.right_len) continue;
    l.len += r.len;
    l.sym = p.merged;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) s[r.next].prev = p.left;
    try_add(l.prev, p.left);
    try_add(p.left, l.next);
  }
  int start = 0;
  for (int i = 0; i >= 0; i = s[i].next) {
    const int32_t tok = symbol_token_[s[i].sym];
    if (tok >= 0) {
      out->push_back(tok);
    } else {
      // Not a token (inconsistent vocabulary): llama.cpp looks up every byte of the
      // symbol's byte-level UTF-8 text as a one-byte token and drops those that are not.
      const std::string text = unicode::BytesToByteLevel(word.substr(start, s[i].len));
      for (char c : text) {
        auto it = token_id_.find(std::string(1, c));
        if (it != token_id_.end()) out->push_back(it->second);
      }
    }
    start += s[i].len;
  }
}

void Tokenizer::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (word.size() > kMaxCachedWordBytes) {
    BpeWord(word, out);
    return;
  }
  const std::string key(word);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = word_cache_.find(key);
    if (it != word_cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  BpeWord(word, &ids);
  out->insert(out->end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (word_cache_.size() >= kMaxCachedWords) word_cache_.clear();
  word_cache_.emplace(key, std::move(ids));
}

void Tokenizer::EncodeText(std::string_view text, std::vector<int32_t>* out) const {
  std::vector<uint32_t> cps;
  unicode::DecodeUtf8Lenient(text, &cps);
  std::vector<uint32_t> lengths;
  PreTokenize(pre_, cps, &lengths);
  std::string word;
  size_t pos = 0;
  for (uint32_t len : lengths) {
    word.clear();
    // Re-encoded from the code points: invalid input bytes become U+FFFD, as in llama.cpp.
    for (size_t i = pos; i < pos + len; ++i) unicode::AppendUtf8(cps[i], &word);
    pos += len;
    EncodeWord(word, out);
  }
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_bos,
                                       bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos && bos_ >= 0) out.push_back(bos_);
  if (text.empty()) return out;
  // Fragments: raw text [begin, end) (token < 0) or one special token.
  struct Fragment {
    int32_t token;
    size_t begin, end;
  };
  std::vector<Fragment> frags = {{-1, 0, text.size()}};
  std::vector<Fragment> next;
  for (int32_t id : specials_) {
    if (!parse_special && types_[id] != TokenType::kUserDefined) continue;
    const std::string& st = tokens_[id];
    next.clear();
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t b = f.begin;
      while (b < f.end) {
        const size_t m = text.substr(0, f.end).find(st, b);
        if (m == std::string_view::npos) break;
        if (m > b) next.push_back({-1, b, m});
        next.push_back({id, m, m + st.size()});
        b = m + st.size();
      }
      if (b < f.end) next.push_back({-1, b, f.end});
    }
    frags.swap(next);
  }
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
    } else if (spm_) {
      const std::vector<int32_t> ids =
          spm_->Encode(text.substr(f.begin, f.end - f.begin), /*add_bos=*/false);
      out.insert(out.end(), ids.begin(), ids.end());
    } else {
      EncodeText(text.substr(f.begin, f.end - f.begin), &out);
    }
  }
  return out;
}

std::string Tokenizer::Decode(std::span<const int32_t> tokens) const {
  std::string out;
  for (int32_t t : tokens) {
    LMUL_CHECK(t >= 0 && t < n_vocab(), "Tokenizer::Decode: token %d not in [0, %d)", t, n_vocab());
    out += pieces_[t];
  }
  return out;
}

std::string Tokenizer::TokenPiece(int32_t token) const {
  LMUL_CHECK(token >= 0 && token < n_vocab(), "Tokenizer::TokenPiece: token %d not in [0, %d)",
             token, n_vocab());
  return pieces_[token];
}

const std::string& Tokenizer::TokenText(int32_t token) const {
  LMUL_CHECK(token >= 0 && token < n_vocab(), "Tokenizer::TokenText: token %d not in [0, %d)",
             token, n_vocab());
  return tokens_[token];
}

TokenType Tokenizer::token_type(int32_t token) const {
  LMUL_CHECK(token >= 0 && token < n_vocab(), "Tokenizer::token_type: token %d not in [0, %d)",
             token, n_vocab());
  return types_[token];
}

bool Tokenizer::IsEndOfGeneration(int32_t token) const {
  if (token < 0) return false;
  if (token == eos_) return true;
  return std::find(end_of_generation_.begin(), end_of_generation_.end(), token) !=
         end_of_generation_.end();
}

namespace {

// Jinja's `trim` on the ASCII whitespace characters.
std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

}  // namespace

std::string Tokenizer::ApplyChatTemplate(std::span<const ChatMessage> messages,
                                         bool add_generation_prompt) const {
  const std::string& t = chat_template_;
  std::string out;
  if (t.find("<start_of_turn>") != std::string::npos) {
    // Gemma 3: a first system message becomes a prefix of the first remaining turn.
    std::string prefix;
    size_t first = 0;
    if (!messages.empty() && messages[0].role == "system") {
      prefix = messages[0].content + "\n\n";
      first = 1;
    }
    for (size_t i = first; i < messages.size(); ++i) {
      const ChatMessage& m = messages[i];
      out += "<start_of_turn>";
      out += m.role == "assistant" ? "model" : m.role;
      out += '\n';
      if (i == first) out += prefix;
      out += TrimSpace(m.content);
      out += "<end_of_turn>\n";
    }
    if (add_generation_prompt) out += "<start_of_turn>model\n";
    return out;
  }
  if (t.find("<|start_header_id|>") != std::string::npos) {
    for (const ChatMessage& m : messages) {
      out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
      out += TrimSpace(m.content);
      out += "<|eot_id|>";
    }
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
  }
  const bool chatml = t.find("<|im_start|>") != std::string::npos ||
                      (t.empty() && token_id_.count("<|im_start|>") != 0);
  if (!chatml) {
    for (size_t i = 0; i < messages.size(); ++i) {
      if (i > 0) out += '\n';
      out += messages[i].content;
    }
    return out;
  }
  // A default system turn written literally in the template, e.g. SmolLM2's
  // {% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n...
  // <|im_end|>\n' }}{% endif %}: rendered before the first message unless that is a system
  // one (inside the loop, so not for an empty conversation).
  if (!messages.empty() && messages[0].role != "system") {
    const std::string sys_open = "<|im_start|>system\n";
    const size_t s = t.find(sys_open);
    if (s != std::string::npos) {
      const size_t e = t.find("<|im_end|>", s + sys_open.size());
      if (e != std::string::npos) out = t.substr(s, e - s) + "<|im_end|>\n";
    }
  }
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string Tokenizer::ApplyChatTemplate(std::string_view user_message) const {
  const ChatMessage m{"user", std::string(user_message)};
  return ApplyChatTemplate(std::span<const ChatMessage>(&m, 1), true);
}

}  // namespace lmul::engine
