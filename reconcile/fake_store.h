// `StateStore` in memory, for unit tests: the same contract as `SqliteStore` (the shared contract
// test in tests/reconcile runs against both), plus knobs to fail writes as a full disk would.
//
// Safe for concurrent use by multiple threads.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reconcile/state_store.h"

namespace shoal {

class FakeStore : public StateStore {
 public:
  Result<std::optional<std::string>> getMeta(const std::string& key) override;
  Status setMeta(const std::string& key, const std::string& value) override;

  Result<std::optional<CommitOutcome>> commitOutcome(const std::string& commit) override;
  Status setCommitOutcome(const std::string& commit, const CommitOutcome& outcome) override;

  Result<std::map<std::string, AppRecord>> apps() override;
  Status putApp(const AppRecord& record) override;
  Status deleteApp(const std::string& name) override;

  Result<int64_t> journalBegin(const JournalEntry& entry) override;
  Status journalFinish(int64_t id, bool ok, const std::string& detail, TimePoint at) override;
  Result<std::vector<JournalEntry>> journalOpen() override;
  Status journalTrim(int keep) override;

  Result<int64_t> appendEvent(const Event& event) override;
  Result<std::vector<Event>> events(int64_t since, int limit) override;
  Status eventsTrim(int keep) override;

  Result<std::optional<std::string>> cachedImage(const std::string& tree, const std::string& app) override;
  Status putCachedImage(const std::string& tree, const std::string& app, const std::string& image,
                        TimePoint at) override;

  // While set, every write returns this error and changes nothing (reads still work), as
  // `SqliteStore` does on a full disk. `std::nullopt` heals it.
  void setFailWritesForTest(std::optional<Error> error);
  // Writes that succeeded so far (failed ones are not counted: they changed nothing).
  int writesForTest() const;

 private:
  // Returns the injected failure, or counts the write. Needs `mu_`.
  Status admitWrite();

  mutable std::mutex mu_;
  std::optional<Error> fail_writes_;                          // GUARDED_BY(mu_)
  int writes_ = 0;                                            // GUARDED_BY(mu_)
  std::map<std::string, std::string> meta_;                   // GUARDED_BY(mu_)
  std::map<std::string, CommitOutcome> commits_;              // GUARDED_BY(mu_)
  std::map<std::string, AppRecord> apps_;                     // GUARDED_BY(mu_)
  std::map<int64_t, JournalEntry> journal_;                   // GUARDED_BY(mu_)
  int64_t next_journal_id_ = 1;                               // GUARDED_BY(mu_)
  std::map<int64_t, Event> events_;                           // GUARDED_BY(mu_)
  int64_t next_seq_ = 1;                                      // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, std::string> builds_;  // GUARDED_BY(mu_)
};

}  // namespace shoal
