#include "common/duration.h"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace shoal {
namespace {

// Splits "123unit" into its number and unit; fails on a sign, a fraction or no digits.
bool splitNumber(std::string_view text, int64_t& number, std::string_view& unit) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  if (ec != std::errc() || ptr == begin || number < 0) return false;
  unit = std::string_view(ptr, static_cast<size_t>(end - ptr));
  return true;
}

}  // namespace

std::optional<Duration> parseDuration(std::string_view text) {
  int64_t n = 0;
  std::string_view unit;
  if (!splitNumber(text, n, unit)) return std::nullopt;
  int64_t factor = 0;
  if (unit == "ms") factor = 1;
  else if (unit == "s") factor = 1000;
  else if (unit == "m") factor = 60'000;
  else if (unit == "h") factor = 3'600'000;
  else if (unit == "d") factor = 86'400'000;
  else return std::nullopt;
  if (n > INT64_MAX / factor) return std::nullopt;
  return Duration(n * factor);
}

std::optional<int64_t> parseSize(std::string_view text) {
  int64_t n = 0;
  std::string_view unit;
  if (!splitNumber(text, n, unit)) return std::nullopt;
  int64_t factor = 1;
  if (unit.size() == 2 && (unit[1] == 'i' || unit[1] == 'b' || unit[1] == 'B')) unit = unit.substr(0, 1);
  if (unit.empty()) factor = 1;
  else if (unit.size() != 1) return std::nullopt;
  else {
    switch (std::tolower(static_cast<unsigned char>(unit[0]))) {
      case 'k': factor = int64_t{1} << 10; break;
      case 'm': factor = int64_t{1} << 20; break;
      case 'g': factor = int64_t{1} << 30; break;
      case 't': factor = int64_t{1} << 40; break;
      default: return std::nullopt;
    }
  }
  if (n > INT64_MAX / factor) return std::nullopt;
  return n * factor;
}

std::string formatDuration(Duration d) {
  int64_t ms = d.count();
  char buf[32];
  if (ms % 86'400'000 == 0 && ms >= 86'400'000) std::snprintf(buf, sizeof buf, "%lldd", static_cast<long long>(ms / 86'400'000));
  else if (ms % 3'600'000 == 0 && ms >= 3'600'000) std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(ms / 3'600'000));
  else if (ms % 60'000 == 0 && ms >= 60'000) std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(ms / 60'000));
  else if (ms % 1000 == 0) std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
  else if (ms > 1000) std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  else std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ms));
  return buf;
}

}  // namespace shoal
