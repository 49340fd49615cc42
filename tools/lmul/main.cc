// lmul: command-line front end. Subcommands live in tools/lmul/cmd_*.cc.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "base/escape.h"
#include "lmul_version.h"  // generated: LMUL_VERSION, LMUL_GIT_DESCRIBE
#include "tools/lmul/command.h"

int main(int argc, char** argv) {
  CLI::App app{
      "lmul: bit-exact L-Mul arithmetic (Luo & Sun, arXiv 2410.00907), kernels, a transformer "
      "engine, evaluation and analysis"};
  app.set_version_flag("--version", std::string("lmul ") + LMUL_VERSION +
                                        (*LMUL_GIT_DESCRIBE ? " (git " LMUL_GIT_DESCRIBE ")" : ""));
  app.require_subcommand(1);
  auto& registry = lmul::cli::Registry();
  std::sort(registry.begin(), registry.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::map<CLI::App*, lmul::cli::Runner> runners;
  for (auto& cmd : registry) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.help);
    runners[sub] = cmd.setup(sub);
  }
  // Usage errors read like the subcommands' own: "lmul SUB: error: ...", a hint, exit 2.
  app.failure_message([](const CLI::App* top, const CLI::Error& e) {
    std::string sub;
    for (const CLI::App* s : top->get_subcommands()) sub = " " + s->get_name();
    return "lmul" + sub + ": error: " + lmul::SanitizeForTerminal(e.what()) + "\n  hint: lmul" +
           sub + " --help\n";
  });
  // llama.cpp's single-dash long options of `lmul run` (CLI11 would read "-cnv" as -c nv):
  // -cnv is --conversation, -sys is --system-prompt.
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 2; i < args.size() && args[1] == "run"; ++i) {
    if (args[i] == "-cnv") args[i] = "--conversation";
    if (args[i] == "-sys") args[i] = "--system-prompt";
  }
  std::vector<char*> argp;
  for (std::string& a : args) argp.push_back(a.data());
  try {
    app.parse(static_cast<int>(argp.size()), argp.data());
  } catch (const CLI::ParseError& e) {
    // --help / --version exit 0; every other parse or validation error is a usage error:
    // exit status 2 (CLI11's own codes, 100+, would read as crashes to scripts).
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // Last line of defence (docs/robustness.md): a library throwing (allocation failure,
  // std::length_error) is a runtime error with one line, never an abort (status 134).
  try {
    for (CLI::App* sub : app.get_subcommands()) {
      if (auto it = runners.find(sub); it != runners.end() && it->second) return it->second();
    }
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "lmul: error: out of memory\n  hint: a size or count flag is too large "
                 "for this machine\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lmul: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
