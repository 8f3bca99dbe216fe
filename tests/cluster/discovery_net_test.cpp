// Discovery against real servers the test runs on 127.0.0.1: an HTTP server (blocking sockets on a
// thread), a UDP DNS responder whose messages are encoded by hand, and bare git repos made with
// the git CLI. Nothing leaves the loopback interface.
#include "cluster/discovery.h"

#include "tests/harness/net_servers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <thread>

// Read only by LeakSanitizer (the sanitizer build): libgit2 1.5.1 leaks pcre2 match data in its
// config scans (see tests/gitops/git_fixture.cpp), one per mirror these tests open.
extern "C" const char* __lsan_default_suppressions() { return "leak:libpcre2-8.so\n"; }

namespace shoal {
namespace {

using testing::boundSocket;
using testing::DnsServer;
using testing::HttpServer;
using testing::portOf;
using testing::SrvRecord;
using testing::ZoneEntry;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
namespace fs = std::filesystem;

PeerAddress a(const std::string& host, int port) { return {host, port}; }

DiscoverySourcePtr make(const DiscoverySourceConfig& config) {
  auto source = makeDiscoverySource(config);
  EXPECT_TRUE(source) << source.error().message;
  return std::move(*source);
}

TEST(DiscoveryUrlTest, ReadsTheServedFile) {
  HttpServer server({{"/peers.txt", {200, "# the acme peers\n10.0.0.2:7440\nn2\n[::1]:7443\n"}},
                     {"/empty.txt", {200, ""}}});
  auto source = make({.kind = DiscoveryKind::kUrl, .url = server.url("/peers.txt")});
  EXPECT_THAT(*source->discover(Duration(2000)),
              ElementsAre(a("10.0.0.2", 7440), a("n2", kDefaultPeerPort), a("::1", 7443)));
  auto empty = make({.kind = DiscoveryKind::kUrl, .url = server.url("/empty.txt")});
  EXPECT_THAT(*empty->discover(Duration(2000)), ::testing::IsEmpty());
}

TEST(DiscoveryUrlTest, NotFoundRefusedAndBadFilesAreSkippedWithTheirReasons) {
  HttpServer server({{"/peers.txt", {200, "n1:1\n"}}, {"/bad.txt", {200, "n1:1\n\nn2:x\n"}}, {"/oops", {500, "n3:1\n"}}});
  int closed = boundSocket(SOCK_STREAM);  // bound, never listening: connections are refused
  std::string refused = "http://127.0.0.1:" + std::to_string(portOf(closed)) + "/peers.txt";
  std::vector<DiscoverySourcePtr> sources;
  sources.push_back(make({.kind = DiscoveryKind::kUrl, .url = server.url("/missing.txt")}));
  sources.push_back(make({.kind = DiscoveryKind::kUrl, .url = refused}));
  sources.push_back(make({.kind = DiscoveryKind::kUrl, .url = server.url("/bad.txt")}));
  sources.push_back(make({.kind = DiscoveryKind::kUrl, .url = server.url("/oops")}));
  sources.push_back(make({.kind = DiscoveryKind::kUrl, .url = server.url("/peers.txt")}));
  auto result = discoverAll(sources, Duration(2000));
  close(closed);
  EXPECT_THAT(result.peers, ElementsAre(a("n1", 1)));
  ASSERT_EQ(result.skipped.size(), 4u);
  EXPECT_EQ(result.skipped[0].reason, "url " + server.url("/missing.txt") + ": HTTP 404");
  EXPECT_THAT(result.skipped[1].reason, HasSubstr("url " + refused + ": "));
  EXPECT_THAT(result.skipped[1].reason, HasSubstr("onnect"));  // curl: "Failed to connect ... refused"
  EXPECT_EQ(result.skipped[2].reason,
            "url " + server.url("/bad.txt") + ": line 3: bad address \"n2:x\": port must be a number from 1 to 65535");
  EXPECT_EQ(result.skipped[3].reason, "url " + server.url("/oops") + ": HTTP 500");
}

class DiscoveryDnsTest : public ::testing::Test {
 protected:
  DiscoverySourcePtr dns(const std::string& name, int port = kDefaultPeerPort) {
    return make({.kind = DiscoveryKind::kDns, .name = name, .port = port, .server = server_.server()});
  }
  std::string failure(const std::string& name) {
    auto peers = dns(name)->discover(Duration(2000));
    EXPECT_FALSE(peers);
    return peers ? "" : peers.error().message;
  }

