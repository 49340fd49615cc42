#include "engine/tokenizer/pretokenizer.h"

#include <string>

#include "engine/tokenizer/unicode.h"

namespace lmul::engine {
namespace {

using unicode::ClassOf;
constexpr uint32_t kOutOfRange = 0xFFFFFFFF;

// One segment [ini, end) of the code points; positions outside it read as "no code point"
// (class 0), which ends every run exactly as llama.cpp's offset-bounded splitters do.
class Segment {
 public:
  Segment(std::span<const uint32_t> cps, size_t ini, size_t end, std::vector<uint32_t>* lengths)
      : cps_(cps), ini_(ini), end_(end), prev_end_(ini), lengths_(lengths) {}
  uint32_t Cp(size_t pos) const { return pos >= ini_ && pos < end_ ? cps_[pos] : kOutOfRange; }
  uint16_t Cls(size_t pos) const { return pos >= ini_ && pos < end_ ? ClassOf(cps_[pos]) : 0; }
  bool Letter(size_t pos) const { return Cls(pos) & unicode::kLetter; }
  bool Number(size_t pos) const { return Cls(pos) & unicode::kNumber; }
  bool Space(size_t pos) const { return Cls(pos) & unicode::kWhitespace; }
  // Ends the current word at `end` (no-op when empty).
  void Emit(size_t end) {
    if (end > prev_end_) lengths_->push_back(static_cast<uint32_t>(end - prev_end_));
    prev_end_ = end;
  }
  size_t ini() const { return ini_; }
  size_t end() const { return end_; }

