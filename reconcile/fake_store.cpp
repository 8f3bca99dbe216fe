#include "reconcile/fake_store.h"

#include <algorithm>

namespace shoal {

Status FakeStore::admitWrite() {
  if (fail_writes_) return std::unexpected(*fail_writes_);
  ++writes_;
  return ok();
}

void FakeStore::setFailWritesForTest(std::optional<Error> error) {
  std::lock_guard lock(mu_);
  fail_writes_ = std::move(error);
}

int FakeStore::writesForTest() const {
  std::lock_guard lock(mu_);
  return writes_;
}

Result<std::optional<std::string>> FakeStore::getMeta(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = meta_.find(key);
  if (it == meta_.end()) return std::nullopt;
  return it->second;
}

Status FakeStore::setMeta(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return s;
  meta_[key] = value;
  return ok();
}

Result<std::optional<CommitOutcome>> FakeStore::commitOutcome(const std::string& commit) {
  std::lock_guard lock(mu_);
  auto it = commits_.find(commit);
  if (it == commits_.end()) return std::nullopt;
  return it->second;
}

Status FakeStore::setCommitOutcome(const std::string& commit, const CommitOutcome& outcome) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return s;
  commits_[commit] = outcome;
  return ok();
}

Result<std::map<std::string, AppRecord>> FakeStore::apps() {
  std::lock_guard lock(mu_);
  return apps_;
}

Status FakeStore::putApp(const AppRecord& record) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return s;
  apps_[record.name] = record;
  return ok();
}

Status FakeStore::deleteApp(const std::string& name) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return s;
  apps_.erase(name);
  return ok();
}

Result<int64_t> FakeStore::journalBegin(const JournalEntry& entry) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return std::unexpected(s.error());
  JournalEntry stored = entry;
  stored.id = next_journal_id_++;
  stored.state = "intent";
  stored.finished = TimePoint{};
  journal_[stored.id] = stored;
  return stored.id;
}

Status FakeStore::journalFinish(int64_t id, bool ok, const std::string& detail, TimePoint at) {
  std::lock_guard lock(mu_);
  auto it = journal_.find(id);
  if (it == journal_.end()) {
    return fail(ErrorCode::kNotFound, "fake store: journal entry " + std::to_string(id) + " does not exist");
  }
  if (auto s = admitWrite(); !s) return s;
  it->second.state = ok ? "done" : "failed";
  if (!detail.empty()) it->second.detail = detail;
  it->second.finished = at;
  return shoal::ok();
}

Result<std::vector<JournalEntry>> FakeStore::journalOpen() {
  std::lock_guard lock(mu_);
  std::vector<JournalEntry> out;
  for (const auto& [id, e] : journal_) {
    if (e.state == "intent") out.push_back(e);
  }
  return out;
}

Status FakeStore::journalTrim(int keep) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return s;
  int kept = 0;
  for (auto it = journal_.rbegin(); it != journal_.rend();) {
    bool finished = it->second.state != "intent";
    if (finished && kept++ >= keep) {
      it = std::make_reverse_iterator(journal_.erase(std::next(it).base()));
    } else {
      ++it;
    }
  }
  return ok();
}

Result<int64_t> FakeStore::appendEvent(const Event& event) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return std::unexpected(s.error());
  Event stored = event;
  stored.seq = next_seq_++;
  events_[stored.seq] = stored;
  return stored.seq;
}

Result<std::vector<Event>> FakeStore::events(int64_t since, int limit) {
  std::lock_guard lock(mu_);
  std::vector<Event> out;
  for (auto it = events_.upper_bound(since); it != events_.end() && static_cast<int>(out.size()) < limit; ++it) {
    out.push_back(it->second);
  }
  return out;
}

Status FakeStore::eventsTrim(int keep) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return s;
  while (static_cast<int>(events_.size()) > std::max(keep, 0)) events_.erase(events_.begin());
  return ok();
}

Result<std::optional<std::string>> FakeStore::cachedImage(const std::string& tree, const std::string& app) {
  std::lock_guard lock(mu_);
  auto it = builds_.find({tree, app});
  if (it == builds_.end()) return std::nullopt;
  return it->second;
}

Status FakeStore::putCachedImage(const std::string& tree, const std::string& app, const std::string& image,
                                 TimePoint) {
  std::lock_guard lock(mu_);
  if (auto s = admitWrite(); !s) return s;
  builds_[{tree, app}] = image;
  return ok();
}

}  // namespace shoal
