// lmul rtl --arith SPEC --module NAME --out FILE.v: writes one combinational
// Verilog module NAME(input [W-1:0] a, input [W-1:0] b, output [W-1:0] y),
// W = 1+E+M, for lmul/, mitchell/ or exact/ of a format (hw/rtl.h).
#include <fstream>
#include <memory>
#include <string>

#include "hw/rtl.h"
#include "tools/lmul/args.h"
#include "tools/lmul/command.h"

namespace {

struct Options {
  std::string arith, module, out;
};

int RunRtl(const Options& o) {
  auto arith = lmul::Arith::Parse(o.arith);
  if (!arith.ok()) return lmul::cli::UsageError("rtl", arith.error(), "e.g. --arith lmul/e4m3");
  auto v = lmul::hw::GenerateRtl(*arith, o.module);
  if (!v.ok()) {
    return lmul::cli::UsageError("rtl", v.error(),
                                 "lmul/<fmt>, mitchell/<fmt>, exact/<fmt> for e4m3, e5m2, bf16, "
                                 "fp16, e8mK (K <= 22); --module a Verilog identifier");
  }
  std::ofstream f(o.out);
  f << *v;
  f.close();
  if (!f) return lmul::cli::PrintError("rtl", "cannot write '" + o.out + "'", "check the path");
  return 0;
}

lmul::cli::Registrar reg("rtl", "Write a Verilog module for an L-Mul/Mitchell/exact multiplier",
                         [](CLI::App* app) {
                           auto o = std::make_shared<Options>();
                           app->add_option("--arith", o->arith,
                                           "lmul/FMT, mitchell/FMT or exact/FMT (operands are "
                                           "codes of FMT: rne/trunc reduction does not apply)")
                               ->required();
                           app->add_option("--module", o->module, "module name")->required();
                           lmul::cli::AddOutputPath(app, "--out", &o->out, "output .v file")->required();
                           return [o] { return RunRtl(*o); };
                         });

}  // namespace
