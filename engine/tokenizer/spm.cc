#include "engine/tokenizer/spm.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <queue>

namespace lmul::engine {
namespace {

constexpr int32_t kNormal = 1, kUserDefined = 4, kByte = 6;

int Utf8Len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xE) return 3;
  if ((c >> 3) == 0x1E) return 4;
  return 1;  // continuation or invalid byte: one byte (byte fallback handles it)
}

}  // namespace

Result<std::unique_ptr<SpmTokenizer>> SpmTokenizer::FromVocab(std::vector<std::string> tokens,
                                                              std::vector<float> scores,
                                                              std::vector<int32_t> types,
                                                              int32_t bos, bool add_space_prefix) {
  if (tokens.empty() || scores.size() != tokens.size() || types.size() != tokens.size()) {
    return MakeError(
        "spm tokenizer: tokens, scores and token_type must have the same, nonzero "
        "length (found " +
        std::to_string(tokens.size()) + ", " + std::to_string(scores.size()) + ", " +
        std::to_string(types.size()) + ")");
  }
  if (bos >= static_cast<int32_t>(tokens.size())) {
    return MakeError("spm tokenizer: bos id " + std::to_string(bos) + " out of range");
  }
  std::unique_ptr<SpmTokenizer> t(new SpmTokenizer());
  std::fill(std::begin(t->byte_id_), std::end(t->byte_id_), -1);
  for (int32_t i = 0; i < static_cast<int32_t>(tokens.size()); ++i) {
    const std::string& s = tokens[i];
    if (types[i] == kNormal || types[i] == kUserDefined) t->id_.emplace(s, i);
    if (types[i] == kUserDefined && !s.empty()) t->user_defined_.push_back(i);
    unsigned v = 0;
    if (types[i] == kByte && s.size() == 6 && std::sscanf(s.c_str(), "<0x%2X>", &v) == 1 &&
        v < 256) {
      t->byte_id_[v] = i;
    }
  }
  for (int b = 0; b < 256; ++b) {
    if (t->byte_id_[b] < 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      return MakeError(std::string("spm tokenizer: byte token ") + buf + " missing");
    }
  }
  std::stable_sort(t->user_defined_.begin(), t->user_defined_.end(),
                   [&](int32_t a, int32_t b) { return tokens[a].size() > tokens[b].size(); });
  t->tokens_ = std::move(tokens);
  t->scores_ = std::move(scores);
  t->types_ = std::move(types);
  t->bos_ = bos;
  t->add_space_prefix_ = add_space_prefix;
  return t;
}

Result<std::unique_ptr<SpmTokenizer>> SpmTokenizer::FromGguf(const GgufFile& g) {
  const std::string where = g.path() + ": ";
  auto model = g.GetString("tokenizer.ggml.model");
  if (!model.ok()) return MakeError(model.error());
  if (*model != "llama") {
    return MakeError(where + "metadata 'tokenizer.ggml.model': expected \"llama\", found \"" +
                     *model + "\"");
  }
  auto tokens = g.GetStringArray("tokenizer.ggml.tokens");
  if (!tokens.ok()) return MakeError(tokens.error());
  auto scores = g.GetFloatArray("tokenizer.ggml.scores");
  if (!scores.ok()) return MakeError(scores.error());
  auto types = g.GetIntArray("tokenizer.ggml.token_type");
  if (!types.ok()) return MakeError(types.error());
  std::vector<float> sc(scores->begin(), scores->end());
  std::vector<int32_t> ty;
  for (int64_t v : *types) {
    if (v < 0 || v > 6) {
      return MakeError(where + "metadata 'tokenizer.ggml.token_type': expected 0..6, found " +
                       std::to_string(v));
    }
    ty.push_back(static_cast<int32_t>(v));
  }
  int32_t bos = -1;
  if (g.Has("tokenizer.ggml.bos_token_id")) {
    auto b = g.GetInt("tokenizer.ggml.bos_token_id");
    if (!b.ok()) return MakeError(b.error());
    if (*b < 0 || *b >= static_cast<int64_t>(tokens->size())) {
      return MakeError(where + "metadata 'tokenizer.ggml.bos_token_id': out of range");
    }
    bos = static_cast<int32_t>(*b);
  }
  bool space = false;
  if (g.Has("tokenizer.ggml.add_space_prefix")) {
    auto s = g.GetBool("tokenizer.ggml.add_space_prefix");
    if (!s.ok()) return MakeError(s.error());
    space = *s;
  }
  auto t = FromVocab(std::move(*tokens), std::move(sc), std::move(ty), bos, space);
  if (!t.ok()) return MakeError(where + t.error());
  return t;
}

