// Membership: how a node finds its cluster, forms one, stays in it and leaves it. One thread
// ("membership") calls `tick()`; the peer endpoint calls `answer()`; the reconciler reads the
// `ClusterView`. See doc/membership.md.
//
// Phases:  discovering --(a cluster is seen)------------> member (join its hubs' etcd)
//                      --(stable window, lowest id)-----> member (originate: run etcd, the hub)
//          member      --(a better cluster is seen)-----> dissolve -> discovering -> join it
//          starting    --(etcd data present)------------> member (return as hub)
//                      --(remembers a cluster that answers)-> member (rejoin)
//
// Store layout: /shoal/cluster = {id,name,created_at,origin} (written once, put-if-absent);
// /shoal/nodes/<id> = {id,name,hub,addresses{peer,api,etcd},facts{...},registered_at} under the
// node's lease. The cluster size is the number of /shoal/nodes/ keys.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/cluster_view.h"
#include "cluster/controller.h"
#include "cluster/discovery.h"
#include "cluster/formation.h"
#include "cluster/hub_admin.h"
#include "cluster/kv_store.h"
#include "cluster/records.h"
#include "common/clock.h"
#include "common/error.h"

namespace shoal {

// The etcd this node runs while it is the hub (the originating node). Real: EtcdHub (etcd_hub.h).
class Hub {
 public:
  virtual ~Hub() = default;
  virtual bool hasData() const = 0;           // a previous run left etcd data: return as hub
  // New or from existing data; healthy when it returns. kConflict: this member was removed from
  // its cluster (its data is no vote any more: dissolve it).
  virtual Status start() = 0;
  virtual void stop() = 0;                    // clean stop, data kept
  virtual Status dissolve() = 0;              // stop and move the data away
  virtual std::string clientUrl() const = 0;  // "https://10.0.0.2:2379", for the other nodes
  virtual std::string localUrl() const = 0;   // how this node itself reaches it
  virtual std::string peerUrl() const = 0;    // "https://10.0.0.2:2380": where its etcd meets the others
  // Starts as a new member of an existing cluster (the leader added it as a learner), with no data.
  virtual Status join(const std::string& initial_cluster) = 0;
  // Quorum lost for good: restarts etcd from its data as a one-member cluster keeping every key.
  virtual Status recover() = 0;
  virtual bool running() const = 0;
};

// Asks discovered addresses `GET /v1/cluster` over mTLS. Real: HttpsProber (prober.h).
class Prober {
 public:
  virtual ~Prober() = default;
  // Every address at once, each within `timeout`; addresses that do not answer are left out.
  virtual std::vector<ProbeAnswer> probe(const std::vector<PeerAddress>& addresses, Duration timeout) = 0;
};

// Makes a store client for the given etcd client URLs. Real: EtcdKv.
using StoreFactory = std::function<KvStorePtr(const std::vector<std::string>& endpoints)>;
// Makes an etcd membership client for the given client URLs. Real: EtcdAdmin.
using AdminFactory = std::function<std::unique_ptr<HubAdmin>(const std::vector<std::string>& endpoints)>;
// The spec the node applies now (null before the first commit loads): the leader places its apps.
using SpecProvider = std::function<std::shared_ptr<const Spec>()>;

// This machine's facts: cpus, memory, the disk holding `data_dir`, uptime since it booted.
NodeFacts readFacts(const std::string& data_dir);


struct MembershipOptions {
  std::string node_id;
  std::string node_name;
  std::string data_dir;     // membership.json is remembered here
  std::string advertise;    // the IP other nodes reach this one at
  int peer_port = kDefaultPeerPort;
  int api_port = 7443;
  std::string cluster_name;  // informative, from the spec if known
  std::string version = "shoal 0.1.0";
  std::map<std::string, std::string> labels;
  FormationOptions formation;
  Duration probe_interval{1000};   // between discovery rounds while discovering
  Duration refresh_interval{1000}; // between reads of the members while a member
  Duration probe_timeout{1000};      // per probe
  Duration discovery_timeout{2000};  // per discovery source, per round (discovery.timeout)
  Duration lease_ttl{10000};
  Duration facts_interval{5000};
  Duration merge_interval{5000};   // hubs look for a better cluster this often (at least stable_for)
  int max_failed_joins = 3;        // then the cluster is ignored for `ignore_for`
  Duration ignore_for{30000};
  Duration leader_interval{1000};  // between the leader's rounds
  // Set: the machine's cpus, memory and disk are these instead of the host's (simulated nodes).
  std::optional<NodeFacts> facts;
  // Non-zero: cluster ids are drawn from this seed instead of the system's randomness, so that a
  // simulation replays exactly from its seed.
  uint64_t id_seed = 0;
};

enum class Phase { kDiscovering, kMember };

// What /v1/status and /v1/nodes show.
struct MembershipStatus {
  Phase phase = Phase::kDiscovering;
  bool hub = false;
  std::optional<ClusterInfo> cluster;
  std::vector<MemberRecord> members;  // by id
  std::vector<std::string> hubs;
  std::string reason;  // the last formation decision or store error
  int64_t lease = 0;
  bool checker = false;  // this node checks the spec repo's head for the cluster
  std::string leader;    // the node deciding roles and placement ("" while none or not controlled)
  std::map<std::string, HubRecord> hub_records;            // node id -> its etcd membership
  std::map<std::string, std::vector<std::string>> roles;   // role -> holders (not hub)
  std::map<std::string, PlacementRecord> placements;       // app -> where it runs
};

class Membership : public ClusterView {
 public:
  using EventSink = std::function<void(const std::string& level, const std::string& kind, const std::string& message)>;

