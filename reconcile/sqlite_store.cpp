#include "reconcile/sqlite_store.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace shoal {
namespace {

// Ordered migrations: a file at version N runs every step whose version is greater than N, in one
// transaction, and records the last version in `meta.schema_version`. Never edit a step that has
// shipped; append a new one. The tables are drawn in state_store.h.
struct Migration {
  int version;
  const char* sql;
};

const std::vector<Migration> kMigrations = {
    {1, R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE commits(id TEXT PRIMARY KEY, outcome TEXT NOT NULL, detail TEXT NOT NULL,
                     at INTEGER NOT NULL);
CREATE TABLE apps(name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE journal(id INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, app TEXT NOT NULL,
                     container TEXT NOT NULL, detail TEXT NOT NULL, state TEXT NOT NULL,
                     started INTEGER NOT NULL, finished INTEGER NOT NULL);
CREATE INDEX journal_by_state ON journal(state, id);
CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
                    level TEXT NOT NULL, kind TEXT NOT NULL, app TEXT NOT NULL,
                    commit_id TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE builds(tree TEXT NOT NULL, app TEXT NOT NULL, image TEXT NOT NULL,
                    at INTEGER NOT NULL, PRIMARY KEY(tree, app));
)sql"},
};

// A second shoal (or a backup tool) holding the file briefly should delay us, not fail us.
constexpr int kBusyTimeoutMs = 5000;

std::string appToJson(const AppRecord& r) {
  nlohmann::json j = {{"name", r.name},
                      {"good_hash", r.good_hash},
                      {"good_config", r.good_config},
                      {"good_commit", r.good_commit},
                      {"failed_hash", r.failed_hash},
                      {"failed_commit", r.failed_commit},
                      {"failed_reason", r.failed_reason}};
  return j.dump();
}

// Unknown keys are ignored and missing ones stay empty, so a record written by a newer or older
// shoal of the same schema version still reads.
std::optional<AppRecord> appFromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto field = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return AppRecord{field("name"),        field("good_hash"),     field("good_config"), field("good_commit"),
                   field("failed_hash"), field("failed_commit"), field("failed_reason")};
}

}  // namespace

const int SqliteStore::kSchemaVersion = kMigrations.back().version;

void SqliteStore::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void SqliteStore::StmtFinalizer::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

