// Base64 (RFC 4648, standard alphabet, with padding): HTTP Basic credentials,
// the bytes fields of etcd's JSON gateway.
#pragma once

#include <string>
#include <string_view>

#include "tandem/sdk/result.h"

namespace tandem::sdk {

std::string base64_encode(std::string_view bytes);
// ErrorCode::invalid_argument for a character outside the alphabet, a length
// that is not a multiple of 4, or padding anywhere but at the end.
Result<std::string> base64_decode(std::string_view text);

}  // namespace tandem::sdk
