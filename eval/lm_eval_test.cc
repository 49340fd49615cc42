// lm-evaluation-harness conventions: CPython's random and lm-eval's few-shot sampler (goldens
// from eval/make_fewshot_goldens.py: Python 3.11.7, lm-eval 0.4.13, the shared venv), gsm8k's
// filters and exact match (same script), the --limit/--shard/--arith grammars, task aliases,
// the results JSON, and greedy generation on the tiny synthetic model.
#include "eval/lm_eval.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/model/model.h"
#include "engine/model/session.h"
#include "engine/model/testing/tiny_llama.h"
#include "eval/evaluator.h"
#include "eval/py_random.h"
#include "eval/report.h"
#include "eval/selection.h"
#include "eval/task.h"

namespace lmul::eval {
namespace {

TEST(PyRandomTest, MatchesCPython) {
  PyRandom r(1234);
  EXPECT_EQ(r.GetRandBits(32), 4150886329u);
  EXPECT_EQ(r.GetRandBits(32), 3342196574u);
  EXPECT_EQ(r.GetRandBits(32), 1892932127u);
  PyRandom big((uint64_t{1} << 40) + 7);  // a two-word seed
  EXPECT_EQ(big.GetRandBits(32), 2635837658u);
  EXPECT_EQ(big.GetRandBits(32), 3209733218u);
  EXPECT_EQ(big.RandBelow(1000), 834u);
  EXPECT_EQ(big.GetRandBits(40), 1039115507387u);
  PyRandom s(1234);  // both branches of random.sample, in sequence on one generator
  EXPECT_EQ(s.Sample(2251, 5), (std::vector<size_t>{1805, 478, 30, 371, 143}));
  EXPECT_EQ(
      s.Sample(2251, 25),
      (std::vector<size_t>{343, 403, 1452, 969,  71,   126, 64,   1417, 1983, 1898, 608,  373, 749,
                           468, 59,  2060, 1993, 1023, 264, 2216, 1908, 280,  364,  2109, 188}));
  EXPECT_EQ(s.Sample(10, 4), (std::vector<size_t>{4, 8, 1, 5}));
  EXPECT_EQ(s.Sample(30, 8), (std::vector<size_t>{9, 15, 27, 11, 8, 7, 20, 6}));
}

std::vector<Example> Docs(int n, TaskKind kind) {
  std::vector<Example> v(n);
  for (int i = 0; i < n; ++i) {
    v[i].index = i;
    v[i].shot_text = "Q" + std::to_string(i) + " A" + std::to_string(i);
    if (kind == TaskKind::kGenerate) {
      v[i].prompt = "Question: q" + std::to_string(i) + "\nAnswer:";
    } else {
      v[i].choices = {{"Question: q\nAnswer:", " x", 1}, {"Question: q\nAnswer:", " y", 1}};
    }
  }
  return v;
}

TEST(FewshotTest, LmEvalContextSamplerSequence) {
  // lm-eval: ContextSampler(docs, rnd=1234).sample(k) per document, in document order.
  const TaskSpec* arc = FindTask("arc_easy");
  const TaskSpec* gsm = FindTask("gsm8k");
  ASSERT_NE(arc, nullptr);
  ASSERT_NE(gsm, nullptr);
  std::vector<Example> ex = Docs(3, TaskKind::kMultipleChoice);
  auto got = ApplyFewshot(*arc, Docs(2251, TaskKind::kMultipleChoice), 5, kFewshotSeed, &ex);
  ASSERT_TRUE(got.ok()) << got.error();
  EXPECT_EQ(*got, (std::vector<std::vector<size_t>>{{1805, 478, 30, 371, 143},
                                                    {343, 403, 1452, 969, 71},
                                                    {126, 64, 1417, 1983, 1898}}));
  // The prefix "{shot}\n\n" per shot goes before every choice's context.
  EXPECT_EQ(ex[0].choices[1].context.rfind("Q1805 A1805\n\nQ478 A478\n\n", 0), 0u);
  EXPECT_EQ(
      ex[0].choices[0].context,
      "Q1805 A1805\n\nQ478 A478\n\nQ30 A30\n\nQ371 A371\n\nQ143 A143\n\nQuestion: q\nAnswer:");
  EXPECT_EQ(ex[0].choices[1].continuation, " y");

  std::vector<Example> g = Docs(3, TaskKind::kGenerate);
  got = ApplyFewshot(*gsm, Docs(7473, TaskKind::kGenerate), 5, kFewshotSeed, &g);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, (std::vector<std::vector<size_t>>{{6374, 3610, 957, 61, 742},
                                                    {7462, 6610, 4769, 286, 5501},
                                                    {5677, 687, 806, 6279, 2905}}));
  EXPECT_EQ(g[2].prompt.substr(0, 14), "Q5677 A5677\n\nQ");
  EXPECT_NE(g[2].prompt.find("\n\nQuestion: q2\nAnswer:"), std::string::npos);
  // Small pools take random.sample's other branch.
  std::vector<Example> s = Docs(3, TaskKind::kGenerate);
  got = ApplyFewshot(*gsm, Docs(12, TaskKind::kGenerate), 3, kFewshotSeed, &s);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, (std::vector<std::vector<size_t>>{{7, 1, 0}, {1, 9, 0}, {10, 1, 11}}));
  // k = 0: untouched; k larger than the pool: an error naming the task.
  std::vector<Example> z = Docs(1, TaskKind::kGenerate);
  EXPECT_TRUE(ApplyFewshot(*gsm, Docs(2, TaskKind::kGenerate), 0, 1234, &z)->empty());
  EXPECT_EQ(z[0].prompt, "Question: q0\nAnswer:");
  auto too_many = ApplyFewshot(*gsm, Docs(2, TaskKind::kGenerate), 3, 1234, &z);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.error().find("gsm8k has only 2"), std::string::npos);
}

