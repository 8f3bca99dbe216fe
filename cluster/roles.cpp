#include "cluster/roles.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace shoal {
namespace {

// Latencies below this are noise (loopback, one rack): without a floor, 0.01 ms against 0.02 ms
// would halve a node's latency score.
constexpr double kLatencyFloorMs = 0.1;
constexpr double kPreferBonus = 0.25;

std::string fixed2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f%%", v * 100);
  return buf;
}

// The first `forbid` label the node carries, as "key=value"; empty when none.
std::string forbiddenLabel(const RoleSpec& role, const RoleCandidate& c) {
  for (const auto& [key, value] : role.forbid) {
    auto it = c.labels.find(key);
    if (it != c.labels.end() && it->second == value) return key + "=" + value;
  }
  return "";
}

bool hasAll(const std::map<std::string, std::string>& wanted, const RoleCandidate& c) {
  for (const auto& [key, value] : wanted) {
    auto it = c.labels.find(key);
    if (it == c.labels.end() || it->second != value) return false;
  }
  return true;
}

double ratio(double value, double largest) { return largest > 0 ? std::max(0.0, value) / largest : 0; }

// Best first: eligible before not, higher score, then the lower id.
bool better(const ScoredCandidate& a, const ScoredCandidate& b) {
  if (a.eligible != b.eligible) return a.eligible;
  if (a.score != b.score) return a.score > b.score;
  return a.id < b.id;
}

// The table's entry for `nodes`, before the cap by `nodes`.
int tableCount(const RoleCount& count, int nodes) {
  if (count.every_node) return nodes;
  auto it = count.table.upper_bound(nodes);
  if (it == count.table.begin()) return 0;
  return std::prev(it)->second;
}

int makeOdd(int n) { return n > 0 && n % 2 == 0 ? n - 1 : n; }

// The working state of `chooseHolders`: the holders so far and the changes that led there.
class Chooser {
 public:
  Chooser(double hysteresis, std::vector<ScoredCandidate> scores)
      : hysteresis_(hysteresis), scores_(std::move(scores)) {
    for (const auto& s : scores_) by_id_[s.id] = &s;
  }

  void dropUnfit(const std::vector<std::string>& current) {
    std::set<std::string> unique(current.begin(), current.end());
    std::vector<std::string> forbidden;
    for (const auto& id : unique) {
      auto it = by_id_.find(id);
      if (it == by_id_.end()) {
        remove(id, 0, "node " + id + " removed: gone");
      } else if (!it->second->eligible) {
        forbidden.push_back(id);
      } else {
        holders_.insert(id);
      }
    }
    for (const auto& id : forbidden) remove(id, 0, "node " + id + " removed: " + by_id_[id]->why);
  }

  void meetCount(int want, const std::string& count_text) {
    // `scores_` is best first, so additions take from the front and removals from the back.
    for (const auto& s : scores_) {
      if (static_cast<int>(holders_.size()) >= want) break;
      if (!s.eligible || holders_.contains(s.id)) continue;
      std::string reason = "node " + s.id + " (score " + fixed2(s.score) + ") added: " + count_text + ", holders " +
                           std::to_string(holders_.size());
      changes_.push_back(RoleChange{s.id, "", s.score, 0, reason});
      holders_.insert(s.id);
    }
    for (auto it = scores_.rbegin(); it != scores_.rend(); ++it) {
      if (static_cast<int>(holders_.size()) <= want) break;
      if (!holders_.contains(it->id)) continue;
      remove(it->id, it->score, "node " + it->id + " (score " + fixed2(it->score) + ") removed: " + count_text +
                                    ", holders " + std::to_string(holders_.size()));
    }
  }

  // The best challenger replaces the worst holder while it scores more than (1 + hysteresis) times
  // as much. Each swap raises the holders' total score, so the loop ends.
  void swap() {
    for (;;) {
      const ScoredCandidate* challenger = nullptr;
      const ScoredCandidate* worst = nullptr;
      for (const auto& s : scores_) {
        if (!s.eligible) continue;
        if (holders_.contains(s.id)) worst = &s;
        else if (challenger == nullptr) challenger = &s;
      }
      if (challenger == nullptr || worst == nullptr) return;
      if (!(challenger->score > worst->score * (1 + hysteresis_))) return;
      std::string by = worst->score > 0 ? "better by " + percent(challenger->score / worst->score - 1)
                                        : "better than a score of 0";
      std::string reason = "node " + challenger->id + " (score " + fixed2(challenger->score) + ") replaces node " +
                           worst->id + " (score " + fixed2(worst->score) + "): " + by + " (hysteresis " +
                           percent(hysteresis_) + ")";
      changes_.push_back(RoleChange{challenger->id, worst->id, challenger->score, worst->score, reason});
      holders_.erase(worst->id);
      holders_.insert(challenger->id);
    }
  }

  RoleChoice finish(int want) {
    RoleChoice out;
    out.want = want;
    out.holders.assign(holders_.begin(), holders_.end());
    out.changes = std::move(changes_);
    out.scores = std::move(scores_);
    return out;
  }

 private:
  void remove(const std::string& id, double score, std::string reason) {
    changes_.push_back(RoleChange{"", id, 0, score, std::move(reason)});
    holders_.erase(id);
  }

  double hysteresis_;
  std::vector<ScoredCandidate> scores_;
  std::map<std::string, const ScoredCandidate*> by_id_;
  std::set<std::string> holders_;
  std::vector<RoleChange> changes_;
};

}  // namespace

int roleCount(const RoleCount& count, int nodes) {
  if (nodes <= 0) return 0;
  return std::clamp(tableCount(count, nodes), 0, nodes);
}

int hubCount(const RoleCount& count, int nodes) {
  if (nodes <= 0) return 0;
  return std::max(1, makeOdd(roleCount(count, nodes)));
}

std::vector<ScoredCandidate> scoreCandidates(const RoleSpec& role, const ScoreWeights& weights,
                                             const std::vector<RoleCandidate>& candidates) {
  std::set<std::string> seen;
  std::vector<const RoleCandidate*> eligible;
  std::vector<ScoredCandidate> out;
  for (const auto& c : candidates) {
    if (!seen.insert(c.id).second) continue;  // the first of duplicate ids counts
    std::string forbidden = forbiddenLabel(role, c);
    if (!forbidden.empty()) {
      out.push_back(ScoredCandidate{c.id, 0, false, "forbidden: " + forbidden});
    } else {
      eligible.push_back(&c);
    }
  }
  double max_memory = 0, max_cpu = 0, min_latency = -1;
  for (const auto* c : eligible) {
    max_memory = std::max(max_memory, static_cast<double>(c->memory_bytes));
    max_cpu = std::max(max_cpu, c->cpus);
    if (c->latency_ms >= 0) {
      double l = std::max(c->latency_ms, kLatencyFloorMs);
      min_latency = min_latency < 0 ? l : std::min(min_latency, l);
    }
  }
  double total = weights.memory + weights.cpu + weights.uptime + weights.latency;
  for (const auto* c : eligible) {
    double memory = ratio(static_cast<double>(c->memory_bytes), max_memory);
    double cpu = ratio(c->cpus, max_cpu);
    // Against a fixed horizon, not the longest: nodes up for long all score 1, and a young cluster's
    // nodes all score about 0 (a few seconds between their starts decide nothing).
    double full = static_cast<double>(std::max<int64_t>(weights.mature_after_s, 1));
    double uptime = std::clamp(static_cast<double>(c->uptime_s) / full, 0.0, 1.0);
    double latency = c->latency_ms < 0 ? 0.5 : min_latency / std::max(c->latency_ms, kLatencyFloorMs);
    double sum = weights.memory * memory + weights.cpu * cpu + weights.uptime * uptime + weights.latency * latency;
    double score = total > 0 ? sum / total : 0;
    std::string why = "memory " + fixed2(memory) + " cpu " + fixed2(cpu) + " uptime " + fixed2(uptime) + " latency " +
                      fixed2(latency);
    if (!role.prefer.empty() && hasAll(role.prefer, *c)) {
      score += kPreferBonus;
      why += " prefer +" + fixed2(kPreferBonus);
    }
    out.push_back(ScoredCandidate{c->id, score, true, why});
  }
  std::sort(out.begin(), out.end(), better);
  return out;
}

RoleChoice chooseHolders(const RoleSpec& role, const ScoreWeights& weights, double hysteresis,
                         const std::vector<RoleCandidate>& alive, const std::vector<std::string>& current,
                         bool hub) {
  std::vector<ScoredCandidate> scores = scoreCandidates(role, weights, alive);
  int nodes = static_cast<int>(scores.size());
  int eligible = static_cast<int>(std::count_if(scores.begin(), scores.end(), [](const auto& s) { return s.eligible; }));
  int asked = hub ? hubCount(role.count, nodes) : roleCount(role.count, nodes);
  int want = std::min(asked, eligible);
  if (hub) want = makeOdd(want);  // 2 eligible nodes make 1 hub: an even count never is the target
  std::string count_text = role.name + " count for " + std::to_string(nodes) + " nodes is " + std::to_string(want);
  if (want < asked) count_text += " (" + std::to_string(eligible) + " eligible)";

  Chooser chooser(hysteresis, std::move(scores));
  chooser.dropUnfit(current);
  chooser.meetCount(want, count_text);
  chooser.swap();
  return chooser.finish(want);
}

}  // namespace shoal
