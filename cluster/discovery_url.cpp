// The url source: an address file fetched over http or https with libcurl.
#include <curl/curl.h>

#include <memory>

#include "cluster/discovery_sources.h"

namespace shoal {
namespace {

// A file of peers is small; anything bigger is not one (and must not fill memory).
constexpr size_t kMaxBody = 1 << 20;

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct Body {
  std::string text;
  bool too_big = false;
};

size_t appendBody(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<Body*>(out);
  if (body->text.size() + size * count > kMaxBody) {
    body->too_big = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  body->text.append(data, size * count);
  return size * count;
}

class UrlSource : public DiscoverySource {
 public:
  explicit UrlSource(const DiscoverySourceConfig& c) : url_(c.url), ca_file_(c.ca_file) {
    static const CURLcode kInit = curl_global_init(CURL_GLOBAL_DEFAULT);
    (void)kInit;
  }

  std::string describe() const override { return "url " + url_; }

  Result<std::vector<PeerAddress>> discover(Duration timeout) override {
    auto body = fetch(timeout);
    if (!body) return std::unexpected(body.error());
    auto peers = parseAddressFile(*body);
    if (!peers) return fail(ErrorCode::kInvalid, describe() + ": " + peers.error().message);
    return peers;
  }

 private:
  Result<std::string> fetch(Duration timeout) const {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) return fail(ErrorCode::kInternal, describe() + ": curl_easy_init failed");
    CURL* c = curl.get();
    Body body;
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // sources run on threads of their own
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, appendBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (!ca_file_.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
    CURLcode rc = curl_easy_perform(c);
    if (body.too_big) return fail(ErrorCode::kInvalid, describe() + ": body is larger than 1 MiB");
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return fail(ErrorCode::kTimeout, describe() + ": timed out after " + std::to_string(timeout.count()) + " ms", true);
    }
    if (rc != CURLE_OK) {
      return unavailable(describe() + ": " + (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc)));
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) return unavailable(describe() + ": HTTP " + std::to_string(status));
    return std::move(body.text);
  }

  const std::string url_;
  const std::string ca_file_;
};

}  // namespace

DiscoverySourcePtr newUrlSource(const DiscoverySourceConfig& config) { return std::make_unique<UrlSource>(config); }

}  // namespace shoal
