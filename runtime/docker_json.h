// Docker Engine API JSON <-> shoal's structs. Pure functions, no I/O: the unit tests feed them
// answers copied from a real daemon (API 1.41).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "runtime/container_runtime.h"

namespace shoal::docker {

// "running" -> kRunning ...; an unknown word is kDead (the daemon can't vouch for it).
ContainerState parseState(std::string_view state);
// State.Health.Status: "starting" "healthy" "unhealthy"; "" or "none" -> kNone.
Health parseHealth(std::string_view status);
// The `Status` text of /containers/json: "Up 3 seconds (healthy)", "Up 1s (health: starting)".
Health healthFromStatusText(std::string_view status_text);
// RFC 3339 with up to nanoseconds and `Z` or an offset. "0001-01-01T00:00:00Z" (never) -> the zero
// TimePoint. nullopt when malformed.
std::optional<TimePoint> parseTime(std::string_view text);

// `filters` query value: {"label":["k=v",...]} plus {"type":["container"]} for events.
std::string labelFilters(const Labels& labels, bool container_events);

// The `message` of an error answer, or the body itself when it isn't Docker's error JSON.
std::string errorMessage(std::string_view body);
// `ApiVersion` of GET /version.
Result<std::string> parseApiVersion(std::string_view body);
// <0, 0, >0 like strcmp, comparing "1.41" and "1.9" numerically.
int compareApiVersions(std::string_view a, std::string_view b);

Result<std::vector<ContainerInfo>> parseContainerList(std::string_view body);
Result<ContainerInfo> parseContainerInspect(std::string_view body);
// The body of POST /containers/create.
std::string createBody(const ContainerConfig& config);
// {"k":"v",...}: the `buildargs` query value of POST /build.
std::string stringMapJson(const std::map<std::string, std::string>& map);
// The id of POST /containers/create's answer.
Result<std::string> parseCreatedId(std::string_view body);

// One line of the /events stream; nullopt for lines that aren't container events.
std::optional<ContainerEvent> parseEvent(std::string_view line);

// One line of the /build stream.
struct BuildLine {
  std::string stream;    // output text (may hold several lines)
  std::string error;     // set when the build failed
  std::string image_id;  // aux.ID: "sha256:..."
};
BuildLine parseBuildLine(std::string_view line);

}  // namespace shoal::docker
