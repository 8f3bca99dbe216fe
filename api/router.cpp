#include "api/router.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace shoal {
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kMetrics = "text/plain; version=0.0.4; charset=utf-8";

ApiResponse okResponse(const char* content_type, std::string body) {
  return ApiResponse{200, content_type, std::move(body), {}};
}

int statusOf(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalid:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kTimeout:
      return 504;
    default:
      return 500;
  }
}

ApiResponse backendError(const Error& e) { return errorResponse(statusOf(e), e.message); }

// Reads integer parameter `name` into `out` (left alone when absent) and clamps it to `max`.
// Returns an error message, or "".
std::string intParam(const std::map<std::string, std::string>& params, const std::string& name,
                     int64_t min, int64_t max, int64_t& out) {
  auto it = params.find(name);
  if (it == params.end()) return "";
  const std::string& v = it->second;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
    return "query parameter '" + name + "' must be an integer, got '" + v + "'";
  }
  if (n < min) return "query parameter '" + name + "' must be at least " + std::to_string(min);
  out = std::min(n, max);
  return "";
}

std::string unknownParam(const std::map<std::string, std::string>& params,
                         const std::vector<std::string>& known) {
  for (const auto& [name, value] : params) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return "unknown query parameter '" + name + "'" +
           (known.empty() ? " (this path takes none)" : " (known: " + list + ")");
  }
  return "";
}

ApiResponse fromSnapshot(ApiBackend& backend, std::string Snapshot::*field, const char* type) {
  auto snap = backend.snapshot();
  if (!snap)
    return errorResponse(503, "the node has not finished its first pass yet; retry shortly");
  return okResponse(type, (*snap).*field);
}

ApiResponse events(ApiBackend& backend, const std::map<std::string, std::string>& params) {
  if (auto e = unknownParam(params, {"since", "limit"}); !e.empty()) return errorResponse(400, e);
  int64_t since = 0, limit = kDefaultEventLimit;
  for (auto e : {intParam(params, "since", 0, INT64_MAX, since),
                 intParam(params, "limit", 1, kMaxEventLimit, limit)}) {
    if (!e.empty()) return errorResponse(400, e);
  }
  auto json = backend.eventsJson(since, static_cast<int>(limit));
  if (!json) return backendError(json.error());
  return okResponse(kJson, std::move(*json));
}

ApiResponse logs(ApiBackend& backend, const std::string& app,
                 const std::map<std::string, std::string>& params) {
  if (auto e = unknownParam(params, {"tail"}); !e.empty()) return errorResponse(400, e);
  int64_t tail = kDefaultLogTail;
  if (auto e = intParam(params, "tail", 0, kMaxLogTail, tail); !e.empty())
    return errorResponse(400, e);
  auto text = backend.appLogs(app, static_cast<int>(tail));
  if (!text) return backendError(text.error());
  return okResponse(kText, std::move(*text));
}

// "/v1/apps/{name}/logs" -> the decoded name, or std::nullopt when the path is another shape.
std::optional<std::string> logsApp(const std::string& path) {
  static const std::string kPrefix = "/v1/apps/", kSuffix = "/logs";
  if (path.size() <= kPrefix.size() + kSuffix.size() || !path.starts_with(kPrefix) ||
      !path.ends_with(kSuffix)) {
    return std::nullopt;
  }
  std::string raw = path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  if (raw.find('/') != std::string::npos) return std::nullopt;
  auto name = percentDecode(raw, false);
  if (!name || name->empty() || name->find('/') != std::string::npos) return std::nullopt;
  return name;
}

}  // namespace

ApiResponse errorResponse(int status, const std::string& message) {
  nlohmann::json body = {{"error", message}};
  // `replace` keeps a response valid JSON even when a message carries invalid UTF-8.
  return ApiResponse{status,
                     kJson,
                     body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                     {}};
}

std::optional<std::string> percentDecode(const std::string& text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c != '%') {
      out += c;
    } else {
      if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        return std::nullopt;
      }
      int value = std::stoi(text.substr(i + 1, 2), nullptr, 16);
      out += static_cast<char>(value);
      i += 2;
    }
  }
  return out;
}

QueryParse parseQuery(const std::string& query) {
  QueryParse out;
  size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    size_t amp = query.find('&', start);
    std::string part =
        query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (!part.empty()) {
      size_t eq = part.find('=');
      auto name = percentDecode(part.substr(0, eq), true);
      auto value = percentDecode(eq == std::string::npos ? "" : part.substr(eq + 1), true);
      if (!name || !value) {
        out.error = "bad %-escape in query '" + part + "'";
        return out;
      }
      if (!out.params.emplace(*name, *value).second) {
        out.error = "query parameter '" + *name + "' is given twice";
        return out;
      }
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return out;
}

ApiResponse routeRequest(const ApiRequest& request, ApiBackend& backend) {
  size_t q = request.target.find('?');
  std::string path = request.target.substr(0, q);
  QueryParse query = parseQuery(q == std::string::npos ? "" : request.target.substr(q + 1));

  auto app = logsApp(path);
  bool known = app || path == "/v1/status" || path == "/v1/apps" || path == "/v1/nodes" ||
               path == "/v1/events" || path == "/metrics";
  if (!known) return errorResponse(404, "no such path: " + path);
  if (request.method != "GET") {
    ApiResponse r =
        errorResponse(405, "method " + request.method + " not allowed on " + path + "; use GET");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (!query.error.empty()) return errorResponse(400, query.error);
  if (app) return logs(backend, *app, query.params);
  if (path == "/v1/events") return events(backend, query.params);
  if (auto e = unknownParam(query.params, {}); !e.empty()) return errorResponse(400, e);
  if (path == "/v1/status") return fromSnapshot(backend, &Snapshot::status_json, kJson);
  if (path == "/v1/apps") return fromSnapshot(backend, &Snapshot::apps_json, kJson);
  if (path == "/v1/nodes") return fromSnapshot(backend, &Snapshot::nodes_json, kJson);
  return fromSnapshot(backend, &Snapshot::metrics_text, kMetrics);
}

}  // namespace shoal
