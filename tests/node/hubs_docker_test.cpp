// End to end: several hubs (etcd voters) with node containers from the real node image on Docker
// networks this test creates. The elected leader grows and shrinks the voters with the cluster
// (1 hub for 1-2 nodes, 3 for 3-6, 5 from 7), replaces a hub that was killed, and moves the
// replicas of a killed worker to live nodes. What the leader decided is read from each node's
// /v1/status (`cluster.leader`, `hubs`, `placement`); the nodes use the simulated runtime, so a
// replica "runs" when the node it is placed on reports it running in its own status.
// Growth steps wait out etcd's 5 s reconfiguration check, so the deadlines are generous; nothing
// here asserts a duration.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/harness/node_containers.h"

namespace shoal::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;
using Names = std::vector<std::string>;

class HubsDockerTest : public ::testing::Test {
 protected:
  // A short lease (4 s), so that a killed node is dropped within the test's patience.
  static void SetUpTestSuite() { nodes_ = std::make_unique<NodeContainers>(simulatedNodeYaml("4s")); }
  static void TearDownTestSuite() { nodes_.reset(); }
  void SetUp() override {
    ASSERT_TRUE(nodes_->built()) << nodes_->buildResult().output;
    ASSERT_EQ(sh("docker version").exit_code, 0) << "Docker is required";
  }
  // Each test's containers go at its end, so that the next one starts on an idle machine, and the
  // spec's cluster.yaml is the suite's again.
  void TearDown() override {
    for (const auto& n : started_) sh("docker rm -f " + n + " >/dev/null 2>&1");
    if (cluster_yaml_changed_) nodes_->spec().commit({{"cluster.yaml", kPlainClusterYaml}}, "cluster.yaml as before");
  }
  static constexpr const char* kPlainClusterYaml = "name: e2e\nmin_nodes: 1\n";
  // The suite's cluster.yaml plus `more`, until the test ends.
  void useClusterYaml(const std::string& more) {
    nodes_->spec().commit({{"cluster.yaml", kPlainClusterYaml + more}}, "cluster.yaml for a test");
    cluster_yaml_changed_ = true;
  }

  // A node container on `net`; `node_yaml` (a file) replaces the image's node.yaml when given.
  std::string run(const std::string& net, const std::string& test, int i, const std::string& node_yaml = "") {
    std::string n = test + "-" + std::to_string(i) + "-" + uniqueName();
    if (!nodes_->run(n, net, "", node_yaml)) return "";
    started_.push_back(n);
    return n;
  }

  static json status(const std::string& n) {
    auto body = nodes_->get(n, "/v1/status");
    if (!body) return json::object();
    auto j = json::parse(*body, nullptr, false);
    return j.is_object() ? j : json::object();
  }
  static std::string nodeId(const std::string& n) {
    json st = status(n);
    return st.contains("node") ? st["node"].value("id", "") : "";
  }
  // The hubs this node lists: node id -> "voter" or "learner".
  static std::map<std::string, std::string> hubsOf(const json& st) {
    std::map<std::string, std::string> out;
    if (!st.contains("cluster") || !st["cluster"].contains("hubs")) return out;
    for (const auto& h : st["cluster"]["hubs"]) out[h.value("node", "")] = h.value("state", "");
    return out;
  }
  // Every node of `names` is a member of one cluster of names.size(), lists the same `count`
  // voters and no learner, all of them among `names`, and each node's own `hub` flag agrees.
  static bool votersAmong(const Names& names, size_t count) {
    std::set<std::string> alive;
    std::map<std::string, json> st;
    for (const auto& n : names) {
      st[n] = status(n);
      if (!st[n].contains("node")) return false;
      alive.insert(st[n]["node"].value("id", ""));
    }
    if (!nodes_->oneCluster(names, static_cast<int>(names.size()))) return false;
    std::map<std::string, std::string> first = hubsOf(st[names[0]]);
    if (first.size() != count) return false;
    for (const auto& [id, state] : first)
      if (state != "voter" || !alive.contains(id)) return false;
    for (const auto& n : names) {
      if (hubsOf(st[n]) != first) return false;
      bool listed = first.contains(st[n]["node"].value("id", ""));
      if (st[n]["cluster"].value("hub", false) != listed) return false;
    }
    return true;
  }
  static std::set<std::string> voterIds(const std::string& n) {
    std::set<std::string> out;
    for (const auto& [id, state] : hubsOf(status(n)))
      if (state == "voter") out.insert(id);
    return out;
  }
  static std::string leaderOf(const std::string& n) {
    json st = status(n);
    return st.contains("cluster") ? st["cluster"].value("leader", "") : "";
  }
  // The leader's placement of `app` as `n` reads it: node id -> replicas (empty when none).
  static std::map<std::string, int> placementOf(const std::string& n, const std::string& app) {
    std::map<std::string, int> out;
    json st = status(n);
    if (!st.contains("cluster") || !st["cluster"].contains("placement")) return out;
    const json& p = st["cluster"]["placement"];
    if (!p.contains(app) || p[app].value("missing", -1) != 0) return out;
    for (const auto& [id, count] : p[app]["nodes"].items()) out[id] = count.get<int>();
    return out;
  }
  // The replicas of `app` that `n` reports running (-1: not listed, or no answer).
  static int running(const std::string& n, const std::string& app) {
    json st = status(n);
    if (!st.contains("apps")) return -1;
    for (const auto& a : st["apps"])
      if (a.value("name", "") == app) return a["replicas"].value("running", -1);
    return -1;
  }
  // `total` replicas of `app` are placed on nodes of `names` only, and each of those nodes reports
  // running exactly its share.
  static bool allRunningOn(const Names& names, const std::string& app, int total) {
    std::map<std::string, std::string> by_id;
    for (const auto& n : names) by_id[nodeId(n)] = n;
    auto placed = placementOf(names[0], app);
    int sum = 0;
    for (const auto& [id, count] : placed) {
      if (!by_id.contains(id) || running(by_id[id], app) != count) return false;
      sum += count;
    }
    return sum == total;
  }

