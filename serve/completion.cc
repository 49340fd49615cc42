#include "serve/completion.h"

#include <algorithm>
#include <cmath>

#include "eval/evaluator.h"

namespace lmul::serve {
namespace {

// Prompt rows run per Forward when every row's logits are needed (echo + logprobs): bounds
// the logits buffer to kChunk x n_vocab floats whatever the prompt length.
constexpr int kChunk = 32;

// Length of the longest prefix of s made of complete UTF-8 sequences (a malformed byte
// counts as complete: it will not become valid later).
size_t CompleteUtf8(std::string_view s) {
  const size_t n = s.size();
  // Look back at most 3 bytes for the start of an unfinished sequence.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    int need = 1;
    if ((c & 0xE0) == 0xC0) {
      need = 2;
    } else if ((c & 0xF0) == 0xE0) {
      need = 3;
    } else if ((c & 0xF8) == 0xF0) {
      need = 4;
    }
    return static_cast<int>(back) < need ? n - back : n;
  }
  return n;
}

void FillLogprob(const float* row, int n_vocab, int32_t token, int k, const Vocab& vocab,
                 TokenLogprob* lp) {
  const eval::RowSummary s = eval::SummarizeRow(row, n_vocab);
  lp->logprob = static_cast<double>(row[token]) - s.lse;
  lp->top.clear();
  if (k <= 0) return;
  std::vector<int32_t> idx(n_vocab);
  for (int v = 0; v < n_vocab; ++v) idx[v] = v;
  const int kk = std::min(k, n_vocab);
  std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(), [row](int32_t a, int32_t b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
  });
  for (int i = 0; i < kk; ++i) {
    lp->top.emplace_back(idx[i], static_cast<double>(row[idx[i]]) - s.lse);
  }
  (void)vocab;
}

}  // namespace

size_t FindStop(std::string_view text, std::span<const std::string> stop) {
  size_t best = std::string_view::npos;
  for (const std::string& s : stop) {
    if (s.empty()) continue;
    const size_t p = text.find(s);
    if (p != std::string_view::npos && p < best) best = p;
  }
  return best;
}

size_t StableLength(std::string_view text, std::span<const std::string> stop) {
  size_t n = CompleteUtf8(text);
  // Hold back a suffix that could still grow into a stop string.
  size_t hold = n;
  for (const std::string& s : stop) {
    const size_t max_len = std::min(s.size() - (s.empty() ? 0 : 1), n);
    for (size_t len = max_len; len > 0; --len) {
      if (text.substr(n - len, len) == std::string_view(s).substr(0, len)) {
        hold = std::min(hold, n - len);
        break;
      }
    }
  }
  return hold;
}

Status Complete(engine::Session& session, const Vocab& vocab, std::span<const int32_t> prompt,
                const GenerateParams& params, const DeltaFn& on_delta, CompletionResult* out) {
  *out = CompletionResult();
  if (prompt.empty()) return MakeError("prompt: no tokens");
  const int n_vocab = session.model().config().n_vocab;
  session.Rewind(0);
  Sampler sampler(params.sampling);
  for (int32_t t : prompt) sampler.Accept(t);
  out->prompt_tokens = static_cast<int>(prompt.size());
  const bool want_lp = params.logprobs >= 0;
  const int k = std::max(params.logprobs, 0);

  std::vector<float> row;  // next-token logits after the last token run
  if (params.echo) {
    for (size_t i = 0; i < prompt.size(); ++i) {
      if (prompt[i] < 0 || prompt[i] >= n_vocab) {
        return MakeError("prompt: token " + std::to_string(prompt[i]) + " outside [0, " +
                         std::to_string(n_vocab) + ")");
      }
      TokenLogprob lp;
      lp.token = prompt[i];
      lp.text = vocab.piece(prompt[i]);
      lp.text_offset = out->text.size();
      out->text += lp.text;
      if (want_lp) out->logprobs.push_back(std::move(lp));
    }
  }
  if (params.echo && want_lp) {
    // Every row: row i scores prompt token i + 1.
    std::vector<float> logits;
    for (size_t b = 0; b < prompt.size(); b += kChunk) {
      const size_t n = std::min<size_t>(kChunk, prompt.size() - b);
      LMUL_RETURN_IF_ERROR(session.Forward(prompt.subspan(b, n), &logits));
      for (size_t r = 0; r < n; ++r) {
        const size_t i = b + r;
        if (i + 1 < prompt.size()) {
          FillLogprob(logits.data() + r * n_vocab, n_vocab, prompt[i + 1], k, vocab,
                      &out->logprobs[i + 1]);
        }
      }
      if (b + n == prompt.size()) {
        row.assign(logits.end() - n_vocab, logits.end());
      }
    }
  } else if (params.max_tokens > 0) {
    LMUL_RETURN_IF_ERROR(session.ForwardLast(prompt, &row));
  }

  const size_t gen_begin = out->text.size();
  size_t emitted = 0;  // bytes of generated text passed to on_delta
  out->finish_reason = "length";
  for (int i = 0; i < params.max_tokens; ++i) {
    const int32_t next = sampler.Sample(row);
    if (vocab.is_end && vocab.is_end(next)) {
      // The end token is not part of the text, but has its logprobs entry (as a generated
      // token does): clients such as lm-eval drop the last entry of an echo + max_tokens 1
      // answer, which must then be the generated one.
      if (want_lp) {
        TokenLogprob lp;
        lp.token = next;
        lp.text = vocab.piece(next);
        lp.text_offset = out->text.size();
        FillLogprob(row.data(), n_vocab, next, k, vocab, &lp);
        out->logprobs.push_back(std::move(lp));
      }
      out->finish_reason = "stop";
      break;
    }
    sampler.Accept(next);
    out->generated.push_back(next);
    TokenLogprob lp;
    lp.token = next;
    lp.text = vocab.piece(next);
    lp.text_offset = out->text.size();
    if (want_lp) FillLogprob(row.data(), n_vocab, next, k, vocab, &lp);
    out->text += lp.text;
    if (want_lp) out->logprobs.push_back(std::move(lp));
    std::string_view gen = std::string_view(out->text).substr(gen_begin);
    const size_t stop_at = FindStop(gen, params.stop);
    if (stop_at != std::string_view::npos) {
      out->text.resize(gen_begin + stop_at);
      out->finish_reason = "stop";
      break;
    }
    if (on_delta) {
      const size_t stable = StableLength(gen, params.stop);
      if (!on_delta(gen.substr(emitted, stable - emitted))) {
        out->finish_reason = "cancelled";
        return Status::Ok();
      }
      emitted = stable;
    }
    if (i + 1 == params.max_tokens) break;
    LMUL_RETURN_IF_ERROR(session.Forward({&next, 1}, &row));
  }
  if (on_delta) {
    const std::string_view gen = std::string_view(out->text).substr(gen_begin);
    if (emitted < gen.size() && !on_delta(gen.substr(emitted))) out->finish_reason = "cancelled";
  }
  return Status::Ok();
}

}  // namespace lmul::serve
