#include "runtime/unix_http.h"

#include <memory>
#include <mutex>

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
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// curl_global_init is not guaranteed thread-safe on every build of libcurl; run it once.
void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  CURL* handle = nullptr;
  const OnData* on_data = nullptr;  // null: collect everything
  std::string* body = nullptr;
  std::stop_token stop;
  int status_class = -1;  // -1 until the first body byte tells us the status
};

size_t onWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->on_data == nullptr) {
    t->body->append(data, len);
    return len;
  }
  if (t->status_class < 0) {
    long status = 0;
    curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
    t->status_class = static_cast<int>(status / 100);
  }
  if (t->status_class != 2) {
    t->body->append(data, len);
    return len;
  }
  return (*t->on_data)(std::string_view(data, len)) ? len : 0;
}

// Called about once a second even while the stream is idle, so a stop is noticed within ~1 s.
int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->stop.stop_requested() ? 1 : 0;
}

std::string what(const HttpRequest& req) { return req.method + " " + req.target; }

Result<HttpResponse> transportError(CURLcode rc, const char* errbuf, const HttpRequest& req,
                                    const std::string& socket) {
  std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      return unavailable("cannot connect to " + socket + ": " + detail);
    case CURLE_OPERATION_TIMEDOUT: {
      std::string why = req.timeout.count() > 0
                            ? "no complete answer within " + formatDuration(req.timeout)
                            : "no data for " + formatDuration(req.idle_timeout);
      return fail(ErrorCode::kTimeout, what(req) + " on " + socket + ": " + why, true);
    }
    case CURLE_WRITE_ERROR:
      return fail(ErrorCode::kInternal, what(req) + ": the reader aborted the transfer");
    default:
      return unavailable(what(req) + " on " + socket + ": " + detail);
  }
}

}  // namespace

UnixHttpClient::UnixHttpClient(std::string socket_path) : socket_(std::move(socket_path)) {
  globalInit();
}

Result<HttpResponse> UnixHttpClient::send(const HttpRequest& req) const { return stream(req, nullptr); }

Result<HttpResponse> UnixHttpClient::stream(const HttpRequest& req, const OnData& on_data) const {
  HttpResponse resp;
  if (req.stop.stop_requested()) {
    resp.stopped = true;
    return resp;
  }
  CurlPtr h(curl_easy_init());
  if (!h) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  CURL* c = h.get();
  std::string url = "http://localhost" + req.target;
  char errbuf[CURL_ERROR_SIZE] = {0};
  Transfer t{c, on_data ? &on_data : nullptr, &resp.body, req.stop};

  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM-based timeouts
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  if (req.idle_timeout.count() > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>((req.idle_timeout.count() + 999) / 1000));
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onWrite);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, onProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

  SlistPtr headers;
  if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  if (req.method == "POST" || !req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    std::string ct = "Content-Type: " + req.content_type;
    headers.reset(curl_slist_append(nullptr, ct.c_str()));
    // A large build context must not wait for a "100 Continue" the daemon may never send.
    headers.reset(curl_slist_append(headers.release(), "Expect:"));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_ABORTED_BY_CALLBACK && req.stop.stop_requested()) {
    resp.stopped = true;
    return resp;
  }
  if (rc != CURLE_OK) return transportError(rc, errbuf, req, socket_);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

std::string urlEncode(std::string_view text, std::string_view keep) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_' || ch == '.' || ch == '~' || keep.find(static_cast<char>(ch)) != keep.npos;
    if (plain) {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

}  // namespace shoal
