#include "tests/cluster/test_pki.h"

#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace shoal::testing {
namespace {

using pki::PkeyPtr;
using pki::X509Ptr;

void check(bool okay, const std::string& what) {
  if (!okay) throw std::runtime_error(what + ": " + pki::lastSslError());
}

void addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509Ptr skeleton(EVP_PKEY* key, const std::string& cn, TimePoint now) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  static long serial = 1000;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
  time_t t = static_cast<time_t>(toUnixMs(now) / 1000);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), t - 3600);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), t + 365 * 24 * 3600);
  X509_NAME_add_entry_by_NID(X509_get_subject_name(cert.get()), NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_pubkey(cert.get(), key);
  return cert;
}

void save(const std::string& dir, const std::string& stem, X509* cert, EVP_PKEY* key) {
  check(pki::writeFileAtomic(dir + "/" + stem + ".crt", pki::certPem(cert), 0644).has_value(),
        stem);
  check(pki::writeFileAtomic(dir + "/" + stem + ".key", pki::keyPem(key), 0600).has_value(), stem);
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = "/tmp/shoal-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

TestCert makeTestCa(const std::string& dir, const std::string& stem, const std::string& cn,
                    TimePoint now) {
  PkeyPtr key = std::move(*pki::newEcKey());
  X509Ptr cert = skeleton(key.get(), cn, now);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  addExt(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExt(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  addExt(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  check(X509_sign(cert.get(), key.get(), EVP_sha256()) != 0, "sign CA");
  save(dir, stem, cert.get(), key.get());
  return {dir + "/" + stem + ".crt", dir + "/" + stem + ".key"};
}

TestCert makeTestLeaf(const std::string& dir, const std::string& stem, const std::string& cn,
                      const TestCert& ca, const std::string& eku, TimePoint now) {
  X509Ptr ca_cert = std::move(pki::loadCerts(ca.cert_file, "test CA")->front());
  PkeyPtr ca_key = std::move(*pki::loadKey(ca.key_file, "test CA key"));
  PkeyPtr key = std::move(*pki::newEcKey());
  X509Ptr cert = skeleton(key.get(), cn, now);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  addExt(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExt(cert.get(), ca_cert.get(), NID_ext_key_usage, eku);
  addExt(cert.get(), ca_cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  check(X509_sign(cert.get(), ca_key.get(), EVP_sha256()) != 0, "sign leaf");
  save(dir, stem, cert.get(), key.get());
  return {dir + "/" + stem + ".crt", dir + "/" + stem + ".key"};
}

std::string verifyCert(const std::string& cert_file, const std::string& ca_file, TimePoint at,
                       int purpose) {
  auto certs = pki::loadCerts(cert_file, "certificate");
  auto cas = pki::loadCerts(ca_file, "CA");
  if (!certs || !cas) return "cannot load";
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, cas->front().get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, certs->front().get(), nullptr);
  X509_STORE_CTX_set_time(ctx, 0, static_cast<time_t>(toUnixMs(at) / 1000));
  X509_STORE_CTX_set_purpose(ctx, purpose);
  std::string out;
  if (X509_verify_cert(ctx) != 1)
    out = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return out;
}

}  // namespace shoal::testing
