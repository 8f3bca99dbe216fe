#include "cluster/membership.h"

#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cluster/pki.h"
#include "common/duration.h"
#include "common/log.h"

namespace shoal {

using nlohmann::json;

namespace {

constexpr Duration kRecoverRetry{5000};
constexpr const char* kCheckerKey = "/shoal/spec/checker";
constexpr const char* kHeadKey = "/shoal/spec/head";

int64_t ms(TimePoint t) { return t.time_since_epoch().count(); }

json clusterJson(const ClusterInfo& c) {
  return {{"id", c.id}, {"name", c.name}, {"created_at", c.created_at}, {"origin", c.origin}};
}

std::optional<ClusterInfo> clusterFromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return std::nullopt;
  try {
    ClusterInfo c;
    c.id = j["id"];
    c.name = j.value("name", "");
    c.created_at = j.value("created_at", int64_t{0});
    c.origin = j.value("origin", "");
    return c;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// The cluster record in `kv`; errors name `where` (the store's first URL).
Result<ClusterInfo> readCluster(KvStore& kv, const std::string& where) {
  auto record = kv.get(kClusterKey);
  if (!record) return std::unexpected(record.error());
  if (!*record) return fail(ErrorCode::kNotFound, "the store at " + where + " holds no cluster record");
  auto info = clusterFromJson((*record)->value);
  if (!info) return fail(ErrorCode::kInvalid, "the cluster record at " + where + " is not valid JSON");
  return *info;
}

std::string randomId() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

std::string hostPort(const std::string& host, int port) { return PeerAddress{host, port}.str(); }

constexpr const char* kRemovedMember = "this node's etcd member was removed from its cluster: its data is deleted";

}  // namespace

NodeFacts readFacts(const std::string& data_dir) {
  NodeFacts f;
  f.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  struct sysinfo si {};
  if (sysinfo(&si) == 0) {
    f.memory_bytes = static_cast<int64_t>(si.totalram) * si.mem_unit;
    // The machine's, not the process's: a node restarted (an upgrade, a crash) is no less proven,
    // a machine that just booted is.
    f.uptime_s = si.uptime;
  }
  struct statvfs vfs {};
  if (statvfs(data_dir.c_str(), &vfs) == 0) {
    f.disk_free_bytes = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
    f.disk_total_bytes = static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize);
  }
  return f;
}

Membership::Membership(MembershipOptions options, std::vector<DiscoverySourcePtr> sources, Prober& prober,
                       Hub& hub, StoreFactory stores, const Clock& clock, EventSink events)
    : options_(std::move(options)),
      sources_(std::move(sources)),
      prober_(prober),
      hub_(hub),
      stores_(std::move(stores)),
      clock_(clock),
      events_(std::move(events)),
      started_(clock.now()) {
  options_.formation.has_sources = !sources_.empty();
}

Membership::~Membership() = default;

void Membership::event(const std::string& level, const std::string& kind, const std::string& message) {
  auto log = logger("cluster");
  if (level == "error")
    log->error("{}: {}", kind, message);
  else if (level == "warn")
    log->warn("{}: {}", kind, message);
  else
    log->info("{}: {}", kind, message);
  if (events_) events_(level, kind, message);
}

TimePoint Membership::tick() {
  TimePoint now = clock_.now();
  if (first_tick_) {
    first_tick_ = false;
    if (returnOrRejoin(now)) return now + options_.probe_interval;
    becomeDiscovering("starting: looking for a cluster", now);
  }
  bool member;
  {
    std::lock_guard lock(mu_);
    member = status_.phase == Phase::kMember;
  }
  return member ? stay(now) : discover(now);
}

// ---- starting

bool Membership::returnOrRejoin(TimePoint now) {
  if (hub_.hasData()) {
    if (!held_cluster_) {
      if (auto memory = readMemory()) held_cluster_ = memory->cluster.id;
      held_seen_ = now;
    }
    if (auto st = hub_.start(); !st) {
      event("error", "cluster.return_failed", "etcd data present but etcd does not start: " + st.error().message);
      if (st.error().code == ErrorCode::kConflict) dropHeldData(kRemovedMember);
      return false;
    }
    if (auto st = connect({hub_.localUrl()}, std::nullopt, true, now); !st) {
      event("error", "cluster.return_failed", "etcd started from its data but: " + st.error().message);
      hub_.stop();
      return false;
    }
    event("info", "cluster.returned", "returned as the hub of cluster " + status().cluster->id + " from etcd's data");
    return true;
  }
  auto memory = readMemory();
  if (!memory || memory->hubs.empty()) return false;
  const auto& [cluster, hubs] = *memory;
  if (auto st = connect(hubs, cluster.id, false, now); !st) {
    logger("cluster")->info("remembered cluster {} not reachable ({}); discovering", cluster.id, st.error().message);
    return false;
  }
  event("info", "cluster.rejoined", "rejoined cluster " + cluster.id + " through its remembered hubs");
  return true;
}

// ---- discovering

// Clusters whose hubs could not be reached: skipped for a while, then tried again (a hub that was
// only overloaded, or whose network came back, must not be shunned forever).
std::set<std::string> Membership::ignored(TimePoint now) {
  std::set<std::string> out;
  for (auto it = ignored_until_.begin(); it != ignored_until_.end();) {
    if (now >= it->second) {
      it = ignored_until_.erase(it);
    } else {
      out.insert(it->first);
      ++it;
    }
  }
  return out;
}

std::vector<ProbeAnswer> Membership::probeRound(std::vector<std::string>* skipped) {
  if (sources_.empty()) return {};
  DiscoveryResult found = discoverAll(sources_, options_.discovery_timeout);
  if (skipped)
    for (const auto& s : found.skipped) skipped->push_back(s.reason);
  PeerAddress self{options_.advertise, options_.peer_port};
  if (!published_) {
    bool any = std::any_of(sources_.begin(), sources_.end(), [](const auto& s) { return s->publishes(); });
    if (any) {
      auto report = publishAll(sources_, self);
      published_ = report.errors.empty();
    } else {
      published_ = true;
    }
  }
  std::vector<PeerAddress> others;
  for (const auto& p : found.peers)
    if (!(p == self)) others.push_back(p);
  auto answers = prober_.probe(others, options_.probe_timeout);
  std::erase_if(answers, [&](const ProbeAnswer& a) { return a.node_id == options_.node_id; });
  return answers;
}

// membership.json, written by remember(): the cluster this node last belonged to and its hubs
// (none if it has no memory, or an unreadable one).
std::optional<Membership::Memory> Membership::readMemory() const {
  auto text = pki::readFile(options_.data_dir + "/membership.json", "membership memory");
  if (!text) return std::nullopt;
  auto j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("cluster")) return std::nullopt;
  try {
    auto cluster = clusterFromJson(j["cluster"].dump());
    if (!cluster) return std::nullopt;
    Memory m{*cluster, {}};
    if (j.contains("hubs")) m.hubs = j["hubs"].get<std::vector<std::string>>();
    return m;
  } catch (const json::exception& e) {
    logger("cluster")->warn("{}/membership.json is not valid ({}): discovering", options_.data_dir, e.what());
    return std::nullopt;
  }
}

