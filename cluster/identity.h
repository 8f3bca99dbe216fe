// This node's identity: an EC P-256 key made at first start in `<data_dir>/identity/`, and a
// certificate for it signed by the cluster CA. The node id is derived from the public key (never
// from an address): the first 16 hex digits of SHA-256 over its DER SubjectPublicKeyInfo.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace shoal {

struct Identity {
  std::string node_id;
  std::string key_file;   // PEM, mode 0600
  std::string cert_file;  // PEM: node certificate followed by the cluster CA certificate
  TimePoint not_before{};
  TimePoint not_after{};
  TimePoint renew_at{};   // a random point at 50-80 % of the lifetime, fixed when issued
};

struct IdentityOptions {
  std::string dir;             // <data_dir>/identity
  std::string ca_cert_file;    // cluster CA
  std::string ca_key_file;
  std::string common_name;     // the node name
  std::vector<std::string> dns_names;  // SANs (also "localhost")
  std::vector<std::string> ip_addresses;  // SANs ("127.0.0.1")
  Duration lifetime{90LL * 24 * 3600 * 1000};
};

// Reuses the key always, and the certificate while it is valid, signed by this CA and before its
// renewal point; otherwise issues a new certificate for the same key (atomically replacing the
// file). Errors name the file and the reason (unreadable CA, key that doesn't match, ...).
Result<Identity> ensureIdentity(const IdentityOptions& options, const Clock& clock);

}  // namespace shoal