  // Commits the spread app `app` (a build, which the simulated runtime makes at once) with
  // `replicas`, and removes the apps earlier tests of this suite committed.
  static void useApp(const std::string& app, int replicas) {
    std::map<std::string, std::optional<std::string>> files;
    for (const auto& old : apps_)
      if (old != app) files["apps/" + old + ".yaml"] = std::nullopt;
    apps_.insert(app);
    files["apps/" + app + ".yaml"] = "build: web\nreplicas: " + std::to_string(replicas) + "\n";
    files["web/Dockerfile"] = "FROM shoal/busybox:local\n";
    nodes_->spec().commit(files, "app " + app);
  }

  // The events every node of `names` logged (each node keeps its own: the leader's decisions are
  // in the leader's).
  static std::vector<json> eventsOf(const Names& names) {
    std::vector<json> out;
    for (const auto& n : names) {
      auto body = nodes_->get(n, "/v1/events?limit=1000");
      auto j = body ? json::parse(*body, nullptr, false) : json();
      if (j.is_array()) out.insert(out.end(), j.begin(), j.end());
    }
    return out;
  }

  static std::string dump(const Names& names) {
    std::string out;
    for (const auto& n : names) out += "==== " + n + "\n" + status(n).dump() + "\n" + nodes_->logs(n);
    return out;
  }
  static void report(const std::string& what, std::chrono::steady_clock::time_point since) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
    std::printf("[ timing   ] %s: %.1f s\n", what.c_str(), s);
  }
  static Names without(Names names, const std::string& gone) {
    std::erase(names, gone);
    return names;
  }

  // Four (or `count`) nodes started together form one cluster with three voters.
  Names formFour(const std::string& test) { return formFour(test, nodes_->network(test)); }
  Names formFour(const std::string& test, const std::string& net, int count = 4) {
    EXPECT_FALSE(net.empty());
    Names names;
    for (int i = 0; i < count; ++i) names.push_back(run(net, test, i));
    for (const auto& n : names) EXPECT_FALSE(n.empty());
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(waitFor([&] { return votersAmong(names, 3); }, seconds(90))) << dump(names);
    report(test + ": " + std::to_string(count) + " nodes -> 3 voters", t0);
    return names;
  }

  // Two voters of `names` (not the leader when `spare_leader`), and the others.
  static std::pair<Names, Names> twoVoters(const Names& names, bool spare_leader) {
    auto voters = voterIds(names[0]);
    std::string leader = leaderOf(names[0]);
    Names two, rest;
    for (const auto& n : names) {
      std::string id = nodeId(n);
      bool pick = voters.contains(id) && two.size() < 2 && !(spare_leader && id == leader);
      (pick ? two : rest).push_back(n);
    }
    return {two, rest};
  }
  static bool hasEvent(const std::string& n, const std::string& kind) {
    for (const auto& e : eventsOf({n}))
      if (e.value("kind", "") == kind) return true;
    return false;
  }

  // Past the 6 lease TTLs (4 s) after which a member that reaches no voter gives its cluster up.
  static constexpr seconds kPastGiveUp{7 * 4};
  // `names` still run the replicas of `app` in `before`, are settled members of cluster `id` and
  // list the voters `ids` ("" if so).
  static std::string keeps(const Names& names, const std::string& app, const std::vector<int>& before,
                           const std::string& id, const std::set<std::string>& ids) {
    std::string why;
    for (size_t i = 0; i < names.size(); ++i) {
      json st = status(names[i]);
      if (!st.contains("cluster")) {
        why += names[i] + " does not answer; ";
        continue;
      }
      const json& c = st["cluster"];
      std::set<std::string> voters;
      for (const auto& [node, state] : hubsOf(st))
        if (state == "voter") voters.insert(node);
      if (int now = running(names[i], app); now != before[i])
        why += names[i] + " runs " + std::to_string(now) + " replicas, had " + std::to_string(before[i]) + "; ";
      if (c.value("phase", "") != "member") why += names[i] + " is not a member: " + c.dump() + "; ";
      if (c.value("id", "") != id) why += names[i] + " is in cluster '" + c.value("id", "") + "'; ";
      if (voters != ids) why += names[i] + " lists other voters; ";
    }
    return why;
  }
  static std::vector<int> runningOn(const Names& names, const std::string& app) {
    std::vector<int> out;
    for (const auto& n : names) out.push_back(running(n, app));
    return out;
  }

  static inline std::unique_ptr<NodeContainers> nodes_;
  static inline std::set<std::string> apps_;
  Names started_;
  bool cluster_yaml_changed_ = false;
};