// The etcd data is no vote any more (this member was removed from its cluster, or was only a
// learner): deleted, and no longer held.
void Membership::dropHeldData(const std::string& why) {
  if (auto d = hub_.dissolve(); !d) logger("cluster")->warn("etcd: {}", d.error().message);
  held_cluster_.reset();
  if (!why.empty()) event("info", "hub.data_dropped", why);
}

// A node holding etcd data of a cluster whose quorum is lost holds a vote of it: originating a
// cluster, or joining another, would delete that data, and the cluster could never have its
// quorum back. While some node still answers for that cluster (it waits for its hubs too), this
// node keeps its etcd running on that data and returns through it once the quorum is back.
// True: hold (do not act on the formation decision).
bool Membership::holdVote(const std::vector<ProbeAnswer>& answers, TimePoint now) {
  if (!held_cluster_ || !hub_.hasData()) return false;
  for (const auto& a : answers)
    if (a.cluster && a.cluster->id == *held_cluster_) held_seen_ = now;
  if (now - held_seen_ >= options_.lease_ttl * 6) {
    // Nobody answers for it any more: it merged away, its other nodes went elsewhere, or they are
    // all gone. The data goes with the next cluster this node forms or joins.
    held_cluster_.reset();
    hub_.stop();
    return false;
  }
  if (!hub_.running()) {
    if (auto st = hub_.start(); !st) {
      if (st.error().code != ErrorCode::kConflict) return true;
      dropHeldData(kRemovedMember);
      return false;
    }
  }
  if (admins_) {
    // A learner's copy is no vote: it may lag behind what the voters committed.
    auto self = admins_({hub_.localUrl()})->status(hub_.localUrl());
    if (self && self->learner) {
      dropHeldData("");
      return false;
    }
  }
  if (now >= next_return_) {
    next_return_ = now + options_.lease_ttl / 2;
    if (connect({hub_.localUrl()}, held_cluster_, true, now)) {
      event("info", "cluster.returned", "returned as a hub of cluster " + *held_cluster_ + ": its quorum is back");
      held_cluster_.reset();
      return true;
    }
  }
  std::lock_guard lock(mu_);
  status_.reason = "holding etcd data of cluster " + *held_cluster_ + " (a vote): waiting for its quorum to come back";
  return true;
}

TimePoint Membership::discover(TimePoint now) {
  auto answers = probeRound(nullptr);
  FormationDecision d = formation_->step(answers, now, ignored(now));
  {
    std::lock_guard lock(mu_);
    status_.reason = d.reason;
  }
  if (holdVote(answers, now)) return now + options_.probe_interval;
  if (d.kind == FormationKind::kOriginate) {
    if (auto st = originate(now); !st) {
      event("error", "cluster.originate_failed", st.error().message);
      // Leave no etcd data behind: it would bring this half-made cluster back at the next start.
      if (auto d = hub_.dissolve(); !d) logger("cluster")->warn("etcd: {}", d.error().message);
    }
  } else if (d.kind == FormationKind::kJoin) {
    if (auto st = join(d, now); !st) {
      int n = ++failed_joins_[d.cluster->id];
      event("warn", "cluster.join_failed",
            "cannot join cluster " + d.cluster->id + " (attempt " + std::to_string(n) + "): " + st.error().message);
      if (n >= options_.max_failed_joins) {
        ignored_until_[d.cluster->id] = now + options_.ignore_for;
        failed_joins_.erase(d.cluster->id);
        event("warn", "cluster.ignored",
              "cluster " + d.cluster->id + " answers probes but its hubs cannot be reached: ignored for " +
                  formatDuration(options_.ignore_for));
      }
    }
  } else {
    logger("cluster")->debug("discovering: {}", d.reason);
  }
  return now + options_.probe_interval;
}

Status Membership::originate(TimePoint now) {
  if (auto st = hub_.start(); !st) return fail(st.error().code, "etcd: " + st.error().message);
  auto kv = stores_({hub_.localUrl()});
  std::string id = randomId();
  if (options_.id_seed != 0) {
    // Simulations replay from a seed: ids from the seed, this node, the (fake) clock and a count.
    std::mt19937_64 rng(options_.id_seed ^ std::hash<std::string>{}(options_.node_id) ^ ++ids_made_ ^
                        (static_cast<uint64_t>(ms(now)) << 20));
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
    id = buf;
  }
  ClusterInfo info{id, options_.cluster_name, ms(now), options_.node_id, 1};
  KeyValue current;
  auto created = kv->putIfAbsent(kClusterKey, clusterJson(info).dump(), 0, &current);
  if (!created) return fail(created.error().code, "writing the cluster record: " + created.error().message);
  if (auto st = connect({hub_.localUrl()}, std::nullopt, true, now); !st) return st;
  if (admins_) {
    // The first hub record: the leader then grows the hub set from it.
    auto members = admins_({hub_.localUrl()})->members();
    if (members && members->size() == 1) {
      HubRecord r{options_.node_id, members->front().id, hub_.peerUrl(), true, "", ms(now)};
      if (auto st = kv_->put(kHubsPrefix + options_.node_id, hubToJson(r)); !st)
        logger("cluster")->warn("cannot write this hub's record: {}", st.error().message);
    }
  }
  event("info", "cluster.originated",
        "originated cluster " + status().cluster->id + " (" + status().reason + ")");
  return ok();
}

