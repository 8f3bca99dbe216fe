#include "node/node.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <filesystem>

#include "builder/docker_builder.h"
#include "cluster/etcd_admin.h"
#include "cluster/etcd_hub.h"
#include "cluster/etcd_kv.h"
#include "cluster/prober.h"
#include "cluster/shared_head_source.h"
#include "common/log.h"
#include "gitops/git_source.h"
#include "reconcile/desired.h"
#include "reconcile/sqlite_store.h"
#include "runtime/docker_runtime.h"
#include "runtime/fake_runtime.h"

namespace shoal {

namespace fs = std::filesystem;

namespace {

// The first IPv4 address of an interface that is up and not loopback (a container's eth0), else
// 127.0.0.1.
std::string detectAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found;
  for (ifaddrs* i = list; i && found.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    char buf[INET_ADDRSTRLEN];
    auto* in = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) found = buf;
  }
  freeifaddrs(list);
  return found.empty() ? "127.0.0.1" : found;
}

DiscoveryConfig discoveryConfig(const NodeConfig& config) {
  DiscoveryConfig d;
  d.timeout = config.discovery.timeout;
  int i = 0;
  for (const auto& s : config.discovery.sources) {
    DiscoverySourceConfig c;
    if (s.kind == "static") c.kind = DiscoveryKind::kStatic;
    else if (s.kind == "url") c.kind = DiscoveryKind::kUrl;
    else if (s.kind == "dns") c.kind = DiscoveryKind::kDns;
    else c.kind = DiscoveryKind::kGit;
    c.addresses = s.addresses;
    c.url = s.url;
    c.ca_file = s.ca_file;
    c.name = s.name;
    c.port = s.port;
    c.server = s.server;
    c.repo = s.repo;
    c.path = s.path;
    c.branch = s.branch;
    c.token_file = s.token_file;
    c.publish = s.publish;
    c.mirror_dir = config.data_dir + "/discovery-" + std::to_string(i++) + ".git";
    d.sources.push_back(std::move(c));
  }
  return d;
}

ApiResponse peerRoute(const ApiRequest& request, const Membership& membership) {
  std::string path = request.target.substr(0, request.target.find('?'));
  if (path != "/v1/cluster") return errorResponse(404, "no such path: " + path);
  if (request.method != "GET") return errorResponse(405, "use GET");
  return ApiResponse{200, "application/json", answerToJson(membership.answer()), {}};
}

// How long a stopping node waits for the leader to hand its hub role and replicas over. A sole hub
// leaving needs a learner added, promoted and itself removed, and etcd 3.4 refuses membership
// changes for 5 s after one: give node containers `--stop-timeout 40` (docker's default, 10 s,
// cuts the handover short; the node then leaves the voters itself if another voter stays).
constexpr std::chrono::milliseconds kHandoverTimeout{30000};