// One use of a cached statement: binds parameters in order and resets the statement when done,
// so the next user finds it clean.
class SqliteStore::Query {
 public:
  explicit Query(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Query(Query&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)), bound_(other.bound_) {}
  Query& operator=(Query&&) = delete;
  ~Query() {
    if (!stmt_) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Query& text(std::string_view v) {
    sqlite3_bind_text(stmt_, ++bound_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& integer(int64_t v) {
    sqlite3_bind_int64(stmt_, ++bound_, v);
    return *this;
  }
  int step() { return sqlite3_step(stmt_); }
  std::string textAt(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  int64_t integerAt(int col) const { return sqlite3_column_int64(stmt_, col); }
  TimePoint timeAt(int col) const { return fromUnixMs(integerAt(col)); }

 private:
  sqlite3_stmt* stmt_;
  int bound_ = 0;
};

SqliteStore::SqliteStore(std::string path, DbPtr db, Clock& clock)
    : path_(std::move(path)), clock_(clock), db_(std::move(db)) {}

SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, Clock& clock) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    return fail(ErrorCode::kIo, path + ": cannot open: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, std::move(db), clock));
  std::lock_guard lock(store->mu_);
  // Read the version before changing anything (even the journal mode): a newer shoal's file is
  // left exactly as it was.
  auto version = store->schemaVersion();
  if (!version) return std::unexpected(version.error());
  if (*version > kSchemaVersion) {
    return fail(ErrorCode::kInvalid, path + ": schema version " + std::to_string(*version) +
                                         " is newer than this shoal (knows up to " + std::to_string(kSchemaVersion) +
                                         "); refusing to touch it");
  }
  if (auto s = store->configure(); !s) return std::unexpected(s.error());
  if (*version < kSchemaVersion) {
    if (auto s = store->migrate(); !s) return std::unexpected(s.error());
  }
  return store;
}

// WAL lets the API thread read while the loop writes, and survives kill -9 mid-write.
//
// synchronous=NORMAL, not FULL: in WAL mode NORMAL still writes every commit to the WAL before the
// call returns, so a crashed or killed shoal loses nothing it was told was written; only an OS
// crash or power cut can lose the last few commits (never corrupting the file). FULL would fsync
// on every commit, and the loop commits on every journal step and event. Losing the newest
// journal entries to a power cut is survivable by design: every container shoal creates carries
// its labels and a deterministic name, and the reconciler compares against what Docker reports,
// so a step whose intent was lost is seen as done (or not) in Docker rather than repeated blindly;
// Docker's own state is no more durable than that across the same power cut.
Status SqliteStore::configure() {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_.get(), "PRAGMA journal_mode=WAL", -1, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc == SQLITE_OK) rc = sqlite3_step(raw);
  if (rc != SQLITE_ROW) return std::unexpected(readError(rc, "journal mode"));
  std::string mode = reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
  if (mode != "wal") {
    return fail(ErrorCode::kIo, path_ + ": cannot switch to WAL journal mode (it stays `" + mode + "`)");
  }
  if (auto s = exec("PRAGMA synchronous=NORMAL", "synchronous mode"); !s) return s;
  return exec("PRAGMA foreign_keys=ON", "foreign keys mode");
}

// 0 for a new (or empty) file: no `meta` table yet.
Result<int> SqliteStore::schemaVersion() {
  auto has = statement("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'");
  if (!has) return std::unexpected(has.error());
  bool hasMeta = false;
  {
    Query q(*has);
    int rc = q.step();
    if (rc != SQLITE_ROW) return std::unexpected(readError(rc, "schema version"));
    hasMeta = q.integerAt(0) > 0;
  }
  if (!hasMeta) return 0;
  auto get = statement("SELECT value FROM meta WHERE key = 'schema_version'");
  if (!get) return std::unexpected(get.error());
  Query q(*get);
  int rc = q.step();
  if (rc == SQLITE_DONE) return 0;
  if (rc != SQLITE_ROW) return std::unexpected(readError(rc, "schema version"));
  std::string text = q.textAt(0);
  int version = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return fail(ErrorCode::kInvalid, path_ + ": schema version `" + text + "` in meta is not a number");
  }
  return version;
}

Status SqliteStore::migrate() {
  if (auto s = exec("BEGIN IMMEDIATE", "schema migration"); !s) return s;
  auto status = [&]() -> Status {
    // Read again inside the write lock: another process may have migrated meanwhile.
    auto from = schemaVersion();
    if (!from) return std::unexpected(from.error());
    for (const Migration& m : kMigrations) {
      if (m.version <= *from) continue;
      if (auto s = exec(m.sql, "schema version " + std::to_string(m.version)); !s) return s;
    }
    auto set = statement("INSERT INTO meta(key, value) VALUES(?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!set) return std::unexpected(set.error());
    {
      Query q(*set);
      q.text("schema_version").text(std::to_string(kSchemaVersion));
      if (auto s = write(q, "schema version"); !s) return s;
    }
    Query q(*set);
    q.text("schema_migrated_at").text(formatTime(clock_.now()));
    if (auto s = write(q, "schema migration time"); !s) return s;
    logger("reconcile")->info("{}: schema migrated from version {} to {}", path_, *from, kSchemaVersion);
    return ok();
  }();
  if (!status) {
    exec("ROLLBACK", "schema migration rollback");
    return status;
  }
  return exec("COMMIT", "schema migration");
}

Status SqliteStore::exec(const char* sql, std::string_view what) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &msg);
  sqlite3_free(msg);  // `writeError` reads the same text from `sqlite3_errmsg`.
  if (rc != SQLITE_OK) return std::unexpected(writeError(rc, what));
  return ok();
}

Result<sqlite3_stmt*> SqliteStore::statement(const char* sql) {
  if (auto it = stmts_.find(std::string_view(sql)); it != stmts_.end()) return it->second.get();
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return std::unexpected(readError(rc, std::string("statement `") + sql + "`"));
  stmts_.emplace(std::string_view(sql), std::move(stmt));
  return raw;
}

Result<SqliteStore::Query> SqliteStore::query(const char* sql) {
  auto stmt = statement(sql);
  if (!stmt) return std::unexpected(stmt.error());
  return Query(*stmt);
}