TEST_F(HubsDockerTest, VotersFollowTheSizeOneThreeSevenThreeOneInOneCluster) {
  std::string net = nodes_->network("grow");
  ASSERT_FALSE(net.empty());
  Names names{run(net, "grow", 0)};
  ASSERT_FALSE(names[0].empty());
  ASSERT_TRUE(waitFor([&] { return votersAmong(names, 1); }, seconds(60))) << dump(names);
  std::string id = nodes_->clusterId(names[0]);
  ASSERT_FALSE(id.empty());
  auto sameCluster = [&] {
    for (const auto& n : names) EXPECT_EQ(nodes_->clusterId(n), id) << n;
  };

  auto t0 = std::chrono::steady_clock::now();
  for (int i = 1; i < 3; ++i) names.push_back(run(net, "grow", i));
  ASSERT_TRUE(waitFor([&] { return votersAmong(names, 3); }, seconds(90))) << dump(names);
  report("1 -> 3 nodes: 3 voters", t0);
  sameCluster();

  t0 = std::chrono::steady_clock::now();
  for (int i = 3; i < 7; ++i) names.push_back(run(net, "grow", i));
  ASSERT_TRUE(waitFor([&] { return votersAmong(names, 5); }, seconds(120))) << dump(names);
  report("3 -> 7 nodes: 5 voters", t0);
  sameCluster();

  // Shrink by docker stop, newest first (hubs among them hand their role over before they go).
  // Each stop must end the node with exit code 0 within docker's 20 s grace.
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    std::string leaver = names.back();
    bool hub = voterIds(names[0]).contains(nodeId(leaver));
    std::printf("[ stop     ] %s, %s\n", leaver.c_str(), hub ? "a voter" : "not a voter");
    EXPECT_EQ(nodes_->stop(leaver), 0) << leaver << (hub ? " (a voter)" : "") << "\n" << nodes_->logs(leaver);
    names.pop_back();
    EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(names, static_cast<int>(names.size())); }, seconds(30)))
        << dump(names);
  }
  ASSERT_TRUE(waitFor([&] { return votersAmong(names, 3); }, seconds(90))) << dump(names);
  report("7 -> 3 nodes: 3 voters", t0);
  sameCluster();

  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 2; ++i) {
    std::string leaver = names.back();
    EXPECT_EQ(nodes_->stop(leaver), 0) << leaver << "\n" << nodes_->logs(leaver);
    names.pop_back();
    EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(names, static_cast<int>(names.size())); }, seconds(30)))
        << dump(names);
  }
  ASSERT_TRUE(waitFor([&] { return votersAmong(names, 1); }, seconds(90))) << dump(names);
  report("3 -> 1 node: 1 voter", t0);
  sameCluster();
}

