// Discovery without I/O: addresses, the address file, building sources, and discoverAll's merge,
// order, dedupe and skipping over sources of every behaviour.
#include "cluster/discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

namespace shoal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

PeerAddress a(const std::string& host, int port) { return {host, port}; }

// A source that answers what the test says, fails, or throws.
class ScriptedSource : public DiscoverySource {
 public:
  explicit ScriptedSource(std::string name, Result<std::vector<PeerAddress>> answer, bool throws = false)
      : name_(std::move(name)), answer_(std::move(answer)), throws_(throws) {}
  Result<std::vector<PeerAddress>> discover(Duration timeout) override {
    last_timeout_ = timeout;
    if (throws_) throw std::runtime_error("oops");
    return answer_;
  }
  std::string describe() const override { return name_; }
  Duration last_timeout_{0};

 private:
  std::string name_;
  Result<std::vector<PeerAddress>> answer_;
  bool throws_;
};

DiscoverySourcePtr staticOf(std::vector<std::string> addresses) {
  DiscoverySourceConfig c;
  c.kind = DiscoveryKind::kStatic;
  c.addresses = std::move(addresses);
  auto source = makeDiscoverySource(c);
  EXPECT_TRUE(source) << source.error().message;
  return std::move(*source);
}

TEST(PeerAddressTest, EveryWrittenForm) {
  EXPECT_EQ(parsePeerAddress("10.0.0.2:7440"), a("10.0.0.2", 7440));
  EXPECT_EQ(parsePeerAddress("n1.example"), a("n1.example", kDefaultPeerPort));
  EXPECT_EQ(parsePeerAddress("[::1]:7441"), a("::1", 7441));
  EXPECT_EQ(parsePeerAddress("[::1]"), a("::1", kDefaultPeerPort));
  EXPECT_EQ(parsePeerAddress("fe80::1"), a("fe80::1", kDefaultPeerPort));
  EXPECT_EQ(parsePeerAddress("n1", 53), a("n1", 53));
  EXPECT_EQ(a("::1", 7443).str(), "[::1]:7443");
  EXPECT_EQ(a("h", 1).str(), "h:1");
}

TEST(PeerAddressTest, BadAddressesSayWhy) {
  auto why = [](const std::string& text) { return parsePeerAddress(text).error().message; };
  EXPECT_EQ(why(""), "bad address \"\": empty");
  EXPECT_EQ(why("h:0"), "bad address \"h:0\": port must be a number from 1 to 65535");
  EXPECT_EQ(why("h:65536"), "bad address \"h:65536\": port must be a number from 1 to 65535");
  EXPECT_EQ(why("h:x"), "bad address \"h:x\": port must be a number from 1 to 65535");
  EXPECT_EQ(why("a b"), "bad address \"a b\": spaces are not allowed");
  EXPECT_EQ(why(":7440"), "bad address \":7440\": missing host");
  EXPECT_EQ(why("h:1:2"), "bad address \"h:1:2\": too many ':' (write an IPv6 address as [address]:port)");
  EXPECT_EQ(why("[::1"), "bad address \"[::1\": missing ']' after the IPv6 address");
  EXPECT_EQ(why("[nope]:1"), "bad address \"[nope]:1\": \"nope\" is not an IPv6 address");
  EXPECT_EQ(why("h/x:1"), "bad address \"h/x:1\": a host has only letters, digits, '.', '-' and '_'");
  EXPECT_EQ(parsePeerAddress("h:x").error().code, ErrorCode::kInvalid);
}

TEST(AddressFileTest, LinesCommentsAndIpv6) {
  auto peers = parseAddressFile(
      "# peers of the acme cluster\n"
      "10.0.0.2:7440\n"
      "\n"
      "  n3.acme.internal   # the default port\r\n"
      "[::1]:7443\n"
      "10.0.0.4:7441");  // no final newline
  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_THAT(*peers, ElementsAre(a("10.0.0.2", 7440), a("n3.acme.internal", kDefaultPeerPort), a("::1", 7443),
                                  a("10.0.0.4", 7441)));
  EXPECT_THAT(*parseAddressFile(""), IsEmpty());
  EXPECT_THAT(*parseAddressFile("# nobody yet\n\n"), IsEmpty());
}