// Builds discovery, the prober, the etcd hub, membership and the peer endpoint.
Status buildCluster(NodeContext& ctx) {
  const NodeConfig& config = ctx.config;
  auto sources = makeDiscoverySources(discoveryConfig(config));
  if (!sources) return fail(sources.error().code, "discovery: " + sources.error().message);

  ctx.prober = std::make_unique<HttpsProber>(
      HttpsProber::Options{ctx.identity.cert_file, ctx.identity.key_file, config.tls.cluster_ca_cert});

  EtcdProcessOptions etcd;
  etcd.binary = config.cluster.etcd.binary;
  etcd.name = ctx.identity.node_id;
  etcd.data_dir = config.data_dir + "/etcd";
  etcd.listen_host = config.cluster.listen;
  etcd.advertise_host = ctx.advertise;
  etcd.client_port = config.cluster.etcd.client_port;
  etcd.peer_port = config.cluster.etcd.peer_port;
  etcd.cert_file = ctx.identity.cert_file;
  etcd.key_file = ctx.identity.key_file;
  etcd.trusted_ca_file = config.tls.cluster_ca_cert;
  etcd.log_file = config.data_dir + "/etcd.log";
  ctx.hub = std::make_unique<EtcdHub>(etcd);

  std::string cert = ctx.identity.cert_file, key = ctx.identity.key_file, ca = config.tls.cluster_ca_cert;
  StoreFactory stores = [cert, key, ca](const std::vector<std::string>& endpoints) -> KvStorePtr {
    EtcdKvOptions o;
    o.endpoints = endpoints;
    o.cert_file = cert;
    o.key_file = key;
    o.ca_file = ca;
    return std::make_unique<EtcdKv>(o);
  };

  MembershipOptions mo;
  mo.node_id = ctx.identity.node_id;
  mo.node_name = config.name;
  mo.data_dir = config.data_dir;
  mo.advertise = ctx.advertise;
  mo.peer_port = config.cluster.port;
  mo.api_port = config.api.port;
  mo.labels = config.cluster.labels;
  mo.formation.stable_for = config.cluster.stable_for;
  mo.formation.contacts = config.cluster.contacts;
  mo.probe_interval = config.cluster.probe_interval;
  mo.discovery_timeout = config.discovery.timeout;
  // A node that stops answering is forgotten after about two slow rounds (a round is the
  // interval, the discovery and the probes), not after one lost probe.
  mo.formation.forget_after =
      std::max(Duration(2000), 2 * (mo.probe_interval + mo.probe_timeout + mo.discovery_timeout));
  mo.lease_ttl = config.cluster.lease_ttl;
  StateStore* store = ctx.store.get();
  const Clock* clock = ctx.clock.get();
  ctx.membership = std::make_unique<Membership>(
      mo, std::move(*sources), *ctx.prober, *ctx.hub, stores, *ctx.clock,
      [store, clock](const std::string& level, const std::string& kind, const std::string& message) {
        Event e;
        e.at = clock->now();
        e.level = level;
        e.kind = kind;
        e.message = message;
        (void)store->appendEvent(e);
      });

  HttpsServer::Options peer;
  peer.address = config.cluster.listen;
  peer.port = static_cast<uint16_t>(config.cluster.port);
  peer.cert_file = ctx.identity.cert_file;
  peer.key_file = ctx.identity.key_file;
  peer.client_ca_file = config.tls.cluster_ca_cert;
  peer.handshake_timeout = Duration(3000);
  // Roles and placement: any node may be elected leader; the spec it places is the one its
  // reconciler applies (null until the first commit loads).
  EtcdTls tls{cert, key, ca};
  NodeContext* node = &ctx;
  ctx.membership->enableControl(
      [tls](const std::vector<std::string>& endpoints) -> std::unique_ptr<HubAdmin> {
        return std::make_unique<EtcdAdmin>(endpoints, tls);
      },
      [node]() -> std::shared_ptr<const Spec> {
        return node->reconciler ? node->reconciler->appliedSpec() : nullptr;
      });
  Membership& m = *ctx.membership;
  ctx.peer = std::make_unique<HttpsServer>(peer, [&m](const ApiRequest& r) { return peerRoute(r, m); });
  return ok();
}

}  // namespace

ClusterView& clusterView(NodeContext& ctx) {
  if (ctx.membership) return *ctx.membership;
  return *ctx.cluster;
}

