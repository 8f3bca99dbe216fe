// Peer discovery: where a starting node looks for other nodes. `node.yaml` will list an ordered
// set of sources (static addresses, a URL, DNS, a file in a git repo); each yields candidate peer
// addresses, which joining then tries. A candidate is only a place to knock: it may be dead, or
// this node itself. See doc/discovery.md; node.yaml's `discovery:` section builds them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace shoal {

// The peer endpoint's default port (`cluster.port`); a bare host or an A record without SRV gets it.
inline constexpr int kDefaultPeerPort = 7444;

struct PeerAddress {
  std::string host;  // a DNS name, an IPv4 address, or an IPv6 address without brackets
  int port = kDefaultPeerPort;

  std::string str() const;  // "10.0.0.2:7443", "[::1]:7443"
  bool operator==(const PeerAddress&) const = default;
  auto operator<=>(const PeerAddress&) const = default;
};

// "host:port", "host" (gets `default_port`), "[v6]:port", "[v6]", or a bare IPv6 address.
// kInvalid with `bad address "TEXT": WHY` otherwise.
Result<PeerAddress> parsePeerAddress(const std::string& text, int default_port = kDefaultPeerPort);

// The address file read by the url and git sources: one address per line, `#` starts a comment
// (whole line or trailing), blank lines ignored. The first bad line fails the whole file:
// `line 3: bad address "h:x": port must be a number from 1 to 65535`.
Result<std::vector<PeerAddress>> parseAddressFile(const std::string& text, int default_port = kDefaultPeerPort);

// Whether a publish changed the file or found the address already listed.
enum class PublishOutcome { kPublished, kUnchanged };

// One place that lists peers. `discover` is called from one thread at a time per source (each
// round runs every source on a thread of its own); it never throws on purpose, and it enforces
// `timeout` itself (HTTP, DNS and fetch timeouts). Failure messages start with `describe()`.
class DiscoverySource {
 public:
  virtual ~DiscoverySource() = default;
  virtual Result<std::vector<PeerAddress>> discover(Duration timeout) = 0;
  // "static", "url http://…", "dns shoal.test", "git /srv/peers.git peers.txt@main".
  virtual std::string describe() const = 0;
  // True when the config asked this node to publish its own address here (git only).
  virtual bool publishes() const { return false; }
  // Adds `self` to the source's list. Only git sources can; others fail with kInvalid.
  virtual Result<PublishOutcome> publish(const PeerAddress& self);
};
using DiscoverySourcePtr = std::unique_ptr<DiscoverySource>;

struct SkippedSource {
  std::string source;  // describe() of the source
  std::string reason;  // one line, starting with the source
};

struct DiscoveryResult {
  std::vector<PeerAddress> peers;      // in source order, duplicates removed (first kept)
  std::vector<SkippedSource> skipped;  // in source order
};

// Asks every source, all at once (so a round takes about one `timeout`, however many sources),
// each with `timeout`; merges in source order. A failing or throwing source is skipped, logged at
// warn with its reason, and listed in `skipped`; the others still count.
DiscoveryResult discoverAll(const std::vector<DiscoverySourcePtr>& sources, Duration timeout);

struct PublishReport {
  std::vector<std::string> published;  // describe() of each source that changed
  std::vector<std::string> unchanged;  // already listed `self`
  std::vector<SkippedSource> errors;
};
// Publishes `self` to every source whose `publishes()` is true, one after the other.
PublishReport publishAll(const std::vector<DiscoverySourcePtr>& sources, const PeerAddress& self);

// ---- Building sources: the part of `node.yaml` the next step will map onto this struct.

enum class DiscoveryKind { kStatic, kUrl, kDns, kGit };

struct DiscoverySourceConfig {
  DiscoveryKind kind = DiscoveryKind::kStatic;
  // static
  std::vector<std::string> addresses{};
  // url: http:// or https://
  std::string url{};
  std::string ca_file{};  // https: extra CA bundle (default: the system's)
  // dns: SRV records of `name`, else its A records with `port`
  std::string name{};
  int port = kDefaultPeerPort;
  std::string server{};  // "ip[:port]" (port 53); empty = the nameservers of /etc/resolv.conf
  // git: the address file at `path` on `branch` of `repo`, fetched into `mirror_dir`
  std::string repo{};
  std::string path = "peers.txt";
  std::string branch = "main";
  std::string mirror_dir{};  // the node will pass <data_dir>/discovery-<n>.git
  std::string token_file{};
  bool publish = false;
};

struct DiscoveryConfig {
  std::vector<DiscoverySourceConfig> sources{};
  Duration timeout = Duration(2000);  // per source, per round
};

// kInvalid, starting with the kind ("dns: port must be from 1 to 65535"), when the config can
// never work; nothing is fetched or resolved here.
Result<DiscoverySourcePtr> makeDiscoverySource(const DiscoverySourceConfig& config);
// All sources, or the first config error prefixed with `discovery.sources[i]: `.
Result<std::vector<DiscoverySourcePtr>> makeDiscoverySources(const DiscoveryConfig& config);

}  // namespace shoal