  DnsServer server_{{
      {"shoal.test", {.srv = {{10, 0, 7441, "n3.shoal.test"}, {0, 5, 7440, "n1.shoal.test"}, {0, 50, 7442, "n2.shoal.test"}}}},
      {"n1.shoal.test", {.a = {"10.1.2.1", "10.1.2.11"}}},
      {"n2.shoal.test", {.a = {"10.1.2.2"}}},
      {"n3.shoal.test", {.a = {"10.1.2.3"}}},
      {"alias.shoal.test", {.a = {"10.1.3.1", "10.1.3.2", "10.1.3.3"}}},
      {"empty.shoal.test", {}},
      {"dangling.shoal.test", {.srv = {{0, 0, 7440, "gone.shoal.test"}}}},
  }};
};

TEST_F(DiscoveryDnsTest, SrvRecordsGiveTheirTargetsAddressesAndPorts) {
  EXPECT_THAT(*dns("shoal.test")->discover(Duration(2000)),
              ElementsAre(a("10.1.2.2", 7442),                      // priority 0, heaviest first
                          a("10.1.2.1", 7440), a("10.1.2.11", 7440),  // priority 0, lighter
                          a("10.1.2.3", 7441)));                     // priority 10
  EXPECT_EQ(dns("SHOAL.test.")->discover(Duration(2000))->size(), 4u) << "a final dot and any case: the same name";
}

TEST_F(DiscoveryDnsTest, ARecordsGetTheSourcesPortWhenThereIsNoSrv) {
  EXPECT_THAT(*dns("alias.shoal.test", 7450)->discover(Duration(2000)),
              ElementsAre(a("10.1.3.1", 7450), a("10.1.3.2", 7450), a("10.1.3.3", 7450)));
  EXPECT_THAT(*dns("n2.shoal.test")->discover(Duration(2000)), ElementsAre(a("10.1.2.2", kDefaultPeerPort)));
}

TEST_F(DiscoveryDnsTest, MissingNamesAndRecordsFailWithAReason) {
  EXPECT_EQ(failure("nope.shoal.test"), "dns nope.shoal.test: no such name nope.shoal.test (NXDOMAIN)");
  EXPECT_EQ(failure("empty.shoal.test"), "dns empty.shoal.test: no SRV or A records for empty.shoal.test");
  EXPECT_EQ(failure("dangling.shoal.test"), "dns dangling.shoal.test: no such name gone.shoal.test (NXDOMAIN)");
}

TEST_F(DiscoveryDnsTest, AnNxdomainSourceIsSkippedAndTheOthersKept) {
  std::vector<DiscoverySourcePtr> sources;
  sources.push_back(dns("nope.shoal.test"));
  sources.push_back(dns("n3.shoal.test"));
  auto result = discoverAll(sources, Duration(2000));
  EXPECT_THAT(result.peers, ElementsAre(a("10.1.2.3", kDefaultPeerPort)));
  ASSERT_EQ(result.skipped.size(), 1u);
  EXPECT_EQ(result.skipped[0].source, "dns nope.shoal.test");
  EXPECT_EQ(result.skipped[0].reason, "dns nope.shoal.test: no such name nope.shoal.test (NXDOMAIN)");
}

// ---- git: bare repos made with the git CLI.
std::string sh(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) throw std::runtime_error("command failed: " + cmd + "\n" + out);
  return out;
}

class DiscoveryGitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shoal-discovery-git-XXXXXX";
    tmp_ = mkdtemp(tmpl);
    repo_ = (tmp_ / "peers.git").string();
    sh("git init -q --bare -b main " + repo_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Commits `files` (path -> text) on main as an operator would.
  void commit(const std::map<std::string, std::string>& files) {
    fs::path work = tmp_ / "operator";
    if (!fs::exists(work)) sh("git clone -q " + repo_ + " " + work.string());
    for (const auto& [path, text] : files) std::ofstream(work / path) << text;
    sh("cd " + work.string() + " && git add -A && git -c user.name=op -c user.email=op@x commit -qm peers && "
       "git push -q origin HEAD:refs/heads/main");
  }
  DiscoverySourcePtr git(const std::string& node, const std::string& path = "peers.txt", const std::string& branch = "main") {
    return make({.kind = DiscoveryKind::kGit, .repo = repo_, .path = path, .branch = branch,
                 .mirror_dir = (tmp_ / ("mirror-" + node)).string(), .publish = true});
  }
  std::string show(const std::string& path) { return sh("git -C " + repo_ + " show main:" + path); }

  fs::path tmp_;
  std::string repo_;
};

TEST_F(DiscoveryGitTest, ReadsTheFileAtTheBranch) {
  commit({{"peers.txt", "# maintained by hand\n10.0.0.2:7440\nn3\n[::1]:7443\n"}, {"bad.txt", "{:peers []}\n"}});
  EXPECT_THAT(*git("a")->discover(Duration(5000)),
              ElementsAre(a("10.0.0.2", 7440), a("n3", kDefaultPeerPort), a("::1", 7443)));
  std::string head = "git " + repo_ + " ";
  EXPECT_EQ(git("b", "bad.txt")->discover(Duration(5000)).error().message,
            head + "bad.txt@main: bad.txt: line 1: bad address \"{:peers []}\": spaces are not allowed");
  EXPECT_EQ(git("c", "nope.txt")->discover(Duration(5000)).error().message, head + "nope.txt@main: no file nope.txt at main");
  EXPECT_EQ(git("d", "peers.txt", "dev")->discover(Duration(5000)).error().message,
            head + "peers.txt@dev: no branch dev in " + repo_);
  repo_ = (tmp_ / "missing.git").string();
  EXPECT_EQ(git("e")->discover(Duration(5000)).error().message,
            "git " + repo_ + " peers.txt@main: no such directory");
}

TEST_F(DiscoveryGitTest, PublishCreatesTheFileThenAddsAndKeepsTheRest) {
  auto node = git("a");
  EXPECT_EQ(node->publish(a("10.0.0.3", 7443)), PublishOutcome::kPublished) << "into an empty repo";
  EXPECT_EQ(show("peers.txt"), "10.0.0.3:7443\n");
  commit({{"README", "Hello world\n"}});
  EXPECT_EQ(git("b")->publish(a("::1", 7443)), PublishOutcome::kPublished);
  EXPECT_EQ(node->publish(a("10.0.0.3", 7443)), PublishOutcome::kUnchanged);
  EXPECT_EQ(show("peers.txt"), "10.0.0.3:7443\n[::1]:7443\n");
  EXPECT_EQ(show("README"), "Hello world\n");
  EXPECT_EQ(sh("git -C " + repo_ + " log -1 --format='%an <%ae> %s' main"), "shoal <shoal@localhost> shoal: publish [::1]:7443\n");
  EXPECT_THAT(*node->discover(Duration(5000)), ElementsAre(a("10.0.0.3", 7443), a("::1", 7443)));
  auto refused = git("c", "README")->publish(a("10.0.0.3", 7443));
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("README is not an address file, so it is not overwritten: line 1"));
  EXPECT_EQ(show("README"), "Hello world\n");
}

