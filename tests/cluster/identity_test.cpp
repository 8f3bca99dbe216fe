#include "cluster/identity.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/cluster/test_pki.h"

namespace shoal {
namespace {

using testing::makeTestCa;
using testing::TempDir;
using testing::TestCert;

const Duration kLifetime{90LL * 24 * 3600 * 1000};

class IdentityTest : public ::testing::Test {
 protected:
  IdentityTest() : ca_(makeTestCa(tmp_.path(), "cluster-ca", "test cluster CA", clock_.now())) {}

  IdentityOptions options(const TestCert& ca) const {
    IdentityOptions o;
    o.dir = tmp_.file("identity");
    o.ca_cert_file = ca.cert_file;
    o.ca_key_file = ca.key_file;
    o.common_name = "node-a";
    o.dns_names = {"node-a.example", "localhost"};
    o.ip_addresses = {"127.0.0.1", "::1"};
    o.lifetime = kLifetime;
    return o;
  }
  IdentityOptions options() const { return options(ca_); }

  static std::string read(const std::string& path) {
    auto text = pki::readFile(path, "test file");
    return text ? *text : "";
  }

  TempDir tmp_;
  FakeClock clock_;
  TestCert ca_;
};

TEST_F(IdentityTest, FirstStartMakesKeyCertAndId) {
  auto id = ensureIdentity(options(), clock_);
  ASSERT_TRUE(id) << id.error().str();
  EXPECT_EQ(id->node_id.size(), 16u);
  EXPECT_EQ(id->node_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat(id->key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto certs = pki::loadCerts(id->cert_file, "node cert");
  ASSERT_TRUE(certs);
  ASSERT_EQ(certs->size(), 2u);  // node, then CA
  EXPECT_EQ(pki::commonName((*certs)[1].get()), "test cluster CA");
  EXPECT_EQ(id->not_before, clock_.now() - Duration(5 * 60 * 1000));
  EXPECT_EQ(id->not_after, clock_.now() + kLifetime);
  auto key = pki::loadKey(id->key_file, "node key");
  ASSERT_TRUE(key);
  EXPECT_EQ(pki::publicKeyId(key->get()), id->node_id);
}

TEST_F(IdentityTest, CertVerifiesAgainstTheCaAndCarriesTheNames) {
  auto id = ensureIdentity(options(), clock_);
  ASSERT_TRUE(id) << id.error().str();
  EXPECT_EQ(testing::verifyCert(id->cert_file, ca_.cert_file, clock_.now()), "");
  auto certs = pki::loadCerts(id->cert_file, "node cert");
  X509* cert = certs->front().get();
  EXPECT_EQ(pki::commonName(cert), "node-a");
  EXPECT_EQ(pki::subjectAltNames(cert),
            (std::vector<std::string>{"node-a.example", "localhost", "127.0.0.1", "::1"}));
  EXPECT_NE(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER, 0u);
  EXPECT_NE(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT, 0u);
}

TEST_F(IdentityTest, RestartReusesKeyAndCert) {
  auto first = ensureIdentity(options(), clock_);
  ASSERT_TRUE(first);
  std::string cert_bytes = read(first->cert_file);
  std::string key_bytes = read(first->key_file);
  clock_.advance(Duration(3600 * 1000));
  auto second = ensureIdentity(options(), clock_);
  ASSERT_TRUE(second) << second.error().str();
  EXPECT_EQ(second->node_id, first->node_id);
  EXPECT_EQ(second->renew_at, first->renew_at);
  EXPECT_EQ(read(second->cert_file), cert_bytes);
  EXPECT_EQ(read(second->key_file), key_bytes);
}

TEST_F(IdentityTest, PastRenewAtReissuesWithTheSameKey) {
  auto first = ensureIdentity(options(), clock_);
  ASSERT_TRUE(first);
  std::string cert_bytes = read(first->cert_file);
  std::string key_bytes = read(first->key_file);
  clock_.set(first->renew_at - Duration(1));
  ASSERT_EQ(read(ensureIdentity(options(), clock_)->cert_file), cert_bytes);
  clock_.set(first->renew_at);
  auto second = ensureIdentity(options(), clock_);
  ASSERT_TRUE(second) << second.error().str();
  EXPECT_NE(read(second->cert_file), cert_bytes);
  EXPECT_EQ(read(second->key_file), key_bytes);
  EXPECT_EQ(second->node_id, first->node_id);
  EXPECT_GT(second->renew_at, clock_.now());
  EXPECT_EQ(testing::verifyCert(second->cert_file, ca_.cert_file, clock_.now()), "");
}

TEST_F(IdentityTest, RenewAtLiesBetween50And80PercentOfTheLifetime) {
  double lowest = 1, highest = 0;
  for (int i = 0; i < 50; ++i) {
    IdentityOptions o = options();
    o.dir = tmp_.file("identity-" + std::to_string(i));
    auto id = ensureIdentity(o, clock_);
    ASSERT_TRUE(id) << id.error().str();
    double life = static_cast<double>((id->not_after - id->not_before).count());
    double at = static_cast<double>((id->renew_at - id->not_before).count()) / life;
    EXPECT_GE(at, 0.5);
    EXPECT_LE(at, 0.8);
    lowest = std::min(lowest, at);
    highest = std::max(highest, at);
  }
  EXPECT_GT(highest - lowest, 0.05) << "renewal points are not spread out";
}

TEST_F(IdentityTest, ExpiredCertIsReissued) {
  auto first = ensureIdentity(options(), clock_);
  ASSERT_TRUE(first);
  std::string cert_bytes = read(first->cert_file);
  clock_.set(first->not_after + Duration(24 * 3600 * 1000));
  auto second = ensureIdentity(options(), clock_);
  ASSERT_TRUE(second) << second.error().str();
  EXPECT_NE(read(second->cert_file), cert_bytes);
  EXPECT_GT(second->not_after, clock_.now());
  EXPECT_EQ(second->node_id, first->node_id);
}

TEST_F(IdentityTest, CertOfAnotherCaIsReplaced) {
  TestCert other = makeTestCa(tmp_.path(), "other-ca", "other CA", clock_.now());
  auto first = ensureIdentity(options(other), clock_);
  ASSERT_TRUE(first);
  auto second = ensureIdentity(options(), clock_);
  ASSERT_TRUE(second) << second.error().str();
  EXPECT_EQ(second->node_id, first->node_id);
  EXPECT_EQ(testing::verifyCert(second->cert_file, ca_.cert_file, clock_.now()), "");
  EXPECT_NE(testing::verifyCert(second->cert_file, other.cert_file, clock_.now()), "");
}

TEST_F(IdentityTest, ChangedAddressesReissue) {
  auto first = ensureIdentity(options(), clock_);
  ASSERT_TRUE(first);
  IdentityOptions o = options();
  o.ip_addresses = {"10.1.2.3"};
  auto second = ensureIdentity(o, clock_);
  ASSERT_TRUE(second);
  auto certs = pki::loadCerts(second->cert_file, "node cert");
  EXPECT_EQ(pki::subjectAltNames(certs->front().get()),
            (std::vector<std::string>{"node-a.example", "localhost", "10.1.2.3"}));
}

TEST_F(IdentityTest, BadCaKeyFileIsNamed) {
  std::ofstream(ca_.key_file) << "not a key\n";
  auto id = ensureIdentity(options(), clock_);
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find(ca_.key_file), std::string::npos) << id.error().message;
  EXPECT_NE(id.error().message.find("not a PEM private key"), std::string::npos);
}

TEST_F(IdentityTest, CaKeyOfAnotherCaIsNamed) {
  TestCert other = makeTestCa(tmp_.path(), "other-ca", "other CA", clock_.now());
  IdentityOptions o = options();
  o.ca_key_file = other.key_file;
  auto id = ensureIdentity(o, clock_);
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find(other.key_file), std::string::npos) << id.error().message;
  EXPECT_NE(id.error().message.find("does not match"), std::string::npos);
}

TEST_F(IdentityTest, MissingCaCertIsNamed) {
  IdentityOptions o = options();
  o.ca_cert_file = tmp_.file("nope.crt");
  auto id = ensureIdentity(o, clock_);
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, ErrorCode::kNotFound);
  EXPECT_NE(id.error().message.find(o.ca_cert_file), std::string::npos) << id.error().message;
}

TEST_F(IdentityTest, CorruptNodeKeyIsAnErrorNotANewIdentity) {
  auto first = ensureIdentity(options(), clock_);
  ASSERT_TRUE(first);
  std::ofstream(first->key_file) << "garbage\n";
  auto second = ensureIdentity(options(), clock_);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find(first->key_file), std::string::npos);
}

TEST_F(IdentityTest, BadIpAddressIsRefused) {
  IdentityOptions o = options();
  o.ip_addresses = {"300.1.1.1"};
  auto id = ensureIdentity(o, clock_);
  ASSERT_FALSE(id);
  EXPECT_NE(id.error().message.find("300.1.1.1"), std::string::npos);
}

}  // namespace
}  // namespace shoal