Status Membership::join(const FormationDecision& d, TimePoint now) {
  if (d.hubs.empty()) return fail(ErrorCode::kUnavailable, "the cluster named no hub", true);
  if (auto st = connect(d.hubs, d.cluster->id, false, now); !st) return st;
  failed_joins_.erase(d.cluster->id);
  event("info", "cluster.joined", "joined cluster " + d.cluster->id + " through " + d.hubs.front());
  return ok();
}

Status Membership::connect(const std::vector<std::string>& hubs, const std::optional<std::string>& expect_cluster,
                           bool hub, TimePoint now) {
  KvStorePtr kv = stores_(hubs);
  auto info = readCluster(*kv, hubs.front());
  if (!info) return std::unexpected(info.error());
  if (expect_cluster && info->id != *expect_cluster)
    return fail(ErrorCode::kConflict, "the store at " + hubs.front() + " belongs to cluster " + info->id + ", not " +
                                          *expect_cluster);
  kv_ = std::move(kv);
  kv_endpoints_ = hubs;
  hub_member_id_ = 0;  // learnt from the hub record, once read
  {
    std::lock_guard lock(mu_);
    status_.hub = hub;
    status_.cluster = *info;
    status_.hubs = hub ? std::vector<std::string>{hub_.clientUrl()} : hubs;
  }
  if (auto st = registerSelf(now); !st) {
    kv_.reset();
    return st;
  }
  {
    std::lock_guard lock(mu_);
    status_.phase = Phase::kMember;
  }
  store_failures_ = 0;
  last_store_ok_ = now;
  next_merge_check_ = now + options_.merge_interval;
  formation_.reset();
  remember();
  return ok();
}

MemberRecord Membership::selfRecord(TimePoint now) const {
  MemberRecord m;
  m.id = options_.node_id;
  m.name = options_.node_name;
  m.peer_address = hostPort(options_.advertise, options_.peer_port);
  m.api_address = hostPort(options_.advertise, options_.api_port);
  if (options_.facts) {
    m.facts = *options_.facts;
    m.facts.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(now - started_).count();
  } else {
    m.facts = readFacts(options_.data_dir);
  }
  m.facts.version = options_.version;
  m.facts.labels = options_.labels;
  m.etcd_peer_url = hub_.peerUrl();
  m.leaving = leaving_;
  std::lock_guard lock(mu_);
  m.facts.hub_rtt_ms = hub_rtt_ms_;
  m.ready = ready_;
  m.hub = status_.hub;
  if (m.hub) m.etcd_url = hub_.clientUrl();
  m.registered_at = ms(now);
  return m;
}

Status Membership::registerSelf(TimePoint now) {
  auto lease = kv_->grantLease(options_.lease_ttl);
  if (!lease) return fail(lease.error().code, "lease: " + lease.error().message, lease.error().retryable);
  lease_ = *lease;
  if (auto st = kv_->put(kNodesPrefix + options_.node_id, memberToJson(selfRecord(now)), lease_); !st)
    return fail(st.error().code, "registering: " + st.error().message, st.error().retryable);
  {
    std::lock_guard lock(mu_);
    status_.lease = lease_;
  }
  next_keepalive_ = now + options_.lease_ttl / 3;
  next_refresh_ = now + options_.facts_interval;
  return refresh();
}

// Reads the members; called every tick while a member.
// Reads everything under /shoal/ in one call (members, the spec checker and head): one call per
// member per second is what the hub serves.
Status Membership::refresh() {
  auto asked = clock_.monotonic();
  auto list = kv_->list("/shoal/");
  if (!list) return std::unexpected(list.error());
  double rtt = std::chrono::duration<double, std::milli>(clock_.monotonic() - asked).count();
  std::vector<MemberRecord> members;
  std::vector<std::string> hubs;
  std::optional<std::string> checker, head, leader;
  std::optional<ClusterInfo> record;
  std::optional<FormationDecision> merge;
  LeaseId checker_lease = 0, leader_lease = 0;
  std::map<std::string, HubRecord> hub_records;
  std::map<std::string, std::vector<std::string>> roles;
  std::map<std::string, PlacementRecord> placements;
  for (const auto& kv : *list) {
    if (kv.key == kClusterKey) {
      record = clusterFromJson(kv.value);
    } else if (kv.key == kCheckerKey) {
      checker = kv.value;
      checker_lease = kv.lease;
    } else if (kv.key == kMergeKey) {
      auto j = json::parse(kv.value, nullptr, false);
      if (j.is_object() && j.contains("cluster") && j.contains("hubs")) {
        try {
          FormationDecision d;
          d.kind = FormationKind::kJoin;
          d.cluster = clusterFromJson(j["cluster"].dump());
          d.hubs = j["hubs"].get<std::vector<std::string>>();
          d.reason = j.value("reason", "merging");
          if (d.cluster && !d.hubs.empty()) merge = d;
        } catch (const json::exception&) {
        }
      }
    } else if (kv.key == kLeaderKey) {
      leader = kv.value;
      leader_lease = kv.lease;
    } else if (kv.key.starts_with(kHubsPrefix)) {
      if (auto h = hubFromJson(kv.value)) hub_records[h->node_id] = *h;
    } else if (kv.key.starts_with(kRolesPrefix)) {
      if (auto h = holdersFromJson(kv.value)) roles[kv.key.substr(std::string(kRolesPrefix).size())] = *h;
    } else if (kv.key.starts_with(kPlacementPrefix)) {
      if (auto p = placementFromJson(kv.value)) placements[kv.key.substr(std::string(kPlacementPrefix).size())] = *p;
    } else if (kv.key == kHeadKey) {
      head = kv.value;
    } else if (kv.key.starts_with(kNodesPrefix)) {
      if (auto m = memberFromJson(kv.value)) members.push_back(std::move(*m));
    }
  }
  if (auto st = sameCluster(record); !st) return st;
  // The store's endpoints: the hubs' etcd, voters only once the leader keeps hub records (a
  // learner serves no client).
  for (const auto& m : members) {
    if (!m.hub || m.etcd_url.empty()) continue;
    auto rec = hub_records.find(m.id);
    if (hub_records.empty() || (rec != hub_records.end() && rec->second.voter)) hubs.push_back(m.etcd_url);
  }
  {
    std::lock_guard lock(mu_);
    status_.members = std::move(members);
    if (!hubs.empty()) status_.hubs = std::move(hubs);
    if (status_.cluster) status_.cluster->size = static_cast<int>(status_.members.size());
    if (head) published_head_ = *head;
    status_.leader = leader.value_or("");
    status_.hub_records = std::move(hub_records);
    status_.roles = std::move(roles);
    status_.placements = std::move(placements);
    hub_rtt_ms_ = hub_rtt_ms_ < 0 ? rtt : 0.8 * hub_rtt_ms_ + 0.2 * rtt;
  }
  seen_checker_ = checker;
  seen_leader_ = leader;
  if (merge && !merge_order_) merge_seen_ = clock_.now();
  merge_order_ = merge;
  if (leader && *leader == options_.node_id && leader_lease != lease_) {
    if (auto st = kv_->put(kLeaderKey, options_.node_id, lease_); !st) return st;
  }
  // Ours, but under the lease of a previous run (restarted within the TTL): bind it to this one,
  // or it would vanish with the old lease and hand the checking over for nothing.
  if (checker && *checker == options_.node_id && checker_lease != lease_) {
    if (auto st = kv_->put(kCheckerKey, options_.node_id, lease_); !st) return st;
  }
  return ok();
}

