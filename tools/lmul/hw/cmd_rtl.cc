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
#include "tools/lmul/hw/unit_flags.h"

namespace {

struct Options {
  std::string arith, module, out;
  lmul::cli::UnitFlags u;
};

int RunRtl(const Options& o) {
  auto arith = lmul::Arith::Parse(o.arith);
  if (!arith.ok()) return lmul::cli::UsageError("rtl", arith.error(), "e.g. --arith lmul/e4m3");
  lmul::Result<std::string> v = std::string();
  if (o.u.unit.empty()) {
    if (o.u.fused || o.u.stages != 0 || o.u.lanes != 0) {
      return lmul::cli::UsageError("rtl", "--lanes/--stages/--fused need --unit mac|dot",
                                   "e.g. --unit dot --lanes 8 --acc fp32");
    }
    v = lmul::hw::GenerateRtl(*arith, o.module);
  } else {
    auto spec = o.u.Spec(o.arith);
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
      lmul::cli::AddUnitFlags(app, &o->u,
                              {.unit = "mac or dot: a multiply-accumulate / N-lane "
                                       "dot-product unit instead of a bare multiplier",
                               .order = "dot: seq (canonical, docs/kernels.md) or tree",
                               .fused = "exact/ only: FMA-style, unrounded products, one rounding "
                                        "per add",
                               .stages = "register ranks (latency in cycles); 0 = combinational"});
      return [o] { return RunRtl(*o); };
    });

}  // namespace
