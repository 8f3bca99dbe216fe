// What this node knows and must not forget across restarts, kept in one SQLite file
// (`<data_dir>/state.db`, WAL). `SqliteStore` is the real one; `FakeStore` keeps the same in memory
// and can be told to fail writes (`setFailWritesForTest`), as a full disk would.
//
// The schema (version 1), drawn in one place (sqlite_store.cpp has the SQL and the migrations;
// a file with a newer `schema_version` is refused untouched). Every column is NOT NULL.
//
//   meta(key TEXT PRIMARY KEY, value TEXT)      -- schema_version, schema_migrated_at, applied_commit,
//                                               -- refused_commit, refused_errors (JSON array), node_id ...
//   commits(id TEXT PRIMARY KEY, outcome TEXT, detail TEXT, at INTEGER)
//                                               -- each commit evaluated once: its latest outcome
//   apps(name TEXT PRIMARY KEY, record TEXT)    -- AppRecord as JSON
//   journal(id INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT, app TEXT, container TEXT, detail TEXT,
//           state TEXT, started INTEGER, finished INTEGER)   -- intent -> done | failed; finished 0
//                                                            -- while intent; index (state, id)
//   events(seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER, level TEXT, kind TEXT, app TEXT,
//          commit_id TEXT, message TEXT)        -- AUTOINCREMENT: a seq is never reused, even after
//                                               -- a trim emptied the table (readers keep cursors)
//   builds(tree TEXT, app TEXT, image TEXT, at INTEGER, PRIMARY KEY(tree, app))  -- build cache index
//
// Times are Unix milliseconds.
//
// Safe for concurrent use by multiple threads (the API reads events while the loop writes).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace shoal {

// What shoal remembers about one app between commits.
struct AppRecord {
  std::string name;
  std::string good_hash;         // spec hash of the last version that became healthy
  std::string good_config;       // its ContainerConfig + replicas, as JSON (to roll back to)
  std::string good_commit;
  std::string failed_hash;       // a version that failed its health check or build: not retried
  std::string failed_commit;
  std::string failed_reason;     // "health check `wget ...` failed: ..." / build output tail
  bool operator==(const AppRecord&) const = default;
};

struct JournalEntry {
  int64_t id = 0;
  std::string op;         // "create" "start" "stop" "remove" "pause" "unpause"
  std::string app;
  std::string container;  // name
  std::string detail;
  std::string state;      // "intent" "done" "failed"
  TimePoint started{};
  TimePoint finished{};
};

struct Event {
  int64_t seq = 0;  // assigned by the store, increasing
  TimePoint at{};
  std::string level;   // "info" "warn" "error"
  std::string kind;    // "commit.applied" "commit.refused" "container.created" "app.rolled_back" ...
  std::string app;
  std::string commit;
  std::string message;
};

struct CommitOutcome {
  std::string outcome;  // "refused" "built" "deployed" "healthy" "rolled_back" "build_failed"
  std::string detail;
  TimePoint at{};
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual Result<std::optional<std::string>> getMeta(const std::string& key) = 0;
  virtual Status setMeta(const std::string& key, const std::string& value) = 0;

  virtual Result<std::optional<CommitOutcome>> commitOutcome(const std::string& commit) = 0;
  virtual Status setCommitOutcome(const std::string& commit, const CommitOutcome& outcome) = 0;

  virtual Result<std::map<std::string, AppRecord>> apps() = 0;
  virtual Status putApp(const AppRecord& record) = 0;
  virtual Status deleteApp(const std::string& name) = 0;

  // Journal: `begin` before a side effect, `finish` after it (kNotFound for an unknown id; an empty
  // `detail` keeps the one given at `begin`). Entries still "intent" at start-up are the steps a
  // crash interrupted; ids increase and are never reused.
  virtual Result<int64_t> journalBegin(const JournalEntry& entry) = 0;
  virtual Status journalFinish(int64_t id, bool ok, const std::string& detail, TimePoint at) = 0;
  virtual Result<std::vector<JournalEntry>> journalOpen() = 0;
  // Keeps the newest `keep` finished entries; never removes an open intent.
  virtual Status journalTrim(int keep) = 0;

  virtual Result<int64_t> appendEvent(const Event& event) = 0;
  // Events with seq > `since`, oldest first, at most `limit` (none when `limit` <= 0).
  virtual Result<std::vector<Event>> events(int64_t since, int limit) = 0;
  // Keeps the newest `keep` events.
  virtual Status eventsTrim(int keep) = 0;

  virtual Result<std::optional<std::string>> cachedImage(const std::string& tree, const std::string& app) = 0;
  virtual Status putCachedImage(const std::string& tree, const std::string& app, const std::string& image,
                                TimePoint at) = 0;
};
using StateStorePtr = std::unique_ptr<StateStore>;

}  // namespace shoal