// A hub's address can come to serve another cluster (the hub restarted and originated one, or
// joined another): this node's records must not go there. `record` is the cluster record the store
// holds (none: not a shoal store, or one being made).
Status Membership::sameCluster(const std::optional<ClusterInfo>& record) const {
  auto own = status().cluster;
  if (!own || (record && record->id == own->id)) return ok();
  std::string where = kv_endpoints_.empty() ? "the store" : "the store at " + kv_endpoints_.front();
  if (!record) return fail(ErrorCode::kConflict, where + " holds no cluster record (not cluster " + own->id + ")");
  return fail(ErrorCode::kConflict, where + " belongs to cluster " + record->id + ", not " + own->id);
}

// The store answered for another cluster through one of several endpoints (a hub's address now
// serves another cluster): asks each endpoint alone and keeps those that are not foreign (their
// own cluster, or no answer: down for now). True when some were dropped and others remain.
bool Membership::dropForeignEndpoints() {
  auto own = status().cluster;
  if (!own || kv_endpoints_.size() < 2) return false;
  std::vector<std::string> kept;
  for (const auto& url : kv_endpoints_) {
    auto info = readCluster(*stores_({url}), url);
    if (info && info->id != own->id) {
      logger("cluster")->warn("the store at {} belongs to cluster {}: no longer used", url, info->id);
      continue;
    }
    kept.push_back(url);
  }
  if (kept.empty() || kept.size() == kv_endpoints_.size()) return false;
  kv_ = stores_(kept);
  kv_endpoints_ = kept;
  std::lock_guard lock(mu_);
  std::erase_if(status_.hubs, [&](const std::string& h) {
    return std::find(kept.begin(), kept.end(), h) == kept.end() && h != hub_.clientUrl();
  });
  return true;
}

Status Membership::registerAgain(TimePoint now) {
  auto record = kv_->get(kClusterKey);
  if (!record) return std::unexpected(record.error());
  std::optional<ClusterInfo> info;
  if (*record) info = clusterFromJson((*record)->value);
  if (auto st = sameCluster(info); !st) return st;
  return registerSelf(now);
}

void Membership::remember() {
  MembershipStatus s = status();
  if (!s.cluster) return;
  json j = {{"cluster", clusterJson(*s.cluster)}, {"hubs", s.hubs}};
  if (auto st = pki::writeFileAtomic(options_.data_dir + "/membership.json", j.dump(2) + "\n", 0644); !st)
    logger("cluster")->warn("cannot remember the cluster: {}", st.error().message);
}

void Membership::becomeDiscovering(const std::string& reason, TimePoint now) {
  {
    auto own = status().cluster;
    if (own && hub_.hasData()) {
      held_cluster_ = own->id;
      held_seen_ = now;
    }
  }
  kv_.reset();
  lease_ = 0;
  published_ = false;
  formation_.emplace(options_.node_id, now, options_.formation);
  std::lock_guard lock(mu_);
  status_ = MembershipStatus{};
  status_.reason = reason;
  checker_ = false;
  published_head_.clear();
}

// ---- staying

// The hub, every merge interval: dissolve into a better cluster, if one is seen, its hubs answer,
// and it is still better counted by its own store (probe answers can be a second old: two hubs
// must not both dissolve).
std::optional<FormationDecision> Membership::betterTarget(TimePoint now) {
  next_merge_check_ = now + std::max(options_.merge_interval, options_.formation.stable_for);
  auto own = status().cluster;
  if (!own) return std::nullopt;
  auto m = mergeTarget(*own, probeRound(nullptr), ignored(now));
  if (!m) return std::nullopt;
  KvStorePtr theirs = stores_(m->hubs);
  auto target = readCluster(*theirs, m->hubs.front());
  auto members = theirs->list(kNodesPrefix);
  if (!target || !members || target->id != m->cluster->id) return std::nullopt;
  target->size = static_cast<int>(members->size());
  ClusterInfo mine = *own;
  mine.size = size();
  if (!betterCluster(*target, mine)) return std::nullopt;
  return m;
}