TEST_F(HubsDockerTest, AKilledHubIsReplacedAndTheStoreKeepsItsRecords) {
  Names names = formFour("hubkill");
  if (HasFailure()) return;
  std::string id = nodes_->clusterId(names[0]);
  useApp("kept", 3);
  ASSERT_TRUE(waitFor([&] { return allRunningOn(names, "kept", 3); }, seconds(60))) << dump(names);
  std::map<std::string, int> before = placementOf(names[0], "kept");

  // A hub that is not the leader (the leader's own failover is another story: its lease too).
  std::string leader = leaderOf(names[0]);
  auto voters = voterIds(names[0]);
  std::string victim;
  for (const auto& n : names)
    if (std::string nid = nodeId(n); voters.contains(nid) && nid != leader) victim = n;
  ASSERT_FALSE(victim.empty()) << dump(names);
  std::string gone = nodeId(victim);
  auto t0 = std::chrono::steady_clock::now();
  nodes_->kill(victim);
  Names rest = without(names, victim);
  EXPECT_TRUE(waitFor([&] { return votersAmong(rest, 3); }, seconds(90))) << dump(rest);
  report("hub killed -> 3 voters again", t0);
  EXPECT_FALSE(voterIds(rest[0]).contains(gone));

  // What was written before the kill is still there: the same cluster, and the placement record
  // with every replica that was on a live node where it was (the dead node's moved elsewhere).
  for (const auto& n : rest) EXPECT_EQ(nodes_->clusterId(n), id) << n;
  EXPECT_TRUE(waitFor([&] { return allRunningOn(rest, "kept", 3); }, seconds(60))) << dump(rest);
  auto after = placementOf(rest[0], "kept");
  for (const auto& [node, count] : before) {
    if (node == gone) continue;
    EXPECT_GE(after[node], count) << "replicas of kept on " << node << " moved";
  }
}

TEST_F(HubsDockerTest, AKilledWorkersReplicasRunOnLiveNodesAgain) {
  Names names = formFour("workerkill");
  if (HasFailure()) return;
  // Four replicas on four nodes: the spread puts one on every node, so the worker has one.
  useApp("moved", 4);
  ASSERT_TRUE(waitFor([&] { return allRunningOn(names, "moved", 4); }, seconds(60))) << dump(names);
  auto voters = voterIds(names[0]);
  std::string victim;
  for (const auto& n : names)
    if (!voters.contains(nodeId(n))) victim = n;
  ASSERT_FALSE(victim.empty()) << dump(names);
  ASSERT_EQ(placementOf(names[0], "moved")[nodeId(victim)], 1) << dump(names);

  auto t0 = std::chrono::steady_clock::now();
  nodes_->kill(victim);
  Names rest = without(names, victim);
  EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(rest, 3) && allRunningOn(rest, "moved", 4); }, seconds(60)))
      << dump(rest);
  report("worker killed -> its replica runs on a live node", t0);
  EXPECT_TRUE(votersAmong(rest, 3)) << dump(rest);
}

