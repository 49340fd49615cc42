// lmul_eval: loaders on tiny synthetic datasets (and their hostile-line errors), the
// wikitext helpers, metrics on hand-computable cases, and the evaluator on the tiny
// synthetic Llama model of the engine tests: logliks equal an independent full-sequence
// forward (no KV reuse), thread count and shard/merge do not change a bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/model/model.h"
#include "engine/model/session.h"
#include "engine/model/testing/tiny_llama.h"
#include "eval/evaluator.h"
#include "eval/report.h"
#include "eval/selection.h"
#include "eval/task.h"
#include "eval/wikitext.h"

namespace lmul::eval {
namespace {

namespace fs = std::filesystem;

void WriteText(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string DataDir() {
  static const std::string dir = [] {
    const fs::path d =
        fs::path(::testing::TempDir()) / ("lmul_eval_data_" + std::to_string(getpid()));
    fs::remove_all(d);
    WriteText(
        d / "arc-easy/ARC-Easy-Test.jsonl",
        R"({"id":"q0","question":{"stem":"Sky colour?","choices":[{"text":"blue","label":"A"},{"text":"green","label":"B"},{"text":"red","label":"C"}]},"answerKey":"A"})"
        "\n"
        R"({"id":"q1","question":{"stem":"2+2?","choices":[{"text":"3","label":"1"},{"text":"4","label":"2"},{"text":"5","label":"3"},{"text":"22","label":"4"}]},"answerKey":"2"})"
        "\n"
        R"({"id":"q2","question":{"stem":"Ice is","choices":[{"text":"cold","label":"A"},{"text":"hot","label":"B"}]},"answerKey":"A"})"
        "\n"
        R"({"id":"q3","question":{"stem":"Fire is","choices":[{"text":"wet","label":"A"},{"text":"hot","label":"B"}]},"answerKey":"B"})"
        "\n"
        R"({"id":"q4","question":{"stem":"A cat says","choices":[{"text":"meow","label":"A"},{"text":"woof","label":"B"},{"text":"moo","label":"C"}]},"answerKey":"A"})"
        "\n");
    WriteText(d / "piqa/valid.jsonl",
              "{\"goal\": \"Open a jar\", \"sol1\": \"twist the lid\", \"sol2\": \"eat the lid\"}\n"
              "{\"goal\": \"Dry hair\", \"sol1\": \"use water\", \"sol2\": \"use a towel  \"}\n");
    WriteText(d / "piqa/valid-labels.lst", "0\n1\n");
    WriteText(d / "hellaswag/hellaswag_val_full.txt",
              "Cooking: A man cuts bread. he\n2\nflies.\nswims.\neats it.\nsings.\n");
    WriteText(d / "lambada-openai/lambada_test.jsonl",
              "{\"text\": \"the cat sat on the mat\"}\n{\"text\": \"one two three four\"}\n");
    WriteText(d / "wikitext-2-raw/wiki.test.raw",
              " \n = Alpha = \n \n Alpha is a letter @-@ like thing , it is . \n \n"
              " = = Use = = \n \n It is used ( often ) in \" maths \" . \n \n"
              " = Beta = \n \n Beta follows alpha . The value = 1 = \n is fine . \n \n"
              " = Gamma = \n \n Gamma rays are 3 @.@ 5 times stronger . \n");
    WriteText(
        d / "winogrande/winogrande.jsonl",
        R"({"sentence": "The cup fell off the table because _ was round.", "option1": "the cup", "option2": "the table", "answer": "1"})"
        "\n"
        R"({"context_options": ["He took the", "She took the"], "continuation": " bus", "gold": 1})"
        "\n");
    WriteText(d / "boolq/val.jsonl",
              R"({"question": "is ice cold", "passage": "Ice is frozen water.", "label": true})"
              "\n"
              R"({"question": "is fire wet", "passage": "Fire burns.", "label": "false"})"
              "\n");
    return d.string();
  }();
  return dir;
}

std::vector<Example> Load(const std::string& task, const std::string& dir = DataDir()) {
  auto r = LoadTask(*FindTask(task), dir);
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? *r : std::vector<Example>{};
}

TEST(EvalTasks, RegistryHasTheIssueTasks) {
  for (const char* t : {"wikitext2", "arc_easy", "arc_challenge", "piqa", "hellaswag", "lambada",
                        "winogrande", "boolq"}) {
    EXPECT_NE(FindTask(t), nullptr) << t;
  }
  EXPECT_EQ(FindTask("mmlu"), nullptr);
}

TEST(EvalTasks, ArcPromptAndGoldByLabel) {
  auto ex = Load("arc_easy");
  ASSERT_EQ(ex.size(), 5u);
  EXPECT_EQ(ex[0].choices[0].context, "Question: Sky colour?\nAnswer:");
  EXPECT_EQ(ex[0].choices[0].continuation, " blue");
  EXPECT_EQ(ex[0].choices[0].norm_len, 4);
  EXPECT_EQ(ex[1].gold, 1);  // answerKey "2" among numeric labels
  EXPECT_EQ(ex[1].choices.size(), 4u);
  EXPECT_EQ(ex[3].gold, 1);
  EXPECT_EQ(ex[1].id, "q1");
}

TEST(EvalTasks, PiqaHellaswagLambadaWinograndeBoolq) {
  auto piqa = Load("piqa");
  ASSERT_EQ(piqa.size(), 2u);
  EXPECT_EQ(piqa[1].gold, 1);
  EXPECT_EQ(piqa[1].choices[1].continuation, " use a towel  ");  // kept as-is
  EXPECT_EQ(piqa[0].choices[0].context, "Question: Open a jar\nAnswer:");
  auto hs = Load("hellaswag");
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_EQ(hs[0].gold, 2);
  EXPECT_EQ(hs[0].choices[2].continuation, " eats it.");
  EXPECT_EQ(hs[0].choices[2].context, "Cooking: A man cuts bread. he");
  auto lb = Load("lambada");
  ASSERT_EQ(lb.size(), 2u);
  EXPECT_EQ(lb[0].choices[0].context, "the cat sat on the");
  EXPECT_EQ(lb[0].choices[0].continuation, " mat");
  auto wg = Load("winogrande");
  ASSERT_EQ(wg.size(), 2u);
  EXPECT_EQ(wg[0].choices[1].context, "The cup fell off the table because the table");
  EXPECT_EQ(wg[0].choices[1].continuation, " was round.");
  EXPECT_EQ(wg[0].gold, 0);
  EXPECT_EQ(wg[1].gold, 1);
  EXPECT_EQ(wg[1].choices[0].continuation, " bus");
  auto bq = Load("boolq");
  ASSERT_EQ(bq.size(), 2u);
  EXPECT_EQ(bq[0].gold, 1);
  EXPECT_EQ(bq[1].gold, 0);
  EXPECT_EQ(bq[0].choices[0].context, "Ice is frozen water.\nQuestion: is ice cold?\nAnswer:");
  EXPECT_EQ(bq[0].choices[1].continuation, " yes");
}

// A copy of the data dir with one file replaced.
std::string Hostile(const std::string& rel, const std::string& text) {
  static int n = 0;
  const fs::path d = fs::path(::testing::TempDir()) /
                     ("lmul_eval_bad_" + std::to_string(getpid()) + "_" + std::to_string(n++));
  fs::remove_all(d);
  fs::copy(DataDir(), d, fs::copy_options::recursive);
  WriteText(d / rel, text);
  return d.string();
}

void ExpectError(const std::string& task, const std::string& dir, const std::string& want) {
  auto r = LoadTask(*FindTask(task), dir);
  ASSERT_FALSE(r.ok()) << task << " accepted bad data";
  EXPECT_NE(r.error().find(want), std::string::npos) << r.error();
}

TEST(EvalTasks, HostileLinesNameFileAndLine) {
  const std::string good =
      R"({"id":"a","question":{"stem":"s","choices":[{"text":"x","label":"A"},{"text":"y","label":"B"}]},"answerKey":"A"})";
  ExpectError("arc_easy", Hostile("arc-easy/ARC-Easy-Test.jsonl", good + "\n" + good + "\n{oops\n"),
              "ARC-Easy-Test.jsonl:3: expected a JSON object, found invalid JSON");
  ExpectError("arc_easy", Hostile("arc-easy/ARC-Easy-Test.jsonl", good + "\n[1,2]\n"),
              "ARC-Easy-Test.jsonl:2: expected a JSON object, found array");
  ExpectError(
      "arc_easy",
      Hostile(
          "arc-easy/ARC-Easy-Test.jsonl",
          R"({"id":"a","question":{"stem":"s","choices":[{"text":"x","label":"A"},{"text":"y","label":"B"}]},"answerKey":"E"})"),
      ":1: answerKey 'E' is not one of the labels [A,B]");
  ExpectError(
      "arc_easy",
      Hostile("arc-easy/ARC-Easy-Test.jsonl",
              good + "\n" + R"({"id":"a","question":{"stem":7,"choices":[]},"answerKey":"A"})"),
      ":2: field 'stem': expected string, found number");
  ExpectError("arc_easy", Hostile("arc-easy/ARC-Easy-Test.jsonl", R"({"id":"a","answerKey":"A"})"),
              ":1: missing field 'question'");
  ExpectError("piqa", Hostile("piqa/valid-labels.lst", "0\n"), "1 labels for 2 lines");
  ExpectError("piqa", Hostile("piqa/valid-labels.lst", "0\n2\n"),
              "valid-labels.lst:2: expected a label 0 or 1, found '2'");
  ExpectError("hellaswag", Hostile("hellaswag/hellaswag_val_full.txt", "ctx\n7\na\nb\nc\nd\n"),
              "hellaswag_val_full.txt:2: expected the gold index 0..3, found '7'");
  ExpectError("hellaswag", Hostile("hellaswag/hellaswag_val_full.txt", "ctx\n1\na\nb\n"),
              "4 lines (expected 6 per item");
  ExpectError("lambada", Hostile("lambada-openai/lambada_test.jsonl", "{\"text\": \"oneword\"}\n"),
              "lambada_test.jsonl:1: field 'text': expected a passage ending in ' <last word>'");
  ExpectError("boolq",
              Hostile("boolq/val.jsonl", R"({"question": "q", "passage": "p", "label": "maybe"})"),
              "val.jsonl:1: field 'label': expected true/false");
  ExpectError("winogrande",
              Hostile("winogrande/winogrande.jsonl",
                      R"({"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"})"),
              "winogrande.jsonl:1: field 'sentence': expected a '_' blank");
  ExpectError("arc_challenge", DataDir(), "no folder");
  ExpectError("lambada", Hostile("lambada-openai/lambada_test.jsonl", ""), "holds no examples");
}

TEST(EvalWikiText, DetokenizerWordsAndDocuments) {
  EXPECT_EQ(WikiTextDetokenize(" The 3 @.@ 5 m @-@ long ( big ) \" quoted \" , it 's . \n"),
            " The 3.5 m-long (big) \"quoted\", it's.\n");  // as Python lm-eval
  EXPECT_EQ(WikiTextDetokenize("= = Use = = \n"), "== Use ==\n");
  EXPECT_EQ(WikiTextDetokenize("players ' ball"), "players' ball");
  EXPECT_EQ(CountPythonWords("a  b\nc"), 3);
  EXPECT_EQ(CountPythonWords(" a "), 3);  // re.split gives ['', 'a', '']
  EXPECT_EQ(CountPythonWords(""), 1);
  EXPECT_EQ(CountPythonWords("a\xC2\xA0"
                             "b"),
            2);  // NBSP is \s in Python
  auto docs = Load("wikitext2");
  ASSERT_EQ(docs.size(), 3u);  // " = 1 = " inside Beta is not a title (no blank line around)
  EXPECT_EQ(docs[0].document.substr(0, 13), " = Alpha =\n\nA");
  EXPECT_NE(docs[1].document.find("The value = 1 =\nis fine."), std::string::npos);
  EXPECT_EQ(docs[2].document, " = Gamma =\n\nGamma rays are 3.5 times stronger.\n");
  EXPECT_EQ(docs[2].n_bytes, static_cast<int64_t>(docs[2].document.size()));
  EXPECT_EQ(docs[2].n_words, 11);  // Python: 9 words + '' before and after
}

// ---------------------------------------------------------------------------
// Metrics on hand-made results.

ExampleResult Mc(int index, int gold, std::vector<int64_t> len,
                 std::vector<std::vector<double>> ll) {
  ExampleResult e;
  e.task = "arc_easy";
  e.index = index;
  e.id = std::to_string(index);
  e.gold = gold;
  e.norm_len = len;
  e.cont_tokens.assign(len.size(), 1);
  e.n_positions = static_cast<int64_t>(len.size());
  for (auto& l : ll) {
    ArithScore s;
    s.loglik = l;
    s.greedy.assign(l.size(), 0);
    e.arith.push_back(s);
  }
  return e;
}

const MetricRow* Find(const std::vector<MetricRow>& rows, const std::string& arith,
                      const std::string& metric) {
  for (const auto& r : rows) {
    if (r.arith == arith && r.metric == metric) return &r;
  }
  return nullptr;
}

TEST(EvalMetrics, HandComputedAccuracyNormFlipsAndMcNemar) {
  Report rep;
  rep.arith = {"ref", "alt"};
  rep.tasks = {"arc_easy"};
  rep.n_selected = {4};
  // (gold, choice lengths, ref logliks, alt logliks)
  rep.examples = {
      Mc(0, 0, {1, 1}, {{-1, -2}, {-3, -2}}),    // ref right, alt wrong
      Mc(1, 1, {1, 10}, {{-1, -5}, {-1, -12}}),  // acc wrong both; acc_norm ref right
                                                 // (-0.5 > -1), alt wrong (-1.2 < -1)
      Mc(2, 0, {2, 2}, {{-1, -2}, {-1, -2}}),    // both right
      Mc(3, 1, {1, 1}, {{-1, -2}, {-2, -1}}),    // ref wrong, alt right
  };
  rep.examples[0].arith[1].kl_sum = 0.5;
  rep.examples[0].arith[1].kl_sq_sum = 0.25;
  rep.examples[0].arith[1].top1_agree = 1;
  const auto rows = Aggregate(rep);
  EXPECT_DOUBLE_EQ(Find(rows, "ref", "acc")->value, 0.5);
  EXPECT_DOUBLE_EQ(*Find(rows, "ref", "acc")->stderr_value, std::sqrt(0.25 / 3));
  EXPECT_DOUBLE_EQ(Find(rows, "ref", "acc_norm")->value, 0.75);
  EXPECT_DOUBLE_EQ(Find(rows, "alt", "acc")->value, 0.5);
  EXPECT_EQ(Find(rows, "alt", "flips_to_wrong")->value, 1);
  EXPECT_EQ(Find(rows, "alt", "flips_to_right")->value, 1);
  EXPECT_DOUBLE_EQ(Find(rows, "alt", "mcnemar_p")->value, 1.0);
  // acc_norm: alt right on examples 2 and 3 only; flips 0 and 1 to wrong, 3 to right.
  EXPECT_DOUBLE_EQ(Find(rows, "alt", "acc_norm")->value, 0.5);
  EXPECT_EQ(Find(rows, "alt", "acc_norm_flips_to_wrong")->value, 2);
  EXPECT_EQ(Find(rows, "alt", "acc_norm_flips_to_right")->value, 1);
  EXPECT_DOUBLE_EQ(Find(rows, "alt", "acc_norm_mcnemar_p")->value, McNemarExactP(1, 2));
  EXPECT_EQ(Find(rows, "ref", "acc_norm_mcnemar_p"), nullptr);
  // |dll| over 8 choices: 2+0, 0+7, 0+0, 1+1 = 11
  EXPECT_DOUBLE_EQ(Find(rows, "alt", "mean_abs_dloglik")->value, 11.0 / 8);
  EXPECT_DOUBLE_EQ(Find(rows, "alt", "kl")->value, 0.5 / 8);  // 8 scored positions
  EXPECT_DOUBLE_EQ(Find(rows, "alt", "top1_agree")->value, 1.0 / 8);
  EXPECT_EQ(Find(rows, "ref", "kl"), nullptr);  // pair metrics only after the reference
  EXPECT_DOUBLE_EQ(McNemarExactP(0, 5), 2.0 / 32);
  EXPECT_NEAR(McNemarExactP(1, 9), 2.0 * 11 / 1024, 1e-15);
  EXPECT_DOUBLE_EQ(McNemarExactP(0, 0), 1.0);
  const std::string table = FormatTable(rep, rows);
  EXPECT_NE(table.find("0.5000 ± 0.2887"), std::string::npos) << table;
  EXPECT_NE(table.find("0.5000 (+0.0000)"), std::string::npos) << table;
}

TEST(EvalMetrics, RollingPerplexities) {
  Report rep;
  rep.arith = {"ref"};
  rep.tasks = {"wikitext2"};
  rep.n_selected = {2};
  for (int i = 0; i < 2; ++i) {
    ExampleResult e;
    e.task = "wikitext2";
    e.index = i;
    e.n_positions = 10;
    e.n_words = 5;
    e.n_bytes = 20;
    ArithScore s;
    s.loglik = {-10.0 * (i + 1)};
    s.greedy = {0};
    e.arith = {s};
    rep.examples.push_back(e);
  }
  const auto rows = Aggregate(rep);  // sum ll = -30
  EXPECT_DOUBLE_EQ(Find(rows, "ref", "word_perplexity")->value, std::exp(3.0));
  EXPECT_DOUBLE_EQ(Find(rows, "ref", "token_perplexity")->value, std::exp(1.5));
  EXPECT_DOUBLE_EQ(Find(rows, "ref", "byte_perplexity")->value, std::exp(0.75));
  EXPECT_DOUBLE_EQ(Find(rows, "ref", "bits_per_byte")->value, 0.75 / std::log(2.0));
}

TEST(EvalMetrics, LogSoftmaxAndKl) {
  const float x[2] = {0.0f, 0.0f};                               // p = (1/2, 1/2)
  const float y[2] = {0.0f, static_cast<float>(std::log(3.0))};  // q = (1/4, 3/4)
  const RowSummary sx = SummarizeRow(x, 2), sy = SummarizeRow(y, 2);
  EXPECT_NEAR(sx.lse, std::log(2.0), 1e-15);
  EXPECT_EQ(sx.argmax, 0);  // first of equal maxima (numpy argmax)
  EXPECT_EQ(sy.argmax, 1);
  const double kl = KlDivergence(x, sx.lse, y, sy.lse, 2);
  EXPECT_NEAR(kl, 0.5 * std::log(2.0) + 0.5 * std::log(2.0 / 3.0), 1e-7);
  EXPECT_EQ(KlDivergence(y, sy.lse, y, sy.lse, 2), 0.0);
}

// ---------------------------------------------------------------------------
// The evaluator on the tiny synthetic model.

using engine::testmodel::TinyLlama;
constexpr int kVocab = TinyLlama::kVocab;

const engine::Model& TinyModel() {
  static std::unique_ptr<engine::Model> model = [] {
    engine::testmodel::TinyLlamaOptions o;
    o.seed = 11;
    o.context_length = 256;
    const std::string path =
        engine::testmodel::PerProcessPath(::testing::TempDir(), "lmul_eval_tiny");
    EXPECT_TRUE(engine::testmodel::WriteTinyLlama(o, path).ok());
    auto m = engine::Model::Load(path);
    EXPECT_TRUE(m.ok()) << m.error();
    return std::move(*m);
  }();
  return *model;
}

// One token per byte (3 + byte % 61); prefix token 1.
Encoder ByteEncoder() {
  Encoder e;
  e.encode = [](std::string_view s) {
    std::vector<int32_t> t;
    for (unsigned char c : s) t.push_back(3 + c % 61);
    return t;
  };
  e.prefix_token = 1;
  return e;
}

std::vector<TaskInput> Inputs(const std::vector<std::string>& tasks, int shard_i = 0,
                              int shard_n = 1) {
  std::vector<TaskInput> in;
  for (const std::string& t : tasks) {
    TaskInput ti;
    ti.spec = FindTask(t);
    auto ex = Load(t);
    ti.n_selected = static_cast<int>(ex.size());
    for (auto& e : ex) {
      if (e.index % shard_n == shard_i) ti.examples.push_back(e);
    }
    in.push_back(ti);
  }
  return in;
}

EvalOptions Options(int threads) {
  EvalOptions o;
  o.policies = {*engine::Policy::Parse("fp32"), *engine::Policy::Parse("lmul-all"),
                *engine::Policy::Parse("fp32")};
  o.threads = threads;
  o.ctx = 64;     // no request of the synthetic data is truncated
  o.stride = 20;  // overlapping windows on the wikitext documents
  return o;
}

// Sum of log-softmax(logits row)[target] in double, as the evaluator defines it.
double LogProb(const float* row, int32_t target) {
  return static_cast<double>(row[target]) - SummarizeRow(row, kVocab).lse;
}

TEST(EvalEvaluator, LoglikEqualsIndependentFullForward) {
  const auto inputs = Inputs({"arc_easy", "lambada", "winogrande"});
  const EvalOptions o = Options(1);
  for (const bool add_bos : {false, true}) {  // true: every context starts with the prefix
    Encoder enc = ByteEncoder();
    enc.add_bos = add_bos;
    auto res = Evaluate(TinyModel(), enc, inputs, o, nullptr);
    ASSERT_TRUE(res.ok()) << res.error();
    ASSERT_EQ(res->size(), 5u + 2u + 2u);
    size_t k = 0;
    for (const TaskInput& t : inputs) {
      for (const Example& ex : t.examples) {
        const ExampleResult& r = (*res)[k++];
        ASSERT_EQ(r.index, ex.index);
        for (size_t j = 0; j < ex.choices.size(); ++j) {
          // Independent: one Forward of context + continuation from position 0.
          std::vector<int32_t> ctx = enc.encode(ex.choices[j].context);
          if (add_bos || ctx.empty()) ctx.insert(ctx.begin(), enc.prefix_token);
          const std::vector<int32_t> cont = enc.encode(ex.choices[j].continuation);
          std::vector<int32_t> all = ctx;
          all.insert(all.end(), cont.begin(), cont.end());
          engine::Session s(TinyModel(), o.policies[0], 0, 1);
          std::vector<float> logits;
          ASSERT_TRUE(s.Forward(all, &logits).ok());
          double ll = 0;
          bool greedy = true;
          for (size_t i = 0; i < cont.size(); ++i) {
            const float* row = logits.data() + (ctx.size() - 1 + i) * kVocab;
            ll += LogProb(row, cont[i]);
            greedy = greedy && SummarizeRow(row, kVocab).argmax == cont[i];
          }
          EXPECT_EQ(r.arith[0].loglik[j], ll) << ex.id << " choice " << j << " bos " << add_bos;
          EXPECT_EQ(r.arith[0].greedy[j] != 0, greedy);
          EXPECT_EQ(r.arith[2].loglik[j], ll);  // the same policy again
        }
        // fp32 against itself: no divergence; lmul-all: some.
        EXPECT_EQ(r.arith[2].kl_sum, 0.0);
        EXPECT_EQ(r.arith[2].top1_agree, r.n_positions);
        EXPECT_GT(r.arith[1].kl_sum, 0.0);
      }
    }
  }
}

TEST(EvalEvaluator, RollingWindowsScoreEveryTokenOnce) {
  const auto inputs = Inputs({"wikitext2"});
  const EvalOptions o = Options(1);
  auto res = Evaluate(TinyModel(), ByteEncoder(), inputs, o, nullptr);
  ASSERT_TRUE(res.ok()) << res.error();
  const Encoder enc = ByteEncoder();
  for (size_t d = 0; d < inputs[0].examples.size(); ++d) {
    std::vector<int32_t> u = {enc.prefix_token};
    const auto t = enc.encode(inputs[0].examples[d].document);
    u.insert(u.end(), t.begin(), t.end());
    const int N = static_cast<int>(t.size());
    // Independent: each target u[j] scored from the window that ends at it, with
    // context u[max(0, end-1-ctx) .. j).
    double ll = 0;
    int windows = 0;
    for (int first = 1; first <= N; first += o.stride, ++windows) {
      const int end = std::min(first + o.stride, N + 1);
      const int c = std::max(0, end - 1 - o.ctx);
      engine::Session s(TinyModel(), o.policies[0], 0, 1);
      std::vector<float> logits;
      ASSERT_TRUE(s.Forward(std::span<const int32_t>(u.data() + c, end - 1 - c), &logits).ok());
      for (int j = first; j < end; ++j) ll += LogProb(logits.data() + (j - 1 - c) * kVocab, u[j]);
    }
    const ExampleResult& r = (*res)[d];
    EXPECT_EQ(r.n_positions, N);
    EXPECT_EQ(static_cast<int>(r.arith[0].window_loglik.size()), windows);
    EXPECT_NEAR(r.arith[0].loglik[0], ll, 1e-9 * std::abs(ll));  // same terms, summed per window
    EXPECT_GT(windows, 1);
  }
}

std::string ResultsJson(const std::vector<TaskInput>& inputs, const EvalOptions& o,
                        std::vector<ExampleResult> ex, int shard_i, int shard_n) {
  Report rep;
  rep.model = "tiny";
  rep.arith = {"fp32", "lmul-all", "fp32-again"};
  for (const auto& t : inputs) {
    rep.tasks.push_back(t.spec->name);
    rep.n_selected.push_back(t.n_selected);
  }
  rep.ctx = o.ctx;
  rep.stride = o.stride;
  rep.shard_index = shard_i;
  rep.shard_count = shard_n;
  rep.examples = std::move(ex);
  nlohmann::ordered_json j = ToJson(rep, Aggregate(rep));
  j.erase("throughput");  // timings differ run to run
  return j.dump();
}

TEST(EvalEvaluator, ThreadsAndShardsDoNotChangeResults) {
  const std::vector<std::string> tasks = {"arc_easy",  "piqa",       "hellaswag", "lambada",
                                          "wikitext2", "winogrande", "boolq"};
  const auto all = Inputs(tasks);
  auto one = Evaluate(TinyModel(), ByteEncoder(), all, Options(1), nullptr);
  ASSERT_TRUE(one.ok()) << one.error();
  auto three = Evaluate(TinyModel(), ByteEncoder(), all, Options(3), nullptr);
  ASSERT_TRUE(three.ok()) << three.error();
  const std::string ref = ResultsJson(all, Options(1), *one, 0, 1);
  EXPECT_TRUE(ResultsJson(all, Options(3), *three, 0, 1) == ref);

  // 3 shards, written to JSON, parsed back and merged (in a scrambled order).
  std::vector<Report> shards;
  std::vector<std::string> paths;
  for (int s : {2, 0, 1}) {
    const auto in = Inputs(tasks, s, 3);
    auto r = Evaluate(TinyModel(), ByteEncoder(), in, Options(2), nullptr);
    ASSERT_TRUE(r.ok()) << r.error();
    const std::string text = ResultsJson(in, Options(2), *r, s, 3);
    paths.push_back("shard" + std::to_string(s) + ".json");
    auto rep = ReportFromJson(paths.back(), nlohmann::json::parse(text));
    ASSERT_TRUE(rep.ok()) << rep.error();
    shards.push_back(*rep);
  }
  auto merged = MergeReports(shards, paths);
  ASSERT_TRUE(merged.ok()) << merged.error();
  nlohmann::ordered_json mj = ToJson(*merged, Aggregate(*merged));
  mj.erase("throughput");
  EXPECT_TRUE(mj.dump() == ref);

  // A missing shard and a duplicated one are refused.
  auto missing = MergeReports({shards[0], shards[1]}, {paths[0], paths[1]});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("missing shard(s) 1 of 3"), std::string::npos) << missing.error();
  auto twice = MergeReports({shards[0], shards[0], shards[1]}, {paths[0], paths[0], paths[1]});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().find("given twice"), std::string::npos) << twice.error();
  // --partial: shards 2 and 0 of 3 give exactly the examples with index % 3 in {0, 2},
  // each as in the full run; a duplicated shard is still refused.
  auto partial = MergeReports({shards[0], shards[1]}, {paths[0], paths[1]}, true);
  ASSERT_TRUE(partial.ok()) << partial.error();
  size_t expected = 0;
  for (const auto& ex : merged->examples) {
    if (ex.index % 3 == 1) continue;
    ASSERT_LT(expected, partial->examples.size());
    EXPECT_EQ(partial->examples[expected].task, ex.task);
    EXPECT_EQ(partial->examples[expected].index, ex.index);
    ++expected;
  }
  EXPECT_EQ(partial->examples.size(), expected);
  EXPECT_FALSE(Aggregate(*partial).empty());
  // It says which shards it holds (in JSON too), reads back, and is refused as merge input.
  EXPECT_EQ(partial->partial_shards, (std::vector<int>{0, 2}));
  EXPECT_EQ(ShardList(partial->partial_shards), "0,2");
  EXPECT_EQ(partial->partial_of, 3);
  nlohmann::json pj = nlohmann::json::parse(ToJson(*partial, Aggregate(*partial)).dump());
  EXPECT_EQ(pj.at("partial").dump(), R"({"of":3,"shards":[0,2]})");
  auto partial_back = ReportFromJson("partial.json", pj);
  ASSERT_TRUE(partial_back.ok()) << partial_back.error();
  EXPECT_EQ(partial_back->partial_shards, (std::vector<int>{0, 2}));
  EXPECT_EQ(partial_back->partial_of, 3);
  auto again = MergeReports({*partial_back, shards[2]}, {"partial.json", paths[2]}, true);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().find("partial.json: a partial merge (shards 0,2 of 3)"),
            std::string::npos)
      << again.error();
  pj["partial"]["shards"] = {0, 3};
  auto bad_partial = ReportFromJson("partial.json", pj);
  ASSERT_FALSE(bad_partial.ok());
  EXPECT_NE(bad_partial.error().find("partial.json: field 'partial.shards'"), std::string::npos)
      << bad_partial.error();
  // A complete merge carries no "partial".
  EXPECT_FALSE(
      nlohmann::json::parse(ToJson(*merged, Aggregate(*merged)).dump()).contains("partial"));
  EXPECT_FALSE(MergeReports({shards[0], shards[0]}, {paths[0], paths[0]}, true).ok());
  // A hostile shard file: a wrong type names the field.
  nlohmann::json bad = nlohmann::json::parse(ResultsJson(all, Options(1), *one, 0, 1));
  bad["examples"][3]["scores"]["lmul-all"]["loglik"] = "x";
  auto r = ReportFromJson("bad.json", bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("bad.json: field examples[3].scores.lmul-all"), std::string::npos)
      << r.error();
}

