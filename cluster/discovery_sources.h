// The concrete discovery sources, built only by `makeDiscoverySource` (discovery_factory.cpp)
// after it has validated the config. Internal to cluster/.
#pragma once

#include <optional>
#include <vector>

#include "cluster/discovery.h"

namespace shoal {

DiscoverySourcePtr newStaticSource(std::vector<PeerAddress> addresses);
// `config.url` is http:// or https://.
DiscoverySourcePtr newUrlSource(const DiscoverySourceConfig& config);
// `server`: the one nameserver to ask (an IPv4 address and port), or nullopt for resolv.conf's.
DiscoverySourcePtr newDnsSource(const DiscoverySourceConfig& config, std::optional<PeerAddress> server);
// `config.repo`, `path` (relative, inside the repo), `branch` and `mirror_dir` are set.
DiscoverySourcePtr newGitDiscoverySource(const DiscoverySourceConfig& config);

}  // namespace shoal
