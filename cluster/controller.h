// The cluster's leader: one node, elected with a leased key (/shoal/leader), that each round
// decides who holds which role and where replicas run, and writes it to the store. The other
// nodes carry it out: a node with a hub record runs etcd, a node reconciles the replicas placed on
// it. See doc/roles.md and doc/placement.md.
//
// A round, in order (the hub set changes by at most one step per round):
//  1. hub records whose etcd member is gone (a failed add, a recovery) are deleted;
//  2. a learner is promoted once caught up, or removed if its node is gone or it has not caught
//     up within `learner_timeout`;
//  3. voters whose node is gone, or whose node has run no etcd for `voter_stuck` (its data lost:
//     it can't start as the voter it is), are removed, at most (voters-1)/2 per round;
//  4. the hub choice (roles.h) is carried out one change at a time: an addition adds a learner
//     and writes its hub record (with etcd's --initial-cluster); a removal removes the member,
//     then its record;
//  5. every other role's holders are chosen and written;
//  6. the spec's apps are placed (placement.h) and each changed placement is written.
// Every decision goes to the event sink with the scores compared.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/formation.h"
#include "cluster/hub_admin.h"
#include "cluster/kv_store.h"
#include "cluster/placement.h"
#include "cluster/records.h"
#include "common/clock.h"
#include "schemas/spec.h"

namespace shoal {

// What the leader read from the store this round.
struct ClusterState {
  std::string self;  // the leader's node id
  ClusterInfo cluster;
  std::vector<MemberRecord> members;             // alive: registered under a live lease
  std::map<std::string, HubRecord> hubs;         // node id -> record
  std::map<std::string, std::vector<std::string>> roles;  // role -> holders (not hub)
  std::map<std::string, PlacementRecord> placements;      // app -> record
};

struct ControllerOptions {
  Duration learner_timeout{60000};  // a learner not caught up by then is removed
  Duration settle{2000};            // a new spread app is first placed once the members held still this long
  Duration voter_stuck{30000};      // a voter whose live node runs no etcd this long is removed
};

class Controller {
 public:
  using EventSink = std::function<void(const std::string& level, const std::string& kind, const std::string& message)>;

  explicit Controller(ControllerOptions options = {}, EventSink events = {});

  // One round. `spec` may be null (not loaded yet): hubs follow the defaults and nothing is placed.
  Status round(KvStore& kv, HubAdmin& admin, const ClusterState& state, const Spec* spec, TimePoint now);

 private:
  // Each returns true when it changed the hub set (the round's one step).
  Result<bool> hubStep(KvStore& kv, HubAdmin& admin, const ClusterState& state, const ClusterSpec& spec,
                       TimePoint now);
  Status rolesStep(KvStore& kv, const ClusterState& state, const ClusterSpec& spec,
                   std::map<std::string, std::vector<std::string>>* holders);
  Status placeStep(KvStore& kv, const ClusterState& state, const Spec& spec,
                   const std::map<std::string, std::vector<std::string>>& holders, TimePoint now);
  void event(const std::string& level, const std::string& kind, const std::string& message);

  ControllerOptions options_;
  EventSink events_;
  std::map<std::string, std::string> last_unplaced_;  // app -> reason last reported
  std::set<std::string> last_members_;                // placed-on candidates, as last seen
  TimePoint members_since_{};                         // since when they are unchanged
  std::map<std::string, TimePoint> not_serving_since_;  // voter node -> since when it runs no etcd
};

// The candidates roles.h scores, from the members' facts.
std::vector<struct RoleCandidate> candidatesOf(const std::vector<MemberRecord>& members);

}  // namespace shoal
