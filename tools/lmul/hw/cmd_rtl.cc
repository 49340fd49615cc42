// lmul rtl --arith SPEC --module NAME --out FILE.v: writes one combinational
// Verilog module NAME(input [W-1:0] a, input [W-1:0] b, output [W-1:0] y),
// W = 1+E+M, for lmul/, mitchell/ or exact/ of a format (hw/rtl.h).
// With --unit mac|dot: a multiply-accumulate or N-lane dot-product unit
// (--lanes N, --acc fp32|bf16|fp16, --order seq|tree, --fused, --stages S;
// hw/unit.h).
#include <fstream>
#include <memory>
#include <string>

#include "hw/rtl.h"
#include "hw/unit.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

struct Options {
  std::string arith, module, out;
  std::string unit, acc = "fp32", order = "seq";
  int lanes = 0;  // 0: not given (mac: 1, dot: 8)
  int stages = 0;
  bool fused = false;
};

int RunRtl(const Options& o) {
  auto arith = lmul::Arith::Parse(o.arith);
  if (!arith.ok()) return lmul::cli::UsageError("rtl", arith.error(), "e.g. --arith lmul/e4m3");
  lmul::Result<std::string> v = std::string();
  if (o.unit.empty()) {
    if (o.fused || o.stages != 0 || o.lanes != 0) {
      return lmul::cli::UsageError("rtl", "--lanes/--stages/--fused need --unit mac|dot",
                                   "e.g. --unit dot --lanes 8 --acc fp32");
    }
    v = lmul::hw::GenerateRtl(*arith, o.module);
  } else {
    const int lanes = o.lanes != 0 ? o.lanes : (o.unit == "dot" ? 8 : 1);
    auto spec = lmul::hw::MakeUnitSpec(o.unit, o.arith, o.acc, lanes, o.order, o.fused, o.stages);
    if (!spec.ok()) {
      return lmul::cli::UsageError(
          "rtl", spec.error(),
          "e.g. --unit dot --arith lmul/e4m3 --lanes 8 --acc fp32 "
          "[--order tree] [--stages 2]; exact/FMT --fused for an FMA-style "
          "unit");
    }
    v = lmul::hw::GenerateUnitRtl(*spec, o.module);
  }
  if (!v.ok()) {
    return lmul::cli::UsageError("rtl", v.error(),
                                 "lmul/<fmt>, mitchell/<fmt>, exact/<fmt> for e4m3, e5m2, bf16, "
                                 "fp16, e8mK, fp32; --module a Verilog identifier");
  }
  std::ofstream f(o.out);
  f << *v;
  f.close();
  if (!f) return lmul::cli::PrintError("rtl", "cannot write '" + o.out + "'", "check the path");
  return 0;
}

lmul::cli::Registrar reg(
    "rtl", "Write a Verilog module for an L-Mul/Mitchell/exact multiplier", [](CLI::App* app) {
      auto o = std::make_shared<Options>();
      app->add_option("--arith", o->arith,
                      "lmul/FMT, mitchell/FMT or exact/FMT (operands are "
                      "codes of FMT: rne/trunc reduction does not apply)")
          ->required();
      app->add_option("--module", o->module, "module name")->required();
      lmul::cli::AddOutputPath(app, "--out", &o->out, "output .v file")->required();
      app->add_option("--unit", o->unit,
                      "mac or dot: a multiply-accumulate / N-lane "
                      "dot-product unit instead of a bare multiplier")
          ->check(CLI::IsMember({"mac", "dot"}));
      lmul::cli::AddInt(app, "--lanes", &o->lanes, 1, 64, "dot: lanes N (default 8)")
          ->default_str("");
      app->add_option("--acc", o->acc, "accumulator format: fp32, bf16, fp16")
          ->capture_default_str()
          ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
      app->add_option("--order", o->order, "dot: seq (canonical, docs/kernels.md) or tree")
          ->capture_default_str()
          ->check(CLI::IsMember({"seq", "tree"}));
      app->add_flag("--fused", o->fused,
                    "exact/ only: FMA-style, unrounded products, one rounding "
                    "per add");
      lmul::cli::AddInt(app, "--stages", &o->stages, 0, 64,
                        "register ranks (latency in cycles); 0 = combinational");
      return [o] { return RunRtl(*o); };
    });

}  // namespace
