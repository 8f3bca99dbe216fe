// A `Report` as the status endpoint shows it: JSON for /v1/status and /v1/apps, Prometheus text
// for /metrics. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "cluster/membership.h"
#include "reconcile/report.h"
#include "reconcile/state_store.h"

namespace shoal {

// `membership`: the cluster as this node sees it (null for a standalone node).
std::string statusJson(const Report& report, const MembershipStatus* membership = nullptr);
// GET /v1/nodes: the members, or this one node alone (`self`) when standalone.
std::string nodesJson(const MembershipStatus* membership, const MemberRecord& self);
std::string appsJson(const Report& report);
std::string metricsText(const Report& report);
std::string eventsJson(const std::vector<Event>& events);

}  // namespace shoal
