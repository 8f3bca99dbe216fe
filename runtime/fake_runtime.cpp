#include "runtime/fake_runtime.h"

#include <algorithm>
#include <cstdio>

#include "common/duration.h"
#include "runtime/docker_stream.h"

namespace shoal {
namespace {

// 64 hex digits derived from `seed`, like Docker's ids (deterministic; splitmix64).
std::string hexId(uint64_t seed) {
  std::string out;
  for (int i = 0; i < 4; ++i) {
    uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(z));
    out += buf;
  }
  return out;
}

uint64_t fnv1a(std::string_view text, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char ch : text) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

bool carries(const Labels& have, const Labels& want) {
  return std::all_of(want.begin(), want.end(), [&](const auto& kv) {
    auto it = have.find(kv.first);
    return it != have.end() && it->second == kv.second;
  });
}

std::unexpected<Error> dockerError(ErrorCode code, const std::string& what, const std::string& msg) {
  return fail(code, "docker: " + what + ": " + msg, code == ErrorCode::kUnavailable);
}

std::unexpected<Error> noSuch(const std::string& what, const std::string& id) {
  return dockerError(ErrorCode::kNotFound, what, "No such container: " + id);
}

bool isRunning(ContainerState s) { return s == ContainerState::kRunning || s == ContainerState::kPaused; }

}  // namespace

FakeRuntime::FakeRuntime(Clock& clock) : clock_(clock) {}

Status FakeRuntime::takeCall(const std::string& op) {
  ++calls_[op];
  auto it = fail_next_.find(op);
  if (it == fail_next_.end() || it->second.empty()) return ok();
  Error e = it->second.front();
  it->second.pop_front();
  return std::unexpected(e);
}

FakeRuntime::Container* FakeRuntime::find(const std::string& key) {
  return const_cast<Container*>(std::as_const(*this).find(key));
}

const FakeRuntime::Container* FakeRuntime::find(const std::string& key) const {
  if (key.empty()) return nullptr;
  if (auto it = containers_.find(key); it != containers_.end()) return &it->second;
  const Container* prefix_match = nullptr;
  int prefix_matches = 0;
  for (const auto& [id, c] : containers_) {
    if (c.info.name == key) return &c;
    if (id.starts_with(key)) {
      prefix_match = &c;
      ++prefix_matches;
    }
  }
  return prefix_matches == 1 ? prefix_match : nullptr;  // an ambiguous prefix names none
}

void FakeRuntime::emit(const Container& c, const std::string& action) {
  ContainerEvent ev{c.info.id, action, c.info.labels};
  ev.labels["name"] = c.info.name;
  ev.labels["image"] = c.info.image;
  if (action == "die") ev.labels["exitCode"] = std::to_string(c.info.exit_code);
  for (Watcher* w : watchers_) {
    if (carries(c.info.labels, w->labels)) w->queue.push_back(ev);
  }
  cv_.notify_all();
}

bool FakeRuntime::hostPortTaken(int port, const std::string& proto) const {
  for (const auto& [id, c] : containers_) {
    for (const auto& p : c.info.ports)
      if (p.host_port == port && p.protocol == proto) return true;
  }
  return false;
}

// Binds like Docker: a fixed port must be free; a range "A-B" takes its first free port.
void FakeRuntime::assignPorts(Container& c) {
  c.info.ports.clear();
  for (const PortBinding& b : c.config.ports) {
    if (b.host_port.empty()) continue;
    int lo = 0, hi = 0;
    if (std::sscanf(b.host_port.c_str(), "%d-%d", &lo, &hi) < 2) hi = lo;
    for (int port = lo; port <= hi; ++port) {
      if (hostPortTaken(port, b.protocol)) continue;
      c.info.ports.push_back(
          PublishedPort{b.container_port, b.protocol, b.host_ip.empty() ? "0.0.0.0" : b.host_ip, port});
      break;
    }
  }
}

void FakeRuntime::markExited(Container& c, int code) {
  c.info.state = ContainerState::kExited;
  c.info.exit_code = code;
  c.info.ports.clear();
  if (c.info.health != Health::kNone) c.info.health = Health::kUnhealthy;  // as Docker reports it
  emit(c, "die");
}

void FakeRuntime::simulateHealthChecks(bool on) {
  std::lock_guard lock(mu_);
  simulate_health_ = on;
}

void FakeRuntime::runHealthChecks() {
  if (!simulate_health_) return;
  for (auto& [id, c] : containers_) {
    if (c.info.state != ContainerState::kRunning || c.info.health != Health::kStarting || !c.config.health) continue;
    Duration after = c.config.health->interval;
    if (auto e = c.config.env.find("SHOAL_SIM_HEALTHY_AFTER"); e != c.config.env.end())
      after += parseDuration(e->second).value_or(Duration(0));
    if (clock_.now() - c.info.started < after) continue;
    c.info.health = Health::kHealthy;
    emit(c, "health_status: healthy");
  }
}

