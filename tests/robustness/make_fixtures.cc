// lmul_make_fixtures: writes the hostile and the well-formed inputs of the robustness tests
// and the fuzzers' seed corpora with the project's builders (engine/io/gguf_builder.h), so
// no binary test file is committed (docs/robustness.md).
//
//   lmul_make_fixtures fixtures DIR   model files and datasets for tests/robustness/cli_cases.tsv
//   lmul_make_fixtures seeds DIR      one folder per fuzz target (fuzz/*.cc) with seed inputs
//
// Everything is deterministic (fixed seeds): the same build writes the same bytes.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/io/gguf_builder.h"

namespace {

using lmul::engine::GgmlType;
using lmul::engine::GgufBuilder;

// The GPT-2 byte-level alphabet: the printable bytes stand for themselves, the others are
// mapped to U+0100.. in byte order. 256 tokens make a tokenizer that encodes any text.
std::vector<std::string> ByteLevelTokens() {
  std::vector<std::string> out(256);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = self ? b : next++;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    out[b] = s;
  }
  return out;
}

// A tiny Llama (d_model 32, 4 heads of 8, 2 KV heads, d_ff 64) with knobs for the
// inconsistencies ValidateModel must refuse.
struct ModelSpec {
  int vocab = 257;            // token_embd rows
  int tokenizer_vocab = 257;  // tokenizer.ggml.tokens entries (0: no tokenizer)
  int blocks_present = 2;     // blk.L tensors written
  int blocks_declared = 2;    // llama.block_count
  int head_count_kv = 2;      // metadata (tensors are always for 2)
  std::string name = "lmul robustness fixture";
  std::vector<std::pair<std::string, std::string>> extra_strings;
};

std::vector<float> Randn(std::mt19937* rng, size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(*rng);
  return v;
}

std::vector<uint8_t> BuildModel(const ModelSpec& s) {
  constexpr int kDim = 32, kHeads = 4, kKvHeads = 2, kHeadDim = 8, kFf = 64;
  std::mt19937 rng(11);
  GgufBuilder b;
  b.AddString("general.architecture", "llama");
  b.AddString("general.name", s.name);
  for (const auto& [k, v] : s.extra_strings) b.AddString(k, v);
  b.AddUint32("llama.block_count", static_cast<uint32_t>(s.blocks_declared));
  b.AddUint32("llama.context_length", 256);
  b.AddUint32("llama.embedding_length", kDim);
  b.AddUint32("llama.feed_forward_length", kFf);
  b.AddUint32("llama.attention.head_count", kHeads);
  b.AddUint32("llama.attention.head_count_kv", static_cast<uint32_t>(s.head_count_kv));
  b.AddUint32("llama.rope.dimension_count", kHeadDim);
  b.AddFloat32("llama.rope.freq_base", 10000.0f);
  b.AddFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  if (s.tokenizer_vocab > 0) {
    std::vector<std::string> tokens = ByteLevelTokens();
    tokens.push_back("<|endoftext|>");  // id 256: BOS and EOS
    for (int i = 257; i < s.tokenizer_vocab; ++i)
      tokens.push_back("<extra_" + std::to_string(i) + ">");
    tokens.resize(static_cast<size_t>(s.tokenizer_vocab));
    std::vector<int32_t> types(tokens.size(), 1);
    if (types.size() > 256) types[256] = 3;  // control
    b.AddInt32Array("tokenizer.ggml.token_type", types);
    b.AddString("tokenizer.ggml.model", "gpt2");
    b.AddString("tokenizer.ggml.pre", "gpt2");
    b.AddStringArray("tokenizer.ggml.tokens", tokens);
    b.AddStringArray("tokenizer.ggml.merges", {});
    if (s.tokenizer_vocab > 256) {
      b.AddUint32("tokenizer.ggml.bos_token_id", 256);
      b.AddUint32("tokenizer.ggml.eos_token_id", 256);
    }
  }
  b.AddTensorF32("token_embd.weight", {kDim, s.vocab}, Randn(&rng, size_t{kDim} * s.vocab, 1.0f));
  const int qd = kHeads * kHeadDim, kvd = kKvHeads * kHeadDim;
  const float ws = 0.3f;
  for (int l = 0; l < s.blocks_present; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    b.AddTensorF32(p + "attn_norm.weight", {kDim}, std::vector<float>(kDim, 1.0f));
    b.AddTensorF32(p + "attn_q.weight", {kDim, qd}, Randn(&rng, kDim * qd, ws));
    b.AddTensorF32(p + "attn_k.weight", {kDim, kvd}, Randn(&rng, kDim * kvd, ws));
    b.AddTensorF32(p + "attn_v.weight", {kDim, kvd}, Randn(&rng, kDim * kvd, ws));
    b.AddTensorF32(p + "attn_output.weight", {qd, kDim}, Randn(&rng, kDim * qd, ws));
    b.AddTensorF32(p + "ffn_norm.weight", {kDim}, std::vector<float>(kDim, 1.0f));
    b.AddTensorF32(p + "ffn_gate.weight", {kDim, kFf}, Randn(&rng, kDim * kFf, ws));
    b.AddTensorF32(p + "ffn_up.weight", {kDim, kFf}, Randn(&rng, kDim * kFf, ws));
    b.AddTensorF32(p + "ffn_down.weight", {kFf, kDim}, Randn(&rng, kDim * kFf, ws));
  }
  b.AddTensorF32("output_norm.weight", {kDim}, std::vector<float>(kDim, 1.0f));
  return b.Build();
}