TEST(EvalEvaluator, TooLongRequestStopsBeforeWork) {
  EvalOptions o = Options(1);
  o.ctx = 3;  // shorter than the " twist the lid" continuation
  o.stride = 3;
  auto r = Evaluate(TinyModel(), ByteEncoder(), Inputs({"piqa"}), o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("piqa example 0 (id 0): continuation of 14 tokens exceeds --ctx 3"),
            std::string::npos)
      << r.error();
}

TEST(DescribeSelection, SaysWhichPartOfTheSplit) {
  TaskInput in;
  in.n_total = 2376;
  in.n_selected = 200;
  in.examples.resize(200);
  EXPECT_EQ(DescribeSelection(in, 0, 1), "first 200 of 2376");
  in.n_selected = 2376;
  EXPECT_EQ(DescribeSelection(in, 0, 1), "all 2376");
  in.n_selected = 200;
  in.examples.resize(50);
  EXPECT_EQ(DescribeSelection(in, 1, 4), "first 200 of 2376, shard 1/4: 50");
  in.n_total = 0;
  EXPECT_EQ(DescribeSelection(in, 0, 1), "first 200");
}

// `lmul eval`'s task preparation: limit, shard, aliases, and which errors are usage errors.
TEST(SelectTasks, LimitShardAliasAndErrors) {
  LimitSpec limit = *ParseLimit("4,wikitext2=1");
  TaskSelection s = SelectTasks("arc_easy,wikitext", limit, 0, 1, 2, DataDir());
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(s.tasks, (std::vector<std::string>{"arc_easy", "wikitext2"}));
  EXPECT_EQ(s.n_total, (std::vector<int>{5, 3}));
  EXPECT_EQ(s.n_selected, (std::vector<int>{4, 1}));
  EXPECT_EQ(s.n_shot, (std::vector<int>{0, 0}));
  ASSERT_EQ(s.inputs.size(), 2u);
  // Shard 1/2 of the first 4: examples 1 and 3.
  ASSERT_EQ(s.inputs[0].examples.size(), 2u);
  EXPECT_EQ(s.inputs[0].examples[0].id, "q1");
  EXPECT_EQ(s.inputs[0].examples[1].id, "q3");
  EXPECT_EQ(s.inputs[1].examples.size(), 0u);  // wikitext2=1: only document 0, shard 0's
  EXPECT_EQ(s.n_examples(), 2u);
  EXPECT_EQ(DescribeSelection(s.inputs[0], 1, 2), "first 4 of 5, shard 1/2: 2");

  TaskSelection bad = SelectTasks("arc_easy,nope", limit, 0, 0, 1, DataDir());
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.usage_error);
  EXPECT_NE(bad.error.find("unknown task 'nope'"), std::string::npos) << bad.error;
  bad = SelectTasks("piqa,piqa", limit, 0, 0, 1, DataDir());
  EXPECT_TRUE(bad.usage_error);
  EXPECT_NE(bad.error.find("given twice"), std::string::npos) << bad.error;
  bad = SelectTasks("piqa", limit, 2, 0, 1, DataDir());  // piqa has no few-shot split
  EXPECT_TRUE(bad.usage_error);
  EXPECT_NE(bad.error.find("no few-shot split"), std::string::npos) << bad.error;
  // Missing data is a runtime error naming the folder.
  bad = SelectTasks("arc_easy", limit, 0, 0, 1, DataDir() + "/nonexistent");
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(bad.usage_error);
  EXPECT_NE(bad.error.find("nonexistent"), std::string::npos) << bad.error;
  EXPECT_NE(bad.hint.find("--data-dir"), std::string::npos);
}

}  // namespace
}  // namespace lmul::eval
