// Errors that cross a layer boundary.
//
// Every fallible call between layers returns `Result<T>` (`std::expected<T, Error>`). An `Error`
// carries a code, a message a person can act on (what, where, why), and whether retrying the same
// call later may help (a dead daemon, a timeout) or not (a bad spec, a missing image).
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace shoal {

enum class ErrorCode {
  kInvalid,      // the input is wrong; retrying won't help
  kNotFound,     // the thing asked for does not exist
  kConflict,     // it exists already (e.g. a container name)
  kUnavailable,  // a dependency (Docker, git remote, disk) can't be reached now
  kTimeout,      // a call ran out of time
  kIo,           // local file or database I/O failed (full disk, permissions)
  kInternal,     // anything else; a bug if it happens
};

const char* errorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  bool retryable = false;

  // "unavailable: docker: connect /var/run/docker.sock: No such file (retryable)"
  std::string str() const;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorCode code, std::string message, bool retryable = false) {
  return std::unexpected<Error>(Error{code, std::move(message), retryable});
}

// Retryable by nature: a dependency that is down or slow now may answer later.
inline std::unexpected<Error> unavailable(std::string message) {
  return fail(ErrorCode::kUnavailable, std::move(message), true);
}

inline Status ok() { return {}; }

}  // namespace shoal
