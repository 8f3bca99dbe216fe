// The peer endpoint's one question, `GET /v1/cluster`, both sides: the JSON of a ProbeAnswer, and
// HttpsProber, which asks many addresses at once over mTLS with this node's certificate. The
// cluster CA is pinned (the only trust anchor) before anything is sent; host names are not
// checked, because node addresses change while their certificates come from the same CA.
#pragma once

#include <string>
#include <vector>

#include "cluster/membership.h"

namespace shoal {

std::string answerToJson(const ProbeAnswer& a);
// std::nullopt when the text is not an answer (a node of another version, a proxy's page, ...).
std::optional<ProbeAnswer> answerFromJson(const std::string& text);

class HttpsProber : public Prober {
 public:
  struct Options {
    std::string cert_file;  // this node's certificate chain (cluster CA)
    std::string key_file;
    std::string ca_file;    // the cluster CA
  };
  explicit HttpsProber(Options options);
  ~HttpsProber() override;
  // From one thread at a time. Connections are kept alive between rounds (the peer endpoint keeps
  // an idle connection 10 s), so a round of probes to known peers costs no TLS handshake.
  std::vector<ProbeAnswer> probe(const std::vector<PeerAddress>& addresses, Duration timeout) override;

 private:
  Options options_;
  void* multi_;  // CURLM*: its connection cache outlives each round
};

}  // namespace shoal
