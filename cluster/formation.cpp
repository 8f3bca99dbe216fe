#include "cluster/formation.h"

#include <algorithm>
#include <tuple>

namespace shoal {

bool betterCluster(const ClusterInfo& a, const ClusterInfo& b) {
  if (a.id == b.id) return false;
  // Larger first; then older (smaller created_at); then the lower id.
  return std::make_tuple(-a.size, a.created_at, a.id) < std::make_tuple(-b.size, b.created_at, b.id);
}

namespace {

// The best cluster among the answers (not ignored, not `except`), with the hubs every answer
// naming it reported (deduplicated, in order).
std::optional<FormationDecision> bestCluster(const std::vector<ProbeAnswer>& answers,
                                             const std::set<std::string>& ignored, const std::string& except) {
  std::optional<ClusterInfo> best;
  for (const auto& a : answers) {
    if (!a.cluster || ignored.contains(a.cluster->id) || a.cluster->id == except) continue;
    // The same cluster seen through several members: keep the largest size reported.
    if (best && best->id == a.cluster->id) {
      if (a.cluster->size > best->size) best = a.cluster;
    } else if (!best || betterCluster(*a.cluster, *best)) {
      best = a.cluster;
    }
  }
  if (!best) return std::nullopt;
  FormationDecision d;
  d.kind = FormationKind::kJoin;
  d.cluster = best;
  d.hubs = hubsOf(answers, best->id);
  return d;
}

}  // namespace

std::vector<std::string> hubsOf(const std::vector<ProbeAnswer>& answers, const std::string& cluster_id) {
  std::vector<std::string> hubs;
  for (const auto& a : answers) {
    if (!a.cluster || a.cluster->id != cluster_id) continue;
    for (const auto& h : a.hubs)
      if (std::find(hubs.begin(), hubs.end(), h) == hubs.end()) hubs.push_back(h);
  }
  return hubs;
}

Formation::Formation(std::string self_id, TimePoint started, FormationOptions options)
    : self_(std::move(self_id)), options_(options), seen_{self_}, stable_since_(started) {}

FormationDecision Formation::step(const std::vector<ProbeAnswer>& answers, TimePoint now,
                                  const std::set<std::string>& ignored) {
  // Only nodes still discovering count: a member of a cluster that is ignored (its hubs cannot be
  // reached) will never originate, so waiting for it would be waiting forever.
  for (const auto& a : answers)
    if (!a.node_id.empty() && !a.cluster) last_seen_[a.node_id] = now;
    else if (!a.node_id.empty()) last_seen_.erase(a.node_id);  // it is in a cluster now
  std::set<std::string> seen{self_};
  for (auto it = last_seen_.begin(); it != last_seen_.end();) {
    if (now - it->second > options_.forget_after) {
      it = last_seen_.erase(it);
    } else {
      seen.insert(it->first);
      ++it;
    }
  }
  if (seen != seen_) {
    seen_ = std::move(seen);
    stable_since_ = now;
  }

  if (auto join = bestCluster(answers, ignored, "")) {
    join->reason = "joining cluster " + join->cluster->id + " (" + std::to_string(join->cluster->size) +
                   " nodes, origin " + join->cluster->origin + ")";
    return *join;
  }
  FormationDecision d;
  if (!options_.has_sources) {
    d.kind = FormationKind::kOriginate;
    d.reason = "no discovery source: originating alone";
    return d;
  }
  int n = static_cast<int>(seen_.size());
  if (n < options_.contacts) {
    d.reason = "seeing " + std::to_string(n) + (n == 1 ? " node" : " nodes") + ", need " +
               std::to_string(options_.contacts) + " contacts before forming";
    return d;
  }
  if (now - stable_since_ < options_.stable_for) {
    d.reason = "discovery not stable yet (" + std::to_string(n) + (n == 1 ? " node" : " nodes") + " seen)";
    return d;
  }
  const std::string& lowest = *seen_.begin();
  if (lowest != self_) {
    d.reason = "waiting for " + lowest + " (lowest id) to originate";
    return d;
  }
  d.kind = FormationKind::kOriginate;
  d.reason = n == 1 ? "no peer seen: originating alone"
                    : "lowest id of " + std::to_string(n) + " nodes seen: originating";
  return d;
}

std::optional<FormationDecision> mergeTarget(const ClusterInfo& own, const std::vector<ProbeAnswer>& answers,
                                             const std::set<std::string>& ignored) {
  auto best = bestCluster(answers, ignored, own.id);
  if (!best || !betterCluster(*best->cluster, own)) return std::nullopt;
  best->reason = "cluster " + best->cluster->id + " (" + std::to_string(best->cluster->size) +
                 " nodes) ranks above this one (" + std::to_string(own.size) + "): dissolving into it";
  return best;
}

}  // namespace shoal
