// `ContainerRuntime` over the Docker Engine API on a unix socket. Safe for concurrent use by
// multiple threads: every call makes its own connection.
//
// The API version is negotiated at the first call (GET /version): the lower of the daemon's and
// `Options::max_api_version`; daemons older than 1.25 (Docker 1.13) are refused. Errors say what
// Docker said (`message`): 404 -> kNotFound, 409 -> kConflict, 400 -> kInvalid, 5xx -> kUnavailable
// (retryable), no socket -> kUnavailable, a call out of time -> kTimeout (retryable).
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "runtime/container_runtime.h"
#include "runtime/unix_http.h"

namespace shoal {

class DockerRuntime : public ContainerRuntime {
 public:
  struct Options {
    std::string socket = "/var/run/docker.sock";
    Duration call_timeout{30000};          // every call but build, events and stop's grace
    Duration build_idle_timeout{600000};   // a build fails when no output arrives for this long
    std::string max_api_version = "1.41";  // the version shoal was written against
  };

  DockerRuntime();
  explicit DockerRuntime(Options options);

  Result<std::vector<ContainerInfo>> list(const Labels& labels) override;
  Result<ContainerInfo> inspect(const std::string& id_or_name) override;
  Result<std::string> create(const ContainerConfig& config) override;
  Status start(const std::string& id) override;
  Status stop(const std::string& id, Duration grace) override;
  Status pause(const std::string& id) override;
  Status unpause(const std::string& id) override;
  Status remove(const std::string& id, bool force) override;
  Result<std::string> logs(const std::string& id, int tail) override;
  Status removeVolume(const std::string& name) override;

  Result<bool> imageExists(const std::string& ref) override;
  Result<std::string> build(const BuildRequest& req,
                            const std::function<void(const std::string& line)>& progress) override;

  // Action "exec_*" events (every health probe makes three) are not passed on. An event's `labels`
  // are Docker's `Actor.Attributes`: the container's labels plus `name`, `image` and, on "die",
  // `exitCode`.
  Status watchEvents(const Labels& labels, const std::function<void(const ContainerEvent&)>& on_event,
                     std::stop_token stop) override;

  // "1.41"; negotiates if not done yet.
  Result<std::string> apiVersionForTest() { return apiVersion(); }

 private:
  Result<std::string> apiVersion();
  // Sends `method` `/v<api>` + `path` and maps transport errors and HTTP statuses >= 400.
  Result<HttpResponse> call(HttpRequest req, const std::string& what);
  Result<HttpResponse> callStream(HttpRequest req, const std::string& what, const OnData& on_data);
  // Like `callStream` but any HTTP status is returned, not mapped to an error.
  Result<HttpResponse> exchange(HttpRequest req, const OnData& on_data);
  Result<HttpRequest> prepare(HttpRequest req);
  Error transportError(Error e) const;
  Status simple(const std::string& method, const std::string& path, const std::string& what,
                Duration extra_time = Duration(0));

  Options opts_;
  UnixHttpClient http_;
  std::mutex mu_;
  std::optional<std::string> api_;  // GUARDED_BY(mu_)
};

}  // namespace shoal
