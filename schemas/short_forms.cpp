#include "schemas/short_forms.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <regex>
#include <string>

namespace shoal {
namespace {

std::optional<int> parsePort(std::string_view text) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  if (v < 1 || v > 65535) return std::nullopt;
  return v;
}

bool isIpv4(std::string_view text) {
  in_addr addr{};
  return inet_pton(AF_INET, std::string(text).c_str(), &addr) == 1;
}

bool isIpv6(std::string_view text) {
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(text).c_str(), &addr) == 1;
}

bool isHostName(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// ":7444" after a host, or nothing.
bool optionalPort(std::string_view rest) { return rest.empty() || (rest[0] == ':' && parsePort(rest.substr(1))); }

}  // namespace

std::optional<std::pair<int, int>> parsePortRange(std::string_view text) {
  size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto from = parsePort(text.substr(0, dash));
  auto to = parsePort(text.substr(dash + 1));
  if (!from || !to || *from > *to) return std::nullopt;
  return std::pair{*from, *to};
}

std::optional<PortSpec> parsePortMapping(std::string_view text) {
  static const std::regex kForm(R"(^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d+(?:-\d+)?):)?(\d+)(?:/(tcp|udp))?$)");
  std::string s(text);
  std::smatch m;
  if (!std::regex_match(s, m, kForm)) return std::nullopt;
  PortSpec p;
  auto container = parsePort(m[3].str());
  if (!container) return std::nullopt;
  p.container = *container;
  if (m[1].matched) p.host_ip = m[1].str();
  if (m[2].matched) {
    std::string host = m[2].str();
    if (host.find('-') != std::string::npos) {
      auto range = parsePortRange(host);
      if (!range) return std::nullopt;
      p.host_from = range->first;
      p.host_to = range->second;
    } else {
      auto port = parsePort(host);
      if (!port) return std::nullopt;
      p.host_from = p.host_to = *port;
    }
  } else if (m[1].matched) {
    return std::nullopt;  // "1.2.3.4:80" names an address but no host port
  }
  if (m[4].matched) p.protocol = m[4].str();
  return p;
}

std::optional<VolumeSpec> parseVolumeMapping(std::string_view text) {
  static const std::regex kForm(R"(^([a-zA-Z0-9][a-zA-Z0-9_.-]*):(/[^:]*)(?::(ro|rw))?$)");
  std::string s(text);
  std::smatch m;
  if (!std::regex_match(s, m, kForm)) return std::nullopt;
  return VolumeSpec{m[1].str(), m[2].str(), m[3].matched && m[3].str() == "ro"};
}

std::optional<double> parsePercent(std::string_view text) {
  static const std::regex kForm(R"(^([0-9]+(?:\.[0-9]+)?)%$)");
  std::string s(text);
  std::smatch m;
  if (!std::regex_match(s, m, kForm)) return std::nullopt;
  double v = std::strtod(m[1].str().c_str(), nullptr);
  if (v > 100) return std::nullopt;
  return v / 100;
}

bool isPeerAddress(std::string_view text) {
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    return close != std::string_view::npos && isIpv6(text.substr(1, close - 1)) && optionalPort(text.substr(close + 1));
  }
  if (std::count(text.begin(), text.end(), ':') > 1) return isIpv6(text);
  size_t colon = std::min(text.find(':'), text.size());
  return isHostName(text.substr(0, colon)) && optionalPort(text.substr(colon));
}

bool isDnsServer(std::string_view text) {
  size_t colon = std::min(text.find(':'), text.size());
  return isIpv4(text.substr(0, colon)) && optionalPort(text.substr(colon));
}

bool isIpAddress(std::string_view text) { return isIpv4(text) || isIpv6(text); }

}  // namespace shoal
