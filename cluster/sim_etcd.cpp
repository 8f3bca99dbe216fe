#include "cluster/sim_etcd.h"

#include <algorithm>

#include "cluster/mem_kv.h"

namespace shoal {

namespace {

std::string nodeOfUrl(const std::string& url) {
  for (const char* prefix : {"sim://", "sim-peer://"})
    if (url.starts_with(prefix)) return url.substr(std::string(prefix).size());
  return "";
}

}  // namespace

struct SimEtcdCluster {
  explicit SimEtcdCluster(const Clock& clock) : kv(clock) {}
  struct Member {
    uint64_t id = 0;
    std::string node;  // empty: a learner not started yet
    std::string peer_url;
    bool learner = false;
  };
  MemKv kv;  // the data; each client gets its own handle (share())
  bool leaderless = false;  // a call found no quorum since the last that found one
  std::map<uint64_t, Member> members;
};

struct SimEtcd::Impl {
  Impl(const Clock& c, Duration cu) : clock(c), catch_up(cu) {}
  const Clock& clock;
  const Duration catch_up;
  mutable std::mutex mu;
  uint64_t next_id = 1;  // GUARDED_BY(mu)
  LeaseId next_lease_range = 1;  // GUARDED_BY(mu); each store's lease ids start in a range of their own

  std::shared_ptr<SimEtcdCluster> newStore() {
    auto store = std::make_shared<SimEtcdCluster>(clock);
    store->kv.setNextLease((next_lease_range++ << 32) | 1);
    return store;
  }
  std::function<bool(const std::string&, const std::string&)> reach;  // GUARDED_BY(mu)
  struct NodeEtcd {
    std::shared_ptr<SimEtcdCluster> data;  // null: no data
    bool running = false;
    TimePoint running_since{};
  };
  std::map<std::string, NodeEtcd> nodes;  // GUARDED_BY(mu)

  bool reaches(const std::string& a, const std::string& b) const { return a == b || !reach || reach(a, b); }

  const SimEtcdCluster::Member* memberOf(const SimEtcdCluster& c, const std::string& node) const {
    for (const auto& [id, m] : c.members)
      if (m.node == node) return &m;
    return nullptr;
  }

  // Running voters of `c` that `node` reaches (itself included when it is one). Requires `mu`.
  int votersUp(const SimEtcdCluster& c, const std::string& node, int* voters) const {
    int up = 0;
    *voters = 0;
    for (const auto& [id, m] : c.members) {
      if (m.learner) continue;
      ++*voters;
      auto n = nodes.find(m.node);
      if (n != nodes.end() && n->second.running && n->second.data.get() == &c && reaches(node, m.node)) ++up;
    }
    return up;
  }

  // The cluster `from` can use through `endpoints`, if some endpoint is a running member that
  // reaches a majority of its voters. Requires `mu`.
  Result<std::shared_ptr<SimEtcdCluster>> serve(const std::string& from, const std::vector<std::string>& endpoints) const {
    std::string why = "no endpoint";
    for (const auto& url : endpoints) {
      std::string node = nodeOfUrl(url);
      auto it = nodes.find(node);
      if (it == nodes.end() || !it->second.running || !it->second.data || !reaches(from, node)) {
        why = "etcd " + url + ": Couldn't connect to server";
        continue;
      }
      SimEtcdCluster& c = *it->second.data;
      if (!memberOf(c, node)) {
        why = "etcd " + url + ": the member has been removed from the cluster";
        continue;
      }
      int voters = 0;
      int up = votersUp(c, node, &voters);
      if (up * 2 > voters) {
        // A leader again after a lost quorum: etcd's new leader gives every lease its TTL anew.
        if (c.leaderless) {
          c.leaderless = false;
          c.kv.renewLeases();
        }
        return it->second.data;
      }
      // Known inaccuracy: a member cut off from the majority marks the cluster leaderless too, so
      // the majority's next call renews every lease, and a node cut off with a minority keeps its
      // lease here where etcd would expire it (doc/roles.md, "Known gaps").
      c.leaderless = true;
      why = "etcd " + url + ": etcdserver: request timed out (no quorum: " + std::to_string(up) + " of " +
            std::to_string(voters) + " voters)";
    }
    return unavailable(why);
  }
};

namespace {

class SimHub : public Hub {
 public:
  SimHub(std::shared_ptr<SimEtcd::Impl> impl, std::string node) : impl_(std::move(impl)), node_(std::move(node)) {}

