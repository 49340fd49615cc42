#include "engine/model/generate.h"

#include <chrono>

#include "base/check.h"

namespace lmul::engine {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

std::vector<int32_t> PromptTokens(const Tokenizer& tok, const std::string& text,
                                  const std::string& system_prompt, bool chat) {
  std::vector<ChatMessage> msgs;
  if (!system_prompt.empty()) msgs.push_back({"system", system_prompt});
  msgs.push_back({"user", text});
  chat = chat || !system_prompt.empty();
  const std::string input = chat ? tok.ApplyChatTemplate(msgs) : text;
  return tok.Encode(input, tok.add_bos_default(), /*parse_special=*/chat);
}

size_t ReusablePrefix(std::span<const int32_t> cache, std::span<const int32_t> all) {
  LMUL_CHECK(!all.empty(), "ReusablePrefix: nothing to run");
  size_t keep = 0;
  while (keep < cache.size() && keep < all.size() && cache[keep] == all[keep]) ++keep;
  if (keep == all.size()) --keep;  // run at least one token for the next logits
  return keep;
}

Status Generate(Session& session, Sampler& sampler, std::span<const int32_t> prompt, int n,
                const std::function<bool(int32_t)>& is_end,
                const std::function<void(int32_t)>& on_token, GenerateStats* stats) {
  GenerateStats st;
  st.prompt_tokens = static_cast<int>(prompt.size());
  for (int32_t t : prompt) sampler.Accept(t);  // repetition history, as llama-cli
  std::vector<float> logits;
  const auto t0 = Clock::now();
  LMUL_RETURN_IF_ERROR(session.ForwardLast(prompt, &logits));
  const auto t1 = Clock::now();
  st.prefill_s = Seconds(t0, t1);
  int32_t next = sampler.Sample(logits);
  sampler.Accept(next);
  auto t_decode0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (is_end(next)) break;
    on_token(next);
    ++st.generated;
    if (i + 1 == n || session.pos() >= session.n_ctx()) break;
    if (i == 0) t_decode0 = Clock::now();
    LMUL_RETURN_IF_ERROR(session.Forward({&next, 1}, &logits));
    next = sampler.Sample(logits);
    sampler.Accept(next);
  }
  st.decoded = st.generated > 1 ? st.generated - 1 : 0;
  st.decode_s = st.decoded > 0 ? Seconds(t_decode0, Clock::now()) : 0.0;
  if (stats) *stats = st;
  return Status::Ok();
}

Conversation::Conversation(const Tokenizer& tok, Session* session, Sampler* sampler,
                           const std::string& system_prompt)
    : tok_(tok), session_(session), sampler_(sampler) {
  if (!system_prompt.empty()) messages_.push_back({"system", system_prompt});
}

Status Conversation::Turn(const std::string& user, int n,
                          const std::function<void(std::string_view)>& on_piece, TurnStats* stats) {
  messages_.push_back({"user", user});
  const std::string text = tok_.ApplyChatTemplate(messages_, /*add_generation_prompt=*/true);
  const std::vector<int32_t> all = tok_.Encode(text, tok_.add_bos_default(), true);
  if (all.empty()) return MakeError("conversation: the chat template rendered no tokens");
  const size_t keep = ReusablePrefix(cache_, all);
  if (static_cast<int>(all.size()) + 1 > session_->n_ctx()) {
    return MakeError("conversation of " + std::to_string(all.size()) +
                     " tokens exceeds the KV cache (" + std::to_string(session_->n_ctx()) + ")");
  }
  session_->Rewind(static_cast<int>(keep));
  cache_.resize(keep);
  const std::span<const int32_t> fresh(all.data() + keep, all.size() - keep);
  LMUL_RETURN_IF_ERROR(session_->ForwardLast(fresh, &logits_));
  for (int32_t t : fresh) sampler_->Accept(t);
  cache_.insert(cache_.end(), fresh.begin(), fresh.end());
  std::vector<int32_t> reply;
  for (int i = 0; i < n && session_->pos() < session_->n_ctx(); ++i) {
    const int32_t next = sampler_->Sample(logits_);
    sampler_->Accept(next);
    if (tok_.IsEndOfGeneration(next)) break;
    reply.push_back(next);
    on_piece(tok_.TokenPiece(next));
    if (session_->pos() + 1 > session_->n_ctx()) break;
    LMUL_RETURN_IF_ERROR(session_->Forward({&next, 1}, &logits_));
    cache_.push_back(next);
  }
  messages_.push_back({"assistant", tok_.Decode(reply)});
  if (stats) *stats = {fresh.size(), keep, reply.size()};
  return Status::Ok();
}

}  // namespace lmul::engine