void Membership::checkMerge(TimePoint now) {
  auto m = betterTarget(now);
  if (!m) return;
  if (!admins_) {
    dissolveInto(*m, now);
    return;
  }
  // The leader orders the whole cluster (hubs included) to follow; it follows with the others.
  if (merge_order_) return;  // one order at a time
  json order = {{"cluster", clusterJson(*m->cluster)}, {"hubs", m->hubs}, {"reason", m->reason}};
  if (auto st = kv_->put(kMergeKey, order.dump()); !st) {
    logger("leader")->warn("cannot order the merge: {}", st.error().message);
    return;
  }
  event("info", "cluster.merging", m->reason);
}

// Leaves this cluster for `m`: the lease revoked, this node's etcd (if any) dissolved, then join.
void Membership::dissolveInto(const FormationDecision& m, TimePoint now) {
  event("info", "cluster.dissolving", m.reason);
  if (kv_ && lease_ != 0) (void)kv_->revokeLease(lease_);
  if (status().hub || hub_.running())
    if (auto d = hub_.dissolve(); !d) event("warn", "cluster.dissolve", "etcd: " + d.error().message);
  becomeDiscovering(m.reason, now);
  if (auto j = join(m, now); !j) event("warn", "cluster.join_failed", "after dissolving: " + j.error().message);
}

// The leader's merge order, read by every node: members go at once; hubs wait a moment so that
// the members can still read it from them.
void Membership::followMerge(TimePoint now) {
  if (!merge_order_) return;
  auto own = status().cluster;
  if (!own || merge_order_->cluster->id == own->id) return;
  if (status().hub && now - merge_seen_ < options_.refresh_interval * 2) return;
  FormationDecision m = *merge_order_;
  merge_order_.reset();
  // Still better, read from its own store (an order can be stale: two leaders that counted at
  // different moments, or a target that dissolved meanwhile). A stale order is dropped.
  KvStorePtr theirs = stores_(m.hubs);
  auto target = readCluster(*theirs, m.hubs.front());
  auto members = theirs->list(kNodesPrefix);
  ClusterInfo mine = *own;
  mine.size = size();
  if (!target || !members || target->id != m.cluster->id ||
      (target->size = static_cast<int>(members->size()), !betterCluster(*target, mine))) {
    if (isLeader()) (void)kv_->remove(kMergeKey);
    return;
  }
  dissolveInto(m, now);
}

// Most of the hubs of `own` answering as members of one other cluster: they dissolved into it
// (a merge order this node could not read).
std::optional<FormationDecision> Membership::followHubs(const ClusterInfo& own,
                                                        const std::vector<ProbeAnswer>& answers) const {
  std::map<std::string, int> moved;  // cluster id -> hubs of `own` now in it
  std::map<std::string, const ProbeAnswer*> any;
  const auto records = status().hub_records;  // one snapshot, not a status copy per answer
  size_t hubs = records.size();
  for (const auto& a : answers) {
    if (!a.cluster || a.cluster->id == own.id || !records.count(a.node_id)) continue;
    ++moved[a.cluster->id];
    any[a.cluster->id] = &a;
  }
  for (const auto& [id, count] : moved) {
    if (static_cast<size_t>(count) * 2 <= hubs || ignored_until_.contains(id)) continue;
    FormationDecision d;
    d.kind = FormationKind::kJoin;
    d.cluster = any[id]->cluster;
    d.hubs = any[id]->hubs;
    d.reason = std::to_string(count) + " of the " + std::to_string(hubs) + " hubs of cluster " + own.id +
               " are now in cluster " + id + ": following them";
    return d;
  }
  return std::nullopt;
}

// The origin of `own` answering as a member of another cluster: it dissolved into that one.
std::optional<FormationDecision> Membership::followOrigin(const ClusterInfo& own,
                                                          const std::vector<ProbeAnswer>& answers) const {
  for (const auto& a : answers) {
    if (a.node_id != own.origin || !a.cluster || a.cluster->id == own.id || ignored_until_.contains(a.cluster->id))
      continue;
    FormationDecision d;
    d.kind = FormationKind::kJoin;
    d.cluster = a.cluster;
    d.hubs = a.hubs;
    d.reason = "the origin " + own.origin + " moved to cluster " + a.cluster->id + ": following it";
    return d;
  }
  return std::nullopt;
}

