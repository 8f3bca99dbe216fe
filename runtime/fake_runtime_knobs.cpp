// The test knobs of `FakeRuntime`: what Docker or a person does to containers behind shoal's back.
#include "runtime/fake_runtime.h"

namespace shoal {

void FakeRuntime::failNextForTest(const std::string& op, Error error) {
  std::lock_guard lock(mu_);
  fail_next_[op].push_back(std::move(error));
}

int FakeRuntime::callsForTest(const std::string& op) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

void FakeRuntime::setHealthForTest(const std::string& id, Health health) {
  std::lock_guard lock(mu_);
  Container* c = find(id);
  if (!c || c->info.health == health) return;
  c->info.health = health;
  emit(*c, std::string("health_status: ") + healthName(health));
}

void FakeRuntime::exitForTest(const std::string& id, int code) {
  std::lock_guard lock(mu_);
  Container* c = find(id);
  if (!c || (c->info.state != ContainerState::kRunning && c->info.state != ContainerState::kPaused)) return;
  markExited(*c, code);
}

void FakeRuntime::removeForTest(const std::string& id) {
  std::lock_guard lock(mu_);
  Container* c = find(id);
  if (!c) return;
  if (c->info.state == ContainerState::kRunning || c->info.state == ContainerState::kPaused) {
    emit(*c, "kill");
    markExited(*c, 137);
  }
  emit(*c, "destroy");
  containers_.erase(c->info.id);
}

void FakeRuntime::addImageForTest(const std::string& ref) {
  std::lock_guard lock(mu_);
  images_.insert(ref);
}

void FakeRuntime::removeImageForTest(const std::string& ref) {
  std::lock_guard lock(mu_);
  images_.erase(ref);
}

void FakeRuntime::setBuildFailureForTest(const std::string& tag, const std::string& output) {
  std::lock_guard lock(mu_);
  build_failures_[tag] = output;
}

void FakeRuntime::appendLogForTest(const std::string& id, const std::string& text) {
  std::lock_guard lock(mu_);
  if (Container* c = find(id)) c->log += text;
}

void FakeRuntime::breakEventsForTest(Error error) {
  std::lock_guard lock(mu_);
  for (Watcher* w : watchers_) w->broken = error;
  cv_.notify_all();
}

int FakeRuntime::watchersForTest() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(watchers_.size());
}

std::optional<ContainerConfig> FakeRuntime::configForTest(const std::string& id) const {
  std::lock_guard lock(mu_);
  const Container* c = find(id);
  return c ? std::optional(c->config) : std::nullopt;
}

std::vector<ContainerInfo> FakeRuntime::allForTest() const {
  std::lock_guard lock(mu_);
  std::vector<ContainerInfo> out;
  for (const auto& [id, c] : containers_) out.push_back(c.info);
  return out;
}

std::set<std::string> FakeRuntime::volumesForTest() const {
  std::lock_guard lock(mu_);
  return volumes_;
}

}  // namespace shoal
