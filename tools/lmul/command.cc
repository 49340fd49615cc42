#include "tools/lmul/command.h"

#include <cstdio>

#include "base/escape.h"

namespace lmul::cli {

std::vector<Command>& Registry() {
  static std::vector<Command> registry;
  return registry;
}

Registrar::Registrar(std::string name, std::string help, Setup setup) {
  Registry().push_back({std::move(name), std::move(help), std::move(setup)});
}

int PrintError(const std::string& sub, const std::string& message, const std::string& hint) {
  // Messages may quote untrusted text (file contents, metadata): no control character
  // reaches the terminal (docs/robustness.md).
  std::fprintf(stderr, "lmul %s: error: %s\n", sub.c_str(),
               lmul::SanitizeForTerminal(message).c_str());
  if (!hint.empty()) {
    std::fprintf(stderr, "  hint: %s\n", lmul::SanitizeForTerminal(hint).c_str());
  }
  return 1;
}

}  // namespace lmul::cli
