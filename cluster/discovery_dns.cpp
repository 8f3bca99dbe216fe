// The dns source: SRV records of a name (each target resolved to its A records, with the record's
// port), or, when it has none, the name's A records with the configured port. Docker's embedded
// DNS answers a network alias with one A record per container, so `--network-alias shoal` on
// every node and a dns source naming "shoal" is all a Docker network needs.
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <array>

#include "cluster/discovery_sources.h"

namespace shoal {
namespace {

struct Srv {
  int priority = 0;
  int weight = 0;
  int port = 0;
  std::string target;
};

// One resolver state per query round: `res_state` is not safe to share between threads.
class Resolver {
 public:
  Resolver(const std::optional<PeerAddress>& server, Duration timeout) {
    ok_ = res_ninit(&state_) == 0;
    if (!ok_) return;
    if (server) {
      // A family set in nsaddr_list wins over resolv.conf's IPv6 entries (glibc's get_nsaddr).
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(server->port));
      inet_pton(AF_INET, server->host.c_str(), &addr.sin_addr);
      state_.nsaddr_list[0] = addr;
      state_.nscount = 1;
    }
    // The resolver counts whole seconds: two tries of at least one second each.
    state_.retrans = std::max<int>(1, static_cast<int>(timeout.count() / 2000));
    state_.retry = 2;
    state_.options &= ~static_cast<unsigned long>(RES_DNSRCH | RES_DEFNAMES);
  }
  ~Resolver() {
    if (ok_) res_nclose(&state_);
  }
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  bool ok() const { return ok_; }
  // The answer section's records of `type`, parsed; `herr` is the resolver's h_errno on failure.
  std::optional<ns_msg> query(const std::string& name, int type, int* herr) {
    int len = res_nquery(&state_, name.c_str(), ns_c_in, type, answer_.data(), static_cast<int>(answer_.size()));
    if (len < 0) {
      *herr = state_.res_h_errno;
      return std::nullopt;
    }
    ns_msg msg{};
    if (ns_initparse(answer_.data(), len, &msg) != 0) {
      *herr = NO_RECOVERY;
      return std::nullopt;
    }
    return msg;
  }

 private:
  struct ::__res_state state_ {};
  bool ok_ = false;
  std::array<unsigned char, 4096> answer_{};
};

std::string herrText(int herr, const std::string& name, const std::string& server) {
  switch (herr) {
    case HOST_NOT_FOUND: return "no such name " + name + " (NXDOMAIN)";
    case NO_DATA: return "no records for " + name;
    case TRY_AGAIN: return "query for " + name + " got no answer from " + server;
    default: return "query for " + name + " failed (" + hstrerror(herr) + ")";
  }
}

class DnsSource : public DiscoverySource {
 public:
  DnsSource(const DiscoverySourceConfig& c, std::optional<PeerAddress> server)
      : name_(c.name), port_(c.port), server_(std::move(server)) {
    if (name_.ends_with(".")) name_.pop_back();
  }

  std::string describe() const override { return "dns " + name_; }

  Result<std::vector<PeerAddress>> discover(Duration timeout) override {
    Resolver resolver(server_, timeout);
    if (!resolver.ok()) return unavailable(describe() + ": cannot read /etc/resolv.conf");
    int herr = 0;
    auto srv = querySrv(resolver, &herr);
    if (!srv.empty()) return resolveTargets(resolver, srv);
    // With the system's resolvers any SRV failure just means "no SRV"; with a named server, a name
    // it does not know fails the source (a typo should not look like an empty cluster).
    if (server_ && herr != NO_DATA && herr != 0) return failed(herrText(herr, name_, serverText()));
    auto peers = queryA(resolver, name_, port_);
    if (!peers) return std::unexpected(peers.error());
    if (peers->empty()) return failed("no SRV or A records for " + name_);
    return peers;
  }

 private:
  std::unexpected<Error> failed(const std::string& why) const {
    return fail(ErrorCode::kUnavailable, describe() + ": " + why, true);
  }
  std::string serverText() const { return server_ ? server_->str() : "the resolv.conf nameservers"; }

  std::vector<Srv> querySrv(Resolver& resolver, int* herr) const {
    std::vector<Srv> out;
    auto msg = resolver.query(name_, ns_t_srv, herr);
    if (!msg) return out;
    for (int i = 0; i < ns_msg_count(*msg, ns_s_an); ++i) {
      ns_rr rr{};
      if (ns_parserr(&*msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7) continue;
      const unsigned char* rd = ns_rr_rdata(rr);
      char target[NS_MAXDNAME] = {};
      if (dn_expand(ns_msg_base(*msg), ns_msg_end(*msg), rd + 6, target, sizeof target) < 0) continue;
      if (std::string(target).empty() || std::string(target) == ".") continue;  // "no service here"
      out.push_back({static_cast<int>(ns_get16(rd)), static_cast<int>(ns_get16(rd + 2)), static_cast<int>(ns_get16(rd + 4)), target});
    }
    // Lowest priority first; within a priority, the heaviest first (stable: answer order).
    std::stable_sort(out.begin(), out.end(), [](const Srv& a, const Srv& b) {
      return a.priority != b.priority ? a.priority < b.priority : a.weight > b.weight;
    });
    return out;
  }

  Result<std::vector<PeerAddress>> resolveTargets(Resolver& resolver, const std::vector<Srv>& srv) const {
    std::vector<PeerAddress> out;
    for (const auto& record : srv) {
      auto peers = queryA(resolver, record.target, record.port);
      if (!peers) return std::unexpected(peers.error());
      out.insert(out.end(), peers->begin(), peers->end());
    }
    return out;
  }

  // A records of `name`. Without a named server, through getaddrinfo, so /etc/hosts and the
  // search domains apply as for any program on the machine.
  Result<std::vector<PeerAddress>> queryA(Resolver& resolver, const std::string& name, int port) const {
    return server_ ? queryAFromServer(resolver, name, port) : queryASystem(name, port);
  }

  Result<std::vector<PeerAddress>> queryAFromServer(Resolver& resolver, const std::string& name, int port) const {
    int herr = 0;
    std::vector<PeerAddress> out;
    auto msg = resolver.query(name, ns_t_a, &herr);
    if (!msg) {
      if (herr == NO_DATA) return out;
      return failed(herrText(herr, name, serverText()));
    }
    for (int i = 0; i < ns_msg_count(*msg, ns_s_an); ++i) {
      ns_rr rr{};
      if (ns_parserr(&*msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_a || ns_rr_rdlen(rr) != 4) continue;
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, ns_rr_rdata(rr), text, sizeof text);
      out.push_back({text, port});
    }
    return out;
  }

  Result<std::vector<PeerAddress>> queryASystem(const std::string& name, int port) const {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = getaddrinfo(name.c_str(), nullptr, &hints, &found);
    std::vector<PeerAddress> out;
    if (rc == EAI_NONAME || rc == EAI_NODATA) return failed("no such name " + name);
    if (rc != 0) return failed("resolving " + name + ": " + gai_strerror(rc));
    for (addrinfo* ai = found; ai; ai = ai->ai_next) {
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, text, sizeof text);
      PeerAddress peer{text, port};
      if (std::find(out.begin(), out.end(), peer) == out.end()) out.push_back(peer);
    }
    freeaddrinfo(found);
    return out;
  }

  std::string name_;
  const int port_;
  const std::optional<PeerAddress> server_;
};

}  // namespace

DiscoverySourcePtr newDnsSource(const DiscoverySourceConfig& config, std::optional<PeerAddress> server) {
  return std::make_unique<DnsSource>(config, std::move(server));
}

}  // namespace shoal
