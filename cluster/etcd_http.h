// The one place shoal's etcd clients touch libcurl: a JSON POST to etcd's v3 gateway over mTLS.
// `EtcdKv` (the store) and `EtcdProcess` (health checks, member updates) both go through it.
#pragma once

#include <curl/curl.h>

#include <string>

#include "common/clock.h"
#include "common/error.h"

namespace shoal {

// This node's certificate and key (from the cluster CA) and the cluster CA, the only trust anchor.
struct EtcdTls {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
};

struct EtcdReply {
  long status = 0;   // HTTP status; the body of a non-200 is etcd's gRPC error JSON
  std::string body;
};

// POSTs `body` to `endpoint` + `path` ("https://10.0.0.2:2379" + "/v3/kv/range"), the whole call
// (connect included) within `timeout`. Transport failures are kUnavailable, or kTimeout, both
// retryable, with a message naming the endpoint: "etcd https://127.0.0.1:2379: Couldn't connect to
// server". TLS failures say "TLS". Any HTTP status is a successful call; the caller reads it.
// A new curl handle per call: safe for concurrent use by multiple threads.
// mTLS between nodes, for a libcurl handle: this node's certificate and key, the cluster CA as the
// only trust anchor, the peer verified against it, and no host name check (addresses change;
// identity is the CA, not an address). Used for etcd calls and peer probes alike.
void setClusterTls(CURL* c, const EtcdTls& tls);

Result<EtcdReply> etcdPost(const std::string& endpoint, const std::string& path, const std::string& body,
                           const EtcdTls& tls, Duration timeout);

}  // namespace shoal
