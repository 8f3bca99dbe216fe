#include "cluster/prober.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "cluster/etcd_http.h"
#include "common/log.h"

namespace shoal {

using nlohmann::json;

std::string answerToJson(const ProbeAnswer& a) {
  json j = {{"node_id", a.node_id}, {"address", a.address}, {"hubs", a.hubs}, {"cluster", nullptr}};
  if (a.cluster)
    j["cluster"] = {{"id", a.cluster->id},
                    {"name", a.cluster->name},
                    {"created_at", a.cluster->created_at},
                    {"origin", a.cluster->origin},
                    {"size", a.cluster->size}};
  j["phase"] = a.cluster ? "member" : "discovering";
  return j.dump();
}

std::optional<ProbeAnswer> answerFromJson(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("node_id") || !j["node_id"].is_string()) return std::nullopt;
  try {
    ProbeAnswer a;
    a.node_id = j["node_id"];
    a.address = j.value("address", "");
    if (j.contains("hubs") && j["hubs"].is_array()) a.hubs = j["hubs"].get<std::vector<std::string>>();
    if (j.contains("cluster") && j["cluster"].is_object()) {
      const auto& c = j["cluster"];
      a.cluster = ClusterInfo{c.at("id").get<std::string>(), c.value("name", ""), c.value("created_at", int64_t{0}),
                              c.value("origin", ""), c.value("size", 0)};
    }
    return a;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

namespace {

struct Probe {
  PeerAddress address;
  std::string body;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy{nullptr, curl_easy_cleanup};
};

size_t collect(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() > 64 * 1024) return 0;  // an answer is small: refuse anything big
  body->append(data, size * n);
  return size * n;
}

}  // namespace

HttpsProber::HttpsProber(Options options) : options_(std::move(options)), multi_(curl_multi_init()) {
  curl_multi_setopt(static_cast<CURLM*>(multi_), CURLMOPT_MAXCONNECTS, 1024L);
}

HttpsProber::~HttpsProber() { curl_multi_cleanup(static_cast<CURLM*>(multi_)); }

std::vector<ProbeAnswer> HttpsProber::probe(const std::vector<PeerAddress>& addresses, Duration timeout) {
  std::vector<ProbeAnswer> answers;
  if (addresses.empty()) return answers;
  auto log = logger("cluster");
  struct Multi {
    CURLM* m;
    CURLM* get() const { return m; }
  } multi{static_cast<CURLM*>(multi_)};
  std::vector<std::unique_ptr<Probe>> probes;
  const EtcdTls tls{options_.cert_file, options_.key_file, options_.ca_file};
  for (const auto& address : addresses) {
    auto p = std::make_unique<Probe>();
    p->address = address;
    p->easy.reset(curl_easy_init());
    CURL* e = p->easy.get();
    std::string url = "https://" + address.str() + "/v1/cluster";
    curl_easy_setopt(e, CURLOPT_URL, url.c_str());
    setClusterTls(e, tls);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &p->body);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p.get());
    curl_multi_add_handle(multi.get(), e);
    probes.push_back(std::move(p));
  }
  int running = 0;
  do {
    curl_multi_perform(multi.get(), &running);
    if (running > 0) curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
  } while (running > 0);
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Probe* p = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&p));
    long status = 0;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
    if (msg->data.result != CURLE_OK) {
      log->debug("probe {}: {}", p->address.str(), curl_easy_strerror(msg->data.result));
    } else if (status != 200) {
      log->debug("probe {}: HTTP {}", p->address.str(), status);
    } else if (auto a = answerFromJson(p->body)) {
      a->address = p->address.str();
      answers.push_back(std::move(*a));
    } else {
      log->debug("probe {}: not a shoal answer", p->address.str());
    }
  }
  for (auto& p : probes) curl_multi_remove_handle(multi.get(), p->easy.get());
  std::sort(answers.begin(), answers.end(),
            [](const ProbeAnswer& a, const ProbeAnswer& b) { return a.node_id < b.node_id; });
  return answers;
}

}  // namespace shoal
