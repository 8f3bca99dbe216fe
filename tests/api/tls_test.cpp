// The HTTPS server with real TLS on loopback: certificates from scripts/make-cas and
// ensureIdentity, libcurl as the client, raw sockets as port scanners.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/https_server.h"
#include "cluster/identity.h"
#include "tests/api/fake_backend.h"
#include "tests/api/tls_client.h"
#include "tests/cluster/test_pki.h"

#ifndef SHOAL_MAKE_CAS
#error "SHOAL_MAKE_CAS must name scripts/make-cas"
#endif

namespace shoal {
namespace {

using testing::Fetch;
using testing::FetchOptions;
using testing::HttpsClient;

// The PKI of one test run: a cluster with its CAs, and a foreign cluster's whose operator must be
// refused. Made once for all tests (make-cas takes a moment).
struct Pki {
  testing::TempDir dir;
  std::string ours, foreign;
  Identity node;
  IdentityOptions node_options;

  Pki() {
    ours = dir.file("ours");
    foreign = dir.file("foreign");
    runMakeCas(ours, "admin");
    runMakeCas(foreign, "mallory");
    node_options.dir = dir.file("identity");
    node_options.ca_cert_file = ours + "/cluster-ca.crt";
    node_options.ca_key_file = ours + "/cluster-ca.key";
    node_options.common_name = "node-a";
    node_options.dns_names = {"localhost"};
    node_options.ip_addresses = {"127.0.0.1"};
    SystemClock clock;
    auto id = ensureIdentity(node_options, clock);
    if (!id) throw std::runtime_error(id.error().str());
    node = *id;
  }
  static void runMakeCas(const std::string& out, const std::string& name) {
    std::string cmd = std::string(SHOAL_MAKE_CAS) + " " + out + " " + name + " >/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(); }
  static void TearDownTestSuite() { delete pki_; }

  void SetUp() override {
    backend_.setSnapshot({R"({"node":"node-a","ready":true})", "[]", "shoal_up 1\n"});
    backend_.setLogs("web", "hello\n");
  }
  HttpsServer::Options options() const {
    HttpsServer::Options o;
    o.address = "127.0.0.1";
    o.port = 0;
    o.cert_file = pki_->node.cert_file;
    o.key_file = pki_->node.key_file;
    o.client_ca_file = pki_->ours + "/operator-ca.crt";
    return o;
  }
  void startServer(HttpsServer::Options o) {
    server_ = std::make_unique<HttpsServer>(std::move(o), backend_);
    auto st = server_->start();
    ASSERT_TRUE(st) << st.error().str();
    ASSERT_NE(server_->port(), 0);
  }
  std::string url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  static FetchOptions as(const std::string& cert, const std::string& key) {
    return FetchOptions{"GET", pki_->ours + "/cluster-ca.crt", cert, key, {}};
  }
  static FetchOptions operatorCert() {
    return as(pki_->ours + "/operator-admin.crt", pki_->ours + "/operator-admin.key");
  }
  Fetch get(const std::string& path, FetchOptions o = operatorCert()) {
    HttpsClient client;
    return client.get(url(path), o);
  }

  static Pki* pki_;
  testing::FakeBackend backend_;
  std::unique_ptr<HttpsServer> server_;
};
Pki* TlsTest::pki_ = nullptr;

TEST_F(TlsTest, OperatorCertGetsTheStatus) {
  startServer(options());
  Fetch f = get("/v1/status");
  ASSERT_EQ(f.curl_code, 0) << f.curl_error;
  EXPECT_EQ(f.http_status, 200);
  EXPECT_EQ(f.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(f.body)["node"], "node-a");
}

TEST_F(TlsTest, NoClientCertIsRefused) {
  startServer(options());
  Fetch f = get("/v1/status", as("", ""));
  EXPECT_NE(f.curl_code, 0);
  EXPECT_EQ(f.http_status, 0) << f.body;
  std::cout << "refused: " << f.curl_error << "\n";
  EXPECT_EQ(backend_.lastSince(), -1);
}

TEST_F(TlsTest, CertOfAForeignOperatorCaIsRefused) {
  startServer(options());
  Fetch f = get("/v1/status", as(pki_->foreign + "/operator-mallory.crt",
                                 pki_->foreign + "/operator-mallory.key"));
  EXPECT_NE(f.curl_code, 0);
  EXPECT_EQ(f.http_status, 0) << f.body;
  std::cout << "refused: " << f.curl_error << "\n";
}

TEST_F(TlsTest, NodeCertOfTheClusterCaIsRefused) {
  startServer(options());
  Fetch f = get("/v1/status", as(pki_->node.cert_file, pki_->node.key_file));
  EXPECT_NE(f.curl_code, 0);
  EXPECT_EQ(f.http_status, 0) << f.body;
  std::cout << "refused: " << f.curl_error << "\n";
}

TEST_F(TlsTest, RoutesAndErrorsOverTls) {
  startServer(options());
  HttpsClient client;  // one connection, kept alive across requests
  Fetch apps = client.get(url("/v1/apps"), operatorCert());
  EXPECT_EQ(apps.http_status, 200);
  EXPECT_EQ(apps.body, "[]");
  Fetch logs = client.get(url("/v1/apps/web/logs?tail=5"), operatorCert());
  EXPECT_EQ(logs.http_status, 200);
  EXPECT_EQ(logs.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(logs.body, "hello\n");
  EXPECT_EQ(backend_.lastTail(), 5);
  EXPECT_EQ(logs.new_connections, 0) << "keep-alive did not reuse the connection";
  Fetch metrics = client.get(url("/metrics"), operatorCert());
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");

  FetchOptions post = operatorCert();
  post.method = "POST";
  Fetch refused = client.get(url("/v1/status"), post);
  EXPECT_EQ(refused.http_status, 405);
  EXPECT_EQ(refused.allow, "GET");
  for (const char* path : {"/v1/events?since=x", "/nope", "/v1/apps/ghost/logs"}) {
    Fetch f = client.get(url(path), operatorCert());
    EXPECT_GE(f.http_status, 400) << path;
    EXPECT_LT(f.http_status, 500) << path;
    EXPECT_EQ(f.content_type, "application/json") << path;
    EXPECT_TRUE(nlohmann::json::parse(f.body).contains("error")) << path << ": " << f.body;
  }
}

TEST_F(TlsTest, MalformedHttpIs400Json) {
  startServer(options());
  FetchOptions o = operatorCert();
  o.headers = {"Bad Header: x"};  // a space in a field name
  Fetch f = get("/v1/status", o);
  EXPECT_EQ(f.http_status, 400);
  EXPECT_TRUE(nlohmann::json::parse(f.body).contains("error")) << f.body;
}

TEST_F(TlsTest, NoSnapshotYetIs503) {
  testing::FakeBackend empty;
  server_ = std::make_unique<HttpsServer>(options(), empty);
  ASSERT_TRUE(server_->start());
  Fetch f = get("/v1/status");
  EXPECT_EQ(f.http_status, 503);
  EXPECT_TRUE(nlohmann::json::parse(f.body).contains("error"));
}

TEST_F(TlsTest, ReloadedCertificateIsServedToTheNextConnection) {
  testing::TempDir dir;
  IdentityOptions io = pki_->node_options;
  io.dir = dir.file("identity");
  SystemClock clock;
  auto id = ensureIdentity(io, clock);
  ASSERT_TRUE(id);
  HttpsServer::Options o = options();
  o.cert_file = id->cert_file;
  o.key_file = id->key_file;
  startServer(o);
  EXPECT_EQ(get("/v1/status").server_cert_info.find("renewed.example"), std::string::npos);

  io.dns_names.push_back("renewed.example");  // new names: ensureIdentity reissues in place
  ASSERT_TRUE(ensureIdentity(io, clock));
  ASSERT_TRUE(server_->reloadCertificate());
  Fetch f = get("/v1/status");
  EXPECT_EQ(f.http_status, 200);
  EXPECT_NE(f.server_cert_info.find("renewed.example"), std::string::npos) << f.server_cert_info;
}

TEST_F(TlsTest, BadFilesAreNamedAtStart) {
  testing::TempDir dir;
  std::string junk = dir.file("junk.pem");
  std::ofstream(junk) << "not a certificate\n";
  struct Case {
    std::string HttpsServer::Options::*field;
    std::string value;
  };
  for (const Case& c :
       {Case{&HttpsServer::Options::cert_file, junk}, Case{&HttpsServer::Options::key_file, junk},
        Case{&HttpsServer::Options::client_ca_file, junk},
        Case{&HttpsServer::Options::cert_file, dir.file("missing.crt")},
        Case{&HttpsServer::Options::key_file, pki_->ours + "/operator-ca.key"}}) {
    HttpsServer::Options o = options();
    o.*c.field = c.value;
    HttpsServer server(o, backend_);
    auto st = server.start();
    ASSERT_FALSE(st) << c.value;
    EXPECT_NE(st.error().message.find(c.value), std::string::npos) << st.error().message;
  }
}

TEST_F(TlsTest, BadReloadKeepsTheOldCertificate) {
  testing::TempDir dir;
  IdentityOptions io = pki_->node_options;
  io.dir = dir.file("identity");
  SystemClock clock;
  auto id = ensureIdentity(io, clock);
  ASSERT_TRUE(id);
  HttpsServer::Options o = options();
  o.cert_file = id->cert_file;
  o.key_file = id->key_file;
  startServer(o);
  std::ofstream(id->cert_file) << "truncated";
  auto st = server_->reloadCertificate();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find(id->cert_file), std::string::npos);
  EXPECT_EQ(get("/v1/status").http_status, 200);
}

// Polls `done` until it holds or `timeout_ms` pass (a safety net, not a measurement).
template <typename F>
bool eventually(F done, int timeout_ms = 20000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
    usleep(1000);  // poll interval
  }
  return true;
}

// The failure that ruled out cpprestsdk (doc/https-server.md): connections that never send a
// byte, or half a ClientHello, must neither block a real client nor outlive the handshake deadline.
TEST_F(TlsTest, IdleAndHalfOpenConnectionsAreClosedByTheHandshakeDeadline) {
  HttpsServer::Options o = options();
  o.handshake_timeout = Duration(1000);
  int threads_before = testing::countThreads();
  startServer(o);
  int server_threads = testing::countThreads() - threads_before;
  ASSERT_EQ(get("/v1/status").http_status, 200);  // warms up OpenSSL's one-time allocations
  ASSERT_TRUE(eventually([&] { return server_->openConnectionsForTest() == 0; }));
  int fds_before = testing::countOpenFds();
  long rss_before = testing::rssKiB();

  std::vector<int> clients;
  for (int i = 0; i < 300; ++i) clients.push_back(testing::openRawConnection(server_->port(), ""));
  for (int i = 0; i < 20; ++i) {
    clients.push_back(testing::openRawConnection(server_->port(), testing::halfClientHello()));
  }
  for (int fd : clients) ASSERT_GE(fd, 0);
  ASSERT_TRUE(eventually([&] { return server_->openConnectionsForTest() >= 256; }, 5000));
  int open_at_client = server_->openConnectionsForTest();
  int fds_peak = testing::countOpenFds() - static_cast<int>(clients.size());
  Fetch f = get("/v1/status");
  EXPECT_EQ(f.http_status, 200) << f.curl_error;
  long rss_peak = testing::rssKiB();

  for (size_t i = 0; i < clients.size(); ++i) {
    EXPECT_TRUE(testing::waitForPeerClose(clients[i], 20000))
        << "connection " << i << " still open";
  }
  ASSERT_TRUE(eventually([&] { return server_->openConnectionsForTest() == 0; }));
  int fds_after = testing::countOpenFds() - static_cast<int>(clients.size());
  long rss_after = testing::rssKiB();
  for (int fd : clients) ::close(fd);
  EXPECT_EQ(fds_after, fds_before);
  EXPECT_EQ(testing::countOpenFds(), fds_before);
  EXPECT_EQ(server_threads, 1);
  std::cout << "figures: connections=" << clients.size()
            << " open_when_client_served=" << open_at_client << " server_fds_before=" << fds_before
            << " peak=" << fds_peak << " after=" << fds_after << " rss_kib_before=" << rss_before
            << " peak=" << rss_peak << " after=" << rss_after
            << " threads_added_by_server=" << server_threads << "\n";
}

// cpprestsdk kept each of these in CLOSE-WAIT until it refused every client.
TEST_F(TlsTest, ConnectionsClosedBeforeAByteAreReleased) {
  startServer(options());  // the default 5 s deadline: EOF must close them, not the deadline
  ASSERT_EQ(get("/v1/status").http_status, 200);
  ASSERT_TRUE(eventually([&] { return server_->openConnectionsForTest() == 0; }));
  int fds_before = testing::countOpenFds();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 300; ++i) ::close(testing::openRawConnection(server_->port(), ""));
  ASSERT_TRUE(eventually([&] {
    return server_->openConnectionsForTest() == 0 && testing::countOpenFds() == fds_before;
  }));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start);
  EXPECT_EQ(get("/v1/status").http_status, 200);
  std::cout << "figures: 300 connections closed before a byte released in " << ms.count()
            << " ms\n";
}

