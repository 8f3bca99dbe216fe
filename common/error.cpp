#include "common/error.h"

namespace shoal {

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalid: return "invalid";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

std::string Error::str() const {
  std::string out = std::string(errorCodeName(code)) + ": " + message;
  if (retryable) out += " (retryable)";
  return out;
}

}  // namespace shoal
