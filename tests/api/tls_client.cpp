#include "tests/api/tls_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>

namespace shoal::testing {
namespace {

size_t appendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t captureHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  if (line.rfind("Allow:", 0) == 0 || line.rfind("allow:", 0) == 0) {
    auto* allow = static_cast<std::string*>(out);
    *allow = line.substr(6);
    allow->erase(0, allow->find_first_not_of(' '));
    allow->erase(allow->find_last_not_of("\r\n ") + 1);
  }
  return size * n;
}

std::string certInfo(CURL* curl) {
  curl_certinfo* info = nullptr;
  std::string out;
  if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) != CURLE_OK || info == nullptr) return out;
  if (info->num_of_certs > 0) {
    for (curl_slist* s = info->certinfo[0]; s != nullptr; s = s->next)
      out += std::string(s->data) + "\n";
  }
  return out;
}

long statusField(const char* name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) == 0) return std::stol(line.substr(std::string(name).size()));
  }
  return -1;
}

}  // namespace

HttpsClient::HttpsClient() : curl_(curl_easy_init()) {}
HttpsClient::~HttpsClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Fetch HttpsClient::get(const std::string& url, const FetchOptions& o) {
  CURL* curl = static_cast<CURL*>(curl_);
  Fetch f;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, o.method.c_str());
  curl_easy_setopt(curl, CURLOPT_CAINFO, o.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLCERT, o.cert_file.empty() ? nullptr : o.cert_file.c_str());
  curl_easy_setopt(curl, CURLOPT_SSLKEY, o.key_file.empty() ? nullptr : o.key_file.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, appendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &f.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, captureHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &f.allow);
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);  // a safety net, not a measurement
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_slist* headers = nullptr;
  for (const auto& h : o.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  f.curl_code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  f.curl_error = error;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &f.http_status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &f.new_connections);
  char* type = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type != nullptr) {
    f.content_type = type;
  }
  f.server_cert_info = certInfo(curl);
  return f;
}

int openRawConnection(int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      (!bytes.empty() && ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
                             static_cast<ssize_t>(bytes.size()))) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string halfClientHello() {
  // handshake record, TLS 1.0 record version, length 512; ClientHello of 508 bytes, version 1.2,
  // then 8 of the 32 random bytes, and nothing more.
  const unsigned char bytes[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03,
                                 0x03, 1,    2,    3,    4,    5,    6,    7,    8};
  return std::string(reinterpret_cast<const char*>(bytes), sizeof bytes);
}

bool waitForPeerClose(int fd, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
    // Anything the server sent before closing (a TLS alert) is read and skipped.
  }
  return false;
}

int countOpenFds() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

int countThreads() { return static_cast<int>(statusField("Threads:")); }
long rssKiB() { return statusField("VmRSS:"); }

}  // namespace shoal::testing
