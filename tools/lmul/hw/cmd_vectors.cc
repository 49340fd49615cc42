// lmul vectors --arith SPEC [--count N | --exhaustive] [--out FILE]: golden test
// vectors for hardware teams, one "a b y" line of hex codes per pair after a
// header comment naming the tool, version and arithmetic (hw/rtl.h).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "hw/rtl.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

struct Options {
  std::string arith, out;
  uint64_t count = 10000;
  uint64_t seed = 1;
  bool exhaustive = false;
};

int RunVectors(const Options& o) {
  auto arith = lmul::Arith::Parse(o.arith);
  if (!arith.ok()) {
    return lmul::cli::UsageError("vectors", arith.error(), "e.g. --arith lmul/e4m3");
  }
  if (!o.exhaustive) {
    // ~12 bytes a pair plus ~32 bytes of text each.
    auto mem = lmul::cli::CheckMemory("--count", std::to_string(o.count), o.count * 44.0L,
                                      "the vectors and their text");
    if (!mem.ok()) return lmul::cli::UsageError("vectors", mem.error(), "use a smaller --count");
  }
  auto v = lmul::hw::MakeVectors(*arith, o.exhaustive, o.count, o.seed);
  if (!v.ok()) return lmul::cli::UsageError("vectors", v.error(), "see lmul vectors --help");
  const std::string provenance = o.exhaustive
                                     ? std::string("exhaustive")
                                     : "specials then mt19937_64 seed " + std::to_string(o.seed);
  const std::string text = lmul::hw::FormatVectors(*arith, *v, provenance);
  if (o.out.empty() || o.out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  std::ofstream f(o.out);
  f << text;
  f.close();
  if (!f) return lmul::cli::PrintError("vectors", "cannot write '" + o.out + "'", "check the path");
  return 0;
}

lmul::cli::Registrar reg(
    "vectors", "Golden test vectors (hex a b y) of a multiplier", [](CLI::App* app) {
      auto o = std::make_shared<Options>();
      app->add_option("--arith", o->arith, "lmul/FMT, mitchell/FMT, exact/FMT")->required();
      auto* c = lmul::cli::AddInt(app, "--count", &o->count, 1, int64_t{1} << 32,
                                  "number of pairs (specials first, then random)");
      app->add_flag("--exhaustive", o->exhaustive, "every pair (8-bit formats)")->excludes(c);
      lmul::cli::AddInt(app, "--seed", &o->seed, 0, INT64_MAX, "random seed");
      lmul::cli::AddOutputPath(app, "--out", &o->out, "output file (default stdout)");
      return [o] { return RunVectors(*o); };
    });

}  // namespace