TEST(Gsm8kTest, FiltersAndExactMatchAsLmEval) {
  const std::string ref = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n#### 18";
  struct Case {
    const char* resp;
    const char* strict;
    const char* flexible;
    bool em_strict, em_flexible;
  };
  const Case cases[] = {
      {" She has 16 - 3 - 4 = 9 eggs.\n#### 18", "18", "18", true, true},
      {" The answer is $1,000.", "[invalid]", "$1,000.", false, false},
      {" 5 apples and 12.5 pears.\n", "[invalid]", "12.5", false, false},
      {" no numbers here", "[invalid]", "[invalid]", false, false},
      {" #### -3.\nQuestion:", "-3.", "-3.", false, false},
      {" 7", "[invalid]", "7", false, false},
      {" It costs $18.00 in total. #### 18", "18", "18", true, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Gsm8kStrictMatch(c.resp), c.strict) << c.resp;
    EXPECT_EQ(Gsm8kFlexibleExtract(c.resp), c.flexible) << c.resp;
    EXPECT_EQ(Gsm8kExactMatch(c.strict, ref), c.em_strict) << c.resp;
    EXPECT_EQ(Gsm8kExactMatch(c.flexible, ref), c.em_flexible) << c.resp;
  }
  EXPECT_TRUE(Gsm8kExactMatch("$1,000.", "So 1,000\n#### 1000"));
  EXPECT_TRUE(Gsm8kExactMatch("-3.", "x\n#### -3"));
  EXPECT_FALSE(Gsm8kExactMatch("18", "#### 18.\n"));  // Python's "$" before a final "\n"
  EXPECT_TRUE(Gsm8kExactMatch("ABC", "#### abc"));
  EXPECT_FALSE(Gsm8kExactMatch("18", "#### 180"));
  EXPECT_EQ(CutAtStopSequences(" 42\n\nQuestion: next<|im_end|>", {"Question:", "<|im_end|>"}),
            " 42\n\n");
  EXPECT_EQ(FindAll("(a)|(b)", "ab").size(), 2u);
  EXPECT_EQ(FindAll("(a)|(b)", "ab")[1], (std::vector<std::string>{"", "b"}));
}

