#include <cmath>
#include <map>

#include "schemas/short_forms.h"
#include "schemas/spec_builder.h"

namespace shoal {

const char* belowMinName(BelowMin b) {
  switch (b) {
    case BelowMin::kPause: return "pause";
    case BelowMin::kStop: return "stop";
    case BelowMin::kKeep: return "keep";
  }
  return "?";
}

RoleCount defaultHubCount() { return RoleCount{false, {{1, 1}, {3, 3}, {7, 5}}}; }

const RoleSpec& ClusterSpec::hubRole() const {
  for (const auto& r : roles)
    if (r.name == "hub") return r;
  static const RoleSpec kDefault{"hub", defaultHubCount(), {}, {}};
  return kDefault;
}

namespace {

constexpr char kHub[] = "hub";

std::map<std::string, std::string> labelMap(const Value& map) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : map.entries()) out[key] = value.text();
  return out;
}

// A majority of an even number of voters survives no more failures than one voter fewer, and a
// split down the middle stops both halves: etcd wants an odd count.
void checkOddHubCount(const Value& v, int count) {
  if (count % 2 == 1) return;
  v.ctx().error(v.loc(), v.path(),
                "hub counts must be odd (an even number of etcd voters survives no more failures than one fewer), "
                "got " + std::to_string(count));
}

// `every-node`, a number n (= {1: n}) or a table from cluster sizes to counts starting at 1 node.
RoleCount readCount(const Value& v, bool hub) {
  RoleCount c;
  if (v.kind() == YamlKind::kString) {
    c.every_node = true;
  } else if (v.kind() == YamlKind::kInt) {
    c.table[1] = v.integer();
    if (hub) checkOddHubCount(v, v.integer());
  } else {
    for (const auto& [key, count] : v.entries()) {
      c.table[std::stoi(key)] = count.integer();
      if (hub) checkOddHubCount(count, count.integer());
    }
    // `has`, not the table: an entry for 1 with a bad count is already reported.
    if (v.size() == 0) {
      v.ctx().error(v.loc(), v.path(), "needs at least one entry, like {1: 1}");
    } else if (!v.has("1")) {
      v.ctx().error(v.loc(), v.path(), "needs an entry for 1 node: a cluster starts with one node");
    }
  }
  return c;
}

RoleSpec readRole(const std::string& name, const Value& v) {
  bool hub = name == kHub;
  RoleSpec r{name, hub ? defaultHubCount() : RoleCount{}, {}, {}};
  if (auto count = v.field("count")) {
    r.count = readCount(*count, hub);
  } else if (!hub && !v.has("count")) {
    v.ctx().error(v.loc(), joinPath(v.path(), "count"), "required (only hub has a default count)");
  }
  if (auto f = v.field("forbid")) r.forbid = labelMap(*f);
  if (auto f = v.field("prefer")) r.prefer = labelMap(*f);
  return r;
}

// Sorted by name, `hub` always among them.
std::vector<RoleSpec> readRoles(const std::optional<Value>& roles) {
  std::map<std::string, RoleSpec> by_name{{kHub, RoleSpec{kHub, defaultHubCount(), {}, {}}}};
  if (roles) {
    for (const auto& [name, v] : roles->entries()) by_name[name] = readRole(name, v);
  }
  std::vector<RoleSpec> out;
  for (auto& [_, r] : by_name) out.push_back(std::move(r));
  return out;
}

// A number the scoring arithmetic can use: the schema bounds it, but `.nan` compares false to both.
double finiteNumber(const Value& v) {
  double d = v.number();
  if (std::isfinite(d)) return d;
  v.ctx().error(v.loc(), v.path(), "must be a finite number, got " + v.text());
  return 0;
}

void readScoring(const Value& scoring, ClusterSpec& c) {
  if (auto weights = scoring.field("weights")) {
    if (auto v = weights->field("memory")) c.weights.memory = finiteNumber(*v);
    if (auto v = weights->field("cpu")) c.weights.cpu = finiteNumber(*v);
    if (auto v = weights->field("uptime")) c.weights.uptime = finiteNumber(*v);
    if (auto v = weights->field("latency")) c.weights.latency = finiteNumber(*v);
    const ScoreWeights& w = c.weights;
    if (w.memory == 0 && w.cpu == 0 && w.uptime == 0 && w.latency == 0) {
      weights->ctx().error(weights->loc(), weights->path(),
                           "the weights can't all be 0: every node would score the same");
    }
  }
  if (auto v = scoring.field("mature_after")) {
    int64_t s = std::chrono::duration_cast<std::chrono::seconds>(v->duration()).count();
    if (s > 0) {
      c.weights.mature_after_s = s;
    } else {
      v->ctx().error(v->loc(), v->path(), "must be at least 1s, got " + v->text());
    }
  }
  if (auto v = scoring.field("hysteresis")) {
    c.hysteresis = v->kind() == YamlKind::kString ? parsePercent(v->text()).value_or(0) : finiteNumber(*v);
  }
}

void readQuorumLoss(const Value& v, ClusterSpec& c) {
  if (!v.isMap()) {
    c.quorum_loss = QuorumLoss::kWait;
    return;
  }
  c.quorum_loss = QuorumLoss::kRecover;
  if (auto after = v.field("recover_after")) {
    c.recover_after = after->duration();
    if (c.recover_after <= Duration(0)) {
      after->ctx().error(after->loc(), after->path(), "must be more than 0, got " + after->text());
    }
  }
}

}  // namespace

ClusterSpec buildCluster(const Value& root) {
  ClusterSpec c;
  if (auto v = root.field("name")) c.name = v->text();
  if (auto v = root.field("min_nodes")) c.min_nodes = v->integer();
  if (auto v = root.field("below_min")) {
    std::string b = v->text();
    c.below_min = b == "stop" ? BelowMin::kStop : b == "keep" ? BelowMin::kKeep : BelowMin::kPause;
  }
  c.roles = readRoles(root.field("roles"));
  if (auto v = root.field("scoring")) readScoring(*v, c);
  if (auto v = root.field("quorum_loss")) readQuorumLoss(*v, c);
  if (auto v = root.field("rebalance")) c.rebalance = v->boolean();
  return c;
}

}  // namespace shoal