 private:
  std::span<const uint32_t> cps_;
  size_t ini_, end_, prev_end_;
  std::vector<uint32_t>* lengths_;
};

constexpr uint16_t kWordClasses = unicode::kWhitespace | unicode::kLetter | unicode::kNumber;

// 's|'t|'re|'ve|'m|'ll|'d at pos: the length matched (0: none). `fold`: ASCII case-insensitive.
size_t MatchContraction(const Segment& s, size_t pos, bool fold) {
  if (s.Cp(pos) != '\'' || pos + 1 >= s.end()) return 0;
  auto lower = [fold](uint32_t c) { return fold && c >= 'A' && c <= 'Z' ? c + 32 : c; };
  const uint32_t c1 = lower(s.Cp(pos + 1));
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (pos + 2 >= s.end()) return 0;
  const uint32_t c2 = lower(s.Cp(pos + 2));
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

void SplitGpt2(Segment s) {
  for (size_t pos = s.ini(); pos < s.end();) {
    const uint32_t cp = s.Cp(pos);
    if (const size_t n = MatchContraction(s, pos, /*fold=*/false)) {
      pos += n;
      s.Emit(pos);
      continue;
    }
    const bool space = cp == ' ';
    uint16_t cls = space ? s.Cls(pos + 1) : s.Cls(pos);
    if (cls & unicode::kLetter) {  //  ?\p{L}+
      pos += space;
      while (s.Letter(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    if (cls & unicode::kNumber) {  //  ?\p{N}+
      pos += space;
      while (s.Number(pos)) ++pos;
      s.Emit(pos);
      continue;
    }
    if (!(cls & kWordClasses) && cls != 0) {  //  ?[^\s\p{L}\p{N}]+
      pos += space;
      while (!(cls & kWordClasses) && cls != 0) cls = s.Cls(++pos);
      s.Emit(pos);
      continue;
    }
    size_t n_space = 0;
    while (s.Space(pos + n_space)) ++n_space;
    if (n_space > 1 && s.Cp(pos + n_space) != kOutOfRange) {  // \s+(?!\S)
      pos += n_space - 1;
      s.Emit(pos);
      continue;
    }
    if (n_space > 0) {  // \s+
      pos += n_space;
      s.Emit(pos);
      continue;
    }
    s.Emit(++pos);  // no alternative matches: one code point
  }
}

void SplitLlama3(Segment s) {
  for (size_t pos = s.ini(); pos < s.end();) {
    const uint32_t cp = s.Cp(pos);
    const uint16_t cls = s.Cls(pos);
    if (const size_t n = MatchContraction(s, pos, /*fold=*/true)) {
      pos += n;
      s.Emit(pos);
      continue;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(cp == '\r' || cp == '\n' || (cls & unicode::kNumber))) {
      if ((cls & unicode::kLetter) || s.Letter(pos + 1)) {
        ++pos;
        while (s.Letter(pos)) ++pos;
        s.Emit(pos);
        continue;
      }
    }
    if (cls & unicode::kNumber) {  // \p{N}{1,3}
      size_t ini = pos;
      while (s.Number(pos)) {
        if (++pos - ini >= 3) {
          s.Emit(pos);
          ini = pos;
        }
      }
      s.Emit(pos);
      continue;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    uint16_t cls2 = cp == ' ' ? s.Cls(pos + 1) : cls;
    if (!(cls2 & kWordClasses) && cls != 0) {
      pos += cp == ' ';
      while (!(cls2 & kWordClasses) && cls2 != 0) cls2 = s.Cls(++pos);
      while (s.Cp(pos) == '\r' || s.Cp(pos) == '\n') ++pos;
      s.Emit(pos);
      continue;
    }
    size_t n_space = 0, last_newline_end = 0;
    while (s.Space(pos + n_space)) {
      const uint32_t c = s.Cp(pos + n_space);
      if (c == '\r' || c == '\n') last_newline_end = pos + n_space + 1;
      ++n_space;
    }
    if (last_newline_end > 0) {  // \s*[\r\n]+
      pos = last_newline_end;
      s.Emit(pos);
      continue;
    }
    if (n_space > 1 && s.Cp(pos + n_space) != kOutOfRange) {  // \s+(?!\S)
      pos += n_space - 1;
      s.Emit(pos);
      continue;
    }
    if (n_space > 0) {  // \s+
      pos += n_space;
      s.Emit(pos);
      continue;
    }
    s.Emit(++pos);
  }
}

}  // namespace

Result<PreTokenizer> PreTokenizerFromName(std::string_view pre) {
  for (const char* name : {"gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "trillion",
                           "granite-docling", "exaone4"}) {
    if (pre == name) return PreTokenizer::kGpt2;
  }
  for (const char* name :
       {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"}) {
    if (pre == name) return PreTokenizer::kSmollm;
  }
  for (const char* name : {"llama3", "llama-v3", "llama-bpe", "dbrx", "smaug-bpe"}) {
    if (pre == name) return PreTokenizer::kLlama3;
  }
  return MakeError("tokenizer.ggml.pre = '" + std::string(pre) +
                   "': pre-tokenizer not implemented by lmul (implemented: gpt2 family, smollm "
                   "family, llama3 family)");
}

const char* PreTokenizerName(PreTokenizer p) {
  switch (p) {
    case PreTokenizer::kGpt2:
      return "gpt2";
    case PreTokenizer::kSmollm:
      return "smollm";
    case PreTokenizer::kLlama3:
      return "llama3";
  }
  return "?";
}

void PreTokenize(PreTokenizer p, std::span<const uint32_t> cps, std::vector<uint32_t>* lengths) {
  switch (p) {
    case PreTokenizer::kGpt2:
      SplitGpt2(Segment(cps, 0, cps.size(), lengths));
      return;
    case PreTokenizer::kLlama3:
      SplitLlama3(Segment(cps, 0, cps.size(), lengths));
      return;
    case PreTokenizer::kSmollm: {
      // \p{N}: each number code point alone; the runs between them are split by GPT-2.
      size_t start = 0;
      for (size_t i = 0; i < cps.size(); ++i) {
        if (ClassOf(cps[i]) & unicode::kNumber) {
          if (i > start) SplitGpt2(Segment(cps, start, i, lengths));
          lengths->push_back(1);
          start = i + 1;
        }
      }
      if (cps.size() > start) SplitGpt2(Segment(cps, start, cps.size(), lengths));
      return;
    }
  }
}

}  // namespace lmul::engine