Result<std::vector<ContainerInfo>> FakeRuntime::list(const Labels& labels) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("list"); !st) return std::unexpected(st.error());
  runHealthChecks();
  std::vector<const Container*> found;
  for (const auto& [id, c] : containers_)
    if (carries(c.info.labels, labels)) found.push_back(&c);
  std::sort(found.begin(), found.end(), [](auto* a, auto* b) { return a->seq > b->seq; });  // newest first
  std::vector<ContainerInfo> out;
  for (const Container* c : found) out.push_back(c->info);
  return out;
}

Result<ContainerInfo> FakeRuntime::inspect(const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("inspect"); !st) return std::unexpected(st.error());
  runHealthChecks();
  const Container* c = find(id);
  if (!c) return noSuch("inspect container " + id, id);
  return c->info;
}

Result<std::string> FakeRuntime::create(const ContainerConfig& config) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("create"); !st) return std::unexpected(st.error());
  std::string what = "create container " + config.name + " of image " + config.image;
  if (const Container* other = find(config.name); other && other->info.name == config.name)
    return dockerError(ErrorCode::kConflict, what,
                       "Conflict. The container name \"/" + config.name + "\" is already in use by container \"" +
                           other->info.id + "\". You have to remove (or rename) that container to be able to "
                           "reuse that name.");
  Container c;
  c.seq = next_seq_++;
  c.config = config;
  c.info.id = hexId(c.seq);
  c.info.name = config.name.empty() ? "fake_" + std::to_string(c.seq) : config.name;
  c.info.image = config.image;
  c.info.labels = config.labels;
  c.info.health = config.health ? Health::kStarting : Health::kNone;
  c.info.created = clock_.now();
  for (const VolumeMount& v : config.volumes) volumes_.insert(v.volume);  // Docker creates them here
  auto [it, _] = containers_.emplace(c.info.id, std::move(c));
  emit(it->second, "create");
  return it->first;
}

Status FakeRuntime::start(const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("start"); !st) return st;
  std::string what = "start container " + id;
  Container* c = find(id);
  if (!c) return noSuch(what, id);
  if (c->info.state == ContainerState::kPaused)
    return dockerError(ErrorCode::kConflict, what, "cannot start a paused container, try unpause instead");
  if (c->info.state == ContainerState::kRunning) return ok();  // 304
  if (!images_.contains(c->info.image)) return dockerError(ErrorCode::kNotFound, what, "No such image: " + c->info.image);
  for (const PortBinding& b : c->config.ports) {
    int lo = 0, hi = 0;
    if (b.host_port.empty() || std::sscanf(b.host_port.c_str(), "%d-%d", &lo, &hi) == 2) continue;
    if (hostPortTaken(lo, b.protocol))
      return dockerError(ErrorCode::kUnavailable, what,
                         "driver failed programming external connectivity on endpoint " + c->info.name +
                             ": Bind for 0.0.0.0:" + b.host_port + " failed: port is already allocated");
  }
  assignPorts(*c);
  c->info.state = ContainerState::kRunning;
  c->info.exit_code = 0;
  c->info.health = c->config.health ? Health::kStarting : Health::kNone;
  c->info.started = clock_.now();
  emit(*c, "start");
  return ok();
}

Status FakeRuntime::stop(const std::string& id, Duration) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("stop"); !st) return st;
  Container* c = find(id);
  if (!c) return noSuch("stop container " + id, id);
  if (!isRunning(c->info.state)) return ok();  // 304
  emit(*c, "kill");
  markExited(*c, 143);  // SIGTERM, which docker-init passes on
  emit(*c, "stop");
  return ok();
}

Status FakeRuntime::pause(const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("pause"); !st) return st;
  std::string what = "pause container " + id;
  Container* c = find(id);
  if (!c) return noSuch(what, id);
  if (c->info.state == ContainerState::kPaused)
    return dockerError(ErrorCode::kConflict, what, "Container " + c->info.id + " is already paused");
  if (c->info.state != ContainerState::kRunning)
    return dockerError(ErrorCode::kConflict, what, "Container " + c->info.id + " is not running");
  c->info.state = ContainerState::kPaused;
  emit(*c, "pause");
  return ok();
}

Status FakeRuntime::unpause(const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("unpause"); !st) return st;
  std::string what = "unpause container " + id;
  Container* c = find(id);
  if (!c) return noSuch(what, id);
  if (c->info.state != ContainerState::kPaused)
    return dockerError(ErrorCode::kConflict, what, "Container " + c->info.id + " is not paused");
  c->info.state = ContainerState::kRunning;
  emit(*c, "unpause");
  return ok();
}

