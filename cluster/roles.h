// Roles: how many nodes hold each role at a cluster size, and which ones. Pure: the cluster's
// leader calls `chooseHolders` each round with the live members' facts and the current holders,
// and carries out the changes it returns (for `hub`, one at a time). See doc/roles.md.
//
// Scoring: each fact (memory, cpus, uptime, latency to the hubs) is scored to [0, 1]: memory and
// cpus as value / the largest among the eligible candidates; latency as the smallest / value
// (unknown latency 0.5); uptime as uptime / `mature_after` (at most 1). Combined as a weighted
// mean, plus 0.25 when the node has every `prefer` label. A node with any `forbid` label is not
// eligible.
//
// Hysteresis: a holder is replaced only by a candidate scoring more than (1 + hysteresis) times
// the holder's score, so a stable cluster keeps its roles; the best challenger replaces the worst
// holder. Holders that are gone or forbidden are dropped first, then the count is met (the best
// candidates added, or the worst holders removed), then swaps are considered.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "schemas/spec.h"

namespace shoal {

// `count` at `nodes` members, never more than `nodes` (a role table asks; the cluster may be
// smaller). every_node: `nodes`. 0 when nodes == 0.
int roleCount(const RoleCount& count, int nodes);
// The same for hubs, made odd (rounded down) and at least 1 when nodes > 0.
int hubCount(const RoleCount& count, int nodes);

struct RoleCandidate {
  std::string id;
  double cpus = 0;
  int64_t memory_bytes = 0;
  int64_t uptime_s = 0;
  double latency_ms = -1;  // mean round trip to the hubs; < 0 unknown
  std::map<std::string, std::string> labels;
};

struct ScoredCandidate {
  std::string id;
  double score = 0;
  bool eligible = true;
  std::string why;  // "memory 1.00 cpu 0.50 uptime 0.20 latency 1.00 prefer +0.25" or "forbidden: zone=edge"
};

struct RoleChange {
  std::string add;     // empty: a removal only
  std::string remove;  // empty: an addition only
  double add_score = 0;
  double remove_score = 0;
  std::string reason;  // for the event log, with the scores compared
};

struct RoleChoice {
  int want = 0;                          // the count the table asks for now
  std::vector<std::string> holders;      // the target set, sorted
  std::vector<RoleChange> changes;       // from `current` to `holders`, most urgent first
  std::vector<ScoredCandidate> scores;   // every candidate, best first
};

// Scores `candidates` for `role` (see above); best first, ties by id.
std::vector<ScoredCandidate> scoreCandidates(const RoleSpec& role, const ScoreWeights& weights,
                                             const std::vector<RoleCandidate>& candidates);

// The holders `role` should have among `alive`, starting from `current` (ids; may name nodes that
// are gone). `hub` applies hubCount's odd rule. Deterministic.
RoleChoice chooseHolders(const RoleSpec& role, const ScoreWeights& weights, double hysteresis,
                         const std::vector<RoleCandidate>& alive, const std::vector<std::string>& current,
                         bool hub);

}  // namespace shoal