Status SqliteStore::write(Query& query, std::string_view what) {
  int rc = query.step();
  if (rc != SQLITE_DONE) return std::unexpected(writeError(rc, what));
  return ok();
}

Error SqliteStore::writeError(int rc, std::string_view what) const {
  int primary = rc & 0xff;
  // ENOSPC surfaces as SQLITE_FULL from a WAL write, but as an I/O error from some other VFS calls
  // (growing the shared-memory index).
  if (primary == SQLITE_FULL || (primary == SQLITE_IOERR && sqlite3_system_errno(db_.get()) == ENOSPC)) {
    return Error{ErrorCode::kIo, path_ + ": disk full while writing " + std::string(what), true};
  }
  bool busy = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
  return Error{ErrorCode::kIo,
               path_ + ": writing " + std::string(what) + " failed: " + sqlite3_errmsg(db_.get()), busy};
}

Error SqliteStore::readError(int rc, std::string_view what) const {
  int primary = rc & 0xff;
  if (primary == SQLITE_NOTADB) {
    return Error{ErrorCode::kIo, path_ + ": not a SQLite database (" + sqlite3_errmsg(db_.get()) +
                                     "); refusing to touch it", false};
  }
  bool busy = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
  return Error{ErrorCode::kIo,
               path_ + ": reading " + std::string(what) + " failed: " + sqlite3_errmsg(db_.get()), busy};
}

// --- StateStore ---

#define SHOAL_QUERY(var, sql)                                   \
  auto var = query(sql);                                        \
  if (!var) return std::unexpected(var.error())

Result<std::optional<std::string>> SqliteStore::getMeta(const std::string& key) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "SELECT value FROM meta WHERE key = ?");
  q->text(key);
  int rc = q->step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return std::unexpected(readError(rc, "meta `" + key + "`"));
  return q->textAt(0);
}

Status SqliteStore::setMeta(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  q->text(key).text(value);
  return write(*q, "meta `" + key + "`");
}

Result<std::optional<CommitOutcome>> SqliteStore::commitOutcome(const std::string& commit) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "SELECT outcome, detail, at FROM commits WHERE id = ?");
  q->text(commit);
  int rc = q->step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return std::unexpected(readError(rc, "outcome of commit " + commit));
  return CommitOutcome{q->textAt(0), q->textAt(1), q->timeAt(2)};
}

Status SqliteStore::setCommitOutcome(const std::string& commit, const CommitOutcome& outcome) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "INSERT INTO commits(id, outcome, detail, at) VALUES(?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                 "SET outcome = excluded.outcome, detail = excluded.detail, at = excluded.at");
  q->text(commit).text(outcome.outcome).text(outcome.detail).integer(toUnixMs(outcome.at));
  return write(*q, "outcome `" + outcome.outcome + "` of commit " + commit);
}

Result<std::map<std::string, AppRecord>> SqliteStore::apps() {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "SELECT name, record FROM apps");
  std::map<std::string, AppRecord> out;
  int rc;
  while ((rc = q->step()) == SQLITE_ROW) {
    std::string name = q->textAt(0);
    auto record = appFromJson(q->textAt(1));
    if (!record) return fail(ErrorCode::kIo, path_ + ": the record of app `" + name + "` is not valid JSON");
    record->name = name;
    out.emplace(name, std::move(*record));
  }
  if (rc != SQLITE_DONE) return std::unexpected(readError(rc, "apps"));
  return out;
}

Status SqliteStore::putApp(const AppRecord& record) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "INSERT INTO apps(name, record) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET record = excluded.record");
  q->text(record.name).text(appToJson(record));
  return write(*q, "record of app `" + record.name + "`");
}

Status SqliteStore::deleteApp(const std::string& name) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "DELETE FROM apps WHERE name = ?");
  q->text(name);
  return write(*q, "deletion of app `" + name + "`");
}

Result<int64_t> SqliteStore::journalBegin(const JournalEntry& e) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "INSERT INTO journal(op, app, container, detail, state, started, finished) "
                 "VALUES(?, ?, ?, ?, 'intent', ?, 0)");
  q->text(e.op).text(e.app).text(e.container).text(e.detail).integer(toUnixMs(e.started));
  if (auto s = write(*q, "journal intent `" + e.op + " " + e.container + "`"); !s) return std::unexpected(s.error());
  return sqlite3_last_insert_rowid(db_.get());
}

