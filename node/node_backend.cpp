#include "node/node_backend.h"

#include "node/status_json.h"
#include "reconcile/desired.h"

namespace shoal {

NodeBackend::NodeBackend(StateStore& store, ContainerRuntime& runtime, std::string node_id)
    : store_(store), runtime_(runtime), node_id_(std::move(node_id)) {}

void NodeBackend::publish(const Report& report, const MembershipStatus* membership) {
  MemberRecord self;
  if (!membership) {
    self.id = report.node_id;
    self.name = report.node_name;
    self.hub = true;
    self.facts = readFacts(".");
  }
  auto snap = std::make_shared<Snapshot>(Snapshot{statusJson(report, membership), appsJson(report),
                                                  metricsText(report), nodesJson(membership, self)});
  std::lock_guard lock(mu_);
  snapshot_ = std::move(snap);
}

std::shared_ptr<const Snapshot> NodeBackend::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

Result<std::string> NodeBackend::eventsJson(int64_t since, int limit) {
  auto events = store_.events(since, limit);
  if (!events) return std::unexpected(events.error());
  return shoal::eventsJson(*events);
}

Result<std::string> NodeBackend::appLogs(const std::string& app, int tail) {
  auto containers = runtime_.list({{kLabelNode, node_id_}, {kLabelApp, app}});
  if (!containers) return std::unexpected(containers.error());
  if (containers->empty()) return fail(ErrorCode::kNotFound, "no app \"" + app + "\" runs on this node");
  std::string out;
  for (const ContainerInfo& c : *containers) {
    auto text = runtime_.logs(c.id, tail);
    out += "==> " + c.name + " (" + containerStateName(c.state) + ") <==\n";
    out += text ? *text : "(logs unavailable: " + text.error().message + ")\n";
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return out;
}

}  // namespace shoal
