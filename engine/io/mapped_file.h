// MappedFile: a read-only memory map of a whole file (POSIX mmap).
#ifndef LMUL_ENGINE_IO_MAPPED_FILE_H_
#define LMUL_ENGINE_IO_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/result.h"

namespace lmul::engine {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file maps to an empty span (no mmap).
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  // Drops this process's resident copies of the whole pages inside `range` (a part of
  // bytes()): madvise(MADV_DONTNEED) on the private, never-written map, so a later read
  // maps the file's bytes again. For data kept elsewhere in another form (lowers RSS).
  void ReleasePages(std::span<const uint8_t> range) const;

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace lmul::engine

#endif  // LMUL_ENGINE_IO_MAPPED_FILE_H_
