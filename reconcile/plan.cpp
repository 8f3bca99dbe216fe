#include "reconcile/plan.h"

#include <algorithm>
#include <map>
#include <set>

namespace shoal {

const char* replicaPhaseName(ReplicaPhase p) {
  switch (p) {
    case ReplicaPhase::kCreated: return "created";
    case ReplicaPhase::kStarting: return "starting";
    case ReplicaPhase::kReady: return "ready";
    case ReplicaPhase::kFailing: return "failing";
    case ReplicaPhase::kStopped: return "stopped";
    case ReplicaPhase::kPaused: return "paused";
  }
  return "?";
}

const char* stepKindName(StepKind k) {
  switch (k) {
    case StepKind::kCreate: return "create";
    case StepKind::kStart: return "start";
    case StepKind::kRemove: return "remove";
    case StepKind::kPause: return "pause";
    case StepKind::kUnpause: return "unpause";
    case StepKind::kStop: return "stop";
    case StepKind::kMarkFailed: return "mark-failed";
    case StepKind::kMarkGood: return "mark-good";
  }
  return "?";
}

const char* appPhaseName(AppPhase p) {
  switch (p) {
    case AppPhase::kConverging: return "converging";
    case AppPhase::kHealthy: return "healthy";
    case AppPhase::kFailing: return "failing";
    case AppPhase::kWaiting: return "waiting";
    case AppPhase::kPaused: return "paused";
    case AppPhase::kStopped: return "stopped";
    case AppPhase::kKept: return "kept";
    case AppPhase::kRemoved: return "removed";
  }
  return "?";
}

ReplicaPhase replicaPhase(const ContainerInfo& c, Duration health_deadline, TimePoint now) {
  switch (c.state) {
    case ContainerState::kCreated: return ReplicaPhase::kCreated;
    case ContainerState::kPaused: return ReplicaPhase::kPaused;
    case ContainerState::kExited:
    case ContainerState::kDead:
    case ContainerState::kRemoving: return ReplicaPhase::kStopped;
    case ContainerState::kRestarting:
      // A crash loop under Docker's restart policy: it never gets ready.
      return now - c.created > health_deadline ? ReplicaPhase::kFailing : ReplicaPhase::kStarting;
    case ContainerState::kRunning: break;
  }
  switch (c.health) {
    case Health::kNone:
    case Health::kHealthy: return ReplicaPhase::kReady;
    case Health::kUnhealthy: return ReplicaPhase::kFailing;
    case Health::kStarting: {
      // Docker's list doesn't say when a container started; the reconciler inspects starting ones.
      // Unknown means not failing yet: judging by the creation time would fail a version whose
      // containers were merely restarted (daemon restart, restart policy).
      if (c.started == TimePoint{}) return ReplicaPhase::kStarting;
      return now - c.started > health_deadline ? ReplicaPhase::kFailing : ReplicaPhase::kStarting;
    }
  }
  return ReplicaPhase::kStarting;
}

std::string replicaName(const std::string& app, const std::string& hash, const std::string& node_id, int index) {
  return "shoal-" + app + "-" + hash.substr(0, 8) + "-" + node_id.substr(0, 6) + "-" + std::to_string(index);
}

bool Plan::converged() const {
  if (!steps.empty()) return false;
  return std::all_of(apps.begin(), apps.end(), [](const AppView& a) {
    return a.phase == AppPhase::kHealthy || a.phase == AppPhase::kPaused || a.phase == AppPhase::kStopped ||
           a.phase == AppPhase::kKept;
  });
}

namespace {

struct Replica {
  const ContainerInfo* info;
  ReplicaPhase phase;
};

Step stepFor(StepKind kind, const DesiredApp& app, const ContainerInfo& c, std::string reason) {
  return Step{kind, app.name, c.id, c.labels.count(kLabelSpec) ? c.labels.at(kLabelSpec) : "", std::move(reason), {}};
}

// Containers sorted by name, so every decision is deterministic for the same observation.
std::vector<Replica> classify(const std::vector<const ContainerInfo*>& cs, const DesiredApp& app, TimePoint now) {
  std::vector<Replica> out;
  for (const ContainerInfo* c : cs) out.push_back({c, replicaPhase(*c, app.health_deadline, now)});
  std::sort(out.begin(), out.end(), [](const Replica& a, const Replica& b) { return a.info->name < b.info->name; });
  return out;
}

// Below `min_nodes`: pause or stop what runs; `keep` leaves everything alone.
void holdApp(const DesiredApp& app, const std::vector<Replica>& all, Activation activation, Plan& plan,
             AppView& view) {
  for (const Replica& r : all) {
    ContainerState s = r.info->state;
    if (activation == Activation::kPause && s == ContainerState::kRunning) {
      plan.steps.push_back(stepFor(StepKind::kPause, app, *r.info, "cluster below min_nodes (below_min: pause)"));
    } else if (activation == Activation::kStop &&
               (s == ContainerState::kRunning || s == ContainerState::kPaused || s == ContainerState::kRestarting)) {
      plan.steps.push_back(stepFor(StepKind::kStop, app, *r.info, "cluster below min_nodes (below_min: stop)"));
    }
  }
  view.phase = activation == Activation::kPause  ? AppPhase::kPaused
               : activation == Activation::kStop ? AppPhase::kStopped
                                                 : AppPhase::kKept;
  view.message = activation == Activation::kPause  ? "cluster below min_nodes: paused (below_min: pause)"
                 : activation == Activation::kStop ? "cluster below min_nodes: stopped (below_min: stop)"
                                                   : "cluster below min_nodes: left running (below_min: keep)";
}

std::string freeName(const DesiredApp& app, const std::string& node_id, std::set<std::string>& used) {
  for (int i = 0;; ++i) {
    std::string name = replicaName(app.name, app.hash, node_id, i);
    if (used.insert(name).second) return name;
  }
}

void rollApp(const DesiredApp& app, const std::string& node_id, const std::vector<Replica>& all, Plan& plan,
             AppView& view) {
  std::vector<Replica> cur, old;
  std::set<std::string> used;
  for (const Replica& r : all) {
    used.insert(r.info->name);
    bool same = r.info->labels.count(kLabelSpec) && r.info->labels.at(kLabelSpec) == app.hash;
    (same ? cur : old).push_back(r);
  }
  // A new version that fails its check is rolled back as a whole, before anything else happens.
  bool can_roll_back = !app.good_hash.empty() && app.good_hash != app.hash;
  for (const Replica& r : cur) {
    // 143 is our own SIGTERM (below_min: stop), not a crash.
    bool crashed = r.phase == ReplicaPhase::kStopped && r.info->exit_code != 0 && r.info->exit_code != 143 &&
                   app.good_hash != app.hash;
    if (r.phase != ReplicaPhase::kFailing && !crashed) continue;
    view.phase = AppPhase::kFailing;
    std::string why = crashed ? r.info->name + " exited with code " + std::to_string(r.info->exit_code)
                      : r.info->health == Health::kUnhealthy
                          ? "health check `" + app.health_description + "` failed on " + r.info->name
                          : r.info->name + " not ready within " + std::to_string(app.health_deadline.count() / 1000) +
                                "s (state " + containerStateName(r.info->state) + ", health " + healthName(r.info->health) + ")";
    view.message = why;
    if (can_roll_back) {
      plan.steps.push_back(Step{StepKind::kMarkFailed, app.name, "", app.hash, why, {}});
      return;
    }
  }
  const int n = app.replicas;
  int cur_ready = 0, old_ready = 0;
  for (const Replica& r : cur) {
    if (r.phase == ReplicaPhase::kReady) ++cur_ready;
    if (r.phase == ReplicaPhase::kCreated || r.phase == ReplicaPhase::kStopped)
      plan.steps.push_back(stepFor(StepKind::kStart, app, *r.info, "replica is not running"));
    if (r.phase == ReplicaPhase::kPaused) plan.steps.push_back(stepFor(StepKind::kUnpause, app, *r.info, "apps run again"));
  }
  for (const Replica& r : old)
    if (r.phase == ReplicaPhase::kReady) ++old_ready;
  view.ready = cur_ready;

  // Removals first. Old replicas that can't serve (failing, stopped, never started) go at once;
  // ready ones only while enough replicas stay ready (n - max_unavailable); starting or paused
  // ones may still serve (after a daemon restart, or when apps resume), so they stay until the
  // new version is fully ready. Surplus replicas of the new version go too.
  int removed = 0;
  int allowed = std::max(0, cur_ready + old_ready - (n - app.update.max_unavailable));
  for (const Replica& r : old) {
    bool go = false;
    switch (r.phase) {
      case ReplicaPhase::kFailing:
      case ReplicaPhase::kStopped:
      case ReplicaPhase::kCreated: go = true; break;
      case ReplicaPhase::kReady: go = allowed > 0; allowed -= go ? 1 : 0; break;
      case ReplicaPhase::kStarting:
      case ReplicaPhase::kPaused: go = cur_ready >= n; break;
    }
    if (!go) {
      if (r.phase == ReplicaPhase::kPaused) plan.steps.push_back(stepFor(StepKind::kUnpause, app, *r.info, "apps run again"));
      continue;
    }
    plan.steps.push_back(stepFor(StepKind::kRemove, app, *r.info, "replaced by version " + app.hash.substr(0, 8)));
    ++removed;
  }
  int excess = static_cast<int>(cur.size()) - n;
  for (int pass = 0; pass < 2 && excess > 0; ++pass) {  // not-ready replicas first, then the last by name
    for (auto it = cur.rbegin(); it != cur.rend() && excess > 0; ++it) {
      if ((pass == 0) == (it->phase == ReplicaPhase::kReady)) continue;
      plan.steps.push_back(stepFor(StepKind::kRemove, app, *it->info, "scaled down to " + std::to_string(n)));
      --excess;
    }
  }
  // Creations: up to `n` of the new version, at most `n + max_surge` containers in all.
  int need = n - static_cast<int>(cur.size());
  int total = static_cast<int>(cur.size() + old.size()) - removed;
  int budget = old.size() == static_cast<size_t>(removed) ? need : std::max(0, n + app.update.max_surge - total);
  for (int i = 0; i < std::min(need, budget); ++i) {
    Step s{StepKind::kCreate, app.name, freeName(app, node_id, used), app.hash, "", app.config};
    s.reason = cur.empty() && old.empty() ? "new app" : old.empty() ? "scale up to " + std::to_string(n) : "rolling update";
    plan.steps.push_back(std::move(s));
  }
  if (view.phase == AppPhase::kFailing) return;
  if (cur_ready == n && old.empty() && static_cast<int>(cur.size()) == n) {
    view.phase = AppPhase::kHealthy;
    if (app.good_hash != app.hash) plan.steps.push_back(Step{StepKind::kMarkGood, app.name, "", app.hash, "all replicas ready", {}});
  } else {
    view.phase = AppPhase::kConverging;
    view.message = std::to_string(cur_ready) + "/" + std::to_string(n) + " ready";
  }
}

}  // namespace

Plan diff(const Desired& desired, const std::vector<ContainerInfo>& observed, TimePoint now) {
  std::map<std::string, std::vector<const ContainerInfo*>> by_app;
  for (const ContainerInfo& c : observed) {
    auto it = c.labels.find(kLabelApp);
    if (it != c.labels.end()) by_app[it->second].push_back(&c);
  }
  Plan plan;
  std::set<std::string> ready_apps;
  for (const DesiredApp& app : desired.apps) {
    auto all = classify(by_app[app.name], app, now);
    AppView view{app.name, AppPhase::kConverging, app.hash, app.replicas, 0, 0, ""};
    for (const Replica& r : all)
      if (r.info->state == ContainerState::kRunning) ++view.running;
    std::string waiting;
    for (const std::string& dep : app.depends_on)
      if (!ready_apps.count(dep)) waiting += (waiting.empty() ? "" : ", ") + dep;
    if (desired.activation != Activation::kRun) {
      holdApp(app, all, desired.activation, plan, view);
    } else if (!waiting.empty() && all.empty()) {
      view.phase = AppPhase::kWaiting;
      view.message = "waiting for " + waiting;
    } else {
      rollApp(app, desired.node_id, all, plan, view);
    }
    if (view.phase == AppPhase::kHealthy) ready_apps.insert(app.name);
    plan.apps.push_back(std::move(view));
    by_app.erase(app.name);
  }
  // Prune: apps no longer in the spec lose their containers; held apps are left alone.
  for (const std::string& held : desired.held) by_app.erase(held);
  for (const auto& [name, cs] : by_app) {
    DesiredApp gone;
    gone.name = name;
    for (const Replica& r : classify(cs, gone, now))
      plan.steps.push_back(stepFor(StepKind::kRemove, gone, *r.info, "app removed from the spec"));
    plan.apps.push_back(AppView{name, AppPhase::kRemoved, "", 0, 0, 0, "being removed"});
  }
  return plan;
}

}  // namespace shoal
