// The REST status endpoint's routing, without any HTTP library: a method and a request target in,
// a status, headers and body out. The HTTPS server (https_server.cpp) only moves bytes.
//
//   GET /v1/status                    the snapshot's status JSON          (503 before the first)
//   GET /v1/apps                      the snapshot's apps JSON array      (503 before the first)
//   GET /v1/nodes                     the cluster's members, JSON array   (503 before the first)
//   GET /v1/events?since=N&limit=M    events with seq > N; since >= 0 (0), 1 <= limit (100),
//                                     a limit above 1000 is lowered to 1000
//   GET /v1/apps/{name}/logs?tail=N   text/plain; 0 <= tail (100), above 10000 lowered to 10000;
//                                     404 for an unknown app
//   GET /metrics                      Prometheus text format 0.0.4        (503 before the first)
//
// Anything else is 404; another method on a known path is 405 with `Allow: GET`. A query
// parameter that is not an integer, negative, repeated or unknown is 400. Every error body is
// `{"error": "..."}`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/api_backend.h"

namespace shoal {

struct ApiRequest {
  std::string method;  // "GET"
  std::string target;  // "/v1/events?since=3"
};

struct ApiResponse {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond Content-Type
};

constexpr int kDefaultEventLimit = 100;
constexpr int kMaxEventLimit = 1000;
constexpr int kDefaultLogTail = 100;
constexpr int kMaxLogTail = 10000;

// Calls the backend from the calling thread. Never throws.
ApiResponse routeRequest(const ApiRequest& request, ApiBackend& backend);

// `{"error": "<message>"}` with `status`.
ApiResponse errorResponse(int status, const std::string& message);

// Splits "a=1&b=x%20y" into decoded pairs; `error` says what is wrong with a bad %-escape or a
// repeated name.
struct QueryParse {
  std::map<std::string, std::string> params;
  std::string error;  // empty when parsed
};
QueryParse parseQuery(const std::string& query);
// "%2Fa+b" -> "/a b" (the `+` only when `plus_is_space`); std::nullopt for a bad escape.
std::optional<std::string> percentDecode(const std::string& text, bool plus_is_space);

}  // namespace shoal