  bool hasData() const override {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->nodes.find(node_);
    return it != impl_->nodes.end() && it->second.data != nullptr;
  }
  Status start() override {
    std::lock_guard lock(impl_->mu);
    auto& n = impl_->nodes[node_];
    if (n.running) return ok();
    if (!n.data) {
      n.data = impl_->newStore();
      n.data->members[impl_->next_id] = {impl_->next_id, node_, peerUrl(), false};
      ++impl_->next_id;
    } else if (!impl_->memberOf(*n.data, node_)) {
      return fail(ErrorCode::kConflict,
                  "etcd: member " + node_ + " was removed from its cluster (the member has been permanently removed "
                  "from the cluster); dissolve its data before it joins again");
    }
    n.running = true;
    n.running_since = impl_->clock.now();
    return ok();
  }
  void stop() override {
    std::lock_guard lock(impl_->mu);
    impl_->nodes[node_].running = false;
  }
  Status dissolve() override {
    std::lock_guard lock(impl_->mu);
    auto& n = impl_->nodes[node_];
    n.running = false;
    n.data.reset();
    return ok();
  }
  std::string clientUrl() const override { return SimEtcd::clientUrl(node_); }
  std::string localUrl() const override { return SimEtcd::clientUrl(node_); }
  std::string peerUrl() const override { return SimEtcd::peerUrl(node_); }
  Status join(const std::string& initial_cluster) override {
    std::lock_guard lock(impl_->mu);
    auto& n = impl_->nodes[node_];
    if (n.data) return fail(ErrorCode::kConflict, "etcd: joining needs an empty data dir");
    // The peers named in --initial-cluster ("name=url,..."): etcd contacts them, so it joins
    // their cluster, where the leader added this node's learner slot.
    std::vector<std::string> peers;
    for (size_t start = 0; start <= initial_cluster.size();) {
      size_t end = initial_cluster.find(',', start);
      if (end == std::string::npos) end = initial_cluster.size();
      std::string entry = initial_cluster.substr(start, end - start);
      size_t eq = entry.find('=');
      if (eq != std::string::npos && eq > 0 && entry.substr(0, eq) != node_) peers.push_back(entry.substr(0, eq));
      start = end + 1;
    }
    for (auto& [other, e] : impl_->nodes) {
      if (!e.data) continue;
      if (!peers.empty() && std::find(peers.begin(), peers.end(), other) == peers.end()) continue;
      for (auto& [id, m] : e.data->members) {
        if (m.peer_url != peerUrl() || !m.node.empty()) continue;
        if (!e.running || !impl_->reaches(node_, other)) continue;
        m.node = node_;
        n.data = e.data;
        n.running = true;
        n.running_since = impl_->clock.now();
        return ok();
      }
    }
    return fail(ErrorCode::kUnavailable, "etcd: no cluster has a member slot for " + peerUrl(), true);
  }
  Status recover() override {
    std::lock_guard lock(impl_->mu);
    auto& n = impl_->nodes[node_];
    if (!n.data) return fail(ErrorCode::kNotFound, "etcd: no data to recover from");
    const SimEtcdCluster::Member* self = impl_->memberOf(*n.data, node_);
    if (!self) return fail(ErrorCode::kNotFound, "etcd: this node is not a member of its data's cluster");
    SimEtcdCluster::Member keep = *self;
    keep.learner = false;
    // --force-new-cluster rewrites this member's copy of the data only: members elsewhere (a
    // partitioned majority) go on with theirs.
    auto fork = impl_->newStore();
    fork->kv.copyFrom(n.data->kv);
    fork->kv.setNextLease((impl_->next_lease_range++ << 32) | 1);
    fork->kv.renewLeases();  // the new one-member cluster elects itself leader
    fork->members[keep.id] = keep;
    n.data = fork;
    n.running = true;
    n.running_since = impl_->clock.now();
    return ok();
  }
  bool running() const override {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->nodes.find(node_);
    return it != impl_->nodes.end() && it->second.running;
  }

 private:
  std::shared_ptr<SimEtcd::Impl> impl_;
  std::string node_;
};

class SimKv : public KvStore {
 public:
  SimKv(std::shared_ptr<SimEtcd::Impl> impl, std::string node, std::vector<std::string> endpoints)
      : impl_(std::move(impl)), node_(std::move(node)), endpoints_(std::move(endpoints)) {}

