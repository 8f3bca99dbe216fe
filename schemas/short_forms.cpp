#include "schemas/short_forms.h"

#include <charconv>
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

}  // namespace shoal
