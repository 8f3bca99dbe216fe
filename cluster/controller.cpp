#include "cluster/controller.h"

#include <algorithm>
#include <set>

#include "cluster/roles.h"
#include "common/log.h"

namespace shoal {

namespace {

int64_t ms(TimePoint t) { return t.time_since_epoch().count(); }

std::string shortId(const std::string& id) { return id.substr(0, 12); }

PlaceMode modeOf(const AppSpec& app) {
  if (!app.role.empty()) return PlaceMode::kRole;
  switch (app.placement) {
    case Placement::kEveryNode: return PlaceMode::kEveryNode;
    case Placement::kOrigin: return PlaceMode::kOrigin;
    case Placement::kSpread: break;
  }
  return PlaceMode::kSpread;
}

std::string describe(const std::map<std::string, int>& nodes) {
  if (nodes.empty()) return "nowhere";
  std::string out;
  for (const auto& [id, n] : nodes) {
    if (!out.empty()) out += ", ";
    out += shortId(id) + " x" + std::to_string(n);
  }
  return out;
}

}  // namespace

std::vector<RoleCandidate> candidatesOf(const std::vector<MemberRecord>& members) {
  std::vector<RoleCandidate> out;
  out.reserve(members.size());
  for (const auto& m : members) {
    if (m.leaving) continue;  // handing its roles over
    RoleCandidate c;
    c.id = m.id;
    c.cpus = m.facts.cpus;
    c.memory_bytes = m.facts.memory_bytes;
    c.uptime_s = m.facts.uptime_s;
    c.latency_ms = m.facts.hub_rtt_ms;
    c.labels = m.facts.labels;
    out.push_back(std::move(c));
  }
  return out;
}

Controller::Controller(ControllerOptions options, EventSink events)
    : options_(options), events_(std::move(events)) {}

void Controller::event(const std::string& level, const std::string& kind, const std::string& message) {
  auto log = logger("leader");
  if (level == "warn")
    log->warn("{}: {}", kind, message);
  else
    log->info("{}: {}", kind, message);
  if (events_) events_(level, kind, message);
}

Status Controller::round(KvStore& kv, HubAdmin& admin, const ClusterState& state, const Spec* spec, TimePoint now) {
  static const ClusterSpec kDefaults = [] {
    ClusterSpec c;
    c.roles.push_back(c.hubRole());
    return c;
  }();
  const ClusterSpec& cluster = spec ? spec->cluster : kDefaults;
  // A leader that does not see itself among the members reads a view the leases have not caught
  // up with (its store was just cut off, or recovered): deciding on it would remove live hubs.
  bool self_seen = std::any_of(state.members.begin(), state.members.end(),
                               [&](const MemberRecord& m) { return m.id == state.self; });
  if (!state.self.empty() && !self_seen) return ok();
  auto changed = hubStep(kv, admin, state, cluster, now);
  if (!changed) return std::unexpected(changed.error());
  std::map<std::string, std::vector<std::string>> holders;
  if (auto st = rolesStep(kv, state, cluster, &holders); !st) return st;
  if (!spec) return ok();
  return placeStep(kv, state, *spec, holders, now);
}

// ---- hubs

Result<bool> Controller::hubStep(KvStore& kv, HubAdmin& admin, const ClusterState& state, const ClusterSpec& spec,
                                 TimePoint now) {
  auto listed = admin.members();
  if (!listed) return std::unexpected(listed.error());
  std::set<std::string> alive;
  std::map<std::string, const MemberRecord*> by_id;
  for (const auto& m : state.members) {
    alive.insert(m.id);
    by_id[m.id] = &m;
  }
  // etcd member -> node id: its name (the node id), or for a learner not started yet, its record.
  std::map<uint64_t, std::string> node_of;
  for (const auto& [node, rec] : state.hubs) node_of[rec.member_id] = node;
  for (const auto& m : *listed)
    if (!m.name.empty()) node_of[m.id] = m.name;
  std::set<uint64_t> member_ids;
  for (const auto& m : *listed) member_ids.insert(m.id);
  // The etcd member id of `node` (0: none).
  auto memberIdOf = [&](const std::string& node) {
    uint64_t id = 0;
    for (const auto& [mid, n] : node_of)
      if (n == node && member_ids.contains(mid)) id = mid;
    return id;
  };

  // 1. Records of members that are gone.
  for (const auto& [node, rec] : state.hubs) {
    if (member_ids.contains(rec.member_id)) continue;
    if (auto st = kv.remove(kHubsPrefix + node); !st) return std::unexpected(st.error());
    event("info", "hub.record_dropped", "node " + shortId(node) + " is not an etcd member: its hub record is removed");
  }

  // 2. A learner: promote it, or give up on it.
  for (const auto& m : *listed) {
    if (!m.learner) continue;
    std::string node = node_of.count(m.id) ? node_of[m.id] : "";
    auto rec = state.hubs.find(node);
    bool stale = rec != state.hubs.end() && now - TimePoint(Duration(rec->second.since)) > options_.learner_timeout;
    if (node.empty() || !alive.contains(node) || stale) {
      if (auto st = admin.remove(m.id); !st && st.error().code != ErrorCode::kNotFound)
        return std::unexpected(st.error());
      if (!node.empty()) (void)kv.remove(kHubsPrefix + node);
      event("warn", "hub.learner_removed",
            "learner " + (node.empty() ? std::to_string(m.id) : shortId(node)) + " removed: " +
                (stale ? "not caught up within " + std::to_string(options_.learner_timeout.count() / 1000) + " s"
                       : "its node is gone"));
      return true;
    }
    auto st = admin.promote(m.id);
    if (!st) {
      if (st.error().retryable) return true;  // catching up: nothing else changes meanwhile
      return std::unexpected(st.error());
    }
    if (rec != state.hubs.end()) {
      HubRecord r = rec->second;
      r.voter = true;
      if (auto p = kv.put(kHubsPrefix + node, hubToJson(r)); !p) return std::unexpected(p.error());
    }
    event("info", "hub.promoted", "node " + shortId(node) + " caught up and is now an etcd voter");
    return true;
  }

  // 3. Voters whose node is gone, or stuck (its node runs no etcd: a voter that lost its data can
  // only come back removed and added again): at most (voters-1)/2 per round, so a majority always
  // remains.
  std::vector<std::string> voters;
  std::vector<const EtcdMember*> dead;
  std::map<std::string, TimePoint> not_serving;
  std::set<std::string> stuck;
  for (const auto& m : *listed) {
    std::string node = node_of.count(m.id) ? node_of[m.id] : "";
    if (!node.empty() && alive.contains(node) && !by_id[node]->hub) {
      auto since = not_serving_since_.find(node);
      not_serving[node] = since == not_serving_since_.end() ? now : since->second;
      if (now - not_serving[node] >= options_.voter_stuck) stuck.insert(node);
    }
    if (!node.empty() && alive.contains(node) && !stuck.contains(node))
      voters.push_back(node);
    else
      dead.push_back(&m);
  }
  not_serving_since_ = std::move(not_serving);
  if (!dead.empty()) {
    size_t limit = (listed->size() - 1) / 2;
    size_t removed = 0;
    for (const EtcdMember* m : dead) {
      if (removed >= limit) break;
      if (auto st = admin.remove(m->id); !st && st.error().code != ErrorCode::kNotFound)
        return std::unexpected(st.error());
      std::string node = node_of.count(m->id) ? node_of[m->id] : "";
      if (!node.empty()) (void)kv.remove(kHubsPrefix + node);
      std::string why = stuck.contains(node) ? "its node has run no etcd for " +
                                                   std::to_string(options_.voter_stuck.count() / 1000) + " s"
                                             : "its node is gone";
      event("warn", "hub.removed",
            "hub " + (node.empty() ? std::to_string(m->id) : shortId(node)) + " removed: " + why + " (" +
                std::to_string(listed->size() - 1 - removed) + " etcd members left)");
      ++removed;
    }
    if (removed > 0) return true;
  }

  // 3b. A voter whose node is leaving (SIGTERM) goes first, while its etcd still runs: the node
  // waits for this to exit cleanly, and etcd refuses an add for 5 s after a promotion, so adding
  // its successor first could outlast `docker stop`. The successor is added next round.
  if (voters.size() > 1) {
    for (const auto& node : voters) {
      if (!by_id.count(node) || !by_id[node]->leaving) continue;
      if (auto st = admin.remove(memberIdOf(node)); !st && st.error().code != ErrorCode::kNotFound)
        return std::unexpected(st.error());
      if (auto st = kv.remove(kHubsPrefix + node); !st) return std::unexpected(st.error());
      event("info", "hub.demoted", "node " + shortId(node) + " removed: it is leaving (" +
                                       std::to_string(voters.size() - 1) + " voters left)");
      return true;
    }
  }

  // 4. The choice, one change at a time.
  RoleChoice choice = chooseHolders(spec.hubRole(), spec.weights, spec.hysteresis, candidatesOf(state.members),
                                    voters, true);
  if (choice.changes.empty()) return false;
  // Additions first: a holder that is leaving (or replaced) goes once its successor is a voter,
  // so the voters never drop below the count (and never to none).
  const RoleChange* first = &choice.changes.front();
  for (const auto& change : choice.changes)
    if (!change.add.empty()) {
      first = &change;
      break;
    }
  const RoleChange& c = *first;
  if (!c.add.empty()) {
    const MemberRecord* m = by_id.count(c.add) ? by_id[c.add] : nullptr;
    if (!m || m->etcd_peer_url.empty()) return false;  // it can't be a hub (no peer URL published)
    auto added = admin.addLearner(m->etcd_peer_url);
    if (!added) return std::unexpected(added.error());
    auto all = admin.members();
    if (!all) return std::unexpected(all.error());
    HubRecord r{c.add, added->id, m->etcd_peer_url, false, initialCluster(*all, c.add, m->etcd_peer_url), ms(now)};
    if (auto st = kv.put(kHubsPrefix + c.add, hubToJson(r)); !st) {
      (void)admin.remove(added->id);
      return std::unexpected(st.error());
    }
    event("info", "hub.adding", c.reason + "; added as an etcd learner");
    return true;
  }
  if (!c.remove.empty() && voters.size() > 1) {
    uint64_t id = memberIdOf(c.remove);
    if (id == 0) return false;
    if (auto st = admin.remove(id); !st && st.error().code != ErrorCode::kNotFound) return std::unexpected(st.error());
    if (auto st = kv.remove(kHubsPrefix + c.remove); !st) return std::unexpected(st.error());
    event("info", "hub.demoted", c.reason);
    return true;
  }
  return false;
}

// ---- other roles

Status Controller::rolesStep(KvStore& kv, const ClusterState& state, const ClusterSpec& spec,
                             std::map<std::string, std::vector<std::string>>* holders) {
  auto candidates = candidatesOf(state.members);
  for (const auto& role : spec.roles) {
    if (role.name == "hub") continue;
    auto current = state.roles.count(role.name) ? state.roles.at(role.name) : std::vector<std::string>{};
    RoleChoice choice = chooseHolders(role, spec.weights, spec.hysteresis, candidates, current, false);
    (*holders)[role.name] = choice.holders;
    std::vector<std::string> sorted = current;
    std::sort(sorted.begin(), sorted.end());
    if (sorted == choice.holders && state.roles.count(role.name)) continue;
    if (auto st = kv.put(kRolesPrefix + role.name, holdersToJson(choice.holders)); !st) return st;
    for (const auto& c : choice.changes) event("info", "role." + role.name, c.reason);
  }
  for (const auto& [name, _] : state.roles) {
    bool declared = std::any_of(spec.roles.begin(), spec.roles.end(), [&](const RoleSpec& r) { return r.name == name; });
    if (!declared) {
      if (auto st = kv.remove(kRolesPrefix + name); !st) return st;
      event("info", "role.removed", "role " + name + " is no longer in cluster.yaml");
    }
  }
  return ok();
}

// ---- placement

Status Controller::placeStep(KvStore& kv, const ClusterState& state, const Spec& spec,
                             const std::map<std::string, std::vector<std::string>>& holders, TimePoint now) {
  std::set<std::string> ids;
  for (const auto& m : state.members)
    if (!m.leaving) ids.insert(m.id);
  if (ids != last_members_) {
    last_members_ = ids;
    members_since_ = now;
  }
  // A forming cluster's origin is alone for a moment: a new spread app placed then would stay on
  // it (placement does not move replicas when nodes join). Wait until the members hold still.
  const bool settled = now - members_since_ >= options_.settle;
  auto waits = [&](const AppSpec& app) {
    return !settled && modeOf(app) == PlaceMode::kSpread && !state.placements.count(app.name);
  };
  PlacementInput in;
  in.origin = state.cluster.origin;
  in.rebalance = spec.cluster.rebalance;
  for (const auto& m : state.members) {
    if (m.leaving) continue;  // its replicas start elsewhere before it goes
    PlacementNode n;
    n.id = m.id;
    n.cpus = m.facts.cpus;
    n.memory_bytes = m.facts.memory_bytes;
    n.labels = m.facts.labels;
    if (state.hubs.count(m.id)) n.roles.insert("hub");
    for (const auto& [role, ids] : holders)
      if (std::find(ids.begin(), ids.end(), m.id) != ids.end()) n.roles.insert(role);
    in.nodes.push_back(std::move(n));
  }
  for (const auto& app : spec.apps) {
    if (waits(app)) continue;
    PlacementApp a;
    a.name = app.name;
    a.replicas = app.replicas;
    a.mode = modeOf(app);
    a.role = app.role;
    a.cpus = app.resources.cpus;
    a.memory_bytes = app.resources.memory_bytes;
    a.constraints = app.constraints;
    in.apps.push_back(std::move(a));
  }
  for (const auto& [app, rec] : state.placements) in.previous[app] = rec.nodes;

  PlacementResult result = place(in);
  std::map<std::string, const Unplaced*> unplaced;
  for (const auto& u : result.unplaced) unplaced[u.app] = &u;
  for (const auto& app : spec.apps) {
    if (waits(app)) continue;
    PlacementRecord rec;
    if (auto it = result.assignment.find(app.name); it != result.assignment.end()) rec.nodes = it->second;
    if (auto it = unplaced.find(app.name); it != unplaced.end()) {
      rec.missing = it->second->missing;
      rec.reason = it->second->reason;
    }
    auto old = state.placements.find(app.name);
    if (old != state.placements.end() && old->second == rec) continue;
    if (auto st = kv.put(kPlacementPrefix + app.name, placementToJson(rec)); !st) return st;
    std::string from = old == state.placements.end() ? "" : " (was " + describe(old->second.nodes) + ")";
    event("info", "placement.changed", app.name + ": " + describe(rec.nodes) + from);
    if (rec.missing > 0 && last_unplaced_[app.name] != rec.reason)
      event("warn", "placement.unplaced", rec.reason);  // the reason names the app
    if (rec.missing > 0)
      last_unplaced_[app.name] = rec.reason;
    else
      last_unplaced_.erase(app.name);
  }
  for (const auto& [app, _] : state.placements) {
    bool in_spec = std::any_of(spec.apps.begin(), spec.apps.end(), [&](const AppSpec& a) { return a.name == app; });
    if (!in_spec) {
      if (auto st = kv.remove(kPlacementPrefix + app); !st) return st;
    }
  }
  return ok();
}

}  // namespace shoal