  Status put(const std::string& k, const std::string& v, LeaseId l) override {
    auto kv = handle();
    if (!kv) return std::unexpected(kv.error());
    return (*kv)->put(k, v, l);
  }
  Result<bool> putIfAbsent(const std::string& k, const std::string& v, LeaseId l, KeyValue* c) override {
    auto kv = handle();
    if (!kv) return std::unexpected(kv.error());
    return (*kv)->putIfAbsent(k, v, l, c);
  }
  Result<std::optional<KeyValue>> get(const std::string& k) override {
    auto kv = handle();
    if (!kv) return std::unexpected(kv.error());
    return (*kv)->get(k);
  }
  Result<std::vector<KeyValue>> list(const std::string& p) override {
    auto kv = handle();
    if (!kv) return std::unexpected(kv.error());
    return (*kv)->list(p);
  }
  Status remove(const std::string& k) override {
    auto kv = handle();
    if (!kv) return std::unexpected(kv.error());
    return (*kv)->remove(k);
  }
  Result<LeaseId> grantLease(Duration ttl) override {
    auto kv = handle();
    if (!kv) return std::unexpected(kv.error());
    return (*kv)->grantLease(ttl);
  }
  Status keepAlive(LeaseId l) override {
    auto kv = handle();
    if (!kv) return std::unexpected(kv.error());
    return (*kv)->keepAlive(l);
  }
  Status revokeLease(LeaseId l) override {
    auto kv = handle();
    if (!kv) return std::unexpected(kv.error());
    return (*kv)->revokeLease(l);
  }

 private:
  // The data of the cluster this client reaches now; a handle per cluster, kept.
  Result<MemKv*> handle() {
    std::shared_ptr<SimEtcdCluster> c;
    {
      std::lock_guard lock(impl_->mu);
      auto served = impl_->serve(node_, endpoints_);
      if (!served) return std::unexpected(served.error());
      c = *served;
    }
    if (c != cluster_) {
      cluster_ = c;
      handle_ = c->kv.share();
    }
    return handle_.get();
  }

  std::shared_ptr<SimEtcd::Impl> impl_;
  std::string node_;
  std::vector<std::string> endpoints_;
  std::shared_ptr<SimEtcdCluster> cluster_;
  std::unique_ptr<MemKv> handle_;
};

class SimAdmin : public HubAdmin {
 public:
  SimAdmin(std::shared_ptr<SimEtcd::Impl> impl, std::string node, std::vector<std::string> endpoints)
      : impl_(std::move(impl)), node_(std::move(node)), endpoints_(std::move(endpoints)) {}

