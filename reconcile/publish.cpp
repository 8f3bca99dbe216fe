// Reconciler::publish: the loop's view turned into a `Report` for status, metrics and notes.
#include "reconcile/reconciler.h"

namespace shoal {

void Reconciler::publish(const Desired& desired, const Plan& plan, const std::vector<ContainerInfo>& observed) {
  std::map<std::string, AppRecord> records;
  if (auto r = store_.apps()) records = std::move(*r);
  std::vector<AppReport> apps;
  for (const AppView& view : plan.apps) {
    AppReport a;
    a.name = view.name;
    a.phase = appPhaseName(view.phase);
    a.version = view.hash;
    a.desired = view.desired;
    a.ready = view.ready;
    a.running = view.running;
    a.message = view.message;
    for (const DesiredApp& d : desired.apps) {
      if (d.name != view.name) continue;
      a.image = d.config.image;
      a.commit = d.commit;
      a.health_check = d.health_description;
      a.rolled_back = d.rolled_back && !d.failed_hash.empty();
    }
    if (auto b = build_errors_.find(view.name); b != build_errors_.end()) a.build_error = b->second;
    if (auto r = records.find(view.name); r != records.end() && !r->second.failed_hash.empty()) {
      a.failed_commit = r->second.failed_commit;
      a.failed_reason = r->second.failed_reason;
    }
    for (const ContainerInfo& c : observed) {
      auto app = c.labels.find(kLabelApp);
      if (app == c.labels.end() || app->second != view.name) continue;
      auto spec = c.labels.find(kLabelSpec);
      a.containers.push_back(ContainerReport{c.id.substr(0, 12), c.name, spec == c.labels.end() ? "" : spec->second,
                                             containerStateName(c.state), healthName(c.health), c.ports});
    }
    apps.push_back(std::move(a));
  }
  for (const std::string& held : desired.held) {
    AppReport a;
    a.name = held;
    a.phase = "held";
    auto why = desired.held_reasons.find(held);
    a.message = why != desired.held_reasons.end()
                    ? why->second
                    : "no image for this commit and no earlier good version; containers left as they are";
    if (auto b = build_errors_.find(held); b != build_errors_.end()) a.build_error = b->second;
    apps.push_back(std::move(a));
  }
  std::lock_guard lock(mu_);
  report_.apps = std::move(apps);
  report_.applied_commit = applied_commit_;
  report_.cluster = desired.cluster;
  report_.cluster_size = cluster_.size();
  report_.cluster_settled = true;
  report_.min_nodes = spec_->cluster.min_nodes;
  report_.below_min = belowMinName(spec_->cluster.below_min);
  report_.activation = activationName(desired.activation);
  report_.converged = plan.converged() && desired.held.empty();
  report_.builds_started = builder_.buildsStarted();
  report_.last_tick = clock_.now();
  ++report_.ticks;
}

Report Reconciler::report() const {
  std::lock_guard lock(mu_);
  return report_;
}

}  // namespace shoal
