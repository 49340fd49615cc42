#include "eval/wikitext.h"

#include "eval/data_file.h"
#include "eval/task.h"

namespace lmul::eval {

int PythonSpaceAt(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) return 1;
  if (c < 0x80) return 0;
  // Decode one UTF-8 code point (2 or 3 bytes are enough for Unicode whitespace).
  auto cont = [&](size_t k) {
    return k < s.size() && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80;
  };
  uint32_t cp = 0;
  int len = 0;
  if ((c & 0xE0) == 0xC0 && cont(i + 1)) {
    cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
    len = 2;
  } else if ((c & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
    cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
         (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
    len = 3;
  } else {
    return 0;
  }
  const bool space = cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
                     cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
  return space ? len : 0;
}

int64_t CountPythonWords(std::string_view s) {
  int64_t n = 1;
  size_t i = 0;
  while (i < s.size()) {
    int w = PythonSpaceAt(s, i);
    if (w == 0) {
      ++i;
      continue;
    }
    ++n;
    while (i < s.size() && (w = PythonSpaceAt(s, i)) > 0) i += w;
  }
  return n;
}

namespace {

void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s->size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s->find(from, pos);
    if (hit == std::string::npos) break;
    out.append(*s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(*s, pos, std::string::npos);
  *s = std::move(out);
}

// re.sub(r"O\s*([^C]*?)\s*C", r"O\1C", s): each O and the next C after it (left to right,
// non-overlapping) with the whitespace just inside them removed.
void StripInsidePairs(std::string* s, char open, char close) {
  std::string out;
  out.reserve(s->size());
  size_t i = 0;
  while (i < s->size()) {
    if ((*s)[i] != open) {
      out.push_back((*s)[i++]);
      continue;
    }
    const size_t j = s->find(close, i + 1);
    if (j == std::string::npos) {
      out.push_back((*s)[i++]);
      continue;
    }
    size_t a = i + 1;
    int w;
    while (a < j && (w = PythonSpaceAt(*s, a)) > 0) a += w;
    // Trailing whitespace: scan forward, remembering where the last non-space ended.
    size_t b = a, k = a;
    while (k < j) {
      w = PythonSpaceAt(*s, k);
      if (w > 0) {
        k += w;
      } else {
        ++k;
        b = k;
      }
    }
    out.push_back(open);
    out.append(*s, a, b - a);
    out.push_back(close);
    i = j + 1;
  }
  *s = std::move(out);
}

// re.sub(r"/' [0-9]/", r"/'[0-9]/", s): the literal replacement lm-eval performs.
void SlashQuoteDigit(std::string* s) {
  std::string out;
  for (size_t i = 0; i < s->size(); ++i) {
    if (i + 4 < s->size() && s->compare(i, 3, "/' ") == 0 && (*s)[i + 3] >= '0' &&
        (*s)[i + 3] <= '9' && (*s)[i + 4] == '/') {
      out += "/'[0-9]/";
      i += 4;
    } else {
      out.push_back((*s)[i]);
    }
  }
  *s = std::move(out);
}

bool IsBlank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\r' && c != '\t') return false;
  }
  return true;
}

bool IsTitle(std::string_view l) {
  return l.size() >= 6 && l.substr(0, 3) == " = " && l[3] != '=' &&
         l.substr(l.size() - 3) == " = " && l[l.size() - 4] != '=';
}

}  // namespace

std::string WikiTextDetokenize(std::string_view page) {
  std::string s(page);
  ReplaceAll(&s, "s '", "s'");
  SlashQuoteDigit(&s);
  ReplaceAll(&s, " @-@ ", "-");
  ReplaceAll(&s, " @,@ ", ",");
  ReplaceAll(&s, " @.@ ", ".");
  ReplaceAll(&s, " : ", ": ");
  ReplaceAll(&s, " ; ", "; ");
  ReplaceAll(&s, " . ", ". ");
  ReplaceAll(&s, " ! ", "! ");
  ReplaceAll(&s, " ? ", "? ");
  ReplaceAll(&s, " , ", ", ");
  StripInsidePairs(&s, '(', ')');
  StripInsidePairs(&s, '[', ']');
  StripInsidePairs(&s, '{', '}');
  StripInsidePairs(&s, '"', '"');
  StripInsidePairs(&s, '\'', '\'');
  ReplaceAll(&s, "= = = =", "====");
  ReplaceAll(&s, "= = =", "===");
  ReplaceAll(&s, "= =", "==");
  ReplaceAll(&s, " \xC2\xB0 ", "\xC2\xB0");
  ReplaceAll(&s, " \n", "\n");
  ReplaceAll(&s, "\n ", "\n");
  ReplaceAll(&s, " N ", " 1 ");
  ReplaceAll(&s, " 's", "'s");
  return s;
}

std::vector<std::string> SplitWikiTextDocuments(std::string_view raw) {
  const std::vector<Line> lines = SplitLines(raw);
  std::vector<std::string> docs;
  auto line_with_newline = [&](size_t k) {
    std::string l(lines[k].text);
    const size_t end =
        static_cast<size_t>(lines[k].text.data() - raw.data()) + lines[k].text.size();
    if (end < raw.size()) l.push_back('\n');
    return l;
  };
  bool seen_text = false;
  for (size_t k = 0; k < lines.size(); ++k) {
    const std::string_view l = lines[k].text;
    const bool prev_blank = k == 0 || IsBlank(lines[k - 1].text);
    const bool next_blank = k + 1 >= lines.size() || IsBlank(lines[k + 1].text);
    if (IsTitle(l) && prev_blank && next_blank) {
      docs.emplace_back();
      seen_text = true;
    } else if (!seen_text) {
      if (IsBlank(l)) continue;  // blank lines before the first title
      docs.emplace_back();       // text before any title: its own document
      seen_text = true;
    }
    docs.back() += line_with_newline(k);
  }
  return docs;
}

Result<std::string> ReadWikiText2Test(const std::string& data_dir) {
  const std::string path = data_dir + "/" + kWikiText2TestFile;
  auto text = ReadFile(path);
  if (!text.ok()) return text;
  if (text->empty()) return MakeError(path + ": empty file, expected WikiText-2 text");
  return text;
}

namespace {

Result<std::vector<Example>> LoadWikiText(const std::string& dir) {
  const std::string path = dir + "/wiki.test.raw";
  auto text = ReadFile(path);
  if (!text.ok()) return std::move(text).TakeError();
  std::vector<Example> out;
  for (std::string& page : SplitWikiTextDocuments(*text)) {
    Example ex;
    ex.index = static_cast<int>(out.size());
    ex.id = std::to_string(ex.index);
    ex.document = WikiTextDetokenize(page);
    ex.n_words = CountPythonWords(ex.document);
    ex.n_bytes = static_cast<int64_t>(ex.document.size());
    out.push_back(std::move(ex));
  }
  return out;
}

}  // namespace

TaskSpec WikiText2Task() {
  TaskSpec t{"wikitext2",
             TaskKind::kRolling,
             false,
             "wikitext-2-raw",
             std::string(kWikiText2TestFile) + " (raw WikiText-2 test split)",
             LoadWikiText};
  t.lm_eval_name = "wikitext";
  t.lm_eval_version = 2.0;
  return t;
}

}  // namespace lmul::eval
