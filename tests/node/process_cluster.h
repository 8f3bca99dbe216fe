// A gtest fixture for several `shoal` nodes as processes on 127.0.0.1: the simulated runtime
// (no Docker), real etcd, real mTLS and real git. Discovery is a git source (a peers file the
// test rewrites), so the test decides who can see whom. Each node gets its own peer, api and
// etcd ports. Shared by cluster_process_test and hubs_process_test; the derived fixture commits
// the spec in its constructor.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <random>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/harness/harness.h"

namespace shoal::testing {

class ProcessClusterTest : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  struct Node {
    std::unique_ptr<NodeProcess> process;
    int peer_port = 0;
    std::string peers_file;  // which discovery file it reads
  };

  ProcessClusterTest() : pki_(tmp_.path() + "/pki"), spec_(tmp_.path() + "/spec"), peers_(tmp_.path() + "/peers") {}

  // Adds a node reading `peers_file` of the peers repo (or the sources in `discovery_yaml`, a
  // list of `    - ...` lines); not started. Its lease is `lease_ttl_`.
  Node& add(const std::string& peers_file = "peers.txt", const std::string& discovery_yaml = "") {
    auto n = std::make_unique<Node>();
    n->peer_port = port();
    n->peers_file = peers_file;
    std::string dir = tmp_.path() + "/n" + std::to_string(nodes_.size());
    sh("mkdir -p " + dir);
    NodeProcess::Options o;
    o.dir = dir;
    o.spec_repo = spec_.bare();
    o.pki_dir = pki_.dir;
    o.api_port = port();
    o.extra_yaml = "runtime: sim\n"
                   "cluster:\n  listen: 127.0.0.1\n  advertise: 127.0.0.1\n  port: " +
                   std::to_string(n->peer_port) +
                   "\n  stable_for: 1s\n  probe_interval: 300ms\n  lease_ttl: " + lease_ttl_ +
                   "\n  etcd:\n    client_port: " + std::to_string(port()) +
                   "\n    peer_port: " + std::to_string(port()) +
                   "\ndiscovery:\n  timeout: 1s\n  sources:\n" +
                   (discovery_yaml.empty() ? "    - git: " + peers_.bare() + "\n      path: " + peers_file + "\n"
                                           : discovery_yaml);
    n->process = std::make_unique<NodeProcess>(o);
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  // A port for a node to listen on: below Linux's ephemeral range (32768-60999), where
  // `freePort()` picks and where every outgoing connection of the machine takes one, so a port
  // chosen now is not taken by the time the node binds it; and never one handed out before in
  // this test process (a node's four ports are chosen before any is bound).
  static int port() {
    static std::mt19937 random(static_cast<unsigned>(getpid()));
    static std::set<int> given;
    for (int tries = 0; tries < 1000; ++tries) {
      int p = std::uniform_int_distribution<int>(20000, 32000)(random);
      if (given.contains(p)) continue;
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) break;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(p));
      bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
      close(fd);
      if (!free) continue;
      given.insert(p);
      return p;
    }
    return freePort();
  }

  // Moves a node (not started) to another peer port in its node.yaml.
  static void rewritePeerPort(Node& n, int port) {
    std::string yaml = readFile(n.process->nodeYaml());
    std::string from = "  port: " + std::to_string(n.peer_port) + "\n";
    yaml.replace(yaml.find(from), from.size(), "  port: " + std::to_string(port) + "\n");
    writeFile(n.process->nodeYaml(), yaml);
    n.peer_port = port;
  }

  // Writes each peers file listing the peer endpoints of `nodes`.
  void publishPeers(const std::map<std::string, std::vector<Node*>>& files) {
    std::map<std::string, std::optional<std::string>> out;
    for (const auto& [file, nodes] : files) {
      std::string text;
      for (Node* n : nodes) text += "127.0.0.1:" + std::to_string(n->peer_port) + "\n";
      out[file] = text;
    }
    peers_.commit(out, "peers");
  }

  static std::optional<json> getJson(const Node& n, const std::string& path) {
    auto r = n.process->get(path);
    if (!r || r->status != 200) return std::nullopt;
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }
  static int members(const Node& n) {
    auto j = getJson(n, "/v1/nodes");
    return j && j->is_array() ? static_cast<int>(j->size()) : -1;
  }
  static json status(const Node& n) { return getJson(n, "/v1/status").value_or(json::object()); }
  static std::string clusterId(const Node& n) {
    json j = status(n);
    if (!j.contains("cluster") || !j["cluster"].contains("id")) return "";
    return j["cluster"]["id"];
  }
  // This node's own id, from its status ("" while it does not answer).
  static std::string nodeId(const Node& n) {
    json j = status(n);
    return j.contains("node") ? j["node"].value("id", "") : "";
  }
  // The replicas of `app` this node runs (-1: the app is not listed, or the node does not answer).
  static int running(const Node& n, const std::string& app) {
    json st = status(n);
    if (!st.contains("apps")) return -1;
    for (const auto& a : st["apps"])
      if (a["name"] == app) return a["replicas"]["running"].get<int>();
    return -1;
  }

  // The etcd voters this node's status lists (the leader's hub records), -1 if it does not answer.
  static int voters(const Node& n) {
    json st = status(n);
    if (!st.contains("cluster") || !st["cluster"].contains("hubs")) return -1;
    int v = 0;
    for (const auto& h : st["cluster"]["hubs"]) v += h.value("state", "") == "voter";
    return v;
  }
  static bool isHub(const Node& n) {
    json st = status(n);
    return st.contains("cluster") && st["cluster"].value("hub", false);
  }
  static std::string leaderOf(const Node& n) {
    json st = status(n);
    return st.contains("cluster") ? st["cluster"].value("leader", "") : "";
  }

  // Every node in `nodes` sees the same cluster of exactly `size` members.
  bool oneCluster(const std::vector<Node*>& nodes, int size) {
    std::string id = clusterId(*nodes[0]);
    if (id.empty()) return false;
    for (Node* n : nodes)
      if (clusterId(*n) != id || members(*n) != size) return false;
    return true;
  }

  std::vector<Node*> all() {
    std::vector<Node*> out;
    for (auto& n : nodes_) out.push_back(n.get());
    return out;
  }
  std::vector<Node*> allBut(const Node* out) {
    std::vector<Node*> rest;
    for (auto& n : nodes_)
      if (n.get() != out) rest.push_back(n.get());
    return rest;
  }

  // The tail of every node's log (the last `per_node` bytes), for a failed assertion.
  std::string dump(size_t per_node = 60000) {
    std::string out;
    for (auto& n : nodes_) {
      std::string log = n->process->log();
      if (log.size() > per_node) log = log.substr(log.size() - per_node);
      out += "---- " + n->process->nodeYaml() + "\n" + log;
    }
    return out;
  }

  std::string lease_ttl_ = "3s";  // set before add()
  TempDir tmp_;
  Pki pki_;
  SpecRepo spec_;
  SpecRepo peers_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace shoal::testing
