// etcd's v3 gateway JSON (etcd_json.h) and log lines (etcd_log.h), from answers captured from
// etcd 3.4.23: no etcd needed.
#include "cluster/etcd_json.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cluster/etcd_log.h"

namespace shoal::etcd {
namespace {

const char* kHeader = R"("header":{"cluster_id":"4413430038002765639","member_id":"12911485159315342585","revision":"3","raft_term":"2"})";

std::string withHeader(const std::string& rest) { return std::string("{") + kHeader + (rest.empty() ? "" : "," + rest) + "}"; }

TEST(GatewayJson, AnUnparsedReplyIsRetryableAndQuotesTheStartOfTheBody) {
  Error e = unparsedReply("https://10.0.0.2:2379", "put", 502, "<html>" + std::string(300, 'x'));
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_TRUE(e.retryable);
  EXPECT_EQ(e.message, "etcd https://10.0.0.2:2379: put: HTTP 502: <html>" + std::string(194, 'x'));
}

TEST(GatewayJson, Base64RoundTripsEveryLength) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("a"), "YQ==");
  EXPECT_EQ(base64Encode("ab"), "YWI=");
  EXPECT_EQ(base64Encode("abc"), "YWJj");
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (size_t n = 0; n < bytes.size(); n += 7) {
    auto back = base64Decode(base64Encode(bytes.substr(0, n)));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, bytes.substr(0, n));
  }
  EXPECT_FALSE(base64Decode("Y!=="));
  EXPECT_FALSE(base64Decode("YWJjY"));
}

TEST(GatewayJson, PrefixEndRaisesTheLastByteBelow0xff) {
  EXPECT_EQ(prefixEnd("/shoal/nodes/"), "/shoal/nodes0");
  EXPECT_EQ(prefixEnd("a\xff"), "b");
  EXPECT_EQ(prefixEnd("a\xfe\xff\xff"), "a\xff");
  EXPECT_EQ(prefixEnd(""), std::string(1, '\0'));
  EXPECT_EQ(prefixEnd("\xff\xff"), std::string(1, '\0'));
}

TEST(GatewayJson, RangeWithLeftOutFields) {
  // An empty value and a lease of 0 are left out; int64s are strings.
  auto kvs = parseRange(withHeader(
      R"("kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1"},)"
      R"({"key":"Yw==","create_revision":"3","mod_revision":"5","version":"2","value":"eA==","lease":"358495896599795984"}],"count":"2")"));
  ASSERT_TRUE(kvs) << kvs.error().str();
  ASSERT_EQ(kvs->size(), 2u);
  EXPECT_EQ((*kvs)[0].key, "a");
  EXPECT_EQ((*kvs)[0].value, "");
  EXPECT_EQ((*kvs)[0].lease, 0);
  EXPECT_EQ((*kvs)[1].value, "x");
  EXPECT_EQ((*kvs)[1].create_revision, 3);
  EXPECT_EQ((*kvs)[1].mod_revision, 5);
  EXPECT_EQ((*kvs)[1].lease, 358495896599795984);
  auto none = parseRange(withHeader(""));  // no keys: no "kvs"
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(parseRange("not json"));
  EXPECT_FALSE(parseRange(withHeader(R"("kvs":[{"key":"!!"}])")));
  EXPECT_FALSE(parseRange(withHeader(R"("kvs":[{"key":"YQ==","mod_revision":"x"}])")));
}

TEST(GatewayJson, PutIfAbsentBothBranches) {
  auto won = parsePutIfAbsent(withHeader(R"("succeeded":true,"responses":[{"response_put":{"header":{"revision":"3"}}}])"));
  ASSERT_TRUE(won) << won.error().str();
  EXPECT_TRUE(won->succeeded);
  // A failed compare has no "succeeded"; the failure branch's read carries the current key.
  auto lost = parsePutIfAbsent(withHeader(
      R"("responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","value":"eA=="}],"count":"1"}}])"));
  ASSERT_TRUE(lost) << lost.error().str();
  EXPECT_FALSE(lost->succeeded);
  ASSERT_TRUE(lost->current);
  EXPECT_EQ(lost->current->value, "x");
  EXPECT_EQ(lost->current->create_revision, 2);
  EXPECT_FALSE(parsePutIfAbsent(withHeader("")));
}