TEST(SelectionTest, LimitGrammar) {
  auto l = ParseLimit("0.1,wikitext=2,arc_easy=0.5");
  ASSERT_TRUE(l.ok()) << l.error();
  EXPECT_EQ(LimitFor(*l, "piqa", 1838), 184);   // ceil(183.8), lm-eval's get_sample_size
  EXPECT_EQ(LimitFor(*l, "wikitext2", 60), 2);  // alias resolved
  EXPECT_EQ(LimitFor(*l, "arc_easy", 2376), 1188);
  EXPECT_EQ(LimitFor(*ParseLimit("5"), "piqa", 3), 3);
  EXPECT_EQ(LimitFor(*ParseLimit(""), "piqa", 30), 30);
  EXPECT_EQ(LimitFor(*ParseLimit("0"), "piqa", 30), 0);
  EXPECT_EQ(LimitFor(*ParseLimit("0.001"), "wikitext2", 60), 1);
  for (const char* bad : {"x", "1.5", "1.0", "-2", "0.0", "5,", "nope=3", "arc_easy=", "1e3"}) {
    auto r = ParseLimit(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find("--limit"), std::string::npos) << r.error();
    }
  }
}

TEST(SelectionTest, ShardArithAndAliases) {
  EXPECT_EQ(*ParseShard("2/4"), (std::pair<int, int>{2, 4}));
  for (const char* bad : {"4/4", "-1/2", "1", "1/2x", "0/0"}) EXPECT_FALSE(ParseShard(bad).ok());
  auto a = ParseArithList({"fp32,lmul-attn", "attn=lmul/e8m4,*=exact/fp32"});
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->names.size(), 3u);
  EXPECT_EQ(a->names[0], "fp32");
  EXPECT_EQ(ParseArithList({})->names, std::vector<std::string>{"fp32"});
  EXPECT_NE(ParseArithList({"fp32", "fp32"}).error().find("'fp32' given twice"), std::string::npos);
  EXPECT_NE(ParseArithList({"fp32,"}).error().find("empty arithmetic"), std::string::npos);
  EXPECT_NE(ParseArithList({"lmul-atn"}).error().find("unknown policy"), std::string::npos);
  EXPECT_EQ(FindTaskOrAlias("wikitext")->name, "wikitext2");
  EXPECT_EQ(FindTaskOrAlias("lambada_openai")->name, "lambada");
  EXPECT_EQ(FindTaskOrAlias("gsm8k")->kind, TaskKind::kGenerate);
  EXPECT_EQ(FindTaskOrAlias("arc"), nullptr);
  EXPECT_EQ(LmEvalName(*FindTask("wikitext2")), "wikitext");
  EXPECT_EQ(LmEvalName(*FindTask("piqa")), "piqa");
}