Status SqliteStore::journalFinish(int64_t id, bool ok, const std::string& detail, TimePoint at) {
  std::lock_guard lock(mu_);
  // An empty `detail` keeps the one written at `journalBegin`.
  SHOAL_QUERY(q, "UPDATE journal SET state = ?1, detail = CASE WHEN ?2 = '' THEN detail ELSE ?2 END, "
                 "finished = ?3 WHERE id = ?4");
  q->text(ok ? "done" : "failed").text(detail).integer(toUnixMs(at)).integer(id);
  if (auto s = write(*q, "end of journal entry " + std::to_string(id)); !s) return s;
  if (sqlite3_changes(db_.get()) == 0) {
    return fail(ErrorCode::kNotFound, path_ + ": journal entry " + std::to_string(id) + " does not exist");
  }
  return shoal::ok();
}

Result<std::vector<JournalEntry>> SqliteStore::journalOpen() {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "SELECT id, op, app, container, detail, state, started, finished FROM journal "
                 "WHERE state = 'intent' ORDER BY id");
  std::vector<JournalEntry> out;
  int rc;
  while ((rc = q->step()) == SQLITE_ROW) {
    out.push_back(JournalEntry{q->integerAt(0), q->textAt(1), q->textAt(2), q->textAt(3), q->textAt(4),
                               q->textAt(5), q->timeAt(6), q->timeAt(7)});
  }
  if (rc != SQLITE_DONE) return std::unexpected(readError(rc, "open journal entries"));
  return out;
}

Status SqliteStore::journalTrim(int keep) {
  std::lock_guard lock(mu_);
  // Open intents are never trimmed: they are what a restart must resume.
  SHOAL_QUERY(q, "DELETE FROM journal WHERE state != 'intent' AND id <= (SELECT id FROM journal "
                 "WHERE state != 'intent' ORDER BY id DESC LIMIT 1 OFFSET ?)");
  q->integer(std::max(keep, 0));
  return write(*q, "journal trim");
}

Result<int64_t> SqliteStore::appendEvent(const Event& e) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "INSERT INTO events(at, level, kind, app, commit_id, message) VALUES(?, ?, ?, ?, ?, ?)");
  q->integer(toUnixMs(e.at)).text(e.level).text(e.kind).text(e.app).text(e.commit).text(e.message);
  if (auto s = write(*q, "event `" + e.kind + "`"); !s) return std::unexpected(s.error());
  return sqlite3_last_insert_rowid(db_.get());
}

Result<std::vector<Event>> SqliteStore::events(int64_t since, int limit) {
  std::vector<Event> out;
  if (limit <= 0) return out;
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "SELECT seq, at, level, kind, app, commit_id, message FROM events WHERE seq > ? "
                 "ORDER BY seq LIMIT ?");
  q->integer(since).integer(limit);
  int rc;
  while ((rc = q->step()) == SQLITE_ROW) {
    out.push_back(Event{q->integerAt(0), q->timeAt(1), q->textAt(2), q->textAt(3), q->textAt(4), q->textAt(5),
                        q->textAt(6)});
  }
  if (rc != SQLITE_DONE) return std::unexpected(readError(rc, "events"));
  return out;
}

Status SqliteStore::eventsTrim(int keep) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "DELETE FROM events WHERE seq <= (SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?)");
  q->integer(std::max(keep, 0));
  return write(*q, "events trim");
}

Result<std::optional<std::string>> SqliteStore::cachedImage(const std::string& tree, const std::string& app) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "SELECT image FROM builds WHERE tree = ? AND app = ?");
  q->text(tree).text(app);
  int rc = q->step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return std::unexpected(readError(rc, "cached image of app `" + app + "`"));
  return q->textAt(0);
}

Status SqliteStore::putCachedImage(const std::string& tree, const std::string& app, const std::string& image,
                                   TimePoint at) {
  std::lock_guard lock(mu_);
  SHOAL_QUERY(q, "INSERT INTO builds(tree, app, image, at) VALUES(?, ?, ?, ?) ON CONFLICT(tree, app) DO UPDATE "
                 "SET image = excluded.image, at = excluded.at");
  q->text(tree).text(app).text(image).integer(toUnixMs(at));
  return write(*q, "cached image of app `" + app + "`");
}

#undef SHOAL_QUERY

}  // namespace shoal
