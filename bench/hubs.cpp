// bench_hubs: how fast the leader repairs and improves the etcd voters ("hubs"), with node
// containers from the real node image on Docker networks of this machine
// (tests/harness/node_containers.h; simulated runtime). Prints `key: value` lines:
//   lease-ttl-s       the membership lease (a killed node is dropped when it expires)
//   hub-replace-s     5 nodes with 3 voters; a voter that is not the leader is `docker kill`ed; the
//                     time until every live node lists 3 voters, all alive, and no learner
//                     (median of --trials; each trial's figure on its own line first)
//   promote-better-s  4 nodes with 3 voters; a node labelled `tier: big` starts, with the spec's
//                     cluster.yaml `roles: {hub: {prefer: {tier: big}}}`; the time from its
//                     `docker run` until every node lists it as a voter (median of --trials). The
//                     containers all report the same machine facts, so the label is what makes it
//                     better; the spec also sets `scoring.weights` uptime and latency to 0 (see
//                     `promote-weights` below for why), so the others all score 1.00 and the new
//                     node 1.25, more than the 20% hysteresis asks. Between trials it is stopped
//                     (it hands the role back) and the cluster settles again.
// Flags: --trials N (3), --lease S (10, the image's default node.yaml).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/harness/node_containers.h"

using namespace shoal::testing;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

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
  Cluster(NodeContainers& nodes, std::string net, std::string prefix)
      : nodes_(nodes), net_(std::move(net)), prefix_(std::move(prefix)) {}
  ~Cluster() {
    for (const auto& n : own_) sh("docker rm -f " + n + " >/dev/null 2>&1");
  }

  json status(const Node& n) const {
    auto r = httpsGet(n.ip, 7443, "/v1/status", nodes_.pkiDir());
    if (!r || r->status != 200) return json::object();
    auto j = json::parse(r->body, nullptr, false);
    return j.is_object() ? j : json::object();
  }

  // Starts a container (with `node_yaml` mounted over the image's when given) and waits until it
  // answers with its node id. Returns it, or nullptr.
  const Node* add(const std::string& node_yaml = "") {
    Node n{prefix_ + "-" + std::to_string(count_++) + "-" + uniqueName(), "", ""};
    if (node_yaml.empty()) {
      if (!nodes_.run(n.name, net_)) return nullptr;
    } else {
      // NodeContainers::run takes no extra flags: the same command, plus the mount.
      auto r = sh("docker run -d --name " + n.name + " --hostname " + n.name + " --stop-timeout 40 --network " + net_ +
                  " --network-alias shoal -v " + nodes_.spec().bare() + ":/spec:ro -v " + node_yaml +
                  ":/etc/shoal/node.yaml:ro " + nodes_.tag());
      if (r.exit_code != 0) return std::fprintf(stderr, "docker run: %s\n", r.output.c_str()), nullptr;
      own_.push_back(n.name);
    }
    n.ip = nodes_.ip(n.name);
    live_.push_back(n);
    Node& added = live_.back();
    bool up = waitFor([&] {
      json st = status(added);
      added.id = st.contains("node") ? st["node"].value("id", "") : "";
      return !added.id.empty();
    }, std::chrono::seconds(60), std::chrono::milliseconds(100));
    return up ? &added : nullptr;
  }
  void kill(const std::string& name) {
    nodes_.kill(name);
    std::erase_if(live_, [&](const Node& n) { return n.name == name; });
  }
  int stop(const std::string& name) {
    int code = nodes_.stop(name);
    std::erase_if(live_, [&](const Node& n) { return n.name == name; });
    return code;
  }

  // One cluster of the live nodes; each lists the same `count` voters, all alive, and no learner.
  bool settled(size_t count) const {
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
      if (voters.size() != count || (i > 0 && voters != first)) return false;
      first = voters;
    }
    return true;
  }
  std::set<std::string> voters() const {
    std::set<std::string> out;
    for (const auto& h : status(live_[0]).value("cluster", json::object()).value("hubs", json::array()))
      if (h.value("state", "") == "voter") out.insert(h.value("node", ""));
    return out;
  }
  std::string leader() const { return status(live_[0]).value("cluster", json::object()).value("leader", ""); }
  const std::vector<Node>& live() const { return live_; }

  std::string dump() const {
    std::string out;
    for (const auto& n : live_)
      out += n.name + " " + n.id + ": " + status(n).value("cluster", json::object()).dump() + "\n";
    return out;
  }

 private:
  NodeContainers& nodes_;
  std::string net_, prefix_;
  std::vector<Node> live_;
  std::vector<std::string> own_;  // started here rather than by NodeContainers: removed here
  int count_ = 0;
};