bool Write(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  f.close();
  if (!f) std::fprintf(stderr, "lmul_make_fixtures: cannot write %s\n", path.c_str());
  return static_cast<bool>(f);
}
bool Write(const std::string& path, const std::vector<uint8_t>& bytes) {
  return Write(path, bytes.data(), bytes.size());
}
bool Write(const std::string& path, const std::string& text) {
  return Write(path, text.data(), text.size());
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = static_cast<uint8_t>(rng());
  return v;
}

void MakeDir(const std::string& path) { ::mkdir(path.c_str(), 0755); }

const char kWiki[] =
    " \n = Robustness = \n \n The fixture text is short and plain . It has two paragraphs "
    ", numbers like 1 @,@ 000 and a title . \n \n = = Section = = \n \n Another line of text "
    "follows here . \n \n";

const char kPiqaQ[] =
    "{\"goal\": \"Open a jar\", \"sol1\": \"Twist the lid.\", \"sol2\": \"Freeze it.\"}\r\n"
    "{\"goal\": \"Dry a towel\", \"sol1\": \"Put it in water.\", \"sol2\": \"Hang it up.\"}\r\n";
const char kPiqaLabelsCrlf[] = "0\r\n1\r\n";

int Fixtures(const std::string& dir) {
  MakeDir(dir);
  bool ok = true;
  const std::vector<uint8_t> good = BuildModel({});
  ok &= Write(dir + "/tiny.gguf", good);
  ModelSpec s;
  s.tokenizer_vocab = 250;  // fewer pieces than embedding rows: TokenPiece would abort
  ok &= Write(dir + "/vocab_short.gguf", BuildModel(s));
  s = {};
  s.tokenizer_vocab = 260;  // more ids than embedding rows
  ok &= Write(dir + "/vocab_long.gguf", BuildModel(s));
  s = {};
  s.blocks_declared = 1;  // a 2-block file declared as 1 block
  ok &= Write(dir + "/blocks_undeclared.gguf", BuildModel(s));
  s = {};
  s.blocks_declared = 3;
  ok &= Write(dir + "/blocks_missing.gguf", BuildModel(s));
  s = {};
  s.head_count_kv = 4;  // tensors hold 2 KV heads
  ok &= Write(dir + "/heads_kv.gguf", BuildModel(s));
  s = {};
  s.name = "evil\x1b[2J\x1b]0;pwned\x07name";
  s.extra_strings = {{"general.description", "line1\nline2\r\x1b[31mred\xff"}};
  ok &= Write(dir + "/escape_name.gguf", BuildModel(s));
  ok &= Write(dir + "/truncated.gguf", good.data(), good.size() / 2);
  ok &= Write(dir + "/random.gguf", RandomBytes(4096, 5));
  ok &= Write(dir + "/empty.gguf", std::string());
  std::vector<uint8_t> bad_magic_tail = good;
  bad_magic_tail.resize(200);  // header and part of the metadata only
  ok &= Write(dir + "/header_only.gguf", bad_magic_tail);
  // Datasets.
  MakeDir(dir + "/data_random");
  MakeDir(dir + "/data_random/wikitext-2-raw");
  ok &= Write(dir + "/data_random/wikitext-2-raw/wiki.test.raw", RandomBytes(65536, 9));
  MakeDir(dir + "/data_ok");
  MakeDir(dir + "/data_ok/wikitext-2-raw");
  ok &= Write(dir + "/data_ok/wikitext-2-raw/wiki.test.raw", std::string(kWiki));
  MakeDir(dir + "/data_ok/piqa");
  ok &= Write(dir + "/data_ok/piqa/valid.jsonl", std::string(kPiqaQ));
  ok &= Write(dir + "/data_ok/piqa/valid-labels.lst", std::string(kPiqaLabelsCrlf));
  MakeDir(dir + "/data_nul");
  MakeDir(dir + "/data_nul/piqa");
  ok &= Write(dir + "/data_nul/piqa/valid.jsonl", std::string(kPiqaQ));
  ok &= Write(dir + "/data_nul/piqa/valid-labels.lst", std::string("0\n1\0\n", 5));
  // Merge inputs and NPY files.
  ok &= Write(dir + "/not_json.json", std::string("{\"shard\": [1, 2,"));
  ok &= Write(dir + "/random.npy", RandomBytes(512, 13));
  return ok ? 0 : 1;
}

