// The static source: the addresses written in node.yaml, in order. No I/O.
#include "cluster/discovery_sources.h"

namespace shoal {
namespace {

class StaticSource : public DiscoverySource {
 public:
  explicit StaticSource(std::vector<PeerAddress> addresses) : addresses_(std::move(addresses)) {}
  Result<std::vector<PeerAddress>> discover(Duration) override { return addresses_; }
  std::string describe() const override { return "static"; }

 private:
  const std::vector<PeerAddress> addresses_;
};

}  // namespace

DiscoverySourcePtr newStaticSource(std::vector<PeerAddress> addresses) {
  return std::make_unique<StaticSource>(std::move(addresses));
}

}  // namespace shoal
