// The unit flags that `lmul rtl` and `lmul vectors` share (--unit, --lanes,
// --acc, --order, --fused, --stages; hw/unit.h), registered by one helper so
// the two subcommands cannot drift apart. The help texts that differ between
// the two are passed in.
#ifndef LMUL_TOOLS_LMUL_HW_UNIT_FLAGS_H_
#define LMUL_TOOLS_LMUL_HW_UNIT_FLAGS_H_

#include <string>

#include "hw/unit.h"
#include "tools/lmul/args.h"

namespace lmul::cli {

struct UnitFlags {
  std::string unit, acc = "fp32", order = "seq";
  int lanes = 0;  // 0: not given (mac: 1, dot: 8)
  int stages = 0;
  bool fused = false;

  int Lanes() const { return lanes != 0 ? lanes : (unit == "dot" ? 8 : 1); }
  Result<hw::UnitSpec> Spec(const std::string& arith) const {
    return hw::MakeUnitSpec(unit, arith, acc, Lanes(), order, fused, stages);
  }
};

// Help texts of the flags whose wording is the subcommand's own.
struct UnitFlagHelp {
  const char* unit;
  const char* order;
  const char* fused;
  const char* stages;
};

inline void AddUnitFlags(CLI::App* app, UnitFlags* f, const UnitFlagHelp& help) {
  app->add_option("--unit", f->unit, help.unit)->check(CLI::IsMember({"mac", "dot"}));
  AddInt(app, "--lanes", &f->lanes, 1, 64, "dot: lanes N (default 8)")->default_str("");
  app->add_option("--acc", f->acc, "accumulator format: fp32, bf16, fp16")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  app->add_option("--order", f->order, help.order)
      ->capture_default_str()
      ->check(CLI::IsMember({"seq", "tree"}));
  app->add_flag("--fused", f->fused, help.fused);
  AddInt(app, "--stages", &f->stages, 0, 64, help.stages);
}

}  // namespace lmul::cli

#endif  // LMUL_TOOLS_LMUL_HW_UNIT_FLAGS_H_