TEST(AddressFileTest, ABadLineIsReportedWithItsNumber) {
  auto peers = parseAddressFile("# header\n10.0.0.2:7440\n\nh:x\nok:1\n");
  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().message, "line 4: bad address \"h:x\": port must be a number from 1 to 65535");
  EXPECT_EQ(parseAddressFile("<html>\n").error().message,
            "line 1: bad address \"<html>\": a host has only letters, digits, '.', '-' and '_'");
  EXPECT_EQ(parseAddressFile("a:1 b:2\n").error().message, "line 1: bad address \"a:1 b:2\": spaces are not allowed");
}

TEST(DiscoveryFactoryTest, StaticListsItsAddressesInOrder) {
  auto source = staticOf({"10.0.0.3:7440", "10.0.0.2:7441", "n1", "[::1]:9"});
  EXPECT_EQ(source->describe(), "static");
  EXPECT_FALSE(source->publishes());
  EXPECT_THAT(*source->discover(Duration(100)),
              ElementsAre(a("10.0.0.3", 7440), a("10.0.0.2", 7441), a("n1", kDefaultPeerPort), a("::1", 9)));
  EXPECT_THAT(*staticOf({})->discover(Duration(100)), IsEmpty());
}

TEST(DiscoveryFactoryTest, RefusesConfigsThatCanNeverWork) {
  auto error = [](DiscoverySourceConfig c) {
    auto source = makeDiscoverySource(c);
    EXPECT_FALSE(source);
    return source ? std::string() : source.error().message;
  };
  EXPECT_EQ(error({.kind = DiscoveryKind::kStatic, .addresses = {"10.0.0.1:7440", "10.0.0.1:99999"}}),
            "static: bad address \"10.0.0.1:99999\": port must be a number from 1 to 65535");
  EXPECT_EQ(error({.kind = DiscoveryKind::kUrl, .url = "ftp://h/p"}),
            "url: \"ftp://h/p\" is not an http:// or https:// URL");
  EXPECT_EQ(error({.kind = DiscoveryKind::kUrl, .url = "http://"}), "url: \"http://\" is not an http:// or https:// URL");
  EXPECT_EQ(error({.kind = DiscoveryKind::kDns, .name = "bad name"}), "dns: \"bad name\" is not a DNS name");
  EXPECT_EQ(error({.kind = DiscoveryKind::kDns, .name = "shoal", .port = 0}), "dns: port must be from 1 to 65535");
  EXPECT_EQ(error({.kind = DiscoveryKind::kDns, .name = "shoal", .server = "not a server!"}),
            "dns: server \"not a server!\" is not an IPv4 address with an optional :port");
  EXPECT_EQ(error({.kind = DiscoveryKind::kGit, .repo = "--upload-pack=x", .mirror_dir = "/m"}),
            "git: repo may not start with '-'");
  EXPECT_EQ(error({.kind = DiscoveryKind::kGit, .repo = "/r", .path = "../../etc/passwd", .mirror_dir = "/m"}),
            "git: path \"../../etc/passwd\" must be a file inside the repo (relative, no '..')");
  EXPECT_EQ(error({.kind = DiscoveryKind::kGit, .repo = "/r", .path = "/etc/passwd", .mirror_dir = "/m"}),
            "git: path \"/etc/passwd\" must be a file inside the repo (relative, no '..')");
  EXPECT_EQ(error({.kind = DiscoveryKind::kGit, .repo = "/r", .branch = "-x", .mirror_dir = "/m"}),
            "git: \"-x\" is not a branch name");
  EXPECT_EQ(error({.kind = DiscoveryKind::kGit, .repo = "/r"}), "git: mirror_dir is required");
}

