// How `place` (placement.h) computes an assignment.
//
// Order. Apps are processed in two passes so that replicas allowed to stay are counted against
// capacity before any new replica takes room (that is what keeps a joining node from causing
// churn):
//  1. Keep, app by app: `kRole` and `kEveryNode` apps (by name) are placed on every eligible node;
//     then each `kOrigin` app (by name) keeps the replicas it had on the node it ran on, if that
//     node is alive and eligible, as many as still fit; then each `kSpread` app (by name) keeps its
//     previous replicas on live eligible nodes — minus the excess when the spec asks for fewer,
//     taken from the nodes with the most replicas of the app (ties: highest id) — as many per node
//     as still fit.
//  2. Place: `kOrigin` apps (by name) are topped up on their node if they kept one, else go to
//     `origin`, else to the node with the most free memory (then most free cpu, lowest id): the
//     first with room for all replicas, else the one with room for the most. Then the missing
//     replicas of each `kSpread` app (by name) go one at a time to the eligible node with room that
//     has the fewest replicas of the app, then the most free memory, most free cpu, lowest id (a
//     heap per app). With `rebalance`, spread apps are then evened out (by name, in rounds until no
//     app can move a replica: one app's moves can free room another needs), and origin and spread
//     apps are placed once more, since those moves may have freed room for replicas still missing.
// Pass 1 keeps at most what was there and pass 2 only adds to it (rebalance aside, which stops at
// a fixpoint), so placing the result again keeps everything and changes nothing, and a node
// joining moves nothing.
// Reasons for unplaced replicas are written last, from the final free capacity, so they describe
// the cluster as assigned (and placing the result again gives the same reasons).
//
// `moved` counts, for each `kSpread` and `kOrigin` app, replicas whose node changed versus
// `previous`: min(replicas added on some node, replicas removed from some node), gone nodes
// included. So a replica on a vanished node counts only when it is re-placed elsewhere; scaling up
// or down is not a move; `kRole` and `kEveryNode` replicas are bound to their node and never move.
//
// Units: memory in bytes, cpus as integer micro-cpus so sums are exact and the result cannot
// depend on the order additions happened in. A capacity of 0 (unknown) is unlimited: it fits any
// request and, when nodes are ranked by free room, ranks above any known amount.
//
// Inputs are assumed well formed (unique app names and node ids); a later duplicate is ignored.
// Negative replicas or requests count as 0.
#include "cluster/placement.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <queue>
#include <set>
#include <string_view>
#include <utility>

namespace shoal {
namespace {

constexpr int64_t kMiB = 1024 * 1024;
constexpr double kMicro = 1e6;
constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();
constexpr int kFitsAll = std::numeric_limits<int>::max();

int64_t micro(double cpus) { return cpus > 0 ? std::llround(cpus * kMicro) : 0; }

// An app with its requests in exact units.
struct App {
  const PlacementApp* spec;
  int replicas;
  int64_t cpu;  // micro-cpus per replica
  int64_t mem;  // bytes per replica
};

struct Node {
  const PlacementNode* spec;
  int64_t cpu_cap;  // micro-cpus; 0 = unknown
  int64_t mem_cap;  // bytes; 0 = unknown
  int64_t cpu_used = 0;
  int64_t mem_used = 0;
  int64_t freeMem() const { return mem_cap > 0 ? mem_cap - mem_used : kUnlimited; }
  int64_t freeCpu() const { return cpu_cap > 0 ? cpu_cap - cpu_used : kUnlimited; }
};

// Why some of an app's replicas are unplaced. `where` are the nodes the reason is about: every
// eligible node (spread), the nodes short of room (per node), the one node (origin).
struct Shortfall {
  const App* app;
  int missing = 0;
  int wanted = 0;
  std::string fixed_reason;  // no eligible node: the sentence; else capacity is computed at the end
  std::vector<int> where;
  std::string where_text;  // "an eligible node", "those", "node-3"
  std::string where_lead;  // "" or " on 2 of 5 eligible nodes"
};

// The ranking key of a node for one more replica of the app being placed: fewest replicas, most
// free memory, most free cpu, lowest id (nodes are sorted by id, so lowest index).
struct FillKey {
  int count;
  int64_t free_mem;
  int64_t free_cpu;
  int index;
  bool operator<(const FillKey& o) const {  // "better than"
    if (count != o.count) return count < o.count;
    if (free_mem != o.free_mem) return free_mem > o.free_mem;
    if (free_cpu != o.free_cpu) return free_cpu > o.free_cpu;
    return index < o.index;
  }
};

// For heaps whose top() is the best node.
struct Worse {
  bool operator()(const FillKey& a, const FillKey& b) const { return b < a; }
};

struct Eligible {
  std::vector<int> list;   // node indices, ascending
  std::vector<char> mask;  // by node index
};

std::string mib(int64_t bytes) {
  char buf[48];
  if (bytes % kMiB == 0) {
    std::snprintf(buf, sizeof buf, "%lld MiB", static_cast<long long>(bytes / kMiB));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / kMiB);
  }
  return buf;
}

std::string cpus(int64_t micro_cpus) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%g %s", micro_cpus / kMicro, micro_cpus == 1'000'000 ? "cpu" : "cpus");
  return buf;
}

std::string constraintsText(const std::map<std::string, std::string>& constraints) {
  std::string s = "{";
  for (const auto& [key, value] : constraints) {
    if (s.size() > 1) s += ", ";
    s += key + ": " + value;
  }
  return s + "}";
}

bool matches(const PlacementNode& node, const std::map<std::string, std::string>& constraints) {
  for (const auto& [key, value] : constraints) {
    auto it = node.labels.find(key);
    if (!value.empty() && value[0] == '!') {
      if (it != node.labels.end() && it->second == std::string_view(value).substr(1)) return false;
    } else if (it == node.labels.end() || it->second != value) {
      return false;
    }
  }
  return true;
}

int modeRank(PlaceMode m) {
  switch (m) {
    case PlaceMode::kRole:
    case PlaceMode::kEveryNode: return 0;
    case PlaceMode::kOrigin: return 1;
    case PlaceMode::kSpread: return 2;
  }
  return 2;
}

class Placer {
 public:
  explicit Placer(const PlacementInput& input);
  PlacementResult run();

 private:
  // Pass 1.
  void placePerNode(const App& app);
  void keepOrigin(const App& app);
  void keepSpread(const App& app);
  // Pass 2.
  void placeOrigin(const App& app);
  void recordOriginShortfall(const App& app);
  void fillSpread(const App& app);
  void rebalanceAll();
  bool rebalance(const App& app);
  void recordSpreadShortfall(const App& app);
  // Helpers.
  const Eligible& eligible(const App& app);
  std::string noEligibleReason(const App& app) const;
  int fits(int node, const App& app) const;
  void add(int node, const App& app, int n);
  FillKey keyOf(int node, const App& app) const;
  std::string reason(const Shortfall& s) const;
  int moved() const;

  const PlacementInput& input_;
  std::vector<Node> nodes_;                      // sorted by id
  std::map<std::string, int, std::less<>> index_;  // node id -> index in `nodes_`
  std::vector<App> apps_;                        // in processing order
  std::map<std::string, std::map<int, int>> placed_;  // app -> node index -> replicas
  std::map<std::pair<std::string, std::map<std::string, std::string>>, Eligible> eligible_;
  std::vector<Shortfall> shortfalls_;
  std::map<std::string, int> origin_node_;  // origin app -> its node, once it has one
  int64_t moves_ = 0;                 // rebalance moves so far
  std::vector<int64_t> freed_at_;     // by node: `moves_` when a move last freed room on it
};

Placer::Placer(const PlacementInput& input) : input_(input) {
  std::vector<const PlacementNode*> sorted;
  for (const auto& n : input.nodes) sorted.push_back(&n);
  std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->id < b->id; });
  for (const auto* n : sorted) {
    if (index_.emplace(n->id, static_cast<int>(nodes_.size())).second) {
      nodes_.push_back({n, micro(n->cpus), std::max<int64_t>(n->memory_bytes, 0)});
    }
  }
  std::vector<const PlacementApp*> apps;
  for (const auto& a : input.apps) apps.push_back(&a);
  std::stable_sort(apps.begin(), apps.end(), [](auto* a, auto* b) {
    int ra = modeRank(a->mode), rb = modeRank(b->mode);
    return ra != rb ? ra < rb : a->name < b->name;
  });
  for (const auto* a : apps) {
    if (placed_.contains(a->name)) continue;  // a duplicate name
    placed_[a->name];
    apps_.push_back({a, std::max(a->replicas, 0), micro(a->cpus), std::max<int64_t>(a->memory_bytes, 0)});
  }
}

PlacementResult Placer::run() {
  for (const auto& app : apps_) {
    switch (app.spec->mode) {
      case PlaceMode::kRole:
      case PlaceMode::kEveryNode: placePerNode(app); break;
      case PlaceMode::kOrigin: keepOrigin(app); break;
      case PlaceMode::kSpread: keepSpread(app); break;
    }
  }
  for (const auto& app : apps_) {
    if (app.spec->mode == PlaceMode::kOrigin) placeOrigin(app);
  }
  for (const auto& app : apps_) {
    if (app.spec->mode == PlaceMode::kSpread) fillSpread(app);
  }
  if (input_.rebalance) {
    rebalanceAll();
    for (const auto& app : apps_) {
      if (app.spec->mode == PlaceMode::kOrigin) placeOrigin(app);
    }
    for (const auto& app : apps_) {
      if (app.spec->mode == PlaceMode::kSpread) fillSpread(app);
    }
  }
  for (const auto& app : apps_) {
    if (app.spec->mode == PlaceMode::kSpread) recordSpreadShortfall(app);
    if (app.spec->mode == PlaceMode::kOrigin) recordOriginShortfall(app);
  }

  PlacementResult result;
  for (const auto& [name, per_node] : placed_) {
    auto& out = result.assignment[name];
    for (const auto& [node, n] : per_node) {
      if (n > 0) out[nodes_[node].spec->id] = n;
    }
  }
  std::sort(shortfalls_.begin(), shortfalls_.end(),
            [](const Shortfall& a, const Shortfall& b) { return a.app->spec->name < b.app->spec->name; });
  for (const auto& s : shortfalls_) result.unplaced.push_back({s.app->spec->name, s.missing, reason(s)});
  result.moved = moved();
  return result;
}

// The nodes an app may run on: constraints, and for `kRole` the role. Cached by (role,
// constraints): most apps share a handful of constraint sets.
const Eligible& Placer::eligible(const App& app) {
  const bool by_role = app.spec->mode == PlaceMode::kRole;
  // "\n" cannot be a role name from a spec, so it marks "no role filter" apart from role "".
  auto key = std::make_pair(by_role ? app.spec->role : std::string("\n"), app.spec->constraints);
  auto it = eligible_.find(key);
  if (it != eligible_.end()) return it->second;
  Eligible e;
  e.mask.assign(nodes_.size(), 0);
  for (int i = 0; i < static_cast<int>(nodes_.size()); ++i) {
    const PlacementNode& n = *nodes_[i].spec;
    if (by_role && !n.roles.contains(app.spec->role)) continue;
    if (!matches(n, app.spec->constraints)) continue;
    e.list.push_back(i);
    e.mask[i] = 1;
  }
  return eligible_.emplace(std::move(key), std::move(e)).first->second;
}

std::string Placer::noEligibleReason(const App& app) const {
  const auto& constraints = app.spec->constraints;
  if (app.spec->mode == PlaceMode::kRole) {
    if (app.spec->role.empty()) return "it runs by role but names no role";
    bool held = std::any_of(nodes_.begin(), nodes_.end(),
                            [&](const Node& n) { return n.spec->roles.contains(app.spec->role); });
    if (!held) return "no node holds role " + app.spec->role;
    return "no node holding role " + app.spec->role + " matches the constraints " + constraintsText(constraints);
  }
  if (nodes_.empty()) return "there are no live nodes";
  return "no node matches the constraints " + constraintsText(constraints);
}

// How many more replicas of `app` fit on `node`; kFitsAll when nothing limits.
int Placer::fits(int node, const App& app) const {
  const Node& n = nodes_[node];
  int64_t fit = kFitsAll;
  if (n.mem_cap > 0 && app.mem > 0) fit = std::min(fit, std::max<int64_t>(0, (n.mem_cap - n.mem_used) / app.mem));
  if (n.cpu_cap > 0 && app.cpu > 0) fit = std::min(fit, std::max<int64_t>(0, (n.cpu_cap - n.cpu_used) / app.cpu));
  return static_cast<int>(fit);
}

// Adds `n` replicas (negative: removes) of `app` on `node`, with their requests.
void Placer::add(int node, const App& app, int n) {
  if (n == 0) return;
  nodes_[node].mem_used += app.mem * n;
  nodes_[node].cpu_used += app.cpu * n;
  auto& per_node = placed_[app.spec->name];
  if ((per_node[node] += n) == 0) per_node.erase(node);
}

FillKey Placer::keyOf(int node, const App& app) const {
  const auto& per_node = placed_.at(app.spec->name);
  auto it = per_node.find(node);
  return {it == per_node.end() ? 0 : it->second, nodes_[node].freeMem(), nodes_[node].freeCpu(), node};
}

void Placer::placePerNode(const App& app) {
  if (app.replicas == 0) return;
  const Eligible& e = eligible(app);
  if (e.list.empty()) {
    shortfalls_.push_back({&app, app.replicas, app.replicas, noEligibleReason(app), {}, "", ""});
    return;
  }
  Shortfall s{&app, 0, static_cast<int>(std::min<int64_t>(int64_t{app.replicas} * e.list.size(), kFitsAll)),
              "", {}, "those", ""};
  for (int node : e.list) {
    int n = std::min(app.replicas, fits(node, app));
    add(node, app, n);
    if (n < app.replicas) {
      s.missing += app.replicas - n;
      s.where.push_back(node);
    }
  }
  if (s.missing == 0) return;
  s.where_lead = " on " + std::to_string(s.where.size()) + " of " + std::to_string(e.list.size()) + " eligible nodes";
  shortfalls_.push_back(std::move(s));
}

// Stays where it ran before: the live eligible node that held the most of its replicas (ties:
// lowest id), if at least one still fits there. Only as many as ran there are kept now; more are
// added in pass 2 (`placeOrigin`), after spread replicas are kept, so an app short of room cannot
// grow into room kept replicas of spread apps hold.
void Placer::keepOrigin(const App& app) {
  auto prev = input_.previous.find(app.spec->name);
  if (prev == input_.previous.end() || app.replicas == 0) return;
  const Eligible& e = eligible(app);
  int best = -1, best_count = 0;
  for (const auto& [id, count] : prev->second) {
    auto it = index_.find(id);
    if (it == index_.end() || !e.mask[it->second] || count <= best_count) continue;
    best = it->second;
    best_count = count;
  }
  if (best < 0 || fits(best, app) == 0) return;
  add(best, app, std::min({best_count, app.replicas, fits(best, app)}));
  origin_node_[app.spec->name] = best;
}

// Tops up an origin app kept in pass 1 on its node, or picks its node: `origin`, then most free
// memory, most free cpu, lowest id; the first with room for all replicas, else the one with room
// for the most.
void Placer::placeOrigin(const App& app) {
  if (app.replicas == 0) return;
  if (auto kept = origin_node_.find(app.spec->name); kept != origin_node_.end()) {
    int have = placed_.at(app.spec->name).at(kept->second);
    add(kept->second, app, std::min(app.replicas - have, fits(kept->second, app)));
    return;
  }
  const Eligible& e = eligible(app);
  std::vector<int> order = e.list;
  auto origin = index_.find(input_.origin);
  const int origin_index = origin != index_.end() && e.mask[origin->second] ? origin->second : -1;
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if ((a == origin_index) != (b == origin_index)) return a == origin_index;
    return FillKey{0, nodes_[a].freeMem(), nodes_[a].freeCpu(), a} <
           FillKey{0, nodes_[b].freeMem(), nodes_[b].freeCpu(), b};
  });
  int best = -1, best_fit = 0;
  for (int node : order) {
    int fit = std::min(app.replicas, fits(node, app));
    if (fit > best_fit) {
      best = node;
      best_fit = fit;
    }
    if (fit == app.replicas) break;
  }
  if (best < 0) return;
  add(best, app, best_fit);
  origin_node_[app.spec->name] = best;
}

void Placer::recordOriginShortfall(const App& app) {
  const auto& per_node = placed_.at(app.spec->name);
  int have = per_node.empty() ? 0 : per_node.begin()->second;
  if (have >= app.replicas) return;
  const Eligible& e = eligible(app);
  if (e.list.empty()) {
    shortfalls_.push_back({&app, app.replicas, app.replicas, noEligibleReason(app), {}, "", ""});
  } else if (per_node.empty()) {
    shortfalls_.push_back({&app, app.replicas, app.replicas, "", e.list, "an eligible node", ""});
  } else {
    const int node = per_node.begin()->first;
    const std::string& id = nodes_[node].spec->id;
    shortfalls_.push_back({&app, app.replicas - have, app.replicas, "", {node}, id,
                           " on " + id + ", the one node all replicas of an origin app share"});
  }
}

void Placer::keepSpread(const App& app) {
  auto prev = input_.previous.find(app.spec->name);
  if (prev == input_.previous.end()) return;
  const Eligible& e = eligible(app);
  std::map<int, int> kept;  // node index -> replicas
  int total = 0;
  for (const auto& [id, count] : prev->second) {
    auto it = index_.find(id);
    if (it == index_.end() || !e.mask[it->second] || count <= 0) continue;  // gone or no longer eligible
    kept[it->second] = count;
    total += count;
  }
  if (total > app.replicas) {
    // Fewer asked: take from the nodes with the most replicas of the app, ties the highest id.
    std::set<std::pair<int, int>> by_count;  // (replicas, node index)
    for (const auto& [node, count] : kept) by_count.emplace(count, node);
    for (; total > app.replicas; --total) {
      auto [count, node] = *by_count.rbegin();
      by_count.erase(std::prev(by_count.end()));
      if (--kept[node] > 0) by_count.emplace(count - 1, node);
    }
  }
  for (const auto& [node, count] : kept) add(node, app, std::min(count, fits(node, app)));
}

void Placer::fillSpread(const App& app) {
  int have = 0;
  for (const auto& [node, n] : placed_.at(app.spec->name)) have += n;
  int need = app.replicas - have;
  if (need <= 0) return;
  const Eligible& e = eligible(app);
  std::vector<FillKey> keys;
  keys.reserve(e.list.size());
  for (int node : e.list) {
    if (fits(node, app) > 0) keys.push_back(keyOf(node, app));
  }
  std::priority_queue<FillKey, std::vector<FillKey>, Worse> heap(Worse{}, std::move(keys));
  for (; need > 0 && !heap.empty(); --need) {
    int node = heap.top().index;
    heap.pop();
    add(node, app, 1);
    if (fits(node, app) > 0) heap.push(keyOf(node, app));
  }
}

void Placer::recordSpreadShortfall(const App& app) {
  int have = 0;
  for (const auto& [node, n] : placed_.at(app.spec->name)) have += n;
  if (have >= app.replicas) return;
  const Eligible& e = eligible(app);
  std::string fixed = e.list.empty() ? noEligibleReason(app) : "";
  shortfalls_.push_back({&app, app.replicas - have, app.replicas, fixed, e.list, "an eligible node", ""});
}

// Rebalances spread apps in rounds until a round moves nothing. An app is looked at again only
// when a later move freed room on one of its eligible nodes (apps without requests never are).
// Every move lowers the sum over apps of squared per-node counts, so the rounds end.
void Placer::rebalanceAll() {
  freed_at_.assign(nodes_.size(), -1);
  std::map<std::string, int64_t> checked_at;  // app -> `moves_` when last rebalanced
  for (bool first = true, again = true; again; first = false) {
    again = false;
    for (const auto& app : apps_) {
      if (app.spec->mode != PlaceMode::kSpread) continue;
      if (!first) {
        if (app.cpu == 0 && app.mem == 0) continue;
        const int64_t since = checked_at[app.spec->name];
        const auto& list = eligible(app).list;
        if (std::none_of(list.begin(), list.end(), [&](int n) { return freed_at_[n] > since; })) continue;
      }
      if (rebalance(app)) again = true;
      checked_at[app.spec->name] = moves_;
    }
  }
}

