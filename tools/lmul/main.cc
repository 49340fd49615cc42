// lmul: command-line front end. Subcommands live in tools/lmul/cmd_*.cc.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

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
    return app.exit(e);
  }
  for (CLI::App* sub : app.get_subcommands()) {
    if (auto it = runners.find(sub); it != runners.end() && it->second) return it->second();
  }
  return 0;
}
