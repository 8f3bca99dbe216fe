// A tiny HTTP/1.1 client over a unix socket (libcurl's `CURLOPT_UNIX_SOCKET_PATH`), enough to speak
// to the Docker daemon. One curl easy handle per call, so one client is safe for concurrent use by
// multiple threads.
#pragma once

#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"

namespace shoal {

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query: "/v1.41/containers/json?all=1"
  std::string body;
  std::string content_type = "application/json";
  Duration timeout{30000};   // whole call; 0 = none
  Duration idle_timeout{0};  // abort when no byte arrives for this long; 0 = never
  std::stop_token stop;      // a requested stop ends the call (the response says `stopped`)
};

struct HttpResponse {
  long status = 0;
  std::string body;      // the whole body, except what a streaming call handed to `on_data`
  bool stopped = false;  // the caller's stop token ended the transfer
};

// `on_data` receives body bytes of a 2xx answer as they arrive; returning false aborts the call
// (an error). Bodies of other statuses are collected into `HttpResponse::body`.
using OnData = std::function<bool(std::string_view chunk)>;

class UnixHttpClient {
 public:
  explicit UnixHttpClient(std::string socket_path);

  const std::string& socketPath() const { return socket_; }

  // Transport failures: `kUnavailable` (can't connect, connection broken), `kTimeout` (retryable).
  // Any HTTP status is a successful call; the caller interprets it.
  Result<HttpResponse> send(const HttpRequest& req) const;
  Result<HttpResponse> stream(const HttpRequest& req, const OnData& on_data) const;

 private:
  std::string socket_;
};

// Percent-encodes everything but RFC 3986's unreserved characters and those in `keep`.
std::string urlEncode(std::string_view text, std::string_view keep = "");

}  // namespace shoal
