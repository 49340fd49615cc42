// Every dataset loader (eval/tasks, eval/wikitext.cc) on one file (two for PIQA, split at
// the first NUL byte). The first byte picks the task.
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "eval/task.h"
#include "fuzz/fuzz_util.h"

namespace {

struct Layout {
  char key;
  const char* task;
  const char* file;   // relative to the data dir (the folder is the task's spec->folder)
  const char* file2;  // PIQA labels
};
constexpr Layout kLayouts[] = {
    {'W', "wikitext2", "wikitext-2-raw/wiki.test.raw", nullptr},
    {'P', "piqa", "piqa/valid.jsonl", "piqa/valid-labels.lst"},
    {'A', "arc_easy", "arc-easy/ARC-Easy-Test.jsonl", nullptr},
    {'C', "arc_challenge", "arc-challenge/ARC-Challenge-Test.jsonl", nullptr},
    {'B', "boolq", "boolq/val.jsonl", nullptr},
    {'H', "hellaswag", "hellaswag/hellaswag_val_full.txt", nullptr},
    {'L', "lambada", "lambada-openai/lambada_test.jsonl", nullptr},
    {'G', "winogrande", "winogrande/winogrande.jsonl", nullptr},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace ev = lmul::eval;
  if (size == 0) return 0;
  for (const Layout& l : kLayouts) {
    if (l.key != static_cast<char>(data[0])) continue;
    const ev::TaskSpec* spec = ev::FindTask(l.task);
    if (spec == nullptr) return 0;
    const std::string dir = lmul::fuzz::ScratchDir() + "/data";
    const std::string folder = dir + "/" + spec->folder;
    ::mkdir(dir.c_str(), 0755);
    ::mkdir(folder.c_str(), 0755);
    const std::string main = dir + "/" + l.file;
    const uint8_t* body = data + 1;
    size_t n = size - 1;
    size_t n2 = 0;
    const uint8_t* body2 = nullptr;
    if (l.file2 != nullptr) {
      const void* nul = std::memchr(body, 0, n);
      if (nul != nullptr) {
        const size_t k = static_cast<const uint8_t*>(nul) - body;
        body2 = body + k + 1;
        n2 = n - k - 1;
        n = k;
      }
      lmul::fuzz::WriteBytes(dir + "/" + l.file2, body2 ? body2 : body, body2 ? n2 : 0);
    }
    lmul::fuzz::WriteBytes(main, body, n);
    auto ex = ev::LoadTask(*spec, dir);
    (void)ex;
    return 0;
  }
  return 0;
}
