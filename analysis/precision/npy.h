// Minimal NPY (NumPy .npy v1/v2/v3) reader and writer for operand-pair files.
//
// Accepted for reading: dtype '<f4' (little-endian float32), fortran_order
// False, shape (n, 2) — one operand pair per row. The file is treated as
// hostile: magic, version, header length, header syntax, dtype, order, shape
// and the data size are all checked; errors name the file and the field.
#ifndef LMUL_ANALYSIS_PRECISION_NPY_H_
#define LMUL_ANALYSIS_PRECISION_NPY_H_

#include <string>
#include <vector>

#include "base/result.h"

namespace lmul::precision {

// Rows of an (n, 2) float32 array, row-major: pairs[2*i], pairs[2*i+1].
Result<std::vector<float>> ReadNpyPairs(const std::string& path);
// Parses an in-memory NPY image (`name` is used in error messages).
Result<std::vector<float>> ParseNpyPairs(const std::string& bytes, const std::string& name);

// Writes an (n, 2) float32 NPY v1.0 file; `pairs` has 2n elements.
Status WriteNpyPairs(const std::string& path, const std::vector<float>& pairs);
std::string NpyPairsImage(const std::vector<float>& pairs);

}  // namespace lmul::precision

#endif  // LMUL_ANALYSIS_PRECISION_NPY_H_
