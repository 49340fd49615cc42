// lmul_eval on the real default model and the shared data (label `model`; skipped without
// LMUL_MODEL / the data): a few ARC-Easy questions scored with KV-cache reuse equal an
// independent full-sequence forward; the WikiText-2 preprocessing equals Python lm-eval's
// (digest of lm_eval's wikitext_detokenizer applied to the whole raw file, computed with
// the function's Python source, see docs/eval.md).
#include <gtest/gtest.h>

#include <cstdlib>

#include "engine/io/sha256.h"
#include "engine/model/model.h"
#include "engine/model/session.h"
#include "eval/data_dir.h"
#include "eval/data_file.h"
#include "eval/evaluator.h"
#include "eval/report.h"
#include "eval/wikitext.h"

namespace lmul::eval {
namespace {

std::string DataDirOrSkip() {
  const std::string d = DefaultDataDir();
  return ReadFile(d + "/arc-easy/ARC-Easy-Test.jsonl").ok() ? d : "";
}

TEST(EvalModel, WikiTextPreprocessingMatchesLmEval) {
  const std::string d = DataDirOrSkip();
  if (d.empty()) GTEST_SKIP() << "shared data not found (set LMUL_DATA)";
  auto raw = ReadFile(d + "/wikitext-2-raw/wiki.test.raw");
  ASSERT_TRUE(raw.ok()) << raw.error();
  const std::string detok = WikiTextDetokenize(*raw);
  engine::Sha256 h;
  h.Update(detok.data(), detok.size());
  // python3: lm_eval wikitext_detokenizer(open(wiki.test.raw).read()) -> sha256, words, bytes
  EXPECT_EQ(h.HexDigest(), "9971cc81cf2e5429c48844a0e64b1b32f333486d28d9407a17f76aad3e1b761a");
  EXPECT_EQ(CountPythonWords(detok), 204466);
  EXPECT_EQ(detok.size(), 1240548u);
  EXPECT_EQ(SplitWikiTextDocuments(*raw).size(), 60u);
}

TEST(EvalModel, ArcEasyFewQuestionsMatchFullForward) {
  const char* path = std::getenv("LMUL_MODEL");
  if (path == nullptr || *path == '\0') GTEST_SKIP() << "LMUL_MODEL not set";
  const std::string d = DataDirOrSkip();
  if (d.empty()) GTEST_SKIP() << "shared data not found (set LMUL_DATA)";
  auto model = engine::Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.error();
  auto enc = EncoderForModel(**model);
  ASSERT_TRUE(enc.ok()) << enc.error();
  auto ex = LoadTask(*FindTask("arc_easy"), d);
  ASSERT_TRUE(ex.ok()) << ex.error();
  ex->resize(3);
  TaskInput in{FindTask("arc_easy"), *ex, 3};
  EvalOptions o;
  o.policies = {*engine::Policy::Parse("fp32"), *engine::Policy::Parse("lmul-attn")};
  o.threads = 2;
  auto res = Evaluate(**model, *enc, {in}, o, nullptr);
  ASSERT_TRUE(res.ok()) << res.error();
  const int V = (*model)->config().n_vocab;
  for (size_t q = 0; q < 2; ++q) {  // two questions, every choice, fp32
    const Example& e = (*ex)[q];
    for (size_t j = 0; j < e.choices.size(); ++j) {
      // lm-eval's pair encoding; the context has no trailing space here.
      const std::vector<int32_t> ctx = enc->encode(e.choices[j].context);
      std::vector<int32_t> all = enc->encode(e.choices[j].context + e.choices[j].continuation);
      ASSERT_GT(all.size(), ctx.size());
      engine::Session s(**model, o.policies[0], 0, 2);
      std::vector<float> logits;
      ASSERT_TRUE(s.Forward(all, &logits).ok());
      double ll = 0;
      for (size_t i = ctx.size(); i < all.size(); ++i) {
        const float* row = logits.data() + (i - 1) * V;
        ll += static_cast<double>(row[all[i]]) - SummarizeRow(row, V).lse;
      }
      EXPECT_EQ((*res)[q].arith[0].loglik[j], ll) << e.id << " choice " << j;
    }
    EXPECT_GT((*res)[q].arith[1].kl_sum, 0.0);
    EXPECT_LT((*res)[q].arith[1].kl_sum / (*res)[q].n_positions, 0.1);  // small, not wild
  }
  // The first question is an easy one this model gets right under fp32.
  Report rep;
  rep.arith = {"fp32", "lmul-attn"};
  rep.tasks = {"arc_easy"};
  rep.n_selected = {3};
  rep.examples = *res;
  const auto rows = Aggregate(rep);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0].metric, "acc");
  EXPECT_GE(rows[0].value, 1.0 / 3);
  std::printf("%s", FormatTable(rep, rows).c_str());
}

}  // namespace
}  // namespace lmul::eval