Status FakeRuntime::remove(const std::string& id, bool force) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("remove"); !st) return st;
  std::string what = "remove container " + id;
  Container* c = find(id);
  if (!c) return noSuch(what, id);
  if (!force && c->info.state == ContainerState::kPaused)
    return dockerError(ErrorCode::kConflict, what,
                       "You cannot remove a paused container " + c->info.id +
                           ". Unpause and then stop the container before attempting removal or force remove");
  if (!force && c->info.state == ContainerState::kRunning)
    return dockerError(ErrorCode::kConflict, what,
                       "You cannot remove a running container " + c->info.id +
                           ". Stop the container before attempting removal or force remove");
  if (isRunning(c->info.state)) {
    emit(*c, "kill");
    markExited(*c, 137);
  }
  emit(*c, "destroy");
  containers_.erase(c->info.id);
  return ok();
}

Status FakeRuntime::removeVolume(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("removeVolume"); !st) return st;
  std::string users;
  for (const auto& [id, c] : containers_) {
    bool mounts = std::any_of(c.config.volumes.begin(), c.config.volumes.end(),
                              [&](const VolumeMount& v) { return v.volume == name; });
    if (mounts) users += (users.empty() ? "" : ", ") + id;
  }
  if (!users.empty())
    return dockerError(ErrorCode::kConflict, "remove volume " + name,
                       "remove " + name + ": volume is in use - [" + users + "] (a container still uses it; it is kept)");
  volumes_.erase(name);  // absent: nothing to do, as `DockerRuntime` treats Docker's 404
  return ok();
}

Result<std::string> FakeRuntime::logs(const std::string& id, int tail) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("logs"); !st) return std::unexpected(st.error());
  const Container* c = find(id);
  if (!c) return noSuch("logs of container " + id, id);
  if (tail < 0) return c->log;
  // The last `tail` lines, each with its newline, like `docker logs --tail`.
  size_t begin = c->log.size();
  for (int n = 0; n < tail && begin > 0; ++n) {
    size_t nl = begin >= 2 ? c->log.rfind('\n', begin - 2) : std::string::npos;
    begin = nl == std::string::npos ? 0 : nl + 1;
  }
  return c->log.substr(begin);
}

Result<bool> FakeRuntime::imageExists(const std::string& ref) {
  std::lock_guard lock(mu_);
  if (auto st = takeCall("imageExists"); !st) return std::unexpected(st.error());
  return images_.contains(ref);
}

Result<std::string> FakeRuntime::build(const BuildRequest& req,
                                       const std::function<void(const std::string&)>& progress) {
  std::unique_lock lock(mu_);
  if (auto st = takeCall("build"); !st) return std::unexpected(st.error());
  std::vector<std::string> lines;
  auto failure = build_failures_.find(req.tag);
  bool failed = failure != build_failures_.end();
  if (failed) {
    docker::LineSplitter split;
    auto add = [&](std::string_view l) { lines.emplace_back(l); };
    split.feed(failure->second, add);
    split.finish(add);
  }
  std::string id = "sha256:" + hexId(fnv1a(req.context_tar, fnv1a(req.tag + "\n" + req.dockerfile)));
  if (!failed) {
    lines = {"Step 1/1 : fake build of " + req.tag, "Successfully built " + id.substr(7, 12),
             "Successfully tagged " + req.tag};
    images_.insert(req.tag);
  }
  lock.unlock();  // `progress` may call back into the runtime
  docker::LineTail tail(20);
  for (const auto& l : lines) {
    tail.add(l);
    if (progress) progress(l);
  }
  if (failed)
    return fail(ErrorCode::kInvalid, "docker: build of " + req.tag + " failed: " +
                                         (lines.empty() ? std::string("error") : lines.back()) + "\n" + tail.str());
  return id;
}

Status FakeRuntime::watchEvents(const Labels& labels, const std::function<void(const ContainerEvent&)>& on_event,
                                std::stop_token stop) {
  std::unique_lock lock(mu_);
  if (auto st = takeCall("watchEvents"); !st) return st;
  Watcher self{labels, {}, std::nullopt};
  watchers_.insert(&self);
  cv_.notify_all();  // `watchersForTest` waiters
  Status result = ok();
  while (true) {
    cv_.wait(lock, stop, [&] { return !self.queue.empty() || self.broken.has_value(); });
    if (stop.stop_requested()) break;
    if (self.broken) {
      result = std::unexpected(*self.broken);
      break;
    }
    ContainerEvent ev = std::move(self.queue.front());
    self.queue.pop_front();
    lock.unlock();  // the callback may call back into the runtime
    on_event(ev);
    lock.lock();
  }
  watchers_.erase(&self);
  return result;
}

}  // namespace shoal
