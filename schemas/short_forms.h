// The short string forms of app fields, shared by the validator (custom `format`s) and the builder.
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

}  // namespace shoal