TEST(DiscoveryFactoryTest, BuildsEveryKindWithoutIo) {
  DiscoveryConfig config;
  config.sources = {{.kind = DiscoveryKind::kStatic, .addresses = {"n1:1"}},
                    {.kind = DiscoveryKind::kUrl, .url = "http://127.0.0.1:1/peers.txt"},
                    {.kind = DiscoveryKind::kDns, .name = "shoal.test.", .server = "127.0.0.1:5353"},
                    {.kind = DiscoveryKind::kGit, .repo = "/srv/peers.git", .mirror_dir = "/nonexistent/m", .publish = true}};
  auto sources = makeDiscoverySources(config);
  ASSERT_TRUE(sources) << sources.error().message;
  ASSERT_EQ(sources->size(), 4u);
  EXPECT_EQ((*sources)[1]->describe(), "url http://127.0.0.1:1/peers.txt");
  EXPECT_EQ((*sources)[2]->describe(), "dns shoal.test");
  EXPECT_EQ((*sources)[3]->describe(), "git /srv/peers.git peers.txt@main");
  EXPECT_TRUE((*sources)[3]->publishes());
  config.sources.push_back({.kind = DiscoveryKind::kDns, .name = ""});
  EXPECT_EQ(makeDiscoverySources(config).error().message, "discovery.sources[4]: dns: \"\" is not a DNS name");
}

TEST(DiscoverAllTest, KeepsSourceOrderAndRemovesDuplicates) {
  std::vector<DiscoverySourcePtr> sources;
  sources.push_back(std::make_unique<ScriptedSource>("one", std::vector{a("n2", 1), a("n1", 1)}));
  sources.push_back(staticOf({"n1:1", "n3:1"}));
  sources.push_back(std::make_unique<ScriptedSource>("empty", std::vector<PeerAddress>{}));
  sources.push_back(std::make_unique<ScriptedSource>("four", std::vector{a("n2", 1), a("n4", 1), a("n2", 2)}));
  auto result = discoverAll(sources, Duration(1000));
  EXPECT_THAT(result.peers, ElementsAre(a("n2", 1), a("n1", 1), a("n3", 1), a("n4", 1), a("n2", 2)));
  EXPECT_THAT(result.skipped, IsEmpty());
}

TEST(DiscoverAllTest, SkipsFailingSourcesWithTheirReasons) {
  std::vector<DiscoverySourcePtr> sources;
  sources.push_back(staticOf({"n1:1"}));
  sources.push_back(std::make_unique<ScriptedSource>("url http://x/p", unavailable("url http://x/p: HTTP 500")));
  sources.push_back(std::make_unique<ScriptedSource>("buggy", std::vector<PeerAddress>{}, /*throws=*/true));
  auto* last = new ScriptedSource("last", std::vector{a("n2", 1)});
  sources.push_back(DiscoverySourcePtr(last));
  auto result = discoverAll(sources, Duration(750));
  EXPECT_THAT(result.peers, ElementsAre(a("n1", 1), a("n2", 1)));
  ASSERT_EQ(result.skipped.size(), 2u);
  EXPECT_EQ(result.skipped[0].source, "url http://x/p");
  EXPECT_EQ(result.skipped[0].reason, "url http://x/p: HTTP 500");
  EXPECT_EQ(result.skipped[1].source, "buggy");
  EXPECT_EQ(result.skipped[1].reason, "buggy: oops");
  EXPECT_EQ(last->last_timeout_, Duration(750)) << "each source gets the round's timeout";
}

TEST(DiscoverAllTest, NoSourcesNoPeers) {
  auto result = discoverAll({}, Duration(100));
  EXPECT_THAT(result.peers, IsEmpty());
  EXPECT_THAT(result.skipped, IsEmpty());
}

TEST(PublishAllTest, OnlySourcesThatPublishAreAsked) {
  std::vector<DiscoverySourcePtr> sources;
  sources.push_back(staticOf({"n1:1"}));
  auto report = publishAll(sources, a("10.0.0.5", 7443));
  EXPECT_THAT(report.published, IsEmpty());
  EXPECT_THAT(report.errors, IsEmpty());
  EXPECT_EQ(sources[0]->publish(a("10.0.0.5", 7443)).error().message,
            "static: this kind of source cannot be published to");
}

}  // namespace
}  // namespace shoal