TEST_F(DiscoveryGitTest, TwoNodesPublishingAtOnceAreBothListed) {
  commit({{"peers.txt", "# the cluster\n"}});
  std::vector<PeerAddress> expected;
  for (int round = 0; round < 3; ++round) {  // a few rounds, so the race is met more than once
    auto one = git("one-" + std::to_string(round));
    auto two = git("two-" + std::to_string(round));
    PeerAddress first = a("10.0.1." + std::to_string(round), 7443), second = a("10.0.2." + std::to_string(round), 7443);
    std::latch start(2);
    Result<PublishOutcome> r1 = PublishOutcome::kUnchanged, r2 = PublishOutcome::kUnchanged;
    std::thread t1([&] { start.arrive_and_wait(); r1 = one->publish(first); });
    std::thread t2([&] { start.arrive_and_wait(); r2 = two->publish(second); });
    t1.join();
    t2.join();
    ASSERT_TRUE(r1) << r1.error().message;
    ASSERT_TRUE(r2) << r2.error().message;
    EXPECT_EQ(*r1, PublishOutcome::kPublished);
    EXPECT_EQ(*r2, PublishOutcome::kPublished);
    expected.push_back(first);
    expected.push_back(second);
  }
  auto listed = git("reader")->discover(Duration(5000));
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_THAT(*listed, ::testing::UnorderedElementsAreArray(expected));
  EXPECT_THAT(show("peers.txt"), ::testing::StartsWith("# the cluster\n"));
}

}  // namespace
}  // namespace shoal
