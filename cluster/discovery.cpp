// Peer addresses, the address file, and asking every source in one round.
#include "cluster/discovery.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>
#include <set>
#include <thread>

#include "common/log.h"

namespace shoal {
namespace {

Result<PeerAddress> badAddress(const std::string& text, const std::string& why) {
  return fail(ErrorCode::kInvalid, "bad address \"" + text + "\": " + why);
}

bool isIpv6(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

bool isHostName(const std::string& host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// "7443" -> 7443; nullopt for anything but 1..65535 written in digits.
std::optional<int> parsePort(const std::string& text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  int port = std::stoi(text);
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

constexpr const char* kBadPort = "port must be a number from 1 to 65535";

Result<PeerAddress> parseBracketed(const std::string& text, int default_port) {
  auto close = text.find(']');
  if (close == std::string::npos) return badAddress(text, "missing ']' after the IPv6 address");
  std::string host = text.substr(1, close - 1);
  if (!isIpv6(host)) return badAddress(text, "\"" + host + "\" is not an IPv6 address");
  std::string rest = text.substr(close + 1);
  if (rest.empty()) return PeerAddress{host, default_port};
  if (rest[0] != ':') return badAddress(text, "expected ':port' after ']'");
  auto port = parsePort(rest.substr(1));
  if (!port) return badAddress(text, kBadPort);
  return PeerAddress{host, *port};
}

}  // namespace

std::string PeerAddress::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<PeerAddress> parsePeerAddress(const std::string& text, int default_port) {
  if (text.empty()) return badAddress(text, "empty");
  if (std::any_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    return badAddress(text, "spaces are not allowed");
  }
  if (text[0] == '[') return parseBracketed(text, default_port);
  auto colons = std::count(text.begin(), text.end(), ':');
  if (colons > 1) {
    if (isIpv6(text)) return PeerAddress{text, default_port};
    return badAddress(text, "too many ':' (write an IPv6 address as [address]:port)");
  }
  std::string host = text;
  int port = default_port;
  if (colons == 1) {
    auto colon = text.find(':');
    host = text.substr(0, colon);
    auto parsed = parsePort(text.substr(colon + 1));
    if (!parsed) return badAddress(text, kBadPort);
    port = *parsed;
  }
  if (host.empty()) return badAddress(text, "missing host");
  if (!isHostName(host)) return badAddress(text, "a host has only letters, digits, '.', '-' and '_'");
  return PeerAddress{host, port};
}

Result<std::vector<PeerAddress>> parseAddressFile(const std::string& text, int default_port) {
  std::vector<PeerAddress> out;
  size_t start = 0;
  for (int line_no = 1; start < text.size(); ++line_no) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    auto address = parsePeerAddress(line, default_port);
    if (!address) return fail(ErrorCode::kInvalid, "line " + std::to_string(line_no) + ": " + address.error().message);
    out.push_back(*address);
  }
  return out;
}

Result<PublishOutcome> DiscoverySource::publish(const PeerAddress&) {
  return fail(ErrorCode::kInvalid, describe() + ": this kind of source cannot be published to");
}

namespace {

// One source's answer, never an exception: a throwing source is a bug in it, not in the round.
Result<std::vector<PeerAddress>> askOne(DiscoverySource& source, Duration timeout) {
  try {
    return source.discover(timeout);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, source.describe() + ": " + e.what());
  } catch (...) {
    return fail(ErrorCode::kInternal, source.describe() + ": unknown exception");
  }
}

}  // namespace

DiscoveryResult discoverAll(const std::vector<DiscoverySourcePtr>& sources, Duration timeout) {
  std::vector<Result<std::vector<PeerAddress>>> answers(sources.size());
  {
    // Every source enforces its own timeout, so joining the threads is bounded by about one
    // timeout; a source cannot be abandoned safely in C++ (it would outlive what it reads).
    std::vector<std::jthread> threads;
    threads.reserve(sources.size());
    for (size_t i = 0; i < sources.size(); ++i) {
      threads.emplace_back([&, i] { answers[i] = askOne(*sources[i], timeout); });
    }
  }
  DiscoveryResult result;
  std::set<PeerAddress> seen;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!answers[i]) {
      std::string reason = answers[i].error().message;
      logger("cluster")->warn("discovery: skipped a source: {}", reason);
      result.skipped.push_back({sources[i]->describe(), std::move(reason)});
      continue;
    }
    for (auto& peer : *answers[i]) {
      if (seen.insert(peer).second) result.peers.push_back(peer);
    }
  }
  return result;
}

PublishReport publishAll(const std::vector<DiscoverySourcePtr>& sources, const PeerAddress& self) {
  PublishReport report;
  for (const auto& source : sources) {
    if (!source->publishes()) continue;
    Result<PublishOutcome> outcome = fail(ErrorCode::kInternal, "");
    try {
      outcome = source->publish(self);
    } catch (const std::exception& e) {
      outcome = fail(ErrorCode::kInternal, source->describe() + ": " + e.what());
    }
    if (!outcome) {
      logger("cluster")->warn("discovery: publishing {} failed: {}", self.str(), outcome.error().message);
      report.errors.push_back({source->describe(), outcome.error().message});
    } else if (*outcome == PublishOutcome::kPublished) {
      logger("cluster")->info("discovery: published {} to {}", self.str(), source->describe());
      report.published.push_back(source->describe());
    } else {
      report.unchanged.push_back(source->describe());
    }
  }
  return report;
}

}  // namespace shoal
