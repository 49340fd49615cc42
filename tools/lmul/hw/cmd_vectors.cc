// lmul vectors --arith SPEC [--count N | --exhaustive] [--out FILE]: golden test
// vectors for hardware teams, one "a b y" line of hex codes per pair after a
// header comment naming the tool, version and arithmetic (hw/rtl.h).
// With --unit mac|dot (and --lanes/--acc/--order/--fused/--stages as for lmul
// rtl): vectors of the unit (hw/unit.h), and --testbench FILE.v writes a
// self-checking testbench for the module --module NAME.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "hw/rtl.h"
#include "hw/unit.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"
#include "tools/lmul/hw/unit_flags.h"

namespace {

struct Options {
  std::string arith, out;
  uint64_t count = 10000;
  uint64_t seed = 1;
  bool exhaustive = false;
  std::string testbench, module = "dut";
  lmul::cli::UnitFlags u;
};

int WriteText(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) return lmul::cli::PrintError("vectors", "cannot write '" + path + "'", "check the path");
  return 0;
}

int RunUnitVectors(const Options& o) {
  const int lanes = o.u.Lanes();
  auto spec = o.u.Spec(o.arith);
  if (!spec.ok()) {
    return lmul::cli::UsageError(
        "vectors", spec.error(),
        "the same --unit/--arith/--lanes/--acc/--order/--fused as lmul rtl");
  }
  if (!o.exhaustive) {
    // A vector: its struct and two lane arrays (~140 bytes) plus 2 x lanes + 2 hex words
    // of text (~9 bytes each).
    auto mem = lmul::cli::CheckMemory("--count", std::to_string(o.count),
                                      o.count * (140.0L + 26.0L * lanes),
                                      "the unit's vectors and their text");
    if (!mem.ok()) return lmul::cli::UsageError("vectors", mem.error(), "use a smaller --count");
  }
  auto v = lmul::hw::MakeUnitVectors(*spec, o.exhaustive, o.count, o.seed);
  if (!v.ok()) return lmul::cli::UsageError("vectors", v.error(), "see lmul vectors --help");
  const std::string provenance =
      o.exhaustive ? std::string("exhaustive operand pairs x accumulator test values")
                   : "mt19937_64 seed " + std::to_string(o.seed) +
                         " (random, special and cancelling operands)";
  if (!o.testbench.empty()) {
    auto name = lmul::hw::GenerateUnitRtl(*spec, o.module);  // validates the module name
    if (!name.ok()) return lmul::cli::UsageError("vectors", name.error(), "--module NAME");
    if (int rc = WriteText(o.testbench, lmul::hw::UnitTestbench(*spec, o.module, v->size())))
      return rc;
  }
  return WriteText(o.out, lmul::hw::FormatUnitVectors(*spec, *v, provenance));
}

int RunVectors(const Options& o) {
  if (!o.u.unit.empty()) return RunUnitVectors(o);
  if (!o.testbench.empty()) {
    return lmul::cli::UsageError("vectors", "--testbench needs --unit mac|dot",
                                 "e.g. --unit mac --arith lmul/e4m3 --testbench tb.v");
  }
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
      lmul::cli::AddUnitFlags(app, &o->u,
                              {.unit = "mac or dot: vectors of a unit (as lmul rtl --unit)",
                               .order = "dot: seq or tree",
                               .fused = "exact/ only: FMA-style unit",
                               .stages = "register ranks of the unit (for the testbench)"});
      lmul::cli::AddOutputPath(app, "--testbench", &o->testbench,
                               "also write a self-checking testbench (.v) for the unit's module");
      app->add_option("--module", o->module, "module name the testbench instantiates")
          ->capture_default_str();
      return [o] { return RunVectors(*o); };
    });

}  // namespace
