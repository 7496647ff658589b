#include "tandem/sdk/result.h"

namespace tandem::sdk {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::ok: return "ok";
    case ErrorCode::invalid_config: return "invalid_config";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::not_supported: return "not_supported";
    case ErrorCode::refused: return "refused";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::failed: return "failed";
    case ErrorCode::internal: return "internal";
  }
  return "failed";
}

Status Status::prefixed(std::string_view what) const {
  if (ok()) return *this;
  return Error{std::string(what) + ": " + error_->message, error_->code};
}

}  // namespace tandem::sdk
