#include "cluster/identity.h"

#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <sstream>

#include "cluster/pki.h"
#include "common/log.h"

// Layout of `<data_dir>/identity/`:
//   node.key   the node's EC P-256 key (PKCS#8 PEM, 0600); made once, never replaced
//   node.crt   the node certificate followed by the cluster CA certificate
//   renew-at   "<unix ms> <serial hex>": when to reissue, rolled once per certificate. The serial
//              binds it to the certificate it was rolled for, so a crash between the two writes
//              can't pair a new certificate with an old renewal point.
namespace shoal {
namespace {

using pki::PkeyPtr;
using pki::X509Ptr;

constexpr Duration kClockSkew{5 * 60 * 1000};

struct CaPair {
  X509Ptr cert;
  PkeyPtr key;
};

struct RenewAt {
  TimePoint when{};
  std::string serial;
};

std::string serialHex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string out = hex;
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

Result<CaPair> loadCa(const IdentityOptions& o) {
  auto certs = pki::loadCerts(o.ca_cert_file, "cluster CA certificate");
  if (!certs) return std::unexpected(certs.error());
  auto key = pki::loadKey(o.ca_key_file, "cluster CA key");
  if (!key) return std::unexpected(key.error());
  X509Ptr cert = std::move(certs->front());
  if (X509_check_private_key(cert.get(), key->get()) != 1) {
    pki::lastSslError();
    return fail(ErrorCode::kInvalid, "cluster CA key " + o.ca_key_file +
                                         ": does not match the CA certificate " + o.ca_cert_file);
  }
  return CaPair{std::move(cert), std::move(*key)};
}

Result<PkeyPtr> loadOrMakeKey(const std::string& path) {
  if (std::filesystem::exists(path)) {
    auto key = pki::loadKey(path, "node key");
    if (!key) {
      Error e = key.error();
      e.message += " (it is this node's identity: repair it, or move it away to become a new node)";
      return std::unexpected(e);
    }
    return key;
  }
  auto key = pki::newEcKey();
  if (!key) return key;
  if (auto st = pki::writeFileAtomic(path, pki::keyPem(key->get()), 0600); !st) {
    return std::unexpected(st.error());
  }
  logger("cluster")->info("made a new node key {}", path);
  return key;
}

std::optional<RenewAt> readRenewAt(const std::string& path) {
  auto text = pki::readFile(path, "renewal point");
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  int64_t ms = 0;
  RenewAt r;
  if (!(in >> ms >> r.serial)) return std::nullopt;
  r.when = fromUnixMs(ms);
  return r;
}

// Why the certificate on disk can't be kept, or "" when it can.
std::string whyReissue(const std::vector<X509Ptr>& certs, EVP_PKEY* key, const CaPair& ca,
                       const std::optional<RenewAt>& renew, const IdentityOptions& o,
                       TimePoint now) {
  X509* cert = certs.front().get();
  if (X509_verify(cert, X509_get0_pubkey(ca.cert.get())) != 1) {
    pki::lastSslError();
    return "it is not signed by the current cluster CA";
  }
  if (certs.size() < 2 || X509_cmp(certs[1].get(), ca.cert.get()) != 0) {
    return "the CA certificate beside it is not the current one";
  }
  if (X509_check_private_key(cert, key) != 1) {
    pki::lastSslError();
    return "it is for a different key";
  }
  if (!renew || renew->serial != serialHex(cert)) return "its renewal point is missing";
  if (now >= pki::asn1ToTime(X509_get0_notAfter(cert))) return "it has expired";
  if (now >= renew->when) return "its renewal point has passed";
  if (pki::commonName(cert) != o.common_name) return "the node name changed";
  std::vector<std::string> want = o.dns_names;
  want.insert(want.end(), o.ip_addresses.begin(), o.ip_addresses.end());
  if (pki::subjectAltNames(cert) != want) return "its addresses (SANs) changed";
  return "";
}

Status addExtension(X509* cert, X509* ca, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr)
    return fail(ErrorCode::kInternal,
                std::string("extension ") + value + ": " + pki::lastSslError());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok();
}

// The SANs are built as GENERAL_NAMEs, not a config string, so a name can't smuggle in a comma.
Status addSubjectAltNames(X509* cert, const IdentityOptions& o) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  for (const auto& dns : o.dns_names) {
    GENERAL_NAME* n = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, dns.data(), static_cast<int>(dns.size()));
    GENERAL_NAME_set0_value(n, GEN_DNS, s);
    sk_GENERAL_NAME_push(names, n);
  }
  for (const auto& ip : o.ip_addresses) {
    ASN1_OCTET_STRING* addr = a2i_IPADDRESS(ip.c_str());
    if (addr == nullptr) {
      GENERAL_NAMES_free(names);
      pki::lastSslError();
      return fail(ErrorCode::kInvalid,
                  "identity: \"" + ip + "\" in ip_addresses is not an IP address");
    }
    GENERAL_NAME* n = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(n, GEN_IPADD, addr);
    sk_GENERAL_NAME_push(names, n);
  }
  int rc = sk_GENERAL_NAME_num(names) == 0
               ? 1
               : X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(names);
  if (rc != 1) return fail(ErrorCode::kInternal, "subjectAltName: " + pki::lastSslError());
  return ok();
}

void setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  bytes[0] &= 0x7f;  // positive, as RFC 5280 requires
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
}

Result<X509Ptr> issue(EVP_PKEY* key, const CaPair& ca, const IdentityOptions& o, TimePoint now) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  setRandomSerial(cert.get());
  // Valid a little in the past, so a peer whose clock lags ours accepts it at once.
  auto secs = [](TimePoint t) { return static_cast<time_t>(toUnixMs(t) / 1000); };
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), secs(now - kClockSkew));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), secs(now + o.lifetime));
  X509_NAME* name = X509_get_subject_name(cert.get());
  auto text = [](const std::string& s) {
    return reinterpret_cast<const unsigned char*>(s.c_str());
  };
  X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8, text("shoal node"), -1, -1,
                             0);
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, text(o.common_name), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.cert.get()));
  X509_set_pubkey(cert.get(), key);
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                            {NID_key_usage, "critical,digitalSignature,keyAgreement"},
                            {NID_ext_key_usage, "serverAuth,clientAuth"},
                            {NID_subject_key_identifier, "hash"},
                            {NID_authority_key_identifier, "keyid"}}) {
    if (auto st = addExtension(cert.get(), ca.cert.get(), nid, value); !st)
      return std::unexpected(st.error());
  }
  if (auto st = addSubjectAltNames(cert.get(), o); !st) return std::unexpected(st.error());
  if (X509_sign(cert.get(), ca.key.get(), EVP_sha256()) == 0) {
    return fail(ErrorCode::kInternal,
                "signing the node certificate with " + o.ca_key_file + ": " + pki::lastSslError());
  }
  return cert;
}

// A uniform point in [50 %, 80 %] of the certificate's life, so a fleet never renews at once.
TimePoint rollRenewAt(TimePoint not_before, TimePoint not_after) {
  uint32_t r = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&r), sizeof r);
  double fraction = 0.5 + 0.3 * (static_cast<double>(r) / 4294967295.0);
  auto life = static_cast<double>((not_after - not_before).count());
  return not_before + Duration(static_cast<int64_t>(life * fraction));
}

Status writeCert(const std::string& cert_file, const std::string& renew_file, X509* cert,
                 const CaPair& ca, TimePoint renew_at) {
  std::string renew = std::to_string(toUnixMs(renew_at)) + " " + serialHex(cert) + "\n";
  if (auto st = pki::writeFileAtomic(renew_file, renew, 0644); !st) return st;
  return pki::writeFileAtomic(cert_file, pki::certPem(cert) + pki::certPem(ca.cert.get()), 0644);
}

Status checkOptions(const IdentityOptions& o) {
  if (o.dir.empty()) return fail(ErrorCode::kInvalid, "identity: no directory given");
  if (o.common_name.empty())
    return fail(ErrorCode::kInvalid, "identity: no node name (common_name) given");
  if (o.lifetime < 2 * kClockSkew) {
    return fail(ErrorCode::kInvalid, "identity: certificate lifetime must be at least 10 minutes");
  }
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) return fail(ErrorCode::kIo, "identity directory " + o.dir + ": " + ec.message());
  ::chmod(o.dir.c_str(), 0700);
  return ok();
}

}  // namespace

Result<Identity> ensureIdentity(const IdentityOptions& o, const Clock& clock) {
  if (auto st = checkOptions(o); !st) return std::unexpected(st.error());
  auto ca = loadCa(o);
  if (!ca) return std::unexpected(ca.error());
  Identity id;
  id.key_file = o.dir + "/node.key";
  id.cert_file = o.dir + "/node.crt";
  std::string renew_file = o.dir + "/renew-at";
  auto key = loadOrMakeKey(id.key_file);
  if (!key) return std::unexpected(key.error());
  id.node_id = pki::publicKeyId(key->get());

  TimePoint now = clock.now();
  std::string why = "there is none";
  X509Ptr cert;
  std::optional<RenewAt> renew = readRenewAt(renew_file);
  if (std::filesystem::exists(id.cert_file)) {
    auto certs = pki::loadCerts(id.cert_file, "node certificate");
    why = certs ? whyReissue(*certs, key->get(), *ca, renew, o, now) : certs.error().message;
    if (why.empty()) cert = std::move(certs->front());
  }
  if (!cert) {
    auto issued = issue(key->get(), *ca, o, now);
    if (!issued) return std::unexpected(issued.error());
    cert = std::move(*issued);
    TimePoint nb = pki::asn1ToTime(X509_get0_notBefore(cert.get()));
    renew = RenewAt{rollRenewAt(nb, pki::asn1ToTime(X509_get0_notAfter(cert.get()))),
                    serialHex(cert.get())};
    if (auto st = writeCert(id.cert_file, renew_file, cert.get(), *ca, renew->when); !st) {
      return std::unexpected(st.error());
    }
    logger("cluster")->info("issued node certificate {} for {} (because {}); renews at {}",
                            id.cert_file, id.node_id, why, formatTime(renew->when));
  }
  id.not_before = pki::asn1ToTime(X509_get0_notBefore(cert.get()));
  id.not_after = pki::asn1ToTime(X509_get0_notAfter(cert.get()));
  id.renew_at = renew->when;
  return id;
}

}  // namespace shoal