  Result<std::vector<EtcdMember>> members() override {
    std::lock_guard lock(impl_->mu);
    auto c = impl_->serve(node_, endpoints_);
    if (!c) return std::unexpected(c.error());
    std::vector<EtcdMember> out;
    for (const auto& [id, m] : (*c)->members) {
      EtcdMember e;
      e.id = id;
      e.name = m.node;
      e.peer_urls = {m.peer_url};
      if (!m.node.empty()) e.client_urls = {SimEtcd::clientUrl(m.node)};
      e.learner = m.learner;
      out.push_back(std::move(e));
    }
    return out;
  }
  Result<EtcdMember> addLearner(const std::string& peer_url) override {
    std::lock_guard lock(impl_->mu);
    auto c = impl_->serve(node_, endpoints_);
    if (!c) return std::unexpected(c.error());
    for (const auto& [id, m] : (*c)->members)
      if (m.peer_url == peer_url) return fail(ErrorCode::kConflict, "etcdserver: Peer URLs already exists");
    for (const auto& [id, m] : (*c)->members)
      if (m.learner) return fail(ErrorCode::kUnavailable, "etcdserver: too many learner members in cluster", true);
    uint64_t id = impl_->next_id++;
    (*c)->members[id] = {id, "", peer_url, true};
    EtcdMember e;
    e.id = id;
    e.peer_urls = {peer_url};
    e.learner = true;
    return e;
  }
  Status promote(uint64_t id) override {
    std::lock_guard lock(impl_->mu);
    auto c = impl_->serve(node_, endpoints_);
    if (!c) return std::unexpected(c.error());
    auto it = (*c)->members.find(id);
    if (it == (*c)->members.end()) return fail(ErrorCode::kNotFound, "etcdserver: member not found");
    if (!it->second.learner) return fail(ErrorCode::kInvalid, "etcdserver: member is not a learner");
    auto n = impl_->nodes.find(it->second.node);
    bool caught_up = !it->second.node.empty() && n != impl_->nodes.end() && n->second.running &&
                     n->second.data == *c && impl_->clock.now() - n->second.running_since >= impl_->catch_up;
    if (!caught_up)
      return fail(ErrorCode::kUnavailable,
                  "etcdserver: can only promote a learner member which is in sync with leader", true);
    it->second.learner = false;
    return ok();
  }
  Status remove(uint64_t id) override {
    std::lock_guard lock(impl_->mu);
    auto c = impl_->serve(node_, endpoints_);
    if (!c) return std::unexpected(c.error());
    auto it = (*c)->members.find(id);
    if (it == (*c)->members.end()) return fail(ErrorCode::kNotFound, "etcdserver: member not found");
    if (!it->second.learner) {
      // etcd's strict reconfiguration check: the voters left must still have a quorum of active
      // members (running, on this data, reachable: the requester's view stands for the leader's).
      int left = 0, active = 0;
      for (const auto& [mid, m] : (*c)->members) {
        if (m.learner || mid == id) continue;
        ++left;
        auto n = impl_->nodes.find(m.node);
        active += n != impl_->nodes.end() && n->second.running && n->second.data == *c && impl_->reaches(node_, m.node);
      }
      if (active < left / 2 + 1) return fail(ErrorCode::kUnavailable, "etcdserver: unhealthy cluster", true);
    }
    std::string node = it->second.node;
    (*c)->members.erase(it);
    // A removed member's etcd exits.
    if (auto n = impl_->nodes.find(node); n != impl_->nodes.end() && n->second.data == *c) n->second.running = false;
    return ok();
  }
  Result<EtcdEndpointStatus> status(const std::string& endpoint) override {
    std::lock_guard lock(impl_->mu);
    std::string node = nodeOfUrl(endpoint);
    auto it = impl_->nodes.find(node);
    if (it == impl_->nodes.end() || !it->second.running || !it->second.data || !impl_->reaches(node_, node))
      return unavailable("etcd " + endpoint + ": Couldn't connect to server");
    EtcdEndpointStatus s;
    if (auto m = impl_->memberOf(*it->second.data, node)) {
      s.member_id = m->id;
      s.learner = m->learner;
    }
    s.raft_index = it->second.data->kv.revisionForTest();
    s.leader = impl_->serve(node, {endpoint}) ? 1 : 0;
    return s;
  }

 private:
  std::shared_ptr<SimEtcd::Impl> impl_;
  std::string node_;
  std::vector<std::string> endpoints_;
};

}  // namespace

SimEtcd::SimEtcd(const Clock& clock, Duration catch_up) : impl_(std::make_shared<Impl>(clock, catch_up)) {}
SimEtcd::~SimEtcd() = default;

void SimEtcd::setReach(std::function<bool(const std::string&, const std::string&)> reach) {
  std::lock_guard lock(impl_->mu);
  impl_->reach = std::move(reach);
}

void SimEtcd::crash(const std::string& node) {
  std::lock_guard lock(impl_->mu);
  impl_->nodes[node].running = false;
}

std::unique_ptr<Hub> SimEtcd::hub(const std::string& node) { return std::make_unique<SimHub>(impl_, node); }

KvStorePtr SimEtcd::store(const std::string& node, const std::vector<std::string>& endpoints) {
  return std::make_unique<SimKv>(impl_, node, endpoints);
}

std::unique_ptr<HubAdmin> SimEtcd::admin(const std::string& node, const std::vector<std::string>& endpoints) {
  return std::make_unique<SimAdmin>(impl_, node, endpoints);
}

std::vector<std::string> SimEtcd::votersOf(const std::string& node) const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  auto it = impl_->nodes.find(node);
  if (it == impl_->nodes.end() || !it->second.data) return out;
  for (const auto& [id, m] : it->second.data->members)
    if (!m.learner) out.push_back(m.node);
  std::sort(out.begin(), out.end());
  return out;
}

bool SimEtcd::runningForTest(const std::string& node) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->nodes.find(node);
  return it != impl_->nodes.end() && it->second.running;
}

}  // namespace shoal