// NPY v1.0: magic, version, header length, a Python dict header padded to 64 bytes.
std::vector<uint8_t> Npy(const std::string& descr, const std::string& shape,
                         const std::vector<uint8_t>& data) {
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.push_back(static_cast<uint8_t>(header.size() & 0xFF));
  out.push_back(static_cast<uint8_t>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

int Seeds(const std::string& dir) {
  MakeDir(dir);
  bool ok = true;
  auto put = [&](const std::string& target, const std::string& name, const auto& bytes) {
    MakeDir(dir + "/" + target);
    ok &= Write(dir + "/" + target + "/" + name, bytes);
  };
  // GGUF: the tiny model (also a small Model::Load + forward input), variants, a header.
  const std::vector<uint8_t> good = BuildModel({});
  ModelSpec notok;
  notok.tokenizer_vocab = 0;
  for (const char* t : {"fuzz_gguf", "fuzz_model"}) {
    put(t, "tiny.gguf", good);
    put(t, "no_tokenizer.gguf", BuildModel(notok));
    ModelSpec one;
    one.blocks_present = one.blocks_declared = 1;
    put(t, "one_block.gguf", BuildModel(one));
  }
  {
    GgufBuilder b;
    b.AddUint8("u8", 1);
    b.AddInt32("i32", -5);
    b.AddUint64("u64", 7);
    b.AddFloat64("f64", 0.5);
    b.AddBool("b", true);
    b.AddInt32Array("ia", {1, 2, 3});
    b.AddFloat32Array("fa", {1.5f});
    b.AddStringArray("sa", {"x", "yz"});
    b.AddTensor("t", GgmlType::kQ8_0, {32, 1}, std::vector<uint8_t>(34, 1));
    put("fuzz_gguf", "kinds.gguf", b.Build());
  }
  // Arithmetic specs and policies (one text per file).
  int i = 0;
  for (const char* s : {"lmul/bf16", "exact/e4m3,wide", "lmul/e8m4,rne", "mitchell/fp32",
                        "lmul/e8m23,trunc", "exact/fp16,rne,wide"}) {
    put("fuzz_spec", "arith_" + std::to_string(i++), "A" + std::string(s));
  }
  i = 0;
  for (const char* s : {"fp32", "lmul-attn", "attn.qk=lmul/e8m4,attn.av=lmul/e8m4,*=exact/fp32",
                        "*=lmul/e4m3", "lmul-all", "attn=lmul/bf16,mlp=exact/bf16@bf16"}) {
    put("fuzz_spec", "policy_" + std::to_string(i++), "P" + std::string(s));
  }
  // Datasets: a prefix byte picks the loader (fuzz/fuzz_datasets.cc).
  put("fuzz_datasets", "wikitext", "W" + std::string(kWiki));
  put("fuzz_datasets", "piqa", std::string("P") + kPiqaQ + '\0' + kPiqaLabelsCrlf);
  put("fuzz_datasets", "arc",
      std::string("A") +
          "{\"id\": \"q1\", \"question\": {\"stem\": \"Which?\", \"choices\": [{\"text\": \"a\", "
          "\"label\": \"A\"}, {\"text\": \"b\", \"label\": \"B\"}]}, \"answerKey\": \"B\"}\n");
  put("fuzz_datasets", "boolq",
      std::string("B") + "{\"question\": \"is it\", \"passage\": \"It is.\", \"answer\": true}\n");
  put("fuzz_datasets", "hellaswag",
      std::string("H") + "ctx\nending one\nending two\nending three\nending four\n2\n");
  put("fuzz_datasets", "lambada", std::string("L") + "{\"text\": \"a b c word\"}\n");
  put("fuzz_datasets", "winogrande",
      std::string("G") +
          "{\"sentence\": \"The cup fell because _ was slick.\", \"option1\": \"cup\", "
          "\"option2\": \"table\", \"answer\": \"1\"}\n");
  // Eval-merge JSON: a minimal report object.
  put("fuzz_merge", "report.json",
      std::string("{\"tool\": \"lmul eval\", \"shard\": {\"index\": 0, \"count\": 1}, "
                  "\"arith\": [\"fp32\"], \"tasks\": {}}"));
  // NPY.
  std::vector<uint8_t> f32(2 * 2 * 4, 0);
  put("fuzz_npy", "f32_2x2.npy", Npy("<f4", "(2, 2)", f32));
  put("fuzz_npy", "f32_0x2.npy", Npy("<f4", "(0, 2)", {}));
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "fixtures") != 0 && std::strcmp(argv[1], "seeds") != 0)) {
    std::fprintf(stderr, "usage: lmul_make_fixtures fixtures|seeds DIR\n");
    return 2;
  }
  return std::strcmp(argv[1], "fixtures") == 0 ? Fixtures(argv[2]) : Seeds(argv[2]);
}