  Membership(MembershipOptions options, std::vector<DiscoverySourcePtr> sources, Prober& prober, Hub& hub,
             StoreFactory stores, const Clock& clock, EventSink events = {});
  ~Membership() override;

  // One step of the state machine at the clock's now; returns when it wants the next.
  TimePoint tick();
  // SIGTERM: revoke the lease (others stop listing this node at once), stop etcd if hub.
  void leave();
  // Before leave(): the node says it is leaving, so that the leader hands its hub role and its
  // replicas to other nodes first; keep ticking until readyToLeave() (or a deadline), then leave().
  void beginLeave();
  bool readyToLeave() const;
  // The replicas of each app running healthy on this node (its reconciler's view), published in
  // its member record: a leaving node waits until the replicas it hands over are healthy elsewhere.
  void setReady(std::map<std::string, int> ready);

  // GET /v1/cluster on the peer endpoint.
  ProbeAnswer answer() const;
  MembershipStatus status() const;

  // The spec repo's head, shared so that one node asks the git host for the whole cluster. The
  // elected checker (holder of /shoal/spec/checker under its lease) offers each head it fetched;
  // the membership thread publishes it in /shoal/spec/head, and every member reads it back.
  bool isChecker() const;
  void offerHead(const std::string& commit);
  std::string publishedHead() const;  // empty: none known (yet)

  // Roles and placement (issue 8): this node takes part in electing the leader, runs the
  // `Controller` while it is the leader, runs etcd while the leader lists it as a hub, and
  // reconciles the replicas placed on it. Call once, before the first tick. Without it the
  // cluster keeps one hub (the origin) and apps run by their `placement` alone.
  void enableControl(AdminFactory admins, SpecProvider spec, ControllerOptions options = {});
  bool isLeader() const;

  // ClusterView: members seen in the store (0 while discovering: nothing is settled).
  int size() const override;
  bool placesApps() const override;
  std::optional<int> placed(const std::string& app) const override;
  std::string nodeId() const override { return options_.node_id; }
  bool settled() const override;
  bool isOrigin() const override;

