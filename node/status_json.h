// A `Report` as the status endpoint shows it: JSON for /v1/status and /v1/apps, Prometheus text
// for /metrics. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "reconcile/report.h"
#include "reconcile/state_store.h"

namespace shoal {

std::string statusJson(const Report& report);
std::string appsJson(const Report& report);
std::string metricsText(const Report& report);
std::string eventsJson(const std::vector<Event>& events);

}  // namespace shoal