TEST_F(TlsTest, AboveTheLimitTheOldestUnfinishedHandshakeIsEvicted) {
  HttpsServer::Options o = options();
  o.max_connections = 10;
  o.handshake_timeout = Duration(60000);  // only eviction can close them in this test
  startServer(o);
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) idle.push_back(testing::openRawConnection(server_->port(), ""));
  ASSERT_TRUE(eventually([&] { return server_->openConnectionsForTest() == 10; }));
  Fetch f = get("/v1/status");
  EXPECT_EQ(f.http_status, 200) << f.curl_error;
  EXPECT_TRUE(testing::waitForPeerClose(idle[0], 20000)) << "the oldest was not evicted";
  EXPECT_LE(server_->openConnectionsForTest(), 10);
  for (int fd : idle) ::close(fd);
}

TEST_F(TlsTest, AboveTheLimitWithEveryHandshakeDoneNewConnectionsAreRefused) {
  HttpsServer::Options o = options();
  o.max_connections = 2;
  startServer(o);
  HttpsClient a, b, c;  // a and b keep their connections alive
  EXPECT_EQ(a.get(url("/v1/status"), operatorCert()).http_status, 200);
  EXPECT_EQ(b.get(url("/v1/status"), operatorCert()).http_status, 200);
  Fetch refused = c.get(url("/v1/status"), operatorCert());
  EXPECT_NE(refused.curl_code, 0);
  EXPECT_EQ(a.get(url("/v1/status"), operatorCert()).http_status, 200);
}

}  // namespace
}  // namespace shoal
