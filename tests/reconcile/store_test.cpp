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

// The child appends journal intents and events as fast as it can and reports each (id, seq) on a
// pipe only after both calls returned. The parent kills it mid-loop; every reported pair must be
// in the reopened file, and the file must be intact.
struct Written {
  int64_t journal_id;
  int64_t event_seq;
};

[[noreturn]] void writeUntilKilled(const std::string& path, int out) {
  FakeClock clock;
  auto store = SqliteStore::open(path, clock);
  if (!store) _exit(2);
  for (int i = 0;; ++i) {
    auto id = (*store)->journalBegin(JournalEntry{0, "create", "web", "web-" + std::to_string(i), "", "", {}, {}});
    auto seq = (*store)->appendEvent(event("container.created", "e" + std::to_string(i), clock.now()));
    if (!id || !seq) _exit(3);
    Written w{*id, *seq};
    if (write(out, &w, sizeof w) != static_cast<ssize_t>(sizeof w)) _exit(4);
  }
}

// Reads one record, waiting at most `timeout_ms` for it; false at EOF or timeout.
bool readWritten(int fd, Written& w, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  return read(fd, &w, sizeof w) == static_cast<ssize_t>(sizeof w);
}

TEST(SqliteStoreTest, KillNineMidWriteLosesNothingCommitted) {
  TempDir dir;
  std::string path = dir.file("state.db");
  FakeClock clock;
  ASSERT_TRUE(openOrDie(path, clock));  // created and migrated before the child races on it
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0) << strerror(errno);
  if (child == 0) {
    close(fds[0]);
    writeUntilKilled(path, fds[1]);
  }
  close(fds[1]);
  std::vector<Written> reported;
  Written w;
  while (reported.size() < 500 && readWritten(fds[0], w, 30000)) reported.push_back(w);
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(reported.size(), 500u) << "the child stopped early, status " << status;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  while (readWritten(fds[0], w, 0)) reported.push_back(w);  // what it reported before dying
  close(fds[0]);

  EXPECT_EQ(sqlOne(path, "PRAGMA integrity_check"), "ok");
  auto store = openOrDie(path, clock);
  ASSERT_TRUE(store);
  std::set<int64_t> open, seqs;
  auto journal = store->journalOpen().value();
  auto events = store->events(0, 1 << 30).value();
  for (const auto& e : journal) open.insert(e.id);
  for (const auto& e : events) seqs.insert(e.seq);
  for (const Written& r : reported) {
    EXPECT_TRUE(open.count(r.journal_id)) << "journal entry " << r.journal_id << " lost";
    EXPECT_TRUE(seqs.count(r.event_seq)) << "event " << r.event_seq << " lost";
  }
  // At most the one pair in flight was committed without being reported.
  EXPECT_LE(open.size(), reported.size() + 1);
  EXPECT_EQ(sqlOne(path, "PRAGMA integrity_check"), "ok");
}

// A 256 KiB tmpfs mounted over a temp dir: a disk that really fills. Needs root (tests run as root);
// a failed mount fails the test rather than skipping it.
class SqliteStoreFullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=256k") != 0) {
      FAIL() << "mount -t tmpfs -o size=256k tmpfs " << dir_.path() << ": " << strerror(errno)
             << " (this test needs root to fill a real disk)";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_ && umount2(dir_.path().c_str(), 0) != 0) {
      ADD_FAILURE() << "umount " << dir_.path() << ": " << strerror(errno);
      umount2(dir_.path().c_str(), MNT_DETACH);
    }
  }
  void grow() {
    ASSERT_EQ(mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_REMOUNT, "size=4m"), 0) << strerror(errno);
  }

  TempDir dir_;
  bool mounted_ = false;
  FakeClock clock_;
};

TEST_F(SqliteStoreFullDiskTest, AFullDiskIsARetryableIoErrorAndLosesNothing) {
  std::string path = dir_.file("state.db");
  auto store = openOrDie(path, clock_);
  ASSERT_TRUE(store);
  std::vector<int64_t> committed;
  std::optional<Error> error;
  std::string message(1000, 'x');
  for (int i = 0; i < 5000 && !error; ++i) {
    auto seq = store->appendEvent(event("container.created", message, clock_.now()));
    if (seq) {
      committed.push_back(*seq);
    } else {
      error = seq.error();
    }
  }
  ASSERT_TRUE(error) << "5000 KiB of events fit on a 256 KiB disk?";
  EXPECT_EQ(error->code, ErrorCode::kIo);
  EXPECT_TRUE(error->retryable);
  EXPECT_NE(error->message.find(path + ": disk full while writing event"), std::string::npos) << error->str();
  EXPECT_GT(committed.size(), 10u);

  // Still readable, on this connection and after a reopen on the full disk.
  EXPECT_EQ(store->events(0, 1 << 30).value().size(), committed.size());
  store.reset();
  store = openOrDie(path, clock_);
  ASSERT_TRUE(store);
  auto events = store->events(0, 1 << 30).value();
  ASSERT_EQ(events.size(), committed.size());
  EXPECT_EQ(events.back().seq, committed.back());

  // Space comes back: writes work again, and trimming keeps the newest.
  grow();
  auto after = store->appendEvent(event("commit.applied", "after", clock_.now()));
  ASSERT_TRUE(after) << after.error().str();
  ASSERT_TRUE(store->eventsTrim(5));
  store.reset();
  store = openOrDie(path, clock_);
  ASSERT_TRUE(store);
  events = store->events(0, 100).value();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events.back().seq, *after);
  EXPECT_EQ(events.front().seq, committed[committed.size() - 4]);
  EXPECT_EQ(sqlOne(path, "PRAGMA integrity_check"), "ok");
}

// The API thread reads events while the loop thread writes: every reader sees every event, in
// order, exactly once.
TEST(SqliteStoreTest, ReadersFollowAWriterOnOtherThreads) {
  TempDir dir;
  FakeClock clock;
  auto store = openOrDie(dir.file("state.db"), clock);
  ASSERT_TRUE(store);
  constexpr int kEvents = 2000;
  std::atomic<bool> writer_failed{false};
  std::thread writer([&] {
    for (int i = 0; i < kEvents; ++i) {
      bool ok = store->appendEvent(event("container.created", "e" + std::to_string(i), clock.now())).has_value() &&
                store->setMeta("last", std::to_string(i)).has_value();
      if (!ok) writer_failed = true;
    }
  });
  auto follow = [&](std::vector<std::string>& seen) {
    int64_t cursor = 0;
    // Bounded by passes, not by time: the writer finishes well within them.
    for (int pass = 0; pass < 10'000'000 && seen.size() < kEvents && !writer_failed; ++pass) {
      auto page = store->events(cursor, 64);
      if (!page) return;
      for (const Event& e : *page) {
        if (e.seq <= cursor) return;  // out of order: the check below fails
        cursor = e.seq;
        seen.push_back(e.message);
      }
      (void)store->getMeta("last");
    }
  };
  std::vector<std::string> a, b;
  std::thread ra([&] { follow(a); });
  std::thread rb([&] { follow(b); });
  writer.join();
  ra.join();
  rb.join();
  ASSERT_FALSE(writer_failed);
  ASSERT_EQ(a.size(), static_cast<size_t>(kEvents));
  ASSERT_EQ(b.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_EQ(a[i], "e" + std::to_string(i));
    ASSERT_EQ(b[i], "e" + std::to_string(i));
  }
  EXPECT_EQ(store->getMeta("last").value(), std::to_string(kEvents - 1));
}

}  // namespace
}  // namespace shoal
