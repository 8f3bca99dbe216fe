// bench_failover: how long a spread app misses a replica when the node running it dies, with node
// containers from the real node image on a Docker network of this machine
// (tests/harness/node_containers.h). A cluster of 4 nodes runs `web` (spread, 3 replicas); each
// trial `docker kill`s a node running a replica (not the leader) and measures from the kill until
//   the leader's placement of `web` (cluster.placement in a live node's /v1/status) lists 3
//   replicas, none missing, all on live nodes, and every node it names reports exactly its share
//   running (`apps[web].replicas.running` in that node's own /v1/status).
// The nodes use the simulated runtime (`runtime: sim`): "running" is the node's own report of its
// simulated containers, with no health check. Between trials a new container joins, so that each
// trial starts from 4 nodes with 3 voters. Prints `key: value` lines:
//   lease-ttl-s        the membership lease (a killed node is dropped when it expires)
//   trial-N-s          each trial, with the victim's role
//   failover-median-s  the median of the trials
// Flags: --trials N (5), --lease S (10, the image's default node.yaml).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/harness/node_containers.h"

using namespace shoal::testing;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kApp = "web";
constexpr int kReplicas = 3;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A running node container: its address and node id are read once, so that a poll costs one
// HTTPS request per node and never touches a dead one.
struct Node {
  std::string name, ip, id;
};

class Cluster {
 public:
  explicit Cluster(NodeContainers& nodes) : nodes_(nodes) {}

  json status(const Node& n) const {
    auto r = httpsGet(n.ip, 7443, "/v1/status", nodes_.pkiDir());
    if (!r || r->status != 200) return json::object();
    auto j = json::parse(r->body, nullptr, false);
    return j.is_object() ? j : json::object();
  }

  // Starts a container and waits until it answers with its node id.
  bool add(const std::string& net) {
    Node n{"failover-" + std::to_string(live_.size() + dead_) + "-" + uniqueName(), "", ""};
    if (!nodes_.run(n.name, net)) return false;
    n.ip = nodes_.ip(n.name);
    bool up = waitFor([&] {
      json st = status(n);
      n.id = st.contains("node") ? st["node"].value("id", "") : "";
      return !n.id.empty();
    }, std::chrono::seconds(60), std::chrono::milliseconds(200));
    live_.push_back(n);
    return up;
  }

  void kill(const Node& victim) {
    nodes_.kill(victim.name);
    std::erase_if(live_, [&](const Node& n) { return n.name == victim.name; });
    ++dead_;
  }

  // One cluster of the live nodes with 3 voters, all alive, and no learner.
  bool settled() const {
    std::set<std::string> ids, first;
    for (const auto& n : live_) ids.insert(n.id);
    for (size_t i = 0; i < live_.size(); ++i) {
      json c = status(live_[i]).value("cluster", json::object());
      if (c.value("phase", "") != "member" || c.value("size", -1) != static_cast<int>(live_.size())) return false;
      std::set<std::string> voters;
      for (const auto& h : c.value("hubs", json::array())) {
        if (h.value("state", "") != "voter" || !ids.contains(h.value("node", ""))) return false;
        voters.insert(h.value("node", ""));
      }
      if (voters.size() != 3 || (i > 0 && voters != first)) return false;
      first = voters;
    }
    return true;
  }

  // The measured condition (see the top of the file).
  bool replicasRunning() const {
    json placed = status(live_[0]).value("cluster", json::object()).value("placement", json::object());
    if (!placed.contains(kApp) || placed[kApp].value("missing", -1) != 0) return false;
    int sum = 0;
    json on = placed[kApp].value("nodes", json::object());
    for (const auto& [id, count] : on.items()) {
      auto it = std::find_if(live_.begin(), live_.end(), [&](const Node& n) { return n.id == id; });
      if (it == live_.end() || running(*it) != count.get<int>()) return false;
      sum += count.get<int>();
    }
    return sum == kReplicas;
  }