TEST(GatewayJson, PutIfAbsentRequestComparesCreateRevisionZero) {
  std::string body = putIfAbsentBody("k", "v", 7);
  EXPECT_NE(body.find(R"("target":"CREATE")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("create_revision":"0")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("lease":"7")"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("request_range")"), std::string::npos) << body;
  EXPECT_EQ(putBody("k", "v", 0).find("lease"), std::string::npos);
}

TEST(GatewayJson, LeaseAnswers) {
  auto id = parseGrant(withHeader(R"("ID":"358495896599795974","TTL":"2")"));
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, 358495896599795974);
  EXPECT_FALSE(parseGrant(withHeader("")));
  // keepalive is a stream: one document per line, inside "result".
  auto alive = parseKeepAlive("{\"result\":{" + std::string(kHeader) + R"(,"ID":"358495896599795984","TTL":"5"}})" + "\n");
  ASSERT_TRUE(alive) << alive.error().str();
  EXPECT_EQ(*alive, 5);
  auto gone = parseKeepAlive("{\"result\":{" + std::string(kHeader) + R"(,"ID":"12345"}})" + "\n");
  ASSERT_TRUE(gone) << gone.error().str();
  EXPECT_EQ(*gone, 0);
}

TEST(GatewayJson, Errors) {
  auto unary = parseError(R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})");
  ASSERT_TRUE(unary);
  EXPECT_EQ(unary->code, 5);
  EXPECT_EQ(unary->message, "etcdserver: requested lease not found");
  auto stream = parseError(R"({"error":{"grpc_code":14,"http_code":503,"message":"connection closed","http_status":"Service Unavailable"}})");
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->code, 14);
  EXPECT_EQ(stream->message, "connection closed");
  EXPECT_FALSE(parseError(withHeader("")));
  EXPECT_FALSE(parseError("<html>"));
}

TEST(GatewayJson, MemberList) {
  auto list = parseMemberList(
      R"({"header":{"cluster_id":"4413430038002765639","member_id":"12911485159315342585","raft_term":"2"},)"
      R"("members":[{"ID":"12911485159315342585","name":"n","peerURLs":["https://127.0.0.1:23792"],"clientURLs":["https://127.0.0.1:23791"]}]})");
  ASSERT_TRUE(list) << list.error().str();
  EXPECT_EQ(list->self_id, "12911485159315342585");  // a uint64 beyond int64: kept as text
  ASSERT_EQ(list->members.size(), 1u);
  EXPECT_EQ(list->members[0].name, "n");
  EXPECT_EQ(list->members[0].peer_urls, std::vector<std::string>{"https://127.0.0.1:23792"});
  EXPECT_EQ(memberUpdateBody("12911485159315342585", {"https://10.0.0.3:2380"}),
            R"({"ID":"12911485159315342585","peerURLs":["https://10.0.0.3:2380"]})");
}

TEST(ZapLog, ZapLinesAreShortened) {
  EXPECT_EQ(compactEtcdLogLine(
                R"({"level":"fatal","ts":"2026-11-27T18:58:01.673Z","caller":"etcdmain/etcd.go:271","msg":"discovery failed",)"
                R"("error":"listen tcp 127.0.0.1:2380: bind: address already in use","stacktrace":"go.etcd.io/etcd/etcdmain.startEtcdOrProxyV2\n\tgo.etcd.io"})"),
            "fatal discovery failed: listen tcp 127.0.0.1:2380: bind: address already in use");
  EXPECT_EQ(compactEtcdLogLine(R"({"level":"info","msg":"say \"hi\""})"), "info say \"hi\"");
  EXPECT_EQ(compactEtcdLogLine("panic: boom"), "panic: boom");
  EXPECT_EQ(compactEtcdLogLine(std::string(400, 'x')).size(), 303u);
}

TEST(ZapLog, TailReadsOnlyFromTheOffset) {
  auto path = std::filesystem::temp_directory_path() / ("etcd-log-test-" + std::to_string(::getpid()));
  {
    std::ofstream out(path);
    out << "old run\n";
  }
  uint64_t offset = std::filesystem::file_size(path);
  {
    std::ofstream out(path, std::ios::app);
    for (int i = 1; i <= 8; ++i) out << R"({"level":"info","msg":"line )" << i << "\"}\n";
  }
  uint64_t before_repeats = std::filesystem::file_size(path);
  {
    std::ofstream out(path, std::ios::app);
    for (int i = 0; i < 3; ++i) out << R"({"level":"warn","msg":"rejected connection"})" << "\n";
    out << "last\n";
  }
  EXPECT_EQ(etcdLogTail(path, before_repeats, 2), "warn rejected connection (x3) | last");
  std::filesystem::resize_file(path, before_repeats);
  EXPECT_EQ(etcdLogTail(path, offset, 3), "info line 6 | info line 7 | info line 8");
  EXPECT_EQ(etcdLogTail(path, offset, 100).find("old run"), std::string::npos);
  EXPECT_NE(etcdLogTail(path, 0, 100).find("old run"), std::string::npos);
  EXPECT_EQ(etcdLogTail(path, 1 << 30, 1), "info line 8");  // beyond the end: the file was replaced
  EXPECT_EQ(etcdLogTail("/nonexistent/etcd.log", 0), "");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace shoal::etcd