// Kills a voter that is not the leader in a cluster of 5 and times the way back to 3 live voters.
std::vector<double> hubReplace(NodeContainers& nodes, int trials) {
  Cluster c(nodes, nodes.network("replace"), "replace");
  for (int i = 0; i < 5; ++i)
    if (!c.add()) return std::fprintf(stderr, "a node did not start\n"), std::vector<double>{};
  auto t0 = Clock::now();
  if (!waitFor([&] { return c.settled(3); }, std::chrono::seconds(120)))
    return std::fprintf(stderr, "5 nodes did not settle on 3 voters:\n%s", c.dump().c_str()), std::vector<double>{};
  std::fprintf(stderr, "5 nodes -> 3 voters in %.1f s\n", since(t0));
  std::vector<double> times;
  for (int t = 0; t < trials; ++t) {
    auto voters = c.voters();
    std::string leader = c.leader(), victim;
    for (const auto& n : c.live())
      if (voters.contains(n.id) && n.id != leader) victim = n.name;
    if (victim.empty()) return std::fprintf(stderr, "no victim:\n%s", c.dump().c_str()), times;
    auto k = Clock::now();
    c.kill(victim);
    bool ok = waitFor([&] { return c.settled(3); }, std::chrono::seconds(120));
    double s = ok ? since(k) : -1;
    std::printf("hub-replace-trial-%d-s: %.2f\n", t + 1, s);
    std::fflush(stdout);
    if (!ok) std::fprintf(stderr, "%s", c.dump().c_str());
    times.push_back(ok ? s : 1e9);
    if (t + 1 < trials) {  // back to 5 nodes
      if (!c.add() || !waitFor([&] { return c.settled(3); }, std::chrono::seconds(120)))
        return std::fprintf(stderr, "did not settle after trial %d:\n%s", t + 1, c.dump().c_str()), times;
    }
  }
  return times;
}

// A labelled node joins 4 plain ones with 3 voters; the time until it is a voter.
std::vector<double> promoteBetter(NodeContainers& nodes, const std::string& big_yaml, int trials) {
  nodes.spec().commit({{"cluster.yaml",
                        "name: e2e\nmin_nodes: 1\nroles:\n  hub:\n    prefer: {tier: big}\n"
                        "scoring:\n  weights: {memory: 2, cpu: 2, uptime: 0, latency: 0}\n"}},
                      "prefer tier=big for hubs");
  Cluster c(nodes, nodes.network("promote"), "promote");
  for (int i = 0; i < 4; ++i)
    if (!c.add()) return std::fprintf(stderr, "a node did not start\n"), std::vector<double>{};
  auto t0 = Clock::now();
  if (!waitFor([&] { return c.settled(3); }, std::chrono::seconds(120)))
    return std::fprintf(stderr, "4 nodes did not settle on 3 voters:\n%s", c.dump().c_str()), std::vector<double>{};
  std::fprintf(stderr, "4 nodes -> 3 voters in %.1f s\n", since(t0));
  std::vector<double> times;
  for (int t = 0; t < trials; ++t) {
    auto k = Clock::now();
    const Node* big = c.add(big_yaml);
    if (big == nullptr) return std::fprintf(stderr, "the big node did not start\n"), times;
    Node b = *big;
    bool ok = waitFor([&] { return c.settled(3) && c.voters().contains(b.id); }, std::chrono::seconds(120));
    double s = ok ? since(k) : -1;
    std::printf("promote-better-trial-%d-s: %.2f\n", t + 1, s);
    std::fflush(stdout);
    if (!ok) std::fprintf(stderr, "%s", c.dump().c_str());
    times.push_back(ok ? s : 1e9);
    // It leaves (docker stop: it hands its role back) and the 4 plain nodes settle on 3 voters.
    int code = c.stop(b.name);
    if (code != 0) std::fprintf(stderr, "the big node exited %d\n", code);
    if (t + 1 < trials && !waitFor([&] { return c.settled(3); }, std::chrono::seconds(120)))
      return std::fprintf(stderr, "did not settle after trial %d:\n%s", t + 1, c.dump().c_str()), times;
  }
  return times;
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 3;
  std::string lease = "10";
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i];
    if (a == "--trials") trials = std::stoi(argv[++i]);
    else if (a == "--lease") lease = argv[++i];
  }
  std::string yaml = simulatedNodeYaml(lease + "s");
  NodeContainers nodes(yaml);
  if (!nodes.built()) {
    std::fprintf(stderr, "build-image failed:\n%s\n", nodes.buildResult().output.c_str());
    return 1;
  }
  TempDir dir;
  std::string big_yaml = dir.path() + "/node-big.yaml";
  std::string anchor = "cluster:\n";
  yaml.insert(yaml.find(anchor) + anchor.size(), "  labels:\n    tier: big\n");
  writeFile(big_yaml, yaml);

  std::printf("lease-ttl-s: %s\n", lease.c_str());
  std::fflush(stdout);
  auto replace = hubReplace(nodes, trials);
  if (replace.empty()) return 1;
  std::printf("hub-replace-s: %.2f\n", median(replace));
  std::fflush(stdout);
  auto promote = promoteBetter(nodes, big_yaml, trials);
  if (promote.empty()) return 1;
  std::printf("promote-weights: memory 2 cpu 2 uptime 0 latency 0, hysteresis 20%%\n");
  std::printf("promote-better-s: %.2f\n", median(promote));
  return 0;
}
