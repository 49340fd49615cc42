// The data directory of `lmul eval`: --data-dir, else $LMUL_DATA, else
// <repository root>/../shared/data (compiled in).
#ifndef LMUL_EVAL_DATA_DIR_H_
#define LMUL_EVAL_DATA_DIR_H_

#include <string>

namespace lmul::eval {

std::string DefaultDataDir();

}  // namespace lmul::eval

#endif  // LMUL_EVAL_DATA_DIR_H_