Result<std::unique_ptr<NodeContext>> buildNode(const NodeConfig& config) {
  auto ctx = std::make_unique<NodeContext>();
  ctx->config = config;
  ctx->clock = std::make_unique<SystemClock>();
  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) return fail(ErrorCode::kIo, "data_dir " + config.data_dir + ": cannot create: " + ec.message());

  ctx->identity_options = IdentityOptions{config.data_dir + "/identity", config.tls.cluster_ca_cert,
                                          config.tls.cluster_ca_key, config.name, {"localhost", config.name},
                                          {"127.0.0.1"}, config.tls.cert_lifetime};
  auto addIp = [&](const std::string& ip) {
    auto& ips = ctx->identity_options.ip_addresses;
    if (ip != "0.0.0.0" && ip.find_first_not_of("0123456789.") == std::string::npos &&
        std::find(ips.begin(), ips.end(), ip) == ips.end())
      ips.push_back(ip);
  };
  addIp(config.api.listen);
  if (config.cluster.enabled) {
    ctx->advertise = config.cluster.advertise.empty() ? detectAddress() : config.cluster.advertise;
    addIp(ctx->advertise);
  }
  auto identity = ensureIdentity(ctx->identity_options, *ctx->clock);
  if (!identity) return fail(identity.error().code, "identity: " + identity.error().message);
  ctx->identity = *identity;

  auto store = SqliteStore::open(config.data_dir + "/state.db", *ctx->clock);
  if (!store) return fail(store.error().code, "state: " + store.error().message);
  ctx->store = std::move(*store);

  GitSourceOptions git;
  git.remote = config.spec.repo;
  git.branch = config.spec.branch;
  git.mirror_dir = config.data_dir + "/spec.git";
  git.token_file = config.spec.token_file;
  git.ca_file = config.spec.ca_file;
  git.write_notes = config.spec.write_notes;
  ctx->source = std::make_unique<GitSource>(git);

  if (config.runtime == "sim") {
    auto sim = std::make_unique<FakeRuntime>(*ctx->clock);
    sim->simulateHealthChecks(true);
    ctx->runtime = std::move(sim);
  } else {
    DockerRuntime::Options docker;
    docker.socket = config.docker_socket;
    ctx->runtime = std::make_unique<DockerRuntime>(docker);
  }
  ctx->builder =
      std::make_unique<DockerImageBuilder>(*ctx->runtime, *ctx->store, *ctx->clock, ctx->shutdown.get_token());
  if (config.cluster.enabled) {
    if (auto st = buildCluster(*ctx); !st) return std::unexpected(st.error());
  } else {
    ctx->cluster = std::make_unique<LocalCluster>(ctx->identity.node_id);
  }

  ReconcilerOptions ro;
  ro.node_name = config.name;
  ro.repo = config.spec.repo;
  ro.branch = config.spec.branch;
  ro.poll_interval = config.spec.poll_interval;
  ro.resync_interval = config.resync_interval;
  ro.stop_grace = config.stop_timeout;
  ro.write_notes = config.spec.write_notes;
  ro.stop = ctx->shutdown.get_token();
  SpecSource* source = ctx->source.get();
  if (ctx->membership) {
    ctx->shared_source = std::make_unique<SharedHeadSource>(*ctx->source, *ctx->membership);
    source = ctx->shared_source.get();
    ro.poll_jitter = config.spec.poll_interval / 5;
  }
  ctx->reconciler = std::make_unique<Reconciler>(*source, *ctx->runtime, *ctx->builder, *ctx->store,
                                                 clusterView(*ctx), *ctx->clock, ro);
  ctx->backend = std::make_unique<NodeBackend>(*ctx->store, *ctx->runtime, ctx->identity.node_id);

  HttpsServer::Options api;
  api.address = config.api.listen;
  api.port = static_cast<uint16_t>(config.api.port);
  api.cert_file = ctx->identity.cert_file;
  api.key_file = ctx->identity.key_file;
  api.client_ca_file = config.tls.operator_ca_cert;
  ctx->api = std::make_unique<HttpsServer>(api, *ctx->backend);
  return ctx;
}

NodeRunner::NodeRunner(NodeContext& ctx) : ctx_(ctx) {}

NodeRunner::~NodeRunner() { stop(); }

Status NodeRunner::start() {
  auto st = ctx_.reconciler->start();
  if (!st) return st;
  publishStatus();
  st = ctx_.api->start();
  if (!st) return fail(st.error().code, "api: " + st.error().message);
  if (ctx_.peer) {
    st = ctx_.peer->start();
    if (!st) return fail(st.error().code, "peer endpoint: " + st.error().message);
    logger("node")->info("peer endpoint at https://{}:{}/v1/cluster (advertised as {})", ctx_.config.cluster.listen,
                         ctx_.peer->port(), ctx_.advertise);
    membership_thread_ = std::jthread([this] {
      pthread_setname_np(pthread_self(), "membership");
      runMembership();
    });
  }
  logger("node")->info("node {} ({}) ready: status at https://{}:{}/v1/status, spec {} ({})", ctx_.config.name,
                       ctx_.identity.node_id, ctx_.config.api.listen, ctx_.api->port(), ctx_.config.spec.repo,
                       ctx_.config.spec.branch);
  loop_thread_ = std::jthread([this] {
    pthread_setname_np(pthread_self(), "reconcile");
    loop();
  });
  events_thread_ = std::jthread([this](std::stop_token stop) {
    pthread_setname_np(pthread_self(), "docker-events");
    watchDocker(stop);
  });
  return ok();
}

void NodeRunner::stop() {
  if (ctx_.membership && membership_thread_.joinable()) {
    // Hand over first, while the membership thread still ticks: the leader moves this node's hub
    // role and replicas to other nodes, and this node's replicas keep serving until the new ones
    // are healthy. Bounded, so that `docker stop` (node containers: --stop-timeout 40) ends cleanly.
    ctx_.membership->beginLeave();
    auto deadline = std::chrono::steady_clock::now() + kHandoverTimeout;
    while (!ctx_.membership->readyToLeave() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!ctx_.membership->readyToLeave())
      logger("node")->warn("handover not finished after {} s (roles or replicas not healthy elsewhere yet): leaving anyway",
                           kHandoverTimeout.count() / 1000);
  }
  // A build or a rollout in progress must not hold up `docker stop` (10 s before SIGKILL).
  ctx_.shutdown.request_stop();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (events_thread_.joinable()) {
    events_thread_.request_stop();
    events_thread_.join();
  }
  // Leave first (the reconciler does not need the store to stop): revoking the lease makes every
  // other node drop this one at once; a hub also stops etcd cleanly. Then the loop.
  if (membership_thread_.joinable()) membership_thread_.join();
  if (ctx_.membership) ctx_.membership->leave();
  if (loop_thread_.joinable()) loop_thread_.join();
  if (ctx_.peer) ctx_.peer->stop();
  if (ctx_.api) ctx_.api->stop();
}

