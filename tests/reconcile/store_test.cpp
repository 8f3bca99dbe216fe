// `SqliteStore` on real files: the shared contract, then what only a real file can show (reopen,
// WAL, migrations, refusals, kill -9 mid-write, a full disk, threads).
#include "reconcile/sqlite_store.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "tests/reconcile/store_contract_test.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "shoal-store-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::unique_ptr<SqliteStore> openOrDie(const std::string& path, Clock& clock) {
  auto store = SqliteStore::open(path, clock);
  if (!store) {
    ADD_FAILURE() << store.error().str();
    return nullptr;
  }
  return std::move(*store);
}

struct SqliteEnv {
  explicit SqliteEnv(Clock& clock) : sqlite(openOrDie(dir.file("state.db"), clock)) {}
  StateStore& store() { return *sqlite; }
  TempDir dir;
  std::unique_ptr<SqliteStore> sqlite;
};
using SqliteEnvs = ::testing::Types<SqliteEnv>;
INSTANTIATE_TYPED_TEST_SUITE_P(SqliteStoreContract, StoreContractTest, SqliteEnvs);

// Runs `sql` on its own connection (as another tool would) and returns the first column of the
// first row, or "" when there is none.
std::string sqlOne(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int rc = sqlite3_step(stmt);
  EXPECT_TRUE(rc == SQLITE_ROW || rc == SQLITE_DONE) << sqlite3_errmsg(db);
  if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SqliteStoreTest, ReopenKeepsEverything) {
  TempDir dir;
  FakeClock clock;
  TimePoint t0 = clock.now();
  int64_t openId = 0;
  {
    auto s = openOrDie(dir.file("state.db"), clock);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->setMeta("applied_commit", "abc"));
    ASSERT_TRUE(s->setCommitOutcome("abc", {"healthy", "ok", t0}));
    ASSERT_TRUE(s->putApp(AppRecord{"web", "h1", "{}", "abc", "", "", ""}));
    openId = s->journalBegin(JournalEntry{0, "create", "web", "web-1", "", "", t0, {}}).value();
    ASSERT_TRUE(s->appendEvent(event("commit.applied", "applied abc", t0)));
    ASSERT_TRUE(s->putCachedImage("tree1", "web", "shoal/web:tree1", t0));
  }
  auto s = openOrDie(dir.file("state.db"), clock);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->getMeta("applied_commit").value(), "abc");
  EXPECT_EQ(s->getMeta("schema_version").value(), "1");
  EXPECT_EQ(s->commitOutcome("abc").value()->outcome, "healthy");
  EXPECT_EQ(s->apps().value().at("web").good_hash, "h1");
  auto open = s->journalOpen().value();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, openId);
  EXPECT_EQ(open[0].container, "web-1");
  EXPECT_EQ(s->events(0, 10).value().at(0).message, "applied abc");
  EXPECT_EQ(s->cachedImage("tree1", "web").value(), "shoal/web:tree1");
}

TEST(SqliteStoreTest, WalModeIsOn) {
  TempDir dir;
  FakeClock clock;
  auto s = openOrDie(dir.file("state.db"), clock);
  ASSERT_TRUE(s);
  EXPECT_EQ(sqlOne(dir.file("state.db"), "PRAGMA journal_mode"), "wal");
}

TEST(SqliteStoreTest, MigratesAnEmptyFileToVersion1) {
  TempDir dir;
  FakeClock clock;
  std::ofstream(dir.file("state.db")).close();  // zero bytes: SQLite reads it as an empty database
  {
    auto s = openOrDie(dir.file("state.db"), clock);
    ASSERT_TRUE(s);
    EXPECT_EQ(SqliteStore::kSchemaVersion, 1);
    EXPECT_EQ(s->getMeta("schema_version").value(), "1");
    EXPECT_EQ(s->getMeta("schema_migrated_at").value(), formatTime(clock.now()));
  }
  EXPECT_EQ(sqlOne(dir.file("state.db"),
                   "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'table' "
                   "AND name NOT LIKE 'sqlite_%' ORDER BY name)"),
            "apps builds commits events journal meta");
}

TEST(SqliteStoreTest, RefusesANewerSchemaVersionWithoutTouchingTheFile) {
  TempDir dir;
  FakeClock clock;
  std::string path = dir.file("state.db");
  sqlOne(path, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  sqlOne(path, "INSERT INTO meta VALUES('schema_version', '3')");
  std::string before = readFile(path);

  auto s = SqliteStore::open(path, clock);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(s.error().message,
            path + ": schema version 3 is newer than this shoal (knows up to 1); refusing to touch it");
  EXPECT_EQ(readFile(path), before);
  EXPECT_EQ(sqlOne(path, "PRAGMA journal_mode"), "delete");
}

TEST(SqliteStoreTest, RefusesAFileThatIsNotSqlite) {
  TempDir dir;
  FakeClock clock;
  std::string path = dir.file("state.db");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "applied_commit: abc\n";
  std::ofstream(path) << text;

  auto s = SqliteStore::open(path, clock);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find(path + ": not a SQLite database"), std::string::npos) << s.error().str();
  EXPECT_EQ(readFile(path), text);
}

TEST(SqliteStoreTest, AMissingDirectoryIsAnIoErrorNamingThePath) {
  TempDir dir;
  FakeClock clock;
  std::string path = dir.file("no/such/dir/state.db");
  auto s = SqliteStore::open(path, clock);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().str();
}

}  // namespace
}  // namespace shoal