// Moves replicas from the node with the most (ties: highest id) to the best node with room (as
// `fillSpread` ranks them) until no move narrows the gap: the counts of any two eligible nodes
// differ by at most 1, or the nodes with fewer have no room. Each move lowers the sum of squared
// counts, so this ends. True when it moved a replica.
bool Placer::rebalance(const App& app) {
  const Eligible& e = eligible(app);
  const auto& per_node = placed_.at(app.spec->name);
  auto countOf = [&](int node) {
    auto it = per_node.find(node);
    return it == per_node.end() ? 0 : it->second;
  };
  std::set<std::pair<int, int>> donors;  // (replicas, node index)
  std::set<FillKey> receivers;           // best first
  std::map<int, FillKey> receiver_key;   // node index -> its key in `receivers`
  auto index = [&](int node) {
    if (int c = countOf(node); c > 0) donors.emplace(c, node);
    if (fits(node, app) > 0) receivers.insert(receiver_key.insert_or_assign(node, keyOf(node, app)).first->second);
  };
  auto unindex = [&](int node) {
    donors.erase({countOf(node), node});
    if (auto it = receiver_key.find(node); it != receiver_key.end()) {
      receivers.erase(it->second);
      receiver_key.erase(it);
    }
  };
  for (int node : e.list) index(node);
  bool moved = false;
  while (!donors.empty() && !receivers.empty()) {
    auto [most, from] = *donors.rbegin();
    const FillKey& to = *receivers.begin();
    if (most - to.count <= 1) break;
    int to_node = to.index;
    unindex(from);
    unindex(to_node);
    add(from, app, -1);
    add(to_node, app, 1);
    index(from);
    index(to_node);
    freed_at_[from] = ++moves_;
    moved = true;
  }
  return moved;
}

std::string Placer::reason(const Shortfall& s) const {
  const std::string& name = s.app->spec->name;
  std::string head =
      name + ": " + std::to_string(s.missing) + " of " + std::to_string(s.wanted) + " replicas unplaced: ";
  if (!s.fixed_reason.empty()) return head + s.fixed_reason;
  int64_t free_mem = 0, free_cpu = 0;
  for (int node : s.where) {
    free_mem = std::max(free_mem, nodes_[node].freeMem());
    free_cpu = std::max(free_cpu, nodes_[node].freeCpu());
  }
  const std::string lead = s.where_lead;
  const std::string most = "the most free on " + s.where_text + " is ";
  if (free_mem < s.app->mem) {
    return head + "not enough memory" + lead + " (needs " + mib(s.app->mem) + ", " + most + mib(free_mem) + ")";
  }
  if (free_cpu < s.app->cpu) {
    return head + "not enough cpu" + lead + " (needs " + cpus(s.app->cpu) + ", " + most + cpus(free_cpu) + ")";
  }
  return head + "not enough memory and cpu together" + lead + " (needs " + mib(s.app->mem) + " and " +
         cpus(s.app->cpu) + "; some nodes have one free, none has both)";
}

int Placer::moved() const {
  int moved = 0;
  for (const auto& app : apps_) {
    if (app.spec->mode != PlaceMode::kSpread && app.spec->mode != PlaceMode::kOrigin) continue;
    std::map<std::string, int> now;
    for (const auto& [node, n] : placed_.at(app.spec->name)) now[nodes_[node].spec->id] = n;
    std::map<std::string, int> before;
    if (auto prev = input_.previous.find(app.spec->name); prev != input_.previous.end()) {
      for (const auto& [id, n] : prev->second) {
        if (n > 0) before[id] = n;
      }
    }
    int added = 0, removed = 0;
    for (const auto& [id, n] : now) {
      auto it = before.find(id);
      added += std::max(0, n - (it == before.end() ? 0 : it->second));
    }
    for (const auto& [id, n] : before) {
      auto it = now.find(id);
      removed += std::max(0, n - (it == now.end() ? 0 : it->second));
    }
    moved += std::min(added, removed);
  }
  return moved;
}

}  // namespace

PlacementResult place(const PlacementInput& input) { return Placer(input).run(); }

}  // namespace shoal
