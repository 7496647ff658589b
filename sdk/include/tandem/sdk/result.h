// Result types used at the plugin boundary.
//
// No exception crosses the plugin boundary: every fallible SDK call returns a
// Status or a Result<T> that carries either a value or the error's text.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace tandem::sdk {

// The text of a failure, written for an operator: what went wrong and, where
// known, what to do about it.
struct Error {
  std::string message;
};

// Success or an Error. Cheap to copy; default-constructed means success.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status success() { return Status(); }
  static Status failure(std::string message) { return Status(Error{std::move(message)}); }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  // Precondition: !ok().
  const std::string& message() const { return error_->message; }

 private:
  explicit Status(Error e) : error_(std::move(e)) {}
  std::optional<Error> error_;
};

// A value of type T or an Error (an expected-style result).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  static Result failure(std::string message) { return Result(Error{std::move(message)}); }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  // Precondition: ok(). Throws std::logic_error otherwise (a host bug).
  const T& value() const& {
    check();
    return std::get<T>(v_);
  }
  T& value() & {
    check();
    return std::get<T>(v_);
  }
  T&& value() && {
    check();
    return std::get<T>(std::move(v_));
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !ok().
  const std::string& message() const { return std::get<Error>(v_).message; }
  Status status() const { return ok() ? Status() : Status::failure(message()); }

 private:
  void check() const {
    if (!ok()) throw std::logic_error("Result::value() on an error: " + std::get<Error>(v_).message);
  }
  std::variant<T, Error> v_;
};

}  // namespace tandem::sdk