 private:
  TimePoint discover(TimePoint now);
  TimePoint stay(TimePoint now);
  void checkMerge(TimePoint now);
  std::optional<FormationDecision> betterTarget(TimePoint now);
  void dissolveInto(const FormationDecision& m, TimePoint now);
  void followMerge(TimePoint now);
  std::optional<FormationDecision> followHubs(const ClusterInfo& own, const std::vector<ProbeAnswer>& answers) const;
  Status originate(TimePoint now);
  Status join(const FormationDecision& d, TimePoint now);
  Status connect(const std::vector<std::string>& hubs, const std::optional<std::string>& expect_cluster,
                 bool hub, TimePoint now);
  Status registerSelf(TimePoint now);
  Status registerAgain(TimePoint now);
  bool dropForeignEndpoints();
  struct Memory {
    ClusterInfo cluster;
    std::vector<std::string> hubs;
  };
  std::optional<Memory> readMemory() const;
  void dropHeldData(const std::string& why);  // why: the hub.data_dropped event ("" logs none)
  bool holdVote(const std::vector<ProbeAnswer>& answers, TimePoint now);
  Status sameCluster(const std::optional<ClusterInfo>& record) const;
  Status refresh();
  bool returnOrRejoin(TimePoint now);
  std::set<std::string> ignored(TimePoint now);
  std::optional<FormationDecision> followOrigin(const ClusterInfo& own, const std::vector<ProbeAnswer>& answers) const;
  void becomeDiscovering(const std::string& reason, TimePoint now);
  void remember();
  std::vector<ProbeAnswer> probeRound(std::vector<std::string>* skipped);
  MemberRecord selfRecord(TimePoint now) const;
  void event(const std::string& level, const std::string& kind, const std::string& message);

  MembershipOptions options_;
  std::vector<DiscoverySourcePtr> sources_;
  Prober& prober_;
  Hub& hub_;
  StoreFactory stores_;
  const Clock& clock_;
  EventSink events_;
  TimePoint started_;

  // Loop-thread state.
  bool first_tick_ = true;
  std::optional<Formation> formation_;
  std::map<std::string, int> failed_joins_;
  std::map<std::string, TimePoint> ignored_until_;
  KvStorePtr kv_;
  LeaseId lease_ = 0;
  TimePoint next_keepalive_{}, next_refresh_{}, next_merge_check_{};
  TimePoint last_store_ok_{};
  int store_failures_ = 0;
  bool published_ = false;
  std::optional<std::string> seen_checker_;  // /shoal/spec/checker as last read

  void shareHead();
  // Holds `key` under this node's lease if nobody does; true when this node holds it.
  bool elect(const char* key, std::optional<std::string>& seen);
  void followHubRecord(TimePoint now);
  void lead(TimePoint now);
  void updateEndpoints();
  void tryRecover(TimePoint now);
  void leaveHubs();
  bool multiHub() const;

  // Roles and placement (enableControl).
  AdminFactory admins_;
  SpecProvider spec_;
  std::unique_ptr<Controller> controller_;
  std::vector<std::string> kv_endpoints_;
  std::optional<std::string> seen_leader_;
  TimePoint next_lead_{};
  // The leader decides nothing before this: its store just came back from an outage (or its own
  // lease expired), and the members' leases may have expired meanwhile (a stalled etcd resumed);
  // they register again within a lease TTL. Deciding on the members seen before that would remove
  // live hubs and move every replica.
  TimePoint quiet_until_{};
  bool quiet_logged_ = false;
  TimePoint next_recover_{};
  std::optional<std::string> held_cluster_;  // holdVote(): the cluster this node's etcd data belongs to
  TimePoint held_seen_{};                    // when a node last answered for it
  TimePoint next_return_{};
  std::optional<FormationDecision> merge_order_;  // the leader's /shoal/merge, as last read
  TimePoint merge_seen_{};
  std::atomic<bool> leaving_{false};
  bool leave_published_ = false;
  std::map<std::string, int> ready_;              // GUARDED_BY(mu_)
  bool ready_changed_ = false;                    // GUARDED_BY(mu_): not published yet
  std::set<std::string> handed_over_;             // GUARDED_BY(mu_): apps placed here when leaving began
  uint64_t ids_made_ = 0;  // clusters originated (id_seed)  // loop thread: the record saying so is written
  uint64_t hub_member_id_ = 0;  // loop thread: the etcd member id of the hub record this node's etcd runs as

  // Shared with the peer endpoint and the reconciler.
  mutable std::mutex mu_;
  MembershipStatus status_;      // GUARDED_BY(mu_)
  bool checker_ = false;         // GUARDED_BY(mu_)
  std::string offered_head_;     // GUARDED_BY(mu_): from the reconcile thread
  std::string published_head_;   // GUARDED_BY(mu_): as read from the store
  double hub_rtt_ms_ = -1;       // GUARDED_BY(mu_): moving average of the store's round trip
};

}  // namespace shoal
