// The arithmetic-spec, format, policy, ops-list and distribution parsers and the CLI's
// number parsers. The first byte picks the parser; the rest is the text.
#include <cstdint>
#include <string>

#include "analysis/precision/distribution.h"
#include "analysis/precision/error_study.h"
#include "engine/model/policy.h"
#include "numeric/arith.h"
#include "tools/lmul/args.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 'A': {
      auto a = lmul::Arith::Parse(text);
      if (a.ok()) {
        // The name round-trips (the spec's own contract).
        auto again = lmul::Arith::Parse(a->Name());
        if (!again.ok() || again->Name() != a->Name()) __builtin_trap();
        (void)a->Mul(1.5f, -3.25f);
      }
      break;
    }
    case 'F':
      (void)lmul::Format::Parse(text);
      break;
    case 'P': {
      auto p = lmul::engine::Policy::Parse(text);
      if (p.ok()) {
        auto again = lmul::engine::Policy::Parse(p->Name());
        if (!again.ok()) __builtin_trap();
        (void)p->Describe();
      }
      break;
    }
    case 'O':
      (void)lmul::precision::ParseOpsList(text);
      break;
    case 'D':
      (void)lmul::precision::Distribution::Parse(text);
      break;
    default: {
      (void)lmul::cli::ParseInt("--n", text, -1000, 1000);
      (void)lmul::cli::ParseReal("--x", text, -1e6, 1e6);
      (void)lmul::cli::ParseDims("--shape", text, 'x', 3, 1, 65536);
      (void)lmul::cli::ParseShard("--shard", text);
      break;
    }
  }
  return 0;
}
