// The one error convention of tandem, plugins and host alike.
//
// Every fallible call returns a Status (success or an Error) or a Result<T>
// (a T or an Error). An Error carries a code, for the caller to decide what
// to do, and a message, for the operator to read. No exception crosses the
// plugin boundary; inside a component, propagate with TANDEM_TRY:
//
//   Status load() {
//     TANDEM_TRY(open_file());              // returns its Error if it failed
//     auto rows = read_rows();              // a Result<Rows>
//     TANDEM_TRY(rows);
//     use(*rows);
//     TANDEM_TRY_ASSIGN(header_, read_header());  // header_ = the value, or return the Error
//     return {};
//   }
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tandem::sdk {

// What kind of failure, so that callers can react without parsing text.
enum class ErrorCode {
  ok,                // not an error (the code of a successful Status)
  invalid_config,    // the configuration is wrong: fix the file (never retried)
  invalid_argument,  // a request's arguments are wrong (an action's args, a diag's args)
  not_found,         // no such store, diagnostic, action or object
  not_supported,     // the plugin does not implement this step or operation
  refused,           // a precondition does not hold (fenced, wrong role, busy): retry once it holds
  unavailable,       // a server or peer it needs cannot be reached now: retrying may succeed
  failed,            // the operation ran and failed (the default)
  internal,          // a bug: an invariant broke, an unexpected exception
};

// "invalid_config", "not_supported", ... (stable: used in JSON answers).
std::string_view to_string(ErrorCode code);

// The text of a failure, written for an operator: what went wrong and, where
// known, what to do about it. `Error{"text"}` means ErrorCode::failed.
struct Error {
  std::string message;
  ErrorCode code = ErrorCode::failed;
};

// Success or an Error. Cheap to copy; default-constructed means success.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)) {}  // NOLINT: implicit by design, `return Error{...};`

  static Status success() { return Status(); }
  static Status failure(std::string message) { return Error{std::move(message)}; }
  static Status error(ErrorCode code, std::string message) { return Error{std::move(message), code}; }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  ErrorCode code() const { return error_ ? error_->code : ErrorCode::ok; }
  // Precondition: !ok().
  const std::string& message() const { return error_->message; }
  const Error& error() const { return *error_; }
  // The same failure with "what: " in front of its message (a success stays one).
  Status prefixed(std::string_view what) const;

 private:
  std::optional<Error> error_;
};

// A value of type T or an Error (an expected-style result).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  // A failed Status (precondition: !status.ok(); a success becomes an internal error).
  Result(const Status& status)  // NOLINT: implicit by design, so TANDEM_TRY works in any function
      : v_(status.ok() ? Error{"a Result was built from a success Status (bug)", ErrorCode::internal}
                       : status.error()) {}
  static Result failure(std::string message) { return Error{std::move(message)}; }
  static Result error(ErrorCode code, std::string message) { return Error{std::move(message), code}; }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  ErrorCode code() const { return ok() ? ErrorCode::ok : std::get<Error>(v_).code; }

  // Precondition: ok(). Throws std::logic_error otherwise (a caller bug).
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
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // Precondition: !ok().
  const std::string& message() const { return std::get<Error>(v_).message; }
  const Error& error() const { return std::get<Error>(v_); }
  Status status() const { return ok() ? Status() : Status(std::get<Error>(v_)); }

 private:
  void check() const {
    if (!ok()) throw std::logic_error("Result::value() on an error: " + std::get<Error>(v_).message);
  }
  std::variant<T, Error> v_;
};

namespace detail {
inline const Error& error_of(const Status& s) { return s.error(); }
template <class T>
const Error& error_of(const Result<T>& r) {
  return r.error();
}
}  // namespace detail

}  // namespace tandem::sdk

// Evaluates `expr` (a Status or a Result<T>, possibly a named one); when it
// failed, returns its Error from the enclosing function, which returns a
// Status or any Result<U>.
#define TANDEM_TRY(expr)                                                                      \
  do {                                                                                        \
    const auto& tandem_try_result_ = (expr);                                                  \
    if (!tandem_try_result_.ok()) return ::tandem::sdk::detail::error_of(tandem_try_result_); \
  } while (0)

// Evaluates `expr` (a Result<T>); when it failed, returns its Error from the
// enclosing function, else moves its value into `lhs` (an existing lvalue).
#define TANDEM_TRY_ASSIGN(lhs, expr)                                                        \
  do {                                                                                      \
    auto tandem_try_value_ = (expr);                                                        \
    if (!tandem_try_value_.ok()) return ::tandem::sdk::detail::error_of(tandem_try_value_); \
    lhs = std::move(tandem_try_value_).value();                                             \
  } while (0)
