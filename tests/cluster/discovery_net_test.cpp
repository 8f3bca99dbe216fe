// Discovery against real servers the test runs on 127.0.0.1: an HTTP server (blocking sockets on a
// thread), a UDP DNS responder whose messages are encoded by hand, and bare git repos made with
// the git CLI. Nothing leaves the loopback interface.
#include "cluster/discovery.h"

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

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
namespace fs = std::filesystem;

PeerAddress a(const std::string& host, int port) { return {host, port}; }

// A socket bound to 127.0.0.1 on a port the kernel picks.
int boundSocket(int type) {
  int fd = socket(AF_INET, type, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

int portOf(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// ---- HTTP: answers {path -> (status, body)}, 404 for anything else; one request per connection.
class HttpServer {
 public:
  explicit HttpServer(std::map<std::string, std::pair<int, std::string>> routes) : routes_(std::move(routes)) {
    fd_ = boundSocket(SOCK_STREAM);
    listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpServer() {
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(portOf(fd_)) + path; }

 private:
  void serve() {
    for (;;) {
      int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      std::string request;
      char buf[1024];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(conn, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      auto start = request.find(' ') + 1;
      std::string path = request.substr(start, request.find(' ', start) - start);
      auto it = routes_.find(path);
      auto [status, body] = it == routes_.end() ? std::pair<int, std::string>{404, "not found"} : it->second;
      std::string response = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      send(conn, response.data(), response.size(), MSG_NOSIGNAL);
      close(conn);
    }
  }

  std::map<std::string, std::pair<int, std::string>> routes_;
  int fd_ = -1;
  std::thread thread_;
};

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

// ---- DNS: a UDP responder answering A and SRV questions from a zone, NXDOMAIN for other names.
struct SrvRecord {
  uint16_t priority, weight, port;
  std::string target;
};
struct ZoneEntry {
  std::vector<SrvRecord> srv{};
  std::vector<std::string> a{};
};

void put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

std::string encodeName(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<char>(dot - start));
    out += name.substr(start, dot - start);
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

class DnsServer {
 public:
  explicit DnsServer(std::map<std::string, ZoneEntry> zone) : zone_(std::move(zone)) {
    fd_ = boundSocket(SOCK_DGRAM);
    thread_ = std::thread([this] { serve(); });
  }
  ~DnsServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  std::string server() const { return "127.0.0.1:" + std::to_string(portOf(fd_)); }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;  // wakes to notice `stop_`
      unsigned char buf[512];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      std::string reply = answer(std::string(reinterpret_cast<char*>(buf), static_cast<size_t>(n)));
      sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  // The question's name (lower case, no final dot), and where the question ends.
  static std::pair<std::string, size_t> readName(const std::string& msg) {
    std::string name;
    size_t pos = 12;
    while (pos < msg.size() && msg[pos] != 0) {
      size_t len = static_cast<unsigned char>(msg[pos]);
      if (!name.empty()) name += '.';
      for (size_t i = 0; i < len; ++i) name += static_cast<char>(std::tolower(msg[pos + 1 + i]));
      pos += len + 1;
    }
    return {name, pos + 1};
  }

  std::string answer(const std::string& query) const {
    auto [name, qend] = readName(query);
    uint16_t qtype = static_cast<uint16_t>((static_cast<unsigned char>(query[qend]) << 8) |
                                           static_cast<unsigned char>(query[qend + 1]));
    auto it = zone_.find(name);
    std::vector<std::string> rdatas;
    uint16_t rtype = qtype;
    if (it != zone_.end() && qtype == 33) {
      for (const auto& s : it->second.srv) {
        std::string rd;
        put16(rd, s.priority), put16(rd, s.weight), put16(rd, s.port);
        rdatas.push_back(rd + encodeName(s.target));
      }
    } else if (it != zone_.end() && qtype == 1) {
      for (const auto& ip : it->second.a) {
        in_addr addr{};
        inet_pton(AF_INET, ip.c_str(), &addr);
        rdatas.emplace_back(reinterpret_cast<char*>(&addr), 4);
      }
    }
    std::string out = query.substr(0, 2);                  // the id
    put16(out, it == zone_.end() ? 0x8183 : 0x8180);       // response, RD, RA; NXDOMAIN or NOERROR
    put16(out, 1), put16(out, static_cast<uint16_t>(rdatas.size())), put16(out, 0), put16(out, 0);
    out += query.substr(12, qend + 4 - 12);                // the question
    for (const auto& rd : rdatas) {
      put16(out, 0xc00c), put16(out, rtype), put16(out, 1), put16(out, 0), put16(out, 60);  // name, type, IN, ttl
      put16(out, static_cast<uint16_t>(rd.size()));
      out += rd;
    }
    return out;
  }

  std::map<std::string, ZoneEntry> zone_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

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
