// Node containers from the real node image on Docker networks this process creates: for the
// end-to-end cluster tests and bench/formation. Everything made here is removed by the destructor.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/harness/harness.h"

namespace shoal::testing {

// The image's node.yaml with the simulated runtime (what is measured or tested is the cluster, not
// the apps), notes off (many nodes share one spec repo), a lease of `lease_ttl` ("4s") and the
// node's `labels`.
std::string simulatedNodeYaml(const std::string& lease_ttl, const std::map<std::string, std::string>& labels = {});

class NodeContainers {
 public:
  // Makes CAs and a spec repo under a temp dir and builds the node image with `node_yaml` (the
  // image's default node.yaml when empty) from the build that made `shoalBinary()`.
  explicit NodeContainers(const std::string& node_yaml = "");
  ~NodeContainers();

  bool built() const { return built_.exit_code == 0; }
  const CommandResult& buildResult() const { return built_; }
  const std::string& tag() const { return tag_; }
  const std::string& pkiDir() const { return pki_->dir; }
  SpecRepo& spec() { return *spec_; }

  // A Docker network with subnet 10.<a>.<b>.0/24 unique to this process; returns its name.
  std::string network(const std::string& suffix);
  // The subnet prefix of `network` ("10.213.7.").
  std::string prefix(const std::string& network) const { return prefixes_.at(network); }

  // `docker run -d` a node named NAME on `network` with alias `shoal` (its DNS discovery), the
  // given IP (empty: Docker picks) and the file `node_yaml` mounted over the image's node.yaml
  // (empty: the image's). Returns false with the output logged on failure.
  bool run(const std::string& name, const std::string& network, const std::string& ip = "",
           const std::string& node_yaml = "");
  // docker stop (SIGTERM, 20 s grace); returns the container's exit code.
  int stop(const std::string& name);
  void kill(const std::string& name);
  void start(const std::string& name);
  // Moves `name` (stopped) to `ip` on `network`.
  void readdress(const std::string& name, const std::string& network, const std::string& ip);
  void connect(const std::string& name, const std::string& network);

  std::string ip(const std::string& name) const;  // first network's IP
  std::optional<std::string> get(const std::string& name, const std::string& path) const;
  // /v1/status's cluster id and the /v1/nodes count (-1 when the node does not answer).
  std::string clusterId(const std::string& name) const;
  int members(const std::string& name) const;
  bool isHub(const std::string& name) const;
  // All `names` see the same cluster with exactly `size` members.
  bool oneCluster(const std::vector<std::string>& names, int size) const;
  // The RSS of the node process in its container, in bytes (from /proc of the host).
  long long rssBytes(const std::string& name) const;
  std::string logs(const std::string& name) const;

 private:
  std::string run_;
  std::string tag_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Pki> pki_;
  std::unique_ptr<SpecRepo> spec_;
  CommandResult built_;
  std::vector<std::string> containers_;
  std::vector<std::string> networks_;
  std::map<std::string, std::string> prefixes_;
  int next_net_ = 0;
};

}  // namespace shoal::testing
