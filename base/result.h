// Result<T>: a value or a one-line error message (C++20 has no std::expected).
//
// Library code that touches the outside world (files, user strings, datasets)
// returns Result<T>; it never calls exit(). Tools turn an error into one line
// plus a hint. Programming errors use LMUL_CHECK (base/check.h) instead.
#ifndef LMUL_BASE_RESULT_H_
#define LMUL_BASE_RESULT_H_

#include <string>
#include <utility>
#include <variant>

namespace lmul {

// An error message; by convention it names the file or input, the field and
// what was expected ("model.gguf: tensor 'x' offset 123: beyond end of file (size 100)").
struct Error {
  std::string message;
};

inline Error MakeError(std::string message) { return Error{std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const std::string& error() const { return std::get<1>(v_).message; }
  Error TakeError() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error.message)), ok_(false) {}  // NOLINT
  static Status Ok() { return Status(); }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
  bool ok_ = true;
};

}  // namespace lmul

// Propagates an error from an expression returning Result<T>/Status.
#define LMUL_RETURN_IF_ERROR(expr)                                      \
  do {                                                                  \
    auto lmul_status_ = (expr);                                         \
    if (!lmul_status_.ok()) return ::lmul::Error{lmul_status_.error()}; \
  } while (0)

#endif  // LMUL_BASE_RESULT_H_
