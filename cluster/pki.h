// Small OpenSSL 3 helpers shared by the identity code and its tests: owning pointers, PEM files in
// and out, atomic file writes. Every error names the file and the reason.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace shoal::pki {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The reason of the last OpenSSL error on this thread ("no start line"), and clears the queue.
std::string lastSslError();

// Reads a whole file; `what` names it in errors ("cluster CA key").
Result<std::string> readFile(const std::string& path, const std::string& what);
// Writes tmp, fsyncs, renames over `path`, fsyncs the directory: readers see old or new, never
// half.
Status writeFileAtomic(const std::string& path, const std::string& data, int mode);

// The certificates of a PEM file, in order (at least one).
Result<std::vector<X509Ptr>> loadCerts(const std::string& path, const std::string& what);
Result<PkeyPtr> loadKey(const std::string& path, const std::string& what);
std::string certPem(X509* cert);
std::string keyPem(EVP_PKEY* key);  // PKCS#8, unencrypted

// A fresh EC P-256 key.
Result<PkeyPtr> newEcKey();
// First 16 hex digits of SHA-256 over the DER SubjectPublicKeyInfo.
std::string publicKeyId(EVP_PKEY* key);

TimePoint asn1ToTime(const ASN1_TIME* t);
// The DNS and IP subjectAltNames of a certificate ("localhost", "127.0.0.1").
std::vector<std::string> subjectAltNames(X509* cert);
std::string commonName(X509* cert);

}  // namespace shoal::pki
