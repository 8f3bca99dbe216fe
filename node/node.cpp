#include "node/node.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <filesystem>

#include "builder/docker_builder.h"
#include "common/log.h"
#include "gitops/git_source.h"
#include "reconcile/desired.h"
#include "reconcile/sqlite_store.h"
#include "runtime/docker_runtime.h"
#include "runtime/fake_runtime.h"

namespace shoal {

namespace fs = std::filesystem;

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
  if (config.api.listen != "0.0.0.0" && config.api.listen != "127.0.0.1" && config.api.listen.find_first_not_of("0123456789.") == std::string::npos)
    ctx->identity_options.ip_addresses.push_back(config.api.listen);
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
    ctx->runtime = std::make_unique<FakeRuntime>(*ctx->clock);
  } else {
    DockerRuntime::Options docker;
    docker.socket = config.docker_socket;
    ctx->runtime = std::make_unique<DockerRuntime>(docker);
  }
  ctx->builder =
      std::make_unique<DockerImageBuilder>(*ctx->runtime, *ctx->store, *ctx->clock, ctx->shutdown.get_token());
  ctx->cluster = std::make_unique<LocalCluster>(ctx->identity.node_id);

  ReconcilerOptions ro;
  ro.node_name = config.name;
  ro.repo = config.spec.repo;
  ro.branch = config.spec.branch;
  ro.poll_interval = config.spec.poll_interval;
  ro.resync_interval = config.resync_interval;
  ro.stop_grace = config.stop_timeout;
  ro.write_notes = config.spec.write_notes;
  ro.stop = ctx->shutdown.get_token();
  ctx->reconciler = std::make_unique<Reconciler>(*ctx->source, *ctx->runtime, *ctx->builder, *ctx->store,
                                                 *ctx->cluster, *ctx->clock, ro);
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
  ctx_.backend->publish(ctx_.reconciler->report());
  st = ctx_.api->start();
  if (!st) return fail(st.error().code, "api: " + st.error().message);
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
  if (loop_thread_.joinable()) loop_thread_.join();
  if (ctx_.api) ctx_.api->stop();
}

void NodeRunner::loop() {
  while (true) {
    TimePoint next = ctx_.reconciler->tick();
    ctx_.backend->publish(ctx_.reconciler->report());
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
  logger("cluster")->info("certificate renewed, valid until {}, next renewal at {}{}", formatTime(renewed->not_after),
                          formatTime(renewed->renew_at), st ? "" : " (not reloaded: " + st.error().message + ")");
}

}  // namespace shoal