// A node that scores clearly better joins four nodes with three voters: the leader adds it as a
// learner, promotes it and removes the worst voter, and logs the scores it compared; the voters are
// never fewer than three on the way. The containers all report this machine's facts, so what makes
// it better is the label the spec's hub role prefers (x1.25); uptime and latency weigh 0, as the
// round trips to the hubs differ a little between containers (doc/roles.md, bench/hubs).
TEST_F(HubsDockerTest, ABetterNodeJoiningReplacesTheWorstHub) {
  useClusterYaml("roles:\n  hub:\n    prefer: {tier: big}\nscoring:\n  weights: {memory: 2, cpu: 2, uptime: 0, latency: 0}\n");

  std::string net = nodes_->network("better");
  Names names = formFour("better", net);
  if (HasFailure()) return;
  auto before = voterIds(names[0]);
  ASSERT_EQ(before.size(), 3u) << dump(names);

  TempDir dir;
  std::string big_yaml = dir.path() + "/node.yaml";
  writeFile(big_yaml, simulatedNodeYaml("4s", {{"tier", "big"}}));
  auto t0 = std::chrono::steady_clock::now();
  std::string big = run(net, "better", 4, big_yaml);
  ASSERT_FALSE(big.empty());
  names.push_back(big);
  std::string big_id;
  size_t fewest = 3;
  ASSERT_TRUE(waitFor([&] {
    if (big_id.empty()) big_id = nodeId(big);
    if (json st = status(names[0]); st.contains("cluster")) {
      auto hubs = hubsOf(st);
      fewest = std::min<size_t>(fewest, std::count_if(hubs.begin(), hubs.end(), [](const auto& h) {
                                  return h.second == "voter";
                                }));
    }
    return !big_id.empty() && votersAmong(names, 3) && voterIds(names[0]).contains(big_id);
  }, seconds(120))) << dump(names);
  report("a better node joins -> it is a voter, 3 voters", t0);
  EXPECT_EQ(fewest, 3u) << "the voters went below 3 while one was replaced";

  // One voter of before gave its place to the new node, which no other node of the four could.
  auto after = voterIds(names[0]);
  std::vector<std::string> demoted;
  for (const auto& id : before)
    if (!after.contains(id)) demoted.push_back(id);
  ASSERT_EQ(demoted.size(), 1u) << dump(names);

  // The leader logged the comparison: the new node's score against the replaced one's.
  bool adding = false, removed = false;
  for (const auto& e : eventsOf(names)) {
    std::string msg = e.value("message", "");
    if (e.value("kind", "") == "hub.adding" && msg.find("node " + big_id + " (score ") != std::string::npos &&
        msg.find(") replaces node " + demoted[0] + " (score ") != std::string::npos &&
        msg.find("better by") != std::string::npos)
      adding = true;
    if (e.value("kind", "") == "hub.demoted" && msg.find("node " + demoted[0] + " (score ") != std::string::npos)
      removed = true;
  }
  EXPECT_TRUE(adding) << "no hub.adding event compares " << big_id << " with " << demoted[0] << "\n" << dump(names);
  EXPECT_TRUE(removed) << "no hub.demoted event for " << demoted[0] << "\n" << dump(names);
}

// Quorum loss under `wait` (the default): two of three voters `docker kill`ed. The two nodes left
// keep their replicas and stay members of the same cluster, listing the same voters, past the 6
// lease TTLs after which a node that reaches no voter gives up; nothing is removed from etcd. When
// the two containers start again (their data in the container), the cluster is whole with the
// same id, and a change placed afterwards is carried out.
TEST_F(HubsDockerTest, TwoOfThreeHubsKilledUnderWaitKeepTheContainersAndComeBack) {
  Names names = formFour("wait");
  if (HasFailure()) return;
  useApp("held", 3);
  ASSERT_TRUE(waitFor([&] { return allRunningOn(names, "held", 3); }, seconds(60))) << dump(names);
  const std::string id = nodes_->clusterId(names[0]);
  const auto hubs = voterIds(names[0]);
  auto [killed, rest] = twoVoters(names, false);
  ASSERT_EQ(killed.size(), 2u) << dump(names);
  std::vector<int> before = runningOn(rest, "held");

  for (const auto& n : killed) nodes_->kill(n);
  std::string why = holdsFor([&] { return keeps(rest, "held", before, id, hubs); }, kPastGiveUp);
  EXPECT_EQ(why, "") << dump(rest);
  for (const auto& n : rest) EXPECT_FALSE(hasEvent(n, "cluster.given_up")) << n;

  auto t0 = std::chrono::steady_clock::now();
  for (const auto& n : killed) nodes_->start(n);
  EXPECT_TRUE(waitFor([&] { return nodes_->oneCluster(names, 4) && voterIds(rest[0]) == hubs; }, seconds(90)))
      << dump(names);
  report("2 of 3 hubs started again -> the same 3 voters", t0);
  for (const auto& n : names) EXPECT_EQ(nodes_->clusterId(n), id) << n;
  useApp("held", 4);
  EXPECT_TRUE(waitFor([&] { return allRunningOn(names, "held", 4); }, seconds(60))) << dump(names);
  report("2 of 3 hubs started again -> a new placement carried out", t0);
  EXPECT_TRUE(waitFor([&] { return votersAmong(names, 3); }, seconds(60))) << dump(names);
}

