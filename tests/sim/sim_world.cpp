#include "tests/sim/sim_world.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

namespace shoal::sim {

namespace fs = std::filesystem;

namespace {

// Every address the world ever used, like a static list in node.yaml.
class WorldSource : public DiscoverySource {
 public:
  explicit WorldSource(const std::vector<std::string>& addresses) : addresses_(addresses) {}
  Result<std::vector<PeerAddress>> discover(Duration) override {
    std::vector<PeerAddress> out;
    for (const auto& a : addresses_) out.push_back(PeerAddress{a, kDefaultPeerPort});
    return out;
  }
  std::string describe() const override { return "sim"; }

 private:
  const std::vector<std::string>& addresses_;
};

class WorldProber : public Prober {
 public:
  WorldProber(SimWorld& world, std::string self) : world_(world), self_(std::move(self)) {}
  std::vector<ProbeAnswer> probe(const std::vector<PeerAddress>& addresses, Duration) override {
    std::vector<ProbeAnswer> out;
    for (const auto& a : addresses) {
      for (auto& n : world_.nodes) {
        if (n->address != a.host || !n->running || n->id == self_ || !world_.reach(self_, n->id)) continue;
        out.push_back(n->membership->answer());
      }
    }
    return out;
  }

 private:
  SimWorld& world_;
  std::string self_;
};

}  // namespace

SimWorld::SimWorld(Duration lease_ttl, uint64_t seed)
    : lease_ttl_(lease_ttl),
      seed_(seed == 0 ? 1 : seed),
      spec_(std::make_shared<const Spec>(simpleSpec(0, 0))),
      root_((fs::temp_directory_path() / ("shoal-sim-" + std::to_string(getpid()) + "-" +
                                          std::to_string(reinterpret_cast<uintptr_t>(this))))
                .string()) {
  fs::create_directories(root_);
  etcd.setReach([this](const std::string& a, const std::string& b) { return reach(a, b); });
}

SimWorld::~SimWorld() {
  for (auto& n : nodes) n->membership.reset();
  std::error_code ec;
  fs::remove_all(root_, ec);
}

void SimWorld::setSpec(Spec spec) { spec_ = std::make_shared<const Spec>(std::move(spec)); }

SimNode& SimWorld::add(const std::string& id, int cpus, int64_t memory_bytes, std::map<std::string, std::string> labels) {
  auto n = std::make_unique<SimNode>();
  n->id = id;
  n->address = "10.1." + std::to_string(nodes.size() / 250) + "." + std::to_string(nodes.size() % 250 + 1);
  n->cpus = cpus;
  n->memory_bytes = memory_bytes;
  n->labels = std::move(labels);
  n->dir = root_ + "/" + id;
  fs::create_directories(n->dir);
  addresses_.push_back(n->address);
  nodes.push_back(std::move(n));
  start(*nodes.back());
  return *nodes.back();
}

void SimWorld::start(SimNode& n) {
  n.prober = std::make_unique<WorldProber>(*this, n.id);
  n.hub = etcd.hub(n.id);
  MembershipOptions o;
  o.node_id = n.id;
  o.node_name = n.id;
  o.data_dir = n.dir;
  o.advertise = n.address;
  o.lease_ttl = lease_ttl_;
  o.id_seed = seed_;
  o.formation.stable_for = Duration(2000);
  o.merge_interval = Duration(2000);
  NodeFacts facts;
  facts.cpus = n.cpus;
  facts.memory_bytes = n.memory_bytes;
  facts.labels = n.labels;
  o.facts = facts;
  o.labels = n.labels;
  std::vector<DiscoverySourcePtr> sources;
  sources.push_back(std::make_unique<WorldSource>(addresses_));
  std::string id = n.id;
  StoreFactory stores = [this, id](const std::vector<std::string>& endpoints) { return etcd.store(id, endpoints); };
  SimNode* self = &n;
  n.membership = std::make_unique<Membership>(
      o, std::move(sources), *n.prober, *n.hub, stores, clock,
      [self](const std::string&, const std::string& kind, const std::string&) { self->events.push_back(kind); });
  n.membership->enableControl(
      [this, id](const std::vector<std::string>& endpoints) { return etcd.admin(id, endpoints); },
      [this] { return spec_; });
  n.running = true;
  n.left = false;
}

void SimWorld::crash(const std::string& id) {
  SimNode* n = find(id);
  n->running = false;
  etcd.crash(id);
  n->membership.reset();
  n->containers.clear();
}

void SimWorld::leave(const std::string& id) {
  SimNode* n = find(id);
  n->membership->beginLeave();
  for (int i = 0; i < 60 && !n->membership->readyToLeave(); ++i) rounds(1);
  n->membership->leave();
  n->running = false;
  n->left = true;
  n->membership.reset();
  n->containers.clear();
}

void SimWorld::restart(const std::string& id) {
  SimNode* n = find(id);
  if (n->running) crash(id);
  start(*n);
}

void SimWorld::setGroup(const std::string& id, int group) { find(id)->group = group; }

void SimWorld::heal() {
  for (auto& n : nodes) n->group = 0;
}

bool SimWorld::reach(const std::string& a, const std::string& b) const {
  int ga = -1, gb = -1;
  for (const auto& n : nodes) {
    if (n->id == a) ga = n->group;
    if (n->id == b) gb = n->group;
  }
  return ga == gb;
}

// What the node's reconciler converges to: the replicas placed on it while it is a member; the
// same as before while it can't tell (not placed, or cut off).
void SimWorld::follow(SimNode& n) {
  if (!n.membership->settled()) return;
  for (const auto& app : spec_->apps) {
    auto placed = n.membership->placed(app.name);
    if (!placed) continue;
    if (*placed == 0)
      n.containers.erase(app.name);
    else
      n.containers[app.name] = *placed;
  }
  n.membership->setReady(n.healthy ? n.containers : std::map<std::string, int>{});
}

void SimWorld::rounds(int count, Duration step) {
  for (int i = 0; i < count; ++i) {
    for (auto& n : nodes)
      if (n->running) n->membership->tick();
    for (auto& n : nodes)
      if (n->running) follow(*n);
    clock.advance(step);
  }
}

SimNode* SimWorld::find(const std::string& id) {
  for (auto& n : nodes)
    if (n->id == id) return n.get();
  return nullptr;
}

std::vector<SimNode*> SimWorld::live() {
  std::vector<SimNode*> out;
  for (auto& n : nodes)
    if (n->running) out.push_back(n.get());
  return out;
}

std::set<std::string> SimWorld::clusters() {
  std::set<std::string> out;
  for (SimNode* n : live()) {
    auto s = n->membership->status();
    out.insert(s.cluster ? s.cluster->id : "(none)");
  }
  return out;
}

std::string SimWorld::leader() {
  std::set<std::string> seen;
  for (SimNode* n : live()) seen.insert(n->membership->status().leader);
  return seen.size() == 1 ? *seen.begin() : "";
}

std::vector<std::string> SimWorld::voters() {
  std::string l = leader();
  if (l.empty()) return {};
  // Any running hub's etcd data names the voters of its cluster (the leader need not be a hub).
  for (SimNode* n : live()) {
    auto s = n->membership->status();
    if (s.hub && s.leader == l && etcd.runningForTest(n->id)) return etcd.votersOf(n->id);
  }
  return {};
}

Spec simpleSpec(int apps, int replicas) {
  Spec s;
  s.cluster.roles.push_back(s.cluster.hubRole());
  for (int i = 0; i < apps; ++i) {
    AppSpec a;
    a.name = "app-" + std::to_string(i);
    a.file = "apps/" + a.name + ".yaml";
    a.image = "sim";
    a.replicas = replicas;
    s.apps.push_back(std::move(a));
  }
  return s;
}

}  // namespace shoal::sim
