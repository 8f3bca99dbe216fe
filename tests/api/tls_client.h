// Test clients for the HTTPS server: libcurl for real requests (with or without a client
// certificate), raw TCP sockets for connections that never complete a handshake, and counters of
// this process's file descriptors, threads and memory.
#pragma once

#include <string>
#include <vector>

namespace shoal::testing {

struct Fetch {
  int curl_code = 0;  // CURLE_OK (0) when the exchange completed
  std::string curl_error;
  long http_status = 0;
  std::string content_type;
  std::string allow;  // the Allow header
  std::string body;
  std::string server_cert_info;  // the server certificate's fields, as libcurl lists them
  long new_connections = 0;
};

struct FetchOptions {
  std::string method = "GET";
  std::string ca_file;               // trusted for the server certificate
  std::string cert_file, key_file;   // the client certificate; none when empty
  std::vector<std::string> headers;  // extra request headers
};

// One client that keeps its connection between calls (HTTP/1.1 keep-alive).
class HttpsClient {
 public:
  HttpsClient();
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;
  Fetch get(const std::string& url, const FetchOptions& options);

 private:
  void* curl_;
};

// A TCP connection to 127.0.0.1:port that sends `bytes` (maybe none) and then nothing more. -1 on
// failure.
int openRawConnection(int port, const std::string& bytes);
// The first bytes of a TLS ClientHello: a record header promising 512 bytes, then a few of them.
std::string halfClientHello();
// Whether the peer has closed `fd` (EOF or reset) within `timeout_ms`.
bool waitForPeerClose(int fd, int timeout_ms);

int countOpenFds();  // entries of /proc/self/fd
int countThreads();  // "Threads:" of /proc/self/status
long rssKiB();       // "VmRSS:" of /proc/self/status

}  // namespace shoal::testing
