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

ClusterSpec buildCluster(const Value& root) {
  ClusterSpec c;
  if (auto v = root.field("name")) c.name = v->text();
  if (auto v = root.field("min_nodes")) c.min_nodes = v->integer();
  if (auto v = root.field("below_min")) {
    std::string b = v->text();
    c.below_min = b == "stop" ? BelowMin::kStop : b == "keep" ? BelowMin::kKeep : BelowMin::kPause;
  }
  return c;
}

}  // namespace shoal
