// WikiText-2 helpers, as lm-evaluation-harness's `wikitext` task reads the raw test split:
// documents (articles), its wikitext_detokenizer, and Python's len(re.split(r"\s+", s)).
#ifndef LMUL_EVAL_WIKITEXT_H_
#define LMUL_EVAL_WIKITEXT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace lmul::eval {

// The raw WikiText-2 test split under a data directory (eval/data_dir.h), as the
// `wikitext2` task and `lmul capture` read it.
inline constexpr const char* kWikiText2TestFile = "wikitext-2-raw/wiki.test.raw";
// Its text: <data_dir>/wikitext-2-raw/wiki.test.raw read by ReadFile (eval/data_file.h:
// bounded size, UTF-8 without NUL); an empty file is an error too.
Result<std::string> ReadWikiText2Test(const std::string& data_dir);

// Articles of wiki.*.raw: a document starts at a title line " = Title = " (one '=' each
// side) that has a blank line before it (or is the first non-blank line) and a blank line
// after it; it runs up to the next title, line endings included. (Two math lines of
// "Constant k filter" look like titles but are not between blank lines: 60 articles.)
std::vector<std::string> SplitWikiTextDocuments(std::string_view raw);

// lm-eval's wikitext_detokenizer (lm_eval/tasks/wikitext/preprocess_wikitext.py), the
// regular expressions rewritten as scans with Python's semantics. \s is Python's Unicode
// whitespace.
std::string WikiTextDetokenize(std::string_view page);

// len(re.split(r"\s+", s)) with Python's Unicode \s.
int64_t CountPythonWords(std::string_view s);

// Bytes of Python whitespace (\s, Unicode) starting at s[i]; 0 if none.
int PythonSpaceAt(std::string_view s, size_t i);

}  // namespace lmul::eval

#endif  // LMUL_EVAL_WIKITEXT_H_
