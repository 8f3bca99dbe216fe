#include "cluster/etcd_http.h"

#include <memory>
#include <mutex>
#include <vector>

#include <curl/curl.h>

#include "common/duration.h"

namespace shoal {
namespace {

struct CurlDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// curl_global_init is not guaranteed thread-safe on every build of libcurl; run it once.
void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

bool isTlsError(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

Error transportError(CURLcode rc, const char* errbuf, CURL* c, const std::string& endpoint, Duration timeout) {
  std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  std::string where = "etcd " + endpoint + ": ";
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return Error{ErrorCode::kTimeout, where + "no answer within " + formatDuration(timeout) + " (" + detail + ")",
                 true};
  if (isTlsError(rc)) return Error{ErrorCode::kUnavailable, where + "TLS: " + detail, true};
  // With TLS 1.3 the client finishes its handshake before the server has checked the client's
  // certificate; a refused certificate then shows up as a reset or an alert on the first
  // read or write, after the handshake. Say what it most likely means.
  curl_off_t tls_done = 0;
  curl_easy_getinfo(c, CURLINFO_APPCONNECT_TIME_T, &tls_done);
  if ((rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING) && tls_done > 0)
    return Error{ErrorCode::kUnavailable,
                 where + detail + " (TLS: the server closed the connection after the handshake; "
                                  "did it refuse this node's certificate? is it from the cluster CA?)",
                 true};
  return Error{ErrorCode::kUnavailable, where + detail, true};
}

// Easy handles kept between calls: each keeps its connection (and TLS session) alive, so a call
// to a hub already talked to costs no TCP or TLS handshake. With 50 members each calling the
// hub every second, handshakes were most of the hub's CPU. `curl_easy_reset` keeps the live
// connections while it clears the options.
class HandlePool {
 public:
  std::unique_ptr<CURL, CurlDeleter> take() {
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        std::unique_ptr<CURL, CurlDeleter> h(free_.back().release());
        free_.pop_back();
        curl_easy_reset(h.get());
        return h;
      }
    }
    return std::unique_ptr<CURL, CurlDeleter>(curl_easy_init());
  }
  void give(std::unique_ptr<CURL, CurlDeleter> h) {
    std::lock_guard lock(mu_);
    if (free_.size() < kMax) free_.push_back(std::move(h));
  }

 private:
  static constexpr size_t kMax = 8;
  std::mutex mu_;
  std::vector<std::unique_ptr<CURL, CurlDeleter>> free_;  // GUARDED_BY(mu_)
};

HandlePool& pool() {
  static HandlePool* p = new HandlePool;  // never destroyed: calls may run during exit
  return *p;
}

}  // namespace

void setClusterTls(CURL* c, const EtcdTls& tls) {
  // The cluster CA is the only trust anchor (not the system store): any certificate it signed is
  // a member of this cluster. The host name is NOT checked: nodes' addresses change (containers
  // get new IPs, the hub moves), and identity comes from the CA, not from an address.
  curl_easy_setopt(c, CURLOPT_SSLCERT, tls.cert_file.c_str());
  curl_easy_setopt(c, CURLOPT_SSLKEY, tls.key_file.c_str());
  curl_easy_setopt(c, CURLOPT_CAINFO, tls.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
}

Result<EtcdReply> etcdPost(const std::string& endpoint, const std::string& path, const std::string& body,
                           const EtcdTls& tls, Duration timeout) {
  globalInit();
  std::unique_ptr<CURL, CurlDeleter> handle = pool().take();
  if (!handle) return fail(ErrorCode::kInternal, "etcd " + endpoint + ": curl_easy_init failed");
  CURL* c = handle.get();
  std::string url = endpoint + path;
  EtcdReply reply;
  char errbuf[CURL_ERROR_SIZE] = {0};
  long ms = static_cast<long>(timeout.count());

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  // HTTP/1.1: etcd serves gRPC and the JSON gateway on one port and tells them apart by protocol
  // and content type; plain HTTP/1.1 always lands on the gateway.
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // called from many threads: no SIGALRM timeouts
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  headers.reset(curl_slist_append(headers.release(), "Expect:"));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  setClusterTls(c, tls);

  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return std::unexpected(transportError(rc, errbuf, c, endpoint, timeout));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  pool().give(std::move(handle));
  return reply;
}

}  // namespace shoal
