// The short string forms of app and node fields, shared by the validator (custom `format`s) and the
// builders.
#pragma once

#include <optional>
#include <string_view>
#include <utility>

#include "schemas/spec.h"

namespace shoal {

// "8080-8089" -> {8080, 8089}. Both ends within 1..65535, from <= to. A single number is refused.
std::optional<std::pair<int, int>> parsePortRange(std::string_view text);
// "80", "8080:80", "8080-8089:80", "127.0.0.1:53:53/udp". Without a host part, host ports are 0.
std::optional<PortSpec> parsePortMapping(std::string_view text);
// "data:/var/lib/data" or "data:/var/lib/data:ro" (":rw" is accepted too).
std::optional<VolumeSpec> parseVolumeMapping(std::string_view text);
// "20%" -> 0.2, "12.5%" -> 0.125; from 0% to 100%.
std::optional<double> parsePercent(std::string_view text);

// A peer's address as discovery reads it: "host", "host:port", "[IPv6]", "[IPv6]:port" or a bare
// IPv6 address. Hosts are IPv4 addresses or names of letters, digits, '.', '-' and '_'; ports 1..65535.
bool isPeerAddress(std::string_view text);
// A nameserver: an IPv4 address with an optional port, "127.0.0.1" or "127.0.0.1:5353".
bool isDnsServer(std::string_view text);
// An IPv4 or IPv6 address (no port, no brackets).
bool isIpAddress(std::string_view text);

}  // namespace shoal
