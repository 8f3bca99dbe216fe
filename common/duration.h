// Durations and sizes as people write them in YAML: "500ms", "2s", "5m", "2h", "90d"; "64M", "1G".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace shoal {

// "500ms" "10s" "5m" "2h" "90d"; a bare number is refused (unit ambiguity). nullopt if malformed.
std::optional<Duration> parseDuration(std::string_view text);
// "512k" "256M" "2G" "1T" (binary units, case-insensitive), or a bare number of bytes.
std::optional<int64_t> parseSize(std::string_view text);
// 2500ms -> "2.5s", 120000 -> "2m"; for messages and status.
std::string formatDuration(Duration d);

}  // namespace shoal