TimePoint Membership::stay(TimePoint now) {
  TimePoint next = now + options_.refresh_interval;
  Status st = ok();
  if (now >= next_keepalive_) {
    st = kv_->keepAlive(lease_);
    if (!st && st.error().code == ErrorCode::kNotFound) {
      event("warn", "cluster.lease_lost", "lease " + std::to_string(lease_) + " expired: registering again");
      quiet_until_ = now + options_.lease_ttl;
      st = registerAgain(now);
    } else if (st) {
      next_keepalive_ = now + options_.lease_ttl / 3;
    }
  }
  const bool publish_leave = leaving_ && !leave_published_;  // beginLeave() from another thread
  bool publish_ready;
  {
    std::lock_guard lock(mu_);
    publish_ready = ready_changed_;
    ready_changed_ = false;  // a change from now on is published next time
  }
  if (st && (now >= next_refresh_ || publish_leave || publish_ready)) {
    st = kv_->put(kNodesPrefix + options_.node_id, memberToJson(selfRecord(now)), lease_);
    if (!st && st.error().code == ErrorCode::kNotFound) st = registerAgain(now);
    if (st) {
      next_refresh_ = now + options_.facts_interval;
      if (publish_leave) leave_published_ = true;
    }
  }
  if (!st && publish_ready) {
    std::lock_guard lock(mu_);
    ready_changed_ = true;
  }
  if (st) st = refresh();
  if (!st && st.error().code == ErrorCode::kConflict && dropForeignEndpoints()) st = refresh();
  if (st) shareHead();
  if (st && admins_) {
    followHubRecord(now);
    updateEndpoints();
    lead(now);
  }
  bool hub = status().hub;
  if (st) {
    store_failures_ = 0;
    last_store_ok_ = now;
    {
      std::lock_guard lock(mu_);
      if (status_.reason.starts_with("store unreachable")) status_.reason.clear();
    }
    if (admins_) {
      if (isLeader() && now >= next_merge_check_) checkMerge(now);
      followMerge(now);
    } else if (hub && now >= next_merge_check_) {
      checkMerge(now);
    }
    return std::min(next, next_keepalive_);
  }

  ++store_failures_;
  {
    std::lock_guard lock(mu_);
    status_.reason = "store unreachable (" + std::to_string(store_failures_) + "): " + st.error().message;
  }
  logger("cluster")->warn("store unreachable ({} in a row): {}", store_failures_, st.error().message);
  // Several hubs: the quorum is lost or this node is cut off. Keep what runs and never give the
  // cluster up; by the spec's quorum_loss, wait for the hubs or, after recover_after, let the most
  // up-to-date hub that is left restart etcd on its own. Still follow a merge seen by probing.
  const bool several = admins_ && multiHub();
  if (several && hub) tryRecover(now);
  if (!several && hub && now - last_store_ok_ > options_.lease_ttl * 6) {
    // Its own etcd has not answered for 6 TTLs (the supervisor keeps restarting it): stop
    // claiming the cluster. The data stays; the members have given up on it by now.
    event("error", "cluster.given_up", "this hub's etcd has not answered for " +
                                           formatDuration(now - last_store_ok_) + ": looking for a cluster again");
    hub_.stop();
    becomeDiscovering("this hub's etcd is unreachable", now);
    return next;
  }
  if ((hub && !several) || store_failures_ < 3) return next;
  // A member that lost its hubs: ask discovery where they are now, and whether a better cluster
  // took them (its hub dissolved into it).
  auto own = status().cluster;
  auto answers = probeRound(nullptr);
  if (own) {
    auto m = mergeTarget(*own, answers, ignored(now));
    if (!m) m = followOrigin(*own, answers);
    if (!m && several) m = followHubs(*own, answers);
    if (m) {
      event("info", "cluster.following", m->reason);
      dissolveInto(*m, now);
      return next;
    }
    std::vector<std::string> hubs = hubsOf(answers, own->id);
    if (!hubs.empty() && hubs != status().hubs) {
      KvStorePtr kv = stores_(hubs);
      auto info = readCluster(*kv, hubs.front());
      if (info && info->id == own->id) {
        kv_ = std::move(kv);
        kv_endpoints_ = hubs;
        {
          std::lock_guard lock(mu_);
          status_.hubs = hubs;
        }
        event("info", "cluster.hubs_moved", "the hubs are now at " + hubs.front());
        next_keepalive_ = now;
        remember();
        return now;
      }
    }
  }
  // With several hubs a node gives up only when no voter of its cluster answers any more and it
  // is no voter itself (a voter keeps its copy of the data for the quorum to come back; a
  // learner's copy is no vote).
  const auto records = status().hub_records;
  auto isVoter = [&](const std::string& id) {
    auto r = records.find(id);
    return r != records.end() && r->second.voter;
  };
  bool no_voter_answers = std::none_of(answers.begin(), answers.end(), [&](const ProbeAnswer& a) {
    return own && a.cluster && a.cluster->id == own->id && isVoter(a.node_id);
  });
  // A running voter never gives up: cut off alone, it can't tell a partition from the others
  // being gone, and its data is a vote the quorum may need (a voter that gave up after a long
  // partition held its vote for 6 TTLs, then originated over it: its old cluster, waiting for it,
  // never had its quorum back; partition seed 2176 beyond the CI range).
  bool voter = isVoter(options_.node_id) && hub_.running();
  bool may_give_up = !several || (no_voter_answers && !voter);
  if (may_give_up && now - last_store_ok_ > options_.lease_ttl * 6) {
    event("warn", "cluster.given_up", "no hub reached for " + formatDuration(now - last_store_ok_) +
                                          ": looking for a cluster again");
    if (several && status().hub) hub_.stop();
    becomeDiscovering("hubs unreachable", now);
  }
  return next;
}

// One checker per cluster: whoever holds the key under a live lease. When it leaves or its lease
// expires, the key goes with it and the next member to try takes it.
bool Membership::elect(const char* key, std::optional<std::string>& seen) {
  if (!seen) {
    KeyValue current;
    auto created = kv_->putIfAbsent(key, options_.node_id, lease_, &current);
    if (!created) return false;
    seen = *created ? options_.node_id : current.value;
  }
  return *seen == options_.node_id;
}

void Membership::shareHead() {
  bool checker = elect(kCheckerKey, seen_checker_);
  std::string offered, known;
  {
    std::lock_guard lock(mu_);
    if (checker && !checker_) logger("cluster")->info("checking the spec repo's head for the cluster");
    checker_ = checker;
    offered = offered_head_;
    known = published_head_;
  }
  if (!checker || offered.empty() || offered == known) return;
  if (!kv_->put(kHeadKey, offered)) return;
  std::lock_guard lock(mu_);
  published_head_ = offered;
}

bool Membership::isChecker() const {
  std::lock_guard lock(mu_);
  return status_.phase == Phase::kMember && checker_;
}

void Membership::offerHead(const std::string& commit) {
  std::lock_guard lock(mu_);
  offered_head_ = commit;
}

std::string Membership::publishedHead() const {
  std::lock_guard lock(mu_);
  return status_.phase == Phase::kMember ? published_head_ : "";
}

void Membership::beginLeave() {
  if (leaving_.exchange(true)) return;
  {
    std::lock_guard lock(mu_);
    for (const auto& [app, p] : status_.placements)
      if (p.nodes.count(options_.node_id)) handed_over_.insert(app);
    for (const auto& [app, n] : ready_)
      if (n > 0) handed_over_.insert(app);
  }
  event("info", "cluster.leaving", "shutting down: handing roles and replicas over");
}

void Membership::setReady(std::map<std::string, int> ready) {
  std::lock_guard lock(mu_);
  if (ready == ready_) return;
  ready_ = std::move(ready);
  ready_changed_ = true;
}

// Ready when no other node needs anything from this one (or it is the only node): no replica placed
// on it, no hub record, and the replicas it ran healthy where they were placed instead.
bool Membership::readyToLeave() const {
  std::lock_guard lock(mu_);
  if (status_.phase != Phase::kMember || !admins_) return true;
  if (status_.members.size() <= 1) return true;
  for (const auto& [app, p] : status_.placements)
    if (p.nodes.count(options_.node_id)) return false;
  if (status_.hub && status_.hub_records.count(options_.node_id)) return false;
  // The replicas it ran are healthy where the leader placed them (as their nodes report).
  std::map<std::string, const MemberRecord*> by_id;
  for (const auto& m : status_.members) by_id[m.id] = &m;
  for (const auto& app : handed_over_) {
    auto p = status_.placements.find(app);
    if (p == status_.placements.end()) continue;  // no longer in the spec
    for (const auto& [node, want] : p->second.nodes) {
      auto m = by_id.find(node);
      if (m == by_id.end()) return false;
      auto r = m->second->ready.find(app);
      if (r == m->second->ready.end() || r->second < want) return false;
    }
  }
  return true;
}

void Membership::leave() {
  bool member, hub;
  {
    std::lock_guard lock(mu_);
    member = status_.phase == Phase::kMember;
    hub = status_.hub;
  }
  if (member && hub && admins_ && kv_) leaveHubs();
  if (member && kv_ && lease_ != 0) {
    if (auto st = kv_->revokeLease(lease_); !st)
      logger("cluster")->warn("leaving: cannot revoke lease {}: {}", lease_, st.error().message);
    else
      event("info", "cluster.left", "left the cluster (lease revoked)");
  }
  if (hub) hub_.stop();
  kv_.reset();
}

// ---- roles and placement

void Membership::enableControl(AdminFactory admins, SpecProvider spec, ControllerOptions options) {
  admins_ = std::move(admins);
  spec_ = std::move(spec);
  controller_ = std::make_unique<Controller>(
      options, [this](const std::string& level, const std::string& kind, const std::string& message) {
        if (events_) events_(level, kind, message);
      });
}

bool Membership::multiHub() const {
  std::lock_guard lock(mu_);
  return status_.hub_records.size() > 1;
}

// Runs etcd while the leader lists this node as a hub; stops it and deletes its data once the
// record is gone (demoted, or removed while it was away), or names another etcd member.
void Membership::followHubRecord(TimePoint now) {
  std::optional<HubRecord> mine;
  bool any, hub;
  {
    std::lock_guard lock(mu_);
    auto it = status_.hub_records.find(options_.node_id);
    if (it != status_.hub_records.end()) mine = it->second;
    any = !status_.hub_records.empty();
    hub = status_.hub;
  }
  if (mine && hub && hub_member_id_ == 0) hub_member_id_ = mine->member_id;  // originated, or back from its data
  if (mine && hub && mine->member_id != 0 && mine->member_id != hub_member_id_) {
    // The leader removed this node's member and added it again as a learner between two reads
    // (its own etcd, say, while it led: the record's removal failed with it, and the next round
    // dropped the record and added the node back). The etcd here is the removed member, stopped
    // for good: it can only join afresh as the new one.
    if (auto st = hub_.dissolve(); !st) logger("cluster")->warn("etcd: {}", st.error().message);
    {
      std::lock_guard lock(mu_);
      status_.hub = false;
      std::erase(status_.hubs, hub_.clientUrl());
    }
    updateEndpoints();
    event("info", "hub.readded",
          "the leader removed this node's etcd member and added it again as member " + std::to_string(mine->member_id) +
              ": its data is deleted and it joins as the new member");
    hub = false;
  }
  if (mine && !hub) {
    Status st = ok();
    if (!hub_.running()) {
      if (mine->voter && hub_.hasData()) {
        st = hub_.start();
      } else {
        if (hub_.hasData()) (void)hub_.dissolve();  // an old member's data: it must join afresh
        st = hub_.join(mine->initial_cluster);
      }
    }
    if (!st) {
      event("warn", "hub.start_failed", "the leader made this node a hub but etcd does not start: " + st.error().message);
      return;
    }
    {
      std::lock_guard lock(mu_);
      status_.hub = true;
    }
    hub_member_id_ = mine->member_id;
    (void)kv_->put(kNodesPrefix + options_.node_id, memberToJson(selfRecord(now)), lease_);
    event("info", "hub.started", "this node now runs an etcd member of the cluster (" +
                                     std::string(mine->voter ? "voter" : "learner, catching up") + ")");
  } else if (!mine && hub && any) {
    if (auto st = hub_.dissolve(); !st) logger("cluster")->warn("etcd: {}", st.error().message);
    {
      std::lock_guard lock(mu_);
      status_.hub = false;
      std::erase(status_.hubs, hub_.clientUrl());
    }
    hub_member_id_ = 0;
    updateEndpoints();
    (void)kv_->put(kNodesPrefix + options_.node_id, memberToJson(selfRecord(now)), lease_);
    event("info", "hub.released", "no longer a hub: etcd stopped and its data deleted");
  }
}

// The store client follows the hubs: this node's own etcd first when it runs one.
void Membership::updateEndpoints() {
  std::vector<std::string> want;
  MembershipStatus s = status();
  if (s.hub && hub_.running()) want.push_back(hub_.localUrl());
  for (const auto& h : s.hubs)
    if (h != hub_.clientUrl() && std::find(want.begin(), want.end(), h) == want.end()) want.push_back(h);
  if (want.empty() || want == kv_endpoints_) return;
  kv_ = stores_(want);
  kv_endpoints_ = want;
}

void Membership::lead(TimePoint now) {
  // The store is back after an outage long enough for keepalives to have been missed.
  if (store_failures_ > 0 && now - last_store_ok_ >= options_.lease_ttl / 3) quiet_until_ = now + options_.lease_ttl;
  bool leader = elect(kLeaderKey, seen_leader_);
  if (!leader || now < next_lead_) return;
  if (now < quiet_until_) {
    if (!quiet_logged_)
      logger("leader")->info("the store is back: waiting {} for the members to register again before deciding",
                             formatDuration(quiet_until_ - now));
    quiet_logged_ = true;
    return;
  }
  quiet_logged_ = false;
  next_lead_ = now + options_.leader_interval;
  ClusterState state;
  {
    std::lock_guard lock(mu_);
    if (!status_.cluster) return;
    state.self = options_.node_id;
    state.cluster = *status_.cluster;
    state.members = status_.members;
    state.hubs = status_.hub_records;
    state.roles = status_.roles;
    state.placements = status_.placements;
  }
  auto spec = spec_ ? spec_() : nullptr;
  auto admin = admins_(kv_endpoints_);
  if (auto st = controller_->round(*kv_, *admin, state, spec.get(), now); !st)
    logger("leader")->warn("round: {}", st.error().message);
}

// Quorum lost: under `quorum_loss: {recover_after}`, once the store has failed that long, the hubs
// still answering compare their raft index; the most up-to-date (then the lowest id) restarts etcd
// alone from its data. The others find it through their endpoints and are released by its leader.
void Membership::tryRecover(TimePoint now) {
  auto spec = spec_ ? spec_() : nullptr;
  if (!spec || spec->cluster.quorum_loss != QuorumLoss::kRecover) return;
  if (now - last_store_ok_ < spec->cluster.recover_after || now < next_recover_) return;
  next_recover_ = now + kRecoverRetry;
  MembershipStatus s = status();
  // Voters only: a learner's data may lag behind what the voters committed.
  auto mine = s.hub_records.find(options_.node_id);
  if (mine == s.hub_records.end() || !mine->second.voter) return;
  std::map<std::string, std::string> url_of;  // voter node id -> client URL
  for (const auto& m : s.members) {
    auto rec = s.hub_records.find(m.id);
    if (rec != s.hub_records.end() && rec->second.voter && !m.etcd_url.empty()) url_of[m.id] = m.etcd_url;
  }
  url_of[options_.node_id] = hub_.localUrl();
  auto admin = admins_({hub_.localUrl()});
  std::string best;
  int64_t best_index = -1;
  std::string compared;
  for (const auto& [node, url] : url_of) {
    auto st = admin->status(url);
    if (!st) continue;
    compared += (compared.empty() ? "" : ", ") + node.substr(0, 12) + " index " + std::to_string(st->raft_index);
    if (st->raft_index > best_index) {  // ties: the lowest id (map order) stays
      best_index = st->raft_index;
      best = node;
    }
  }
  if (best != options_.node_id) {
    logger("cluster")->info("quorum lost; {} should recover the cluster ({})", best.empty() ? "nobody" : best, compared);
    return;
  }
  if (auto st = hub_.recover(); !st) {
    event("error", "hub.recover_failed", st.error().message);
    return;
  }
  event("warn", "hub.recovered",
        "quorum lost for " + formatDuration(now - last_store_ok_) +
            ": this hub restarted etcd as a one-member cluster from its data (" + compared + ")");
  kv_ = stores_({hub_.localUrl()});
  kv_endpoints_ = {hub_.localUrl()};
  next_keepalive_ = now;
}

// A hub leaving on SIGTERM takes itself out of the voters first, through the other hubs, so the
// cluster never counts a voter that is gone. The last voter keeps its data (it comes back as hub).
void Membership::leaveHubs() {
  std::vector<std::string> others;
  for (const auto& e : kv_endpoints_)
    if (e != hub_.localUrl()) others.push_back(e);
  if (others.empty()) return;
  auto admin = admins_(others);
  auto members = admin->members();
  if (!members) return;
  // Only when another voter stays: a learner alone holds no quorum, and the last voter keeps its
  // data (it comes back as the hub).
  bool other_voter = std::any_of(members->begin(), members->end(),
                                 [&](const EtcdMember& m) { return !m.learner && m.name != options_.node_id; });
  if (!other_voter) return;
  for (const auto& m : *members) {
    if (m.name != options_.node_id) continue;
    // etcd refuses membership changes for 5 s after one ("unhealthy cluster"): retry a while,
    // since leaving the voters later is not possible (a gone voter counts against the quorum).
    Status st = admin->remove(m.id);
    for (int i = 0; i < 12 && !st && st.error().message.find("unhealthy cluster") != std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      st = admin->remove(m.id);
    }
    if (!st) {
      logger("cluster")->warn("leaving: cannot leave the etcd voters: {}", st.error().message);
      return;
    }
    (void)stores_(others)->remove(kHubsPrefix + options_.node_id);
    if (auto st = hub_.dissolve(); !st) logger("cluster")->warn("etcd: {}", st.error().message);
    {
      std::lock_guard lock(mu_);
      status_.hub = false;
    }
    kv_ = stores_(others);
    kv_endpoints_ = others;
    event("info", "hub.left", "left the etcd voters before exiting");
    return;
  }
}

bool Membership::isLeader() const {
  std::lock_guard lock(mu_);
  return status_.phase == Phase::kMember && status_.leader == options_.node_id;
}

bool Membership::placesApps() const { return admins_ != nullptr; }

std::optional<int> Membership::placed(const std::string& app) const {
  std::lock_guard lock(mu_);
  if (status_.phase != Phase::kMember) return std::nullopt;
  auto it = status_.placements.find(app);
  if (it == status_.placements.end()) return std::nullopt;
  auto n = it->second.nodes.find(options_.node_id);
  return n == it->second.nodes.end() ? 0 : n->second;
}

// ---- read side

ProbeAnswer Membership::answer() const {
  std::lock_guard lock(mu_);
  ProbeAnswer a;
  a.address = hostPort(options_.advertise, options_.peer_port);
  a.node_id = options_.node_id;
  if (status_.phase == Phase::kMember) {
    a.cluster = status_.cluster;
    a.hubs = status_.hubs;
  }
  return a;
}

MembershipStatus Membership::status() const {
  std::lock_guard lock(mu_);
  MembershipStatus s = status_;
  s.checker = status_.phase == Phase::kMember && checker_;
  return s;
}

int Membership::size() const {
  std::lock_guard lock(mu_);
  return status_.phase == Phase::kMember ? static_cast<int>(status_.members.size()) : 0;
}

bool Membership::settled() const {
  std::lock_guard lock(mu_);
  return status_.phase == Phase::kMember;
}

bool Membership::isOrigin() const {
  std::lock_guard lock(mu_);
  return status_.phase == Phase::kMember && status_.hub;
}

}  // namespace shoal