// Quorum loss under `recover_after: 5s`: two of three voters killed for good in a cluster of five.
// The voter left restarts etcd alone from its data (`hub.recovered`): the same cluster (id and
// creation time) with its placement record; its leader grows the voters back to three among the
// live nodes and the replicas run on live nodes.
TEST_F(HubsDockerTest, TwoOfThreeHubsKilledUnderRecoverAfterTheSurvivorRecovers) {
  useClusterYaml("quorum_loss: {recover_after: 5s}\n");
  Names names = formFour("recover", nodes_->network("recover"), 5);
  if (HasFailure()) return;
  useApp("recovered", 3);
  ASSERT_TRUE(waitFor([&] { return allRunningOn(names, "recovered", 3); }, seconds(60))) << dump(names);
  const std::string id = nodes_->clusterId(names[0]);
  const std::string created = status(names[0])["cluster"].value("created_at", "");
  const auto hubs = voterIds(names[0]);
  auto [killed, rest] = twoVoters(names, false);
  ASSERT_EQ(killed.size(), 2u) << dump(names);
  std::string survivor;
  for (const auto& n : rest)
    if (hubs.contains(nodeId(n))) survivor = n;
  ASSERT_FALSE(survivor.empty()) << dump(names);
  std::set<std::string> dead;
  for (const auto& n : killed) dead.insert(nodeId(n));

  auto t0 = std::chrono::steady_clock::now();
  for (const auto& n : killed) nodes_->kill(n);
  EXPECT_TRUE(waitFor([&] { return hasEvent(survivor, "hub.recovered"); }, seconds(60))) << dump(rest);
  report("2 of 3 hubs killed -> hub.recovered", t0);
  EXPECT_TRUE(waitFor([&] { return votersAmong(rest, 3); }, seconds(90))) << dump(rest);
  report("2 of 3 hubs killed -> 3 live voters", t0);
  for (const auto& n : rest) {
    json c = status(n)["cluster"];
    EXPECT_EQ(c.value("id", ""), id) << n;
    EXPECT_EQ(c.value("created_at", ""), created) << n;
  }
  for (const auto& gone : dead) EXPECT_FALSE(voterIds(rest[0]).contains(gone));
  EXPECT_TRUE(waitFor([&] { return allRunningOn(rest, "recovered", 3); }, seconds(60))) << dump(rest);
  report("2 of 3 hubs killed -> 3 replicas on live nodes", t0);
}

// Every hub's etcd stops answering (SIGSTOP, sent from the host to the etcd process of each hub
// container; the node processes keep answering probes): the node that is no hub keeps its replica
// and stays a member past 6 lease TTLs. After SIGCONT the cluster is whole with the same voters.
TEST_F(HubsDockerTest, HubsUnreachableContainersKeepRunning) {
  Names names = formFour("stall");
  if (HasFailure()) return;
  useApp("stalled", 4);  // one replica per node: the worker runs one
  ASSERT_TRUE(waitFor([&] { return allRunningOn(names, "stalled", 4); }, seconds(60))) << dump(names);
  const std::string id = nodes_->clusterId(names[0]);
  const auto hubs = voterIds(names[0]);
  std::string worker;
  for (const auto& n : names)
    if (!hubs.contains(nodeId(n))) worker = n;
  ASSERT_FALSE(worker.empty()) << dump(names);
  ASSERT_EQ(running(worker, "stalled"), 1);

  std::vector<std::string> etcds;  // host pids
  for (const auto& n : names) {
    if (!hubs.contains(nodeId(n))) continue;
    auto r = sh("docker top " + n + " -eo pid,comm | awk '$2 == \"etcd\" {print $1}'");
    std::string pid = r.output.substr(0, r.output.find('\n'));
    ASSERT_FALSE(pid.empty()) << "no etcd in " << n << ": " << sh("docker top " + n).output;
    etcds.push_back(pid);
  }
  struct Resume {
    std::vector<std::string>& pids;
    ~Resume() {
      for (const auto& p : pids) sh("kill -CONT " + p);
    }
  } resume{etcds};
  for (const auto& p : etcds) ASSERT_EQ(sh("kill -STOP " + p).exit_code, 0) << p;
  std::string why = holdsFor([&] { return keeps({worker}, "stalled", {1}, id, hubs); }, kPastGiveUp);
  EXPECT_EQ(why, "") << dump(names);
  std::printf("[ no store ] %s\n", status(worker)["cluster"].value("reason", "").c_str());

  auto t0 = std::chrono::steady_clock::now();
  for (const auto& p : etcds) sh("kill -CONT " + p);
  EXPECT_TRUE(waitFor([&] { return votersAmong(names, 3) && voterIds(names[0]) == hubs; }, seconds(60)))
      << dump(names);
  report("etcd resumed -> the same 3 voters", t0);
  for (const auto& n : names) EXPECT_EQ(nodes_->clusterId(n), id) << n;
  EXPECT_TRUE(waitFor([&] { return allRunningOn(names, "stalled", 4); }, seconds(60))) << dump(names);
}

}  // namespace
}  // namespace shoal::testing
