// What the node-container benchmarks (failover, hubs, formation) share: timing helpers and a
// cluster of node containers read through each node's /v1/status (tests/harness/node_containers.h).
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/harness/node_containers.h"

namespace shoal::bench {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0);
// The middle value (the upper one of an even count).
double median(std::vector<double> v);

// A running node container: its address and node id are read once, so that a poll costs one
// HTTPS request per node and never touches a dead one.
struct Node {
  std::string name, ip, id;
};

// The node containers one benchmark started on one network, named PREFIX-N-unique.
class NodeCluster {
 public:
  NodeCluster(testing::NodeContainers& nodes, std::string net, std::string prefix)
      : nodes_(nodes), net_(std::move(net)), prefix_(std::move(prefix)) {}

  // The node's /v1/status (an empty object when it does not answer).
  nlohmann::json status(const Node& n) const;
  // Starts a container (with the file `node_yaml` over the image's node.yaml when given) and waits
  // up to 60 s until it answers with its node id. Returns it, or nullptr.
  const Node* add(const std::string& node_yaml = "");
  void kill(const std::string& name);
  int stop(const std::string& name);  // docker stop; the container's exit code

  // One cluster of the live nodes; each lists the same `count` voters, all alive, and no learner.
  bool settled(size_t count) const;
  // What the first live node reads: the voters' node ids, the leader's, `cluster` of its status.
  std::set<std::string> voters() const;
  std::string leader() const;
  nlohmann::json cluster() const;

  const std::vector<Node>& live() const { return live_; }
  // Each live node's `cluster` status, a line each (for a failure's message).
  std::string dump() const;

 private:
  testing::NodeContainers& nodes_;
  std::string net_, prefix_;
  std::vector<Node> live_;
  int count_ = 0;
};

}  // namespace shoal::bench
