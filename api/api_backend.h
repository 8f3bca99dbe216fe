// What the status endpoint serves. The node's loop publishes an immutable `Snapshot` after each
// tick; the HTTPS server only reads snapshots and asks the backend for events and logs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/error.h"

namespace shoal {

struct Snapshot {
  std::string status_json;   // GET /v1/status
  std::string apps_json;     // GET /v1/apps (a JSON array of apps)
  std::string metrics_text;  // GET /metrics (Prometheus text format 0.0.4)
  std::string nodes_json = "[]\n";  // GET /v1/nodes (a JSON array of members)
};

// Safe for concurrent use by multiple threads: called from the server's thread.
class ApiBackend {
 public:
  virtual ~ApiBackend() = default;
  virtual std::shared_ptr<const Snapshot> snapshot() const = 0;
  // GET /v1/events?since=N&limit=M : a JSON array of events with seq > N.
  virtual Result<std::string> eventsJson(int64_t since, int limit) = 0;
  // GET /v1/apps/{name}/logs?tail=N : text. `kNotFound` for an unknown app.
  virtual Result<std::string> appLogs(const std::string& app, int tail) = 0;
};

}  // namespace shoal