int32_t SpmTokenizer::Find(std::string_view text) const {
  auto it = id_.find(std::string(text));
  return it == id_.end() ? -1 : it->second;
}

void SpmTokenizer::EncodeFragment(std::string_view raw, std::vector<int32_t>* out) const {
  std::string text;
  if (add_space_prefix_) text = "\xE2\x96\x81";
  for (char c : raw) {
    if (c == ' ') {
      text += "\xE2\x96\x81";
    } else {
      text += c;
    }
  }
  struct Sym {
    int prev, next;
    size_t pos, n;
  };
  std::vector<Sym> syms;
  for (size_t off = 0; off < text.size();) {
    const size_t len =
        std::min<size_t>(Utf8Len(static_cast<unsigned char>(text[off])), text.size() - off);
    const int i = static_cast<int>(syms.size());
    syms.push_back({i - 1, off + len < text.size() ? i + 1 : -1, off, len});
    off += len;
  }
  struct Bigram {
    int left, right;
    float score;
    size_t size;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  std::map<std::string, std::pair<int, int>> rev_merge;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view s(text.data() + syms[left].pos, syms[left].n + syms[right].n);
    const int32_t id = Find(s);
    if (id < 0) return;
    queue.push({left, right, scores_[id], s.size()});
    rev_merge[std::string(s)] = {left, right};
  };
  for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Sym& l = syms[b.left];
    Sym& r = syms[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // outdated
    l.n += r.n;
    r.n = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  // Resegment: a symbol that is a token -> its id; else split along its merge; else bytes.
  auto resegment = [&](auto&& self, size_t pos, size_t n) -> void {
    const std::string_view s(text.data() + pos, n);
    if (const int32_t id = Find(s); id >= 0) {
      out->push_back(id);
      return;
    }
    auto it = rev_merge.find(std::string(s));
    if (it == rev_merge.end()) {
      for (char c : s) out->push_back(byte_id_[static_cast<unsigned char>(c)]);
      return;
    }
    const Sym& a = syms[it->second.first];
    const Sym& b = syms[it->second.second];
    // The merge's parts are the original texts at those positions.
    const size_t na = b.pos - a.pos;
    self(self, pos, na);
    self(self, pos + na, n - na);
  };
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    resegment(resegment, syms[i].pos, syms[i].n);
  }
}

std::vector<int32_t> SpmTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && bos_ >= 0) out.push_back(bos_);
  size_t start = 0, i = 0;
  while (i < text.size()) {
    int32_t match = -1;
    for (int32_t id : user_defined_) {
      const std::string& s = tokens_[id];
      if (text.compare(i, s.size(), s) == 0) {
        match = id;
        break;  // longest first
      }
    }
    if (match < 0) {
      ++i;
      continue;
    }
    if (i > start) EncodeFragment(text.substr(start, i - start), &out);
    out.push_back(match);
    i += tokens_[match].size();
    start = i;
  }
  if (start < text.size()) EncodeFragment(text.substr(start), &out);
  return out;
}

std::string SpmTokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= n_vocab()) continue;
    if (types_[id] == kByte) {
      for (int b = 0; b < 256; ++b) {
        if (byte_id_[b] == id) out += static_cast<char>(b);
      }
      continue;
    }
    const std::string& s = tokens_[id];
    for (size_t k = 0; k < s.size();) {
      if (s.compare(k, 3, "\xE2\x96\x81") == 0) {
        out += ' ';
        k += 3;
      } else {
        out += s[k++];
      }
    }
  }
  return out;
}

}  // namespace lmul::engine
