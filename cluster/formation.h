// The pure decisions of joining, forming and merging (after Akka Cluster Bootstrap), with no I/O:
// the membership loop feeds them what probing the discovered addresses answered and acts on the
// result. See doc/membership.md.
//
// - A cluster seen is joined at once: the best one (`betterCluster`), skipping clusters that
//   failed to take this node too often (`ignored`).
// - Otherwise the node waits until the set of discovering node ids seen has not changed for `stable_for` and
//   at least `contacts` nodes (itself included) are seen; then the lowest id originates and the
//   others wait for it (next round they see its cluster and join). A node that sees nobody, with
//   `contacts` 1, originates alone after the window; one with no discovery source at all
//   originates at once. If the lowest dies before originating, the set changes and the window
//   starts over, so nobody waits for a dead node.
// - A member's cluster dissolves into another of the same CA only if the other is better: larger,
//   then older, then lower id — a strict total order, so two clusters never dissolve into each
//   other.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"

namespace shoal {

struct ClusterInfo {
  std::string id;          // shoal's cluster id (random, made by the originating node)
  std::string name;        // cluster.yaml's name, informative
  int64_t created_at = 0;  // ms since the epoch
  std::string origin;      // node id of the originating node
  int size = 0;            // members registered now
  bool operator==(const ClusterInfo&) const = default;
};

// What one discovered address answered to GET /v1/cluster.
struct ProbeAnswer {
  std::string address;                 // host:port it was reached at
  std::string node_id;
  std::optional<ClusterInfo> cluster;  // set when that node is a member
  std::vector<std::string> hubs;       // the cluster's etcd client URLs
};

// True when `a` ranks above `b`: larger, then older (smaller created_at), then lower id. Two
// views of the same cluster id are never better than each other.
bool betterCluster(const ClusterInfo& a, const ClusterInfo& b);

struct FormationOptions {
  Duration stable_for{3000};
  // A node that stops answering stays in the seen set this long, so one probe lost under load
  // does not restart the stable window (with 50 nodes probing each other, some always are).
  Duration forget_after{2000};
  int contacts = 1;
  bool has_sources = true;  // false: no discovery source configured -> originate at once
};

enum class FormationKind { kWait, kJoin, kOriginate };

struct FormationDecision {
  FormationKind kind = FormationKind::kWait;
  std::string reason;                 // one line, for the log and /v1/status
  std::optional<ClusterInfo> cluster; // kJoin: the cluster to join
  std::vector<std::string> hubs;      // kJoin: its etcd client URLs (from every answer naming it)
};

// The state a discovering node carries from round to round.
class Formation {
 public:
  Formation(std::string self_id, TimePoint started, FormationOptions options);

  // One round: what the probes of this round answered (its own answer, if it probed itself, is
  // ignored), at `now`. Clusters whose id is in `ignored` are not joined.
  FormationDecision step(const std::vector<ProbeAnswer>& answers, TimePoint now,
                         const std::set<std::string>& ignored = {});

  TimePoint stableSince() const { return stable_since_; }
  const std::set<std::string>& seen() const { return seen_; }

 private:
  std::string self_;
  FormationOptions options_;
  std::set<std::string> seen_;  // discovering node ids seen lately, self included
  std::map<std::string, TimePoint> last_seen_;
  TimePoint stable_since_;
};

// The etcd client URLs every answer naming `cluster_id` reported, deduplicated, in order.
std::vector<std::string> hubsOf(const std::vector<ProbeAnswer>& answers, const std::string& cluster_id);

// For a member of `own`: the cluster to dissolve into, if any answer shows a better one.
std::optional<FormationDecision> mergeTarget(const ClusterInfo& own, const std::vector<ProbeAnswer>& answers,
                                             const std::set<std::string>& ignored = {});

}  // namespace shoal
