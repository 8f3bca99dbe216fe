// The REST status endpoint over mutual TLS: Boost.Beast on one named I/O thread.
//
// Only clients holding a certificate from the operator CA (`client_ca_file`) get past the
// handshake; node certificates (cluster CA) are refused. A connection must finish its handshake
// within `handshake_timeout` and each request within `request_timeout`, otherwise it is closed, so
// port scans, health checks and half-open clients never hold the server (see doc/https-server.md).
//
// Above `max_connections` open connections, a new connection evicts the oldest one that has not
// finished its handshake; when every connection has finished its handshake the new one is closed
// at once. A flood of idle connections thus rotates through the slots while a real client, which
// handshakes within milliseconds, gets served.
//
// Thread safety: all methods may be called from any thread; the backend is called from the I/O
// thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/api_backend.h"
#include "api/router.h"
#include "common/clock.h"
#include "common/error.h"

namespace shoal {

class HttpsServer {
 public:
  struct Options {
    std::string address = "0.0.0.0";
    uint16_t port = 0;           // 0: any free port, read it back with `port()`
    std::string cert_file;       // PEM chain: server certificate first
    std::string key_file;        // PEM
    std::string client_ca_file;  // the only CA whose clients get in: the operator CA for the status
                                 // endpoint, the cluster CA for the peer endpoint
    Duration handshake_timeout{5000};
    Duration request_timeout{10000};  // per request, and the idle limit of a kept-alive connection
    int max_connections = 256;
  };

  // Serves the status endpoint's routes (api/router.h) from `backend`.
  HttpsServer(Options options, ApiBackend& backend);
  // Serves whatever `handler` answers (the peer endpoint, for nodes of the cluster CA). Called on
  // the I/O thread; must not throw.
  using Handler = std::function<ApiResponse(const ApiRequest&)>;
  HttpsServer(Options options, Handler handler);
  ~HttpsServer();  // stops
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  // Loads the certificate, key and client CA (an error names the file and why), binds, and starts
  // the I/O thread "shoal-api". Call once.
  Status start();
  // The bound port, once started.
  uint16_t port() const;
  // Closes the listener and every connection, and joins the thread. Idempotent.
  void stop();
  // Reads `cert_file` and `key_file` again (after the node renewed its certificate): connections
  // accepted from now on present the new certificate; open ones keep theirs. On error the old
  // certificate stays in use.
  Status reloadCertificate();

  // Connections open now (accepted and not yet closed).
  int openConnectionsForTest() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal
