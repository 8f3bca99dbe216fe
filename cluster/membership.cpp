#include "cluster/membership.h"

#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cluster/pki.h"
#include "common/duration.h"
#include "common/log.h"

namespace shoal {

using nlohmann::json;

namespace {

constexpr const char* kClusterKey = "/shoal/cluster";
constexpr const char* kNodesPrefix = "/shoal/nodes/";
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

}  // namespace

NodeFacts readFacts(const std::string& data_dir, TimePoint started, TimePoint now) {
  NodeFacts f;
  f.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  struct sysinfo si {};
  if (sysinfo(&si) == 0) f.memory_bytes = static_cast<int64_t>(si.totalram) * si.mem_unit;
  struct statvfs vfs {};
  if (statvfs(data_dir.c_str(), &vfs) == 0) {
    f.disk_free_bytes = static_cast<int64_t>(vfs.f_bavail) * static_cast<int64_t>(vfs.f_frsize);
    f.disk_total_bytes = static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize);
  }
  f.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(now - started).count();
  return f;
}

std::string memberToJson(const MemberRecord& m) {
  json facts = {{"cpus", m.facts.cpus},
                {"memory_bytes", m.facts.memory_bytes},
                {"disk_free_bytes", m.facts.disk_free_bytes},
                {"disk_total_bytes", m.facts.disk_total_bytes},
                {"uptime_s", m.facts.uptime_s},
                {"version", m.facts.version},
                {"labels", m.facts.labels}};
  json addresses = {{"peer", m.peer_address}, {"api", m.api_address}};
  if (!m.etcd_url.empty()) addresses["etcd"] = m.etcd_url;
  return json{{"id", m.id},         {"name", m.name},   {"hub", m.hub},
              {"addresses", addresses}, {"facts", facts}, {"registered_at", m.registered_at}}
      .dump();
}

std::optional<MemberRecord> memberFromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return std::nullopt;
  try {
    MemberRecord m;
    m.id = j["id"];
    m.name = j.value("name", "");
    m.hub = j.value("hub", false);
    if (j.contains("addresses")) {
      const auto& a = j["addresses"];
      m.peer_address = a.value("peer", "");
      m.api_address = a.value("api", "");
      m.etcd_url = a.value("etcd", "");
    }
    if (j.contains("facts")) {
      const auto& f = j["facts"];
      m.facts.cpus = f.value("cpus", 0);
      m.facts.memory_bytes = f.value("memory_bytes", int64_t{0});
      m.facts.disk_free_bytes = f.value("disk_free_bytes", int64_t{0});
      m.facts.disk_total_bytes = f.value("disk_total_bytes", int64_t{0});
      m.facts.uptime_s = f.value("uptime_s", int64_t{0});
      m.facts.version = f.value("version", "");
      if (f.contains("labels")) m.facts.labels = f["labels"].get<std::map<std::string, std::string>>();
    }
    m.registered_at = j.value("registered_at", int64_t{0});
    return m;
  } catch (const json::exception&) {
    return std::nullopt;
  }
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
    if (auto st = hub_.start(); !st) {
      event("error", "cluster.return_failed", "etcd data present but etcd does not start: " + st.error().message);
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
  auto text = pki::readFile(options_.data_dir + "/membership.json", "membership memory");
  if (!text) return false;
  auto j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("cluster") || !j.contains("hubs")) return false;
  std::optional<ClusterInfo> cluster;
  std::vector<std::string> hubs;
  try {
    cluster = clusterFromJson(j["cluster"].dump());
    hubs = j["hubs"].get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    logger("cluster")->warn("{}/membership.json is not valid ({}): discovering", options_.data_dir, e.what());
    return false;
  }
  if (!cluster || hubs.empty()) return false;
  if (auto st = connect(hubs, cluster->id, false, now); !st) {
    logger("cluster")->info("remembered cluster {} not reachable ({}); discovering", cluster->id, st.error().message);
    return false;
  }
  event("info", "cluster.rejoined", "rejoined cluster " + cluster->id + " through its remembered hubs");
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

TimePoint Membership::discover(TimePoint now) {
  auto answers = probeRound(nullptr);
  FormationDecision d = formation_->step(answers, now, ignored(now));
  {
    std::lock_guard lock(mu_);
    status_.reason = d.reason;
  }
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
  ClusterInfo info{randomId(), options_.cluster_name, ms(now), options_.node_id, 1};
  KeyValue current;
  auto created = kv->putIfAbsent(kClusterKey, clusterJson(info).dump(), 0, &current);
  if (!created) return fail(created.error().code, "writing the cluster record: " + created.error().message);
  if (auto st = connect({hub_.localUrl()}, std::nullopt, true, now); !st) return st;
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
  m.facts = readFacts(options_.data_dir, started_, now);
  m.facts.version = options_.version;
  m.facts.labels = options_.labels;
  std::lock_guard lock(mu_);
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
  auto list = kv_->list("/shoal/");
  if (!list) return std::unexpected(list.error());
  std::vector<MemberRecord> members;
  std::vector<std::string> hubs;
  std::optional<std::string> checker, head;
  LeaseId checker_lease = 0;
  for (const auto& kv : *list) {
    if (kv.key == kCheckerKey) {
      checker = kv.value;
      checker_lease = kv.lease;
    } else if (kv.key == kHeadKey) {
      head = kv.value;
    } else if (kv.key.starts_with(kNodesPrefix)) {
      if (auto m = memberFromJson(kv.value)) {
        if (m->hub && !m->etcd_url.empty()) hubs.push_back(m->etcd_url);
        members.push_back(std::move(*m));
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    status_.members = std::move(members);
    if (!hubs.empty()) status_.hubs = std::move(hubs);
    if (status_.cluster) status_.cluster->size = static_cast<int>(status_.members.size());
    if (head) published_head_ = *head;
  }
  seen_checker_ = checker;
  // Ours, but under the lease of a previous run (restarted within the TTL): bind it to this one,
  // or it would vanish with the old lease and hand the checking over for nothing.
  if (checker && *checker == options_.node_id && checker_lease != lease_) {
    if (auto st = kv_->put(kCheckerKey, options_.node_id, lease_); !st) return st;
  }
  return ok();
}

void Membership::remember() {
  MembershipStatus s = status();
  if (!s.cluster) return;
  json j = {{"cluster", clusterJson(*s.cluster)}, {"hubs", s.hubs}};
  if (auto st = pki::writeFileAtomic(options_.data_dir + "/membership.json", j.dump(2) + "\n", 0644); !st)
    logger("cluster")->warn("cannot remember the cluster: {}", st.error().message);
}

void Membership::becomeDiscovering(const std::string& reason, TimePoint now) {
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
void Membership::checkMerge(TimePoint now) {
  next_merge_check_ = now + std::max(options_.merge_interval, options_.formation.stable_for);
  auto own = status().cluster;
  if (!own) return;
  auto m = mergeTarget(*own, probeRound(nullptr), ignored(now));
  if (!m) return;
  KvStorePtr theirs = stores_(m->hubs);
  auto target = readCluster(*theirs, m->hubs.front());
  auto members = theirs->list(kNodesPrefix);
  if (!target || !members || target->id != m->cluster->id) return;
  target->size = static_cast<int>(members->size());
  ClusterInfo mine = *own;
  mine.size = size();
  if (!betterCluster(*target, mine)) return;
  event("info", "cluster.dissolving", m->reason);
  (void)kv_->revokeLease(lease_);
  if (auto d = hub_.dissolve(); !d) event("warn", "cluster.dissolve", "etcd: " + d.error().message);
  becomeDiscovering(m->reason, now);
  if (auto j = join(*m, now); !j) event("warn", "cluster.join_failed", "after dissolving: " + j.error().message);
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
      st = registerSelf(now);
    } else if (st) {
      next_keepalive_ = now + options_.lease_ttl / 3;
    }
  }
  if (st && now >= next_refresh_) {
    st = kv_->put(kNodesPrefix + options_.node_id, memberToJson(selfRecord(now)), lease_);
    if (!st && st.error().code == ErrorCode::kNotFound) st = registerSelf(now);
    if (st) next_refresh_ = now + options_.facts_interval;
  }
  if (st) st = refresh();
  if (st) shareHead();
  bool hub = status().hub;
  if (st) {
    store_failures_ = 0;
    last_store_ok_ = now;
    if (hub && now >= next_merge_check_) checkMerge(now);
    return std::min(next, next_keepalive_);
  }

  ++store_failures_;
  {
    std::lock_guard lock(mu_);
    status_.reason = "store unreachable (" + std::to_string(store_failures_) + "): " + st.error().message;
  }
  logger("cluster")->warn("store unreachable ({} in a row): {}", store_failures_, st.error().message);
  if (hub && now - last_store_ok_ > options_.lease_ttl * 6) {
    // Its own etcd has not answered for 6 TTLs (the supervisor keeps restarting it): stop
    // claiming the cluster. The data stays; the members have given up on it by now.
    event("error", "cluster.given_up", "this hub's etcd has not answered for " +
                                           formatDuration(now - last_store_ok_) + ": looking for a cluster again");
    hub_.stop();
    becomeDiscovering("this hub's etcd is unreachable", now);
    return next;
  }
  if (hub || store_failures_ < 3) return next;
  // A member that lost its hubs: ask discovery where they are now, and whether a better cluster
  // took them (its hub dissolved into it).
  auto own = status().cluster;
  auto answers = probeRound(nullptr);
  if (own) {
    auto m = mergeTarget(*own, answers, ignored(now));
    if (!m) m = followOrigin(*own, answers);
    if (m) {
      event("info", "cluster.following", m->reason);
      becomeDiscovering(m->reason, now);
      if (auto j = join(*m, now); !j) event("warn", "cluster.join_failed", j.error().message);
      return next;
    }
    std::vector<std::string> hubs = hubsOf(answers, own->id);
    if (!hubs.empty() && hubs != status().hubs) {
      KvStorePtr kv = stores_(hubs);
      auto info = readCluster(*kv, hubs.front());
      if (info && info->id == own->id) {
        kv_ = std::move(kv);
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
  if (now - last_store_ok_ > options_.lease_ttl * 6) {
    event("warn", "cluster.given_up", "no hub reached for " + formatDuration(now - last_store_ok_) +
                                          ": looking for a cluster again");
    becomeDiscovering("hubs unreachable", now);
  }
  return next;
}

// One checker per cluster: whoever holds the key under a live lease. When it leaves or its lease
// expires, the key goes with it and the next member to try takes it.
void Membership::shareHead() {
  bool checker = seen_checker_ && *seen_checker_ == options_.node_id;
  if (!seen_checker_) {
    KeyValue current;
    auto created = kv_->putIfAbsent(kCheckerKey, options_.node_id, lease_, &current);
    if (!created) return;
    checker = *created || current.value == options_.node_id;
    seen_checker_ = checker ? options_.node_id : current.value;
  }
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

void Membership::leave() {
  bool member, hub;
  {
    std::lock_guard lock(mu_);
    member = status_.phase == Phase::kMember;
    hub = status_.hub;
  }
  if (member && kv_ && lease_ != 0) {
    if (auto st = kv_->revokeLease(lease_); !st)
      logger("cluster")->warn("leaving: cannot revoke lease {}: {}", lease_, st.error().message);
    else
      event("info", "cluster.left", "left the cluster (lease revoked)");
  }
  if (hub) hub_.stop();
  kv_.reset();
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