TEST(LmEvalJsonTest, ResultsLayoutAndPaths) {
  Report rep;
  rep.model = "m.gguf";
  rep.arith = {"fp32", "attn=lmul/e8m4,*=exact/fp32"};
  rep.tasks = {"arc_easy", "wikitext2", "gsm8k"};
  rep.n_selected = {2, 1, 1};
  rep.n_total = {2376, 60, 1319};
  rep.n_shot = {3, 0, 5};
  rep.limit = "0.5";
  std::vector<MetricRow> rows = {
      {"arc_easy", "fp32", "acc", 0.5, 0.5, 2},
      {"arc_easy", "fp32", "acc_norm", 1.0, 0.0, 2},
      {"wikitext2", "fp32", "word_perplexity", 30.0, std::nullopt, 100},
      {"gsm8k", "fp32", "exact_match_strict", 0.0, 0.0, 1},
      {"gsm8k", "fp32", "exact_match_flexible", 1.0, 0.0, 1},
      {"arc_easy", rep.arith[1], "acc", 0.0, 0.0, 2},
  };
  const auto j = ToLmEvalJson(rep, rows, 0);
  EXPECT_EQ(j["results"]["arc_easy"]["acc,none"], 0.5);
  EXPECT_EQ(j["results"]["arc_easy"]["acc_stderr,none"], 0.5);
  EXPECT_EQ(j["results"]["arc_easy"]["acc_norm,none"], 1.0);
  EXPECT_EQ(j["results"]["wikitext"]["word_perplexity,none"], 30.0);
  EXPECT_EQ(j["results"]["wikitext"]["word_perplexity_stderr,none"], "N/A");
  EXPECT_EQ(j["results"]["gsm8k"]["exact_match,strict-match"], 0.0);
  EXPECT_EQ(j["results"]["gsm8k"]["exact_match,flexible-extract"], 1.0);
  EXPECT_EQ(j["results"]["gsm8k"]["exact_match_stderr,flexible-extract"], 0.0);
  EXPECT_EQ(j["results"]["arc_easy"]["sample_len"], 2);
  EXPECT_EQ(j["n-shot"]["arc_easy"], 3);
  EXPECT_EQ(j["n-shot"]["gsm8k"], 5);
  EXPECT_EQ(j["versions"]["gsm8k"], 3.0);
  EXPECT_EQ(j["versions"]["wikitext"], 2.0);
  EXPECT_EQ(j["n-samples"]["arc_easy"]["original"], 2376);
  EXPECT_EQ(j["n-samples"]["arc_easy"]["effective"], 2);
  EXPECT_EQ(j["higher_is_better"]["wikitext"]["word_perplexity"], false);
  EXPECT_EQ(j["higher_is_better"]["gsm8k"]["exact_match"], true);
  EXPECT_EQ(j["configs"]["gsm8k"]["output_type"], "generate_until");
  EXPECT_EQ(j["configs"]["gsm8k"]["generation_kwargs"]["until"][0], "Question:");
  EXPECT_EQ(j["configs"]["arc_easy"]["lmul_arith"], "fp32");
  EXPECT_EQ(j["config"]["limit"], 0.5);
  EXPECT_EQ(j["config"]["fewshot_seed"], 1234);
  EXPECT_EQ(j["config"]["model_args"], "pretrained=m.gguf,arith=fp32");
  // The other arithmetic's file holds its own values only.
  const auto j1 = ToLmEvalJson(rep, rows, 1);
  EXPECT_EQ(j1["results"]["arc_easy"]["acc,none"], 0.0);
  EXPECT_FALSE(j1["results"]["arc_easy"].contains("acc_norm,none"));
  EXPECT_EQ(j1["config"]["lmul_arith"], rep.arith[1]);
  EXPECT_EQ(j1["config"]["lmul_reference_arith"], "fp32");

  EXPECT_EQ(LmEvalResultPaths("out/r.json", {"fp32"}), std::vector<std::string>{"out/r.json"});
  EXPECT_EQ(
      LmEvalResultPaths("out/r.json", rep.arith),
      (std::vector<std::string>{"out/r_fp32.json", "out/r_attn_lmul_e8m4___exact_fp32.json"}));
  EXPECT_EQ(LmEvalResultPaths("out", {"lmul-attn"}),
            std::vector<std::string>{"out/results_lmul-attn.json"});
  EXPECT_EQ(LmulResultPath("out/r.json"), "out/r.lmul.json");
  EXPECT_EQ(LmulResultPath("out"), "out/lmul_results.json");
}

