// Subcommand registry of the `lmul` CLI.
//
// Each tools/lmul/cmd_<name>.cc defines a static Registrar:
//
//   static lmul::cli::Registrar reg("mul", "Multiply pairs from stdin", [](CLI::App* app) {
//     auto opts = std::make_shared<Options>();
//     app->add_option("--arith", opts->arith, "...")->required();
//     return [opts] { return RunMul(*opts); };   // returns the process exit code
//   });
//
// Tools are thin: parse flags, call a library, print. Errors are one line plus
// a hint on stderr (PrintError) and a non-zero exit code.
#ifndef LMUL_TOOLS_LMUL_COMMAND_H_
#define LMUL_TOOLS_LMUL_COMMAND_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace lmul::cli {

using Runner = std::function<int()>;
using Setup = std::function<Runner(CLI::App*)>;

struct Command {
  std::string name;
  std::string help;
  Setup setup;
};

std::vector<Command>& Registry();

struct Registrar {
  Registrar(std::string name, std::string help, Setup setup);
};

// "lmul SUB: error: <message>\n  hint: <hint>" on stderr; returns 1.
int PrintError(const std::string& sub, const std::string& message, const std::string& hint = "");

}  // namespace lmul::cli

#endif  // LMUL_TOOLS_LMUL_COMMAND_H_