  // A live node with a replica of the app, not the leader; nullptr when none.
  const Node* victim() const {
    json c = status(live_[0]).value("cluster", json::object());
    std::string leader = c.value("leader", "");
    json placed = c.value("placement", json::object()).value(kApp, json::object()).value("nodes", json::object());
    for (const auto& n : live_)
      if (n.id != leader && placed.value(n.id, 0) > 0) return &n;
    return nullptr;
  }
  bool isVoter(const Node& n) const {
    for (const auto& h : status(live_[0]).value("cluster", json::object()).value("hubs", json::array()))
      if (h.value("node", "") == n.id) return true;
    return false;
  }

  const std::vector<Node>& live() const { return live_; }

 private:
  int running(const Node& n) const {
    for (const auto& a : status(n).value("apps", json::array()))
      if (a.value("name", "") == kApp) return a["replicas"].value("running", -1);
    return -1;
  }

  NodeContainers& nodes_;
  std::vector<Node> live_;
  int dead_ = 0;
};

std::string dump(const Cluster& c) {
  std::string out;
  for (const auto& n : c.live()) out += n.name + " " + n.id + ": " + c.status(n).value("cluster", json::object()).dump() + "\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 5;
  std::string lease = "10";
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i];
    if (a == "--trials") trials = std::stoi(argv[++i]);
    else if (a == "--lease") lease = argv[++i];
  }
  NodeContainers nodes(simulatedNodeYaml(lease + "s"));
  if (!nodes.built()) {
    std::fprintf(stderr, "build-image failed:\n%s\n", nodes.buildResult().output.c_str());
    return 1;
  }
  std::printf("lease-ttl-s: %s\n", lease.c_str());
  std::fflush(stdout);
  std::string net = nodes.network("failover");
  Cluster cluster(nodes);
  for (int i = 0; i < 4; ++i)
    if (!cluster.add(net)) return std::fprintf(stderr, "a node did not start\n"), 1;
  auto t0 = Clock::now();
  if (!waitFor([&] { return cluster.settled(); }, std::chrono::seconds(120)))
    return std::fprintf(stderr, "4 nodes did not settle on 3 voters:\n%s", dump(cluster).c_str()), 1;
  std::fprintf(stderr, "4 nodes -> 3 voters in %.1f s\n", since(t0));
  // The app arrives in the formed cluster, so that the leader spreads it over the four nodes.
  nodes.spec().commit({{"apps/web.yaml", "build: web\nreplicas: 3\n"}, {"web/Dockerfile", "FROM shoal/busybox:local\n"}},
                      "web");
  if (!waitFor([&] { return cluster.replicasRunning(); }, std::chrono::seconds(60)))
    return std::fprintf(stderr, "web did not start:\n%s", dump(cluster).c_str()), 1;

  std::vector<double> times;
  for (int t = 0; t < trials; ++t) {
    const Node* v = cluster.victim();
    if (v == nullptr) return std::fprintf(stderr, "no victim:\n%s", dump(cluster).c_str()), 1;
    Node victim = *v;
    std::string role = cluster.isVoter(victim) ? "hub" : "worker";
    auto k = Clock::now();
    cluster.kill(victim);
    bool ok = waitFor([&] { return cluster.replicasRunning(); }, std::chrono::seconds(120),
                      std::chrono::milliseconds(100));
    double s = ok ? since(k) : -1;
    std::printf("trial-%d-s: %.2f (killed a %s)\n", t + 1, s, role.c_str());
    std::fflush(stdout);
    if (!ok) std::fprintf(stderr, "%s", dump(cluster).c_str());
    times.push_back(ok ? s : 1e9);
    // Back to 4 nodes with 3 voters and the app running before the next kill.
    if (t + 1 < trials) {
      if (!cluster.add(net)) return std::fprintf(stderr, "a node did not start\n"), 1;
      if (!waitFor([&] { return cluster.settled() && cluster.replicasRunning(); }, std::chrono::seconds(120)))
        return std::fprintf(stderr, "did not settle after trial %d:\n%s", t + 1, dump(cluster).c_str()), 1;
    }
  }
  std::printf("failover-median-s: %.2f\n", median(times));
  return 0;
}
