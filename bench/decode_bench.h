// `lmul bench decode`: prefill and decode tokens/s of the engine per policy, thread count
// and weight storage, with peak RSS, load-to-first-token time and the bytes of weights the
// GEMMs read per decoded token; and, when the Python package llama_cpp is importable, the
// same prompt through llama.cpp in the same run (an optional baseline).
//
// Each record runs in a forked child process, so its peak RSS and its load time are its
// own (nothing of an earlier record stays mapped or cached in the process).
#ifndef LMUL_BENCH_DECODE_BENCH_H_
#define LMUL_BENCH_DECODE_BENCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace lmul::bench {

struct DecodeBenchOptions {
  std::string model;                  // GGUF path
  std::vector<std::string> policies;  // engine policies (presets or inline)
  std::vector<int> threads;           // 0 = all cores
  std::vector<std::string> weights;   // weight storages: "compact", "packed", "auto"
  int prompt_tokens = 128;            // prefill length
  int decode_tokens = 64;             // greedy tokens after the prompt
  int repeats = 1;                    // best of R (prefill and decode), same process
  bool llama_cpp = true;              // run the llama.cpp baseline when importable
  std::string python;                 // interpreter for the baseline ("" = $LMUL_PYTHON or python3)
};

struct DecodeRecord {
  std::string engine;   // "lmul" or "llama.cpp"
  std::string policy;   // lmul: the policy name; llama.cpp: "native"
  std::string weights;  // lmul: the weight storage; llama.cpp: "gguf"
  int threads = 0;
  int prompt_tokens = 0, decode_tokens = 0;
  double prefill_tok_s = 0, decode_tok_s = 0;
  double load_to_first_token_s = 0;  // model load + session + prefill + first token
  int64_t peak_rss_bytes = 0;        // of the process that ran this record
  int64_t weight_bytes_per_token = 0;  // bytes of GEMM weights read per decoded token
  double effective_gb_s = 0;           // weight_bytes_per_token * decode_tok_s / 1e9
  std::string note;                    // e.g. why the llama.cpp baseline was skipped
};

std::vector<std::string> DefaultDecodePolicies();  // fp32, lmul-attn, lmul-all
std::vector<std::string> DecodeWeightStorages();   // the accepted --weights values

// Progress (one line per record) on stderr. Errors: an unreadable model, a bad policy or
// weight storage.
Result<std::vector<DecodeRecord>> RunDecodeBench(const DecodeBenchOptions& opts);
std::string DecodeRecordsJson(const std::vector<DecodeRecord>& records);
std::string DecodeRecordsTable(const std::vector<DecodeRecord>& records);

}  // namespace lmul::bench

#endif  // LMUL_BENCH_DECODE_BENCH_H_
