// makeDiscoverySource: validates a source's config once, so that a config that can never work is
// refused at start (with the key at fault) rather than skipped at every round.
#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>

#include "cluster/discovery_sources.h"

namespace shoal {
namespace {

std::unexpected<Error> invalid(const std::string& message) { return fail(ErrorCode::kInvalid, message); }

Result<DiscoverySourcePtr> makeStatic(const DiscoverySourceConfig& c) {
  std::vector<PeerAddress> addresses;
  for (const auto& text : c.addresses) {
    auto address = parsePeerAddress(text);
    if (!address) return invalid("static: " + address.error().message);
    addresses.push_back(*address);
  }
  return newStaticSource(std::move(addresses));
}

Result<DiscoverySourcePtr> makeUrl(const DiscoverySourceConfig& c) {
  bool http = c.url.starts_with("http://") || c.url.starts_with("https://");
  auto host_start = c.url.find("://") + 3;
  if (!http || c.url.size() <= host_start || c.url[host_start] == '/' ||
      c.url.find_first_of(" \t\r\n") != std::string::npos) {
    return invalid("url: \"" + c.url + "\" is not an http:// or https:// URL");
  }
  return newUrlSource(c);
}

Result<DiscoverySourcePtr> makeDns(const DiscoverySourceConfig& c) {
  if (c.name.empty() || c.name.find_first_of(" \t/:") != std::string::npos || c.name.size() > 253) {
    return invalid("dns: \"" + c.name + "\" is not a DNS name");
  }
  if (c.port < 1 || c.port > 65535) return invalid("dns: port must be from 1 to 65535");
  std::optional<PeerAddress> server;
  if (!c.server.empty()) {
    auto parsed = parsePeerAddress(c.server, 53);
    in_addr ip{};
    if (!parsed || inet_pton(AF_INET, parsed->host.c_str(), &ip) != 1) {
      return invalid("dns: server \"" + c.server + "\" is not an IPv4 address with an optional :port");
    }
    server = *parsed;
  }
  return newDnsSource(c, server);
}

Result<DiscoverySourcePtr> makeGit(const DiscoverySourceConfig& c) {
  if (c.repo.empty()) return invalid("git: repo is required");
  if (c.repo.starts_with("-")) return invalid("git: repo may not start with '-'");
  if (c.branch.empty() || c.branch.starts_with("-") || c.branch.find_first_of(" \t:~^?*[\\") != std::string::npos) {
    return invalid("git: \"" + c.branch + "\" is not a branch name");
  }
  std::filesystem::path path(c.path);
  bool escapes = std::any_of(path.begin(), path.end(), [](const auto& part) { return part == ".."; });
  if (c.path.empty() || path.is_absolute() || escapes || c.path.ends_with("/")) {
    return invalid("git: path \"" + c.path + "\" must be a file inside the repo (relative, no '..')");
  }
  if (c.mirror_dir.empty()) return invalid("git: mirror_dir is required");
  return newGitDiscoverySource(c);
}

}  // namespace

Result<DiscoverySourcePtr> makeDiscoverySource(const DiscoverySourceConfig& config) {
  switch (config.kind) {
    case DiscoveryKind::kStatic: return makeStatic(config);
    case DiscoveryKind::kUrl: return makeUrl(config);
    case DiscoveryKind::kDns: return makeDns(config);
    case DiscoveryKind::kGit: return makeGit(config);
  }
  return invalid("unknown discovery source kind");
}

Result<std::vector<DiscoverySourcePtr>> makeDiscoverySources(const DiscoveryConfig& config) {
  std::vector<DiscoverySourcePtr> sources;
  for (size_t i = 0; i < config.sources.size(); ++i) {
    auto source = makeDiscoverySource(config.sources[i]);
    if (!source) return invalid("discovery.sources[" + std::to_string(i) + "]: " + source.error().message);
    sources.push_back(std::move(*source));
  }
  return sources;
}

}  // namespace shoal