TEST(Gsm8kTest, LoaderAndGenerationOnTinyModel) {
  const std::string dir = ::testing::TempDir() + "/lmul_gsm8k_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/gsm8k");
  {
    std::ofstream f(dir + "/gsm8k/test.jsonl");
    f << R"({"question": "One plus one?", "answer": "1+1=<<1+1=2>>2\n#### 2"})"
      << "\n";
    f << R"({"question": "Two?", "answer": "#### 2"})"
      << "\n";
  }
  const TaskSpec* spec = FindTask("gsm8k");
  auto ex = LoadTask(*spec, dir);
  ASSERT_TRUE(ex.ok()) << ex.error();
  ASSERT_EQ(ex->size(), 2u);
  EXPECT_EQ((*ex)[0].prompt, "Question: One plus one?\nAnswer:");
  EXPECT_EQ((*ex)[0].target, "1+1=<<1+1=2>>2\n#### 2");
  EXPECT_EQ((*ex)[0].shot_text, "Question: One plus one?\nAnswer: 1+1=<<1+1=2>>2\n#### 2");
  {
    std::ofstream f(dir + "/gsm8k/test.jsonl");
    f << R"({"question": "q", "answer": "no final answer"})"
      << "\n";
  }
  auto bad = LoadTask(*spec, dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("test.jsonl:1: field 'answer': expected the final answer"),
            std::string::npos)
      << bad.error();

  // Greedy generation on the tiny model equals a hand-written greedy loop; token t decodes
  // to "<t>", the stop sequence "<5>" cuts the text.
  engine::testmodel::TinyLlamaOptions o;
  o.seed = 11;
  o.context_length = 256;
  const std::string path = engine::testmodel::PerProcessPath(::testing::TempDir(), "lmul_gen");
  ASSERT_TRUE(engine::testmodel::WriteTinyLlama(o, path).ok());
  auto model = engine::Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.error();
  Encoder enc;
  enc.encode = [](std::string_view s) {
    std::vector<int32_t> t;
    for (unsigned char c : s) t.push_back(3 + c % 61);
    return t;
  };
  enc.prefix_token = 1;
  enc.decode = [](std::span<const int32_t> t) {
    std::string s;
    for (int32_t x : t) s += "<" + std::to_string(x) + ">";
    return s;
  };
  enc.is_end_of_generation = [](int32_t t) { return t == 2; };
  TaskSpec gen = *spec;
  gen.max_gen_toks = 12;
  gen.until = {"<5>"};
  Example e;
  e.index = 0;
  e.id = "0";
  e.prompt = "Question: q\nAnswer:";
  e.target = "#### 1";
  TaskInput in;
  in.spec = &gen;
  in.examples = {e};
  in.n_selected = 1;
  EvalOptions eo;
  eo.policies = {*engine::Policy::Parse("fp32"), *engine::Policy::Parse("lmul-all")};
  eo.ctx = 64;
  eo.stride = 64;
  auto res = Evaluate(**model, enc, {in}, eo, nullptr);
  ASSERT_TRUE(res.ok()) << res.error();
  for (int a = 0; a < 2; ++a) {
    engine::Session s(**model, eo.policies[a], 65, 1);
    std::vector<int32_t> toks = enc.encode(e.prompt);
    std::vector<float> logits;
    ASSERT_TRUE(s.ForwardLast(toks, &logits).ok());
    std::vector<int32_t> out;
    std::string want;
    while (true) {
      int32_t best = 0;
      for (int v = 1; v < static_cast<int>(logits.size()); ++v) {
        if (logits[v] > logits[best]) best = v;
      }
      if (best == 2) break;
      out.push_back(best);
      want = enc.decode(out);
      if (out.size() >= 12 || want.find("<5>") != std::string::npos) break;
      ASSERT_TRUE(s.Forward({&best, 1}, &logits).ok());
    }
    want = CutAtStopSequences(want, gen.until);
    EXPECT_EQ((*res)[0].arith[a].generation, want) << a;
    EXPECT_GT((*res)[0].arith[a].generated_tokens, 0);
  }
  EXPECT_EQ((*res)[0].target, "#### 1");
  // --ctx too small for the generation budget: an error before any forward pass.
  eo.ctx = 12;
  eo.stride = 12;
  auto small = Evaluate(**model, enc, {in}, eo, nullptr);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().find("leaves no room"), std::string::npos);
  std::filesystem::remove_all(dir);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace lmul::eval
