// An `ApiBackend` with knobs: a snapshot set by hand, events and logs from maps, and a record of
// the arguments it was called with. Thread-safe (the server calls it from its own thread).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "api/api_backend.h"

namespace shoal::testing {

class FakeBackend : public ApiBackend {
 public:
  std::shared_ptr<const Snapshot> snapshot() const override {
    std::lock_guard lock(mu_);
    return snapshot_;
  }
  Result<std::string> eventsJson(int64_t since, int limit) override {
    std::lock_guard lock(mu_);
    last_since_ = since;
    last_limit_ = limit;
    if (events_error_) return std::unexpected(*events_error_);
    return "[{\"seq\":" + std::to_string(since + 1) + "}]";
  }
  Result<std::string> appLogs(const std::string& app, int tail) override {
    std::lock_guard lock(mu_);
    last_tail_ = tail;
    auto it = logs_.find(app);
    if (it == logs_.end()) return fail(ErrorCode::kNotFound, "no app named '" + app + "'");
    return it->second;
  }

  void setSnapshot(Snapshot s) {
    std::lock_guard lock(mu_);
    snapshot_ = std::make_shared<const Snapshot>(std::move(s));
  }
  void setLogs(const std::string& app, std::string text) {
    std::lock_guard lock(mu_);
    logs_[app] = std::move(text);
  }
  void failEvents(Error e) {
    std::lock_guard lock(mu_);
    events_error_ = std::move(e);
  }
  int64_t lastSince() const {
    std::lock_guard lock(mu_);
    return last_since_;
  }
  int lastLimit() const {
    std::lock_guard lock(mu_);
    return last_limit_;
  }
  int lastTail() const {
    std::lock_guard lock(mu_);
    return last_tail_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;  // shared: handed out to readers, as the node does
  std::map<std::string, std::string> logs_;
  std::optional<Error> events_error_;
  int64_t last_since_ = -1;
  int last_limit_ = -1;
  int last_tail_ = -1;
};

}  // namespace shoal::testing
