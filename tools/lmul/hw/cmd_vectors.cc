// lmul vectors --arith SPEC [--count N | --exhaustive] [--out FILE]: golden test
// vectors for hardware teams, one "a b y" line of hex codes per pair after a
// header comment naming the tool, version and arithmetic (hw/rtl.h).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "hw/rtl.h"
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
    return lmul::cli::PrintError("vectors", arith.error(), "e.g. --arith lmul/e4m3");
  }
  auto v = lmul::hw::MakeVectors(*arith, o.exhaustive, o.count, o.seed);
  if (!v.ok()) return lmul::cli::PrintError("vectors", v.error(), "see lmul vectors --help");
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
      auto* c = app->add_option("--count", o->count,
                                "number of pairs (specials first, then "
                                "random)");
      app->add_flag("--exhaustive", o->exhaustive, "every pair (8-bit formats)")->excludes(c);
      app->add_option("--seed", o->seed, "random seed");
      app->add_option("--out", o->out, "output file (default stdout)");
      return [o] { return RunVectors(*o); };
    });

}  // namespace
