#include "eval/data_dir.h"

#include <cstdlib>

namespace lmul::eval {

std::string DefaultDataDir() {
  if (const char* d = std::getenv("LMUL_DATA"); d != nullptr && *d != '\0') return d;
  return LMUL_DEFAULT_DATA_DIR;
}

}  // namespace lmul::eval
