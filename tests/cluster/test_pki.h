// Test helpers: certificate authorities and leaf certificates made with the OpenSSL API in a temp
// dir, plus a temp dir that removes itself. Used by tests/cluster and tests/api.
#pragma once

#include <openssl/x509v3.h>

#include <string>

#include "cluster/pki.h"

namespace shoal::testing {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct TestCert {
  std::string cert_file;
  std::string key_file;
};

// Writes `<dir>/<stem>.crt` and `.key`: a self-signed EC P-256 CA valid from `now` - 1 h for 1
// year.
TestCert makeTestCa(const std::string& dir, const std::string& stem, const std::string& cn,
                    TimePoint now);
// Writes a leaf signed by `ca` with EKU `eku` ("clientAuth", "serverAuth,clientAuth").
TestCert makeTestLeaf(const std::string& dir, const std::string& stem, const std::string& cn,
                      const TestCert& ca, const std::string& eku, TimePoint now);

// Verifies `cert_file`'s first certificate against `ca_file` at time `at` for `purpose`
// (X509_PURPOSE_SSL_SERVER, X509_PURPOSE_SSL_CLIENT); "" or the reason.
std::string verifyCert(const std::string& cert_file, const std::string& ca_file, TimePoint at,
                       int purpose = X509_PURPOSE_SSL_SERVER);

}  // namespace shoal::testing