void NodeRunner::publishStatus() {
  Report report = ctx_.reconciler->report();
  if (!ctx_.membership) return ctx_.backend->publish(report);
  std::map<std::string, int> ready;
  for (const auto& app : report.apps)
    if (app.ready > 0) ready[app.name] = app.ready;
  ctx_.membership->setReady(std::move(ready));
  MembershipStatus ms = ctx_.membership->status();
  ctx_.backend->publish(report, &ms);
}

void NodeRunner::wakeLoop() {
  ctx_.reconciler->wake();
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

void NodeRunner::runMembership() {
  Membership& m = *ctx_.membership;
  int last_size = -1;
  bool last_origin = false;
  std::string last_placed;  // this node's share of each app
  while (true) {
    TimePoint next = m.tick();
    // The reconciler acts on size and origin: tell it at once when they change.
    int size = m.size();
    bool origin = m.isOrigin();
    std::string placed;
    for (const auto& [app, rec] : m.status().placements) {
      auto n = rec.nodes.find(m.nodeId());
      placed += app + "=" + std::to_string(n == rec.nodes.end() ? 0 : n->second) + ",";
    }
    if (size != last_size || origin != last_origin || placed != last_placed) {
      last_size = size;
      last_origin = origin;
      last_placed = placed;
      wakeLoop();
    }
    std::unique_lock lock(mu_);
    auto wait = next - ctx_.clock->now();
    if (wait < Duration(0)) wait = Duration(0);
    cv_.wait_for(lock, wait, [&] { return stopping_; });
    if (stopping_) return;
  }
}

void NodeRunner::loop() {
  while (true) {
    TimePoint next = ctx_.reconciler->tick();
    publishStatus();
    renewIdentityIfDue();
    std::unique_lock lock(mu_);
    // The real clock is the system clock here, so a condition-variable deadline matches it.
    auto wait = next - ctx_.clock->now();
    if (wait < Duration(0)) wait = Duration(0);
    cv_.wait_for(lock, wait, [&] { return stopping_ || ctx_.reconciler->woken(); });
    if (stopping_) return;
  }
}

void NodeRunner::watchDocker(std::stop_token stop) {
  auto log = logger("node");
  Labels labels{{kLabelNode, ctx_.identity.node_id}};
  int failures = 0;
  while (!stop.stop_requested()) {
    auto st = ctx_.runtime->watchEvents(
        labels,
        [&](const ContainerEvent& e) {
          log->debug("docker event {} {}", e.action, e.id.substr(0, 12));
          failures = 0;
          ctx_.reconciler->wake();
          // Under the lock: a wake between the loop's check and its wait would otherwise be lost.
          std::lock_guard lock(mu_);
          cv_.notify_all();
        },
        stop);
    if (stop.stop_requested()) return;
    if (!st) log->warn("docker event stream broke: {}; reconnecting", st.error().message);
    ctx_.reconciler->wake();  // whatever happened while the stream was down: look now
    std::unique_lock lock(mu_);
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::milliseconds(std::min(200 << std::min(++failures, 5), 5000)),
                 [&] { return stopping_; });
  }
}

void NodeRunner::renewIdentityIfDue() {
  if (ctx_.clock->now() < ctx_.identity.renew_at) return;
  auto renewed = ensureIdentity(ctx_.identity_options, *ctx_.clock);
  if (!renewed) {
    logger("cluster")->error("certificate renewal failed: {}; retrying in a minute", renewed.error().message);
    ctx_.identity.renew_at = ctx_.clock->now() + Duration(60000);
    return;
  }
  ctx_.identity = *renewed;
  auto st = ctx_.api->reloadCertificate();
  if (st && ctx_.peer) st = ctx_.peer->reloadCertificate();
  logger("cluster")->info("certificate renewed, valid until {}, next renewal at {}{}", formatTime(renewed->not_after),
                          formatTime(renewed->renew_at), st ? "" : " (not reloaded: " + st.error().message + ")");
}

}  // namespace shoal
