#include "runtime/docker_runtime.h"

#include "common/log.h"
#include "runtime/docker_json.h"
#include "runtime/docker_stream.h"

namespace shoal {
namespace {

constexpr const char* kMinApiVersion = "1.25";  // Mounts, NanoCpus, Init
constexpr size_t kBuildTailLines = 20;

Error httpError(long status, const std::string& body, const std::string& what) {
  std::string msg = "docker: " + what + ": " + docker::errorMessage(body);
  switch (status) {
    case 400: return Error{ErrorCode::kInvalid, msg, false};
    case 404: return Error{ErrorCode::kNotFound, msg, false};
    case 409: return Error{ErrorCode::kConflict, msg, false};
    default:
      if (status >= 500) return Error{ErrorCode::kUnavailable, msg + " (HTTP " + std::to_string(status) + ")", true};
      return Error{ErrorCode::kInvalid, msg + " (HTTP " + std::to_string(status) + ")", false};
  }
}

std::string containerPath(const std::string& id) { return "/containers/" + urlEncode(id); }

HttpRequest request(std::string method, std::string target, Duration timeout) {
  HttpRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  req.timeout = timeout;
  return req;
}

}  // namespace

DockerRuntime::DockerRuntime() : DockerRuntime(Options{}) {}
DockerRuntime::DockerRuntime(Options options) : opts_(std::move(options)), http_(opts_.socket) {}

Error DockerRuntime::transportError(Error e) const {
  if (e.code == ErrorCode::kUnavailable && e.message.starts_with("cannot connect"))
    e.message += " (is dockerd running?)";
  e.message = "docker: " + e.message;
  return e;
}

Result<std::string> DockerRuntime::apiVersion() {
  std::lock_guard lock(mu_);
  if (api_) return *api_;
  HttpRequest req = request("GET", "/version", opts_.call_timeout);
  auto resp = http_.send(req);
  if (!resp) return std::unexpected(transportError(resp.error()));
  if (resp->status != 200) return std::unexpected(httpError(resp->status, resp->body, "GET /version"));
  auto daemon = docker::parseApiVersion(resp->body);
  if (!daemon) return daemon;
  if (docker::compareApiVersions(*daemon, kMinApiVersion) < 0)
    return fail(ErrorCode::kUnavailable,
                "docker: the daemon at " + opts_.socket + " speaks API " + *daemon + "; shoal needs " +
                    kMinApiVersion + " or newer (Docker 1.13+): upgrade Docker");
  api_ = docker::compareApiVersions(*daemon, opts_.max_api_version) < 0 ? *daemon : opts_.max_api_version;
  logger("runtime")->debug("docker: daemon API {}, using {}", *daemon, *api_);
  return *api_;
}

Result<HttpRequest> DockerRuntime::prepare(HttpRequest req) {
  auto api = apiVersion();
  if (!api) return std::unexpected(api.error());
  req.target = "/v" + *api + req.target;
  return req;
}

Result<HttpResponse> DockerRuntime::call(HttpRequest req, const std::string& what) {
  return callStream(std::move(req), what, nullptr);
}

Result<HttpResponse> DockerRuntime::callStream(HttpRequest req, const std::string& what, const OnData& on_data) {
  auto resp = exchange(std::move(req), on_data);
  if (resp && resp->status >= 400) return std::unexpected(httpError(resp->status, resp->body, what));
  return resp;
}

Result<HttpResponse> DockerRuntime::exchange(HttpRequest req, const OnData& on_data) {
  auto ready = prepare(std::move(req));
  if (!ready) return std::unexpected(ready.error());
  auto resp = on_data ? http_.stream(*ready, on_data) : http_.send(*ready);
  if (!resp) return std::unexpected(transportError(resp.error()));
  return resp;
}

Status DockerRuntime::simple(const std::string& method, const std::string& path, const std::string& what,
                             Duration extra_time) {
  HttpRequest req = request(method, path, opts_.call_timeout + extra_time);
  auto resp = call(std::move(req), what);
  if (!resp) return std::unexpected(resp.error());
  return ok();  // 204, or 304 "already in that state"
}

Result<std::vector<ContainerInfo>> DockerRuntime::list(const Labels& labels) {
  std::string target = "/containers/json?all=1";
  if (!labels.empty()) target += "&filters=" + urlEncode(docker::labelFilters(labels, false));
  auto resp = call(request("GET", target, opts_.call_timeout), "list containers");
  if (!resp) return std::unexpected(resp.error());
  return docker::parseContainerList(resp->body);
}

Result<ContainerInfo> DockerRuntime::inspect(const std::string& id_or_name) {
  auto resp = call(request("GET", containerPath(id_or_name) + "/json", opts_.call_timeout),
                   "inspect container " + id_or_name);
  if (!resp) return std::unexpected(resp.error());
  return docker::parseContainerInspect(resp->body);
}

Result<std::string> DockerRuntime::create(const ContainerConfig& config) {
  std::string target = "/containers/create";
  if (!config.name.empty()) target += "?name=" + urlEncode(config.name);
  HttpRequest req = request("POST", target, opts_.call_timeout);
  req.body = docker::createBody(config);
  auto resp = call(std::move(req), "create container " + config.name + " of image " + config.image);
  if (!resp) return std::unexpected(resp.error());
  auto id = docker::parseCreatedId(resp->body);
  if (id) logger("runtime")->info("docker: created {} ({})", config.name, id->substr(0, 12));
  return id;
}

Status DockerRuntime::start(const std::string& id) {
  return simple("POST", containerPath(id) + "/start", "start container " + id);
}

Status DockerRuntime::stop(const std::string& id, Duration grace) {
  auto secs = std::max<int64_t>(0, (grace.count() + 999) / 1000);
  return simple("POST", containerPath(id) + "/stop?t=" + std::to_string(secs), "stop container " + id, grace);
}

Status DockerRuntime::pause(const std::string& id) {
  return simple("POST", containerPath(id) + "/pause", "pause container " + id);
}

Status DockerRuntime::unpause(const std::string& id) {
  return simple("POST", containerPath(id) + "/unpause", "unpause container " + id);
}

Status DockerRuntime::remove(const std::string& id, bool force) {
  return simple("DELETE", containerPath(id) + "?v=0&force=" + (force ? "1" : "0"), "remove container " + id);
}

Status DockerRuntime::removeVolume(const std::string& name) {
  // Without `force`: Docker refuses (409) while any container, even a stopped one, mounts it.
  auto resp = call(request("DELETE", "/volumes/" + urlEncode(name) + "?force=0", opts_.call_timeout),
                   "remove volume " + name);
  if (resp) {
    logger("runtime")->info("docker: removed volume {}", name);
    return ok();
  }
  Error e = resp.error();
  if (e.code == ErrorCode::kNotFound) return ok();  // already gone
  if (e.code == ErrorCode::kConflict) e.message += " (a container still uses it; it is kept)";
  return std::unexpected(e);
}

Result<std::string> DockerRuntime::logs(const std::string& id, int tail) {
  std::string n = tail < 0 ? "all" : std::to_string(tail);
  auto resp = call(request("GET", containerPath(id) + "/logs?stdout=1&stderr=1&tail=" + n, opts_.call_timeout),
                   "logs of container " + id);
  if (!resp) return std::unexpected(resp.error());
  return docker::demuxLogs(resp->body);
}

Result<bool> DockerRuntime::imageExists(const std::string& ref) {
  auto resp = call(request("GET", "/images/" + urlEncode(ref, "/:@") + "/json", opts_.call_timeout),
                   "inspect image " + ref);
  if (resp) return true;
  if (resp.error().code == ErrorCode::kNotFound) return false;
  return std::unexpected(resp.error());
}

Result<std::string> DockerRuntime::build(const BuildRequest& req,
                                         const std::function<void(const std::string&)>& progress) {
  std::string target = "/build?rm=1&forcerm=1&t=" + urlEncode(req.tag) + "&dockerfile=" + urlEncode(req.dockerfile);
  if (!req.build_args.empty()) target += "&buildargs=" + urlEncode(docker::stringMapJson(req.build_args));
  // No total timeout: a build takes what it takes; only silence for too long fails it.
  HttpRequest http = request("POST", target, Duration(0));
  http.body = req.context_tar;
  http.content_type = "application/x-tar";
  http.idle_timeout = opts_.build_idle_timeout;
  http.stop = req.stop;
  docker::LineSplitter lines, text;
  docker::LineTail tail(kBuildTailLines);
  std::string error, image_id;
  // `stream` pieces are not whole lines ("Step 1/3 : FROM scratch", then "\n"): join them.
  auto emit = [&](std::string_view out) {
    tail.add(std::string(out));
    if (progress) progress(std::string(out));
    if (out.starts_with("Successfully built ") && image_id.empty()) image_id = out.substr(19);
  };
  auto on_line = [&](std::string_view json_line) {
    docker::BuildLine line = docker::parseBuildLine(json_line);
    text.feed(line.stream, emit);
    if (!line.error.empty() && error.empty()) error = line.error;
    if (!line.image_id.empty()) image_id = line.image_id;
  };
  auto resp = exchange(std::move(http), [&](std::string_view chunk) {
    lines.feed(chunk, on_line);
    return true;
  });
  if (!resp) return std::unexpected(resp.error());
  if (resp->stopped) return unavailable("docker: build of " + req.tag + " cancelled: the node is stopping");
  // Refused before building ("Cannot locate specified Dockerfile" is a 500): the input is wrong.
  if (resp->status >= 400)
    return fail(ErrorCode::kInvalid, "docker: build of " + req.tag + ": " + docker::errorMessage(resp->body));
  lines.finish(on_line);
  text.finish(emit);
  if (!error.empty())
    return fail(ErrorCode::kInvalid, "docker: build of " + req.tag + " failed: " + error + "\n" + tail.str());
  if (image_id.empty())
    return fail(ErrorCode::kInternal, "docker: build of " + req.tag + " ended without an image id:\n" + tail.str());
  logger("runtime")->info("docker: built {} ({})", req.tag, image_id);
  return image_id;
}

Status DockerRuntime::watchEvents(const Labels& labels, const std::function<void(const ContainerEvent&)>& on_event,
                                  std::stop_token stop) {
  std::string target = "/events?filters=" + urlEncode(docker::labelFilters(labels, true));
  HttpRequest req = request("GET", target, Duration(0));
  req.stop = stop;
  docker::LineSplitter lines;
  auto on_line = [&](std::string_view line) {
    auto ev = docker::parseEvent(line);
    if (ev && !ev->action.starts_with("exec_")) on_event(*ev);
  };
  auto resp = callStream(std::move(req), "watch events", [&](std::string_view chunk) {
    lines.feed(chunk, on_line);
    return true;
  });
  if (!resp) return std::unexpected(resp.error());
  if (resp->stopped) return ok();
  return unavailable("docker: the event stream of " + opts_.socket + " ended (daemon restarting?)");
}

}  // namespace shoal
