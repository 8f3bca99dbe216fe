// `StateStore` in one SQLite file (`<data_dir>/state.db`): the schema is drawn in state_store.h,
// its SQL and migrations are in sqlite_store.cpp.
//
// Durability: WAL with `synchronous=NORMAL`. A killed process (kill -9, a crash) loses nothing that
// a call reported written; a power cut may lose the last few commits but never corrupts the file.
// sqlite_store.cpp says why that is enough for the journal.
//
// Safe for concurrent use by multiple threads: one mutex serializes every call (the API thread
// reads events while the loop writes; calls are short).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/error.h"
#include "reconcile/state_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace shoal {

class SqliteStore : public StateStore {
 public:
  // The newest schema version this binary knows; `open` migrates older files up to it.
  static const int kSchemaVersion;

  // Opens or creates the file and migrates it. Refuses (kInvalid) a file whose schema is newer
  // than `kSchemaVersion`, and (kIo) a file that is not SQLite. `clock` must outlive the store.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, Clock& clock);
  ~SqliteStore() override;

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

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
  using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;
  class Query;

  SqliteStore(std::string path, DbPtr db, Clock& clock);
  Status configure();
  Result<int> schemaVersion();
  Status migrate();
  Status exec(const char* sql, std::string_view what);

  // The cached statement for `sql` (a string literal), prepared on first use. Needs `mu_`.
  Result<sqlite3_stmt*> statement(const char* sql);
  Result<Query> query(const char* sql);
  // Runs a bound write statement; `what` names it in errors.
  Status write(Query& query, std::string_view what);
  Error writeError(int rc, std::string_view what) const;
  Error readError(int rc, std::string_view what) const;

  const std::string path_;
  Clock& clock_;
  std::mutex mu_;
  DbPtr db_;                                                  // GUARDED_BY(mu_)
  std::map<std::string_view, StmtPtr, std::less<>> stmts_;    // GUARDED_BY(mu_)
};

}  // namespace shoal
