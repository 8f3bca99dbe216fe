// A stable, non-cryptographic hash for identifiers shoal derives from content (spec hashes, build
// tag suffixes). FNV-1a 64: the same text gives the same value in every build and on every machine,
// which std::hash does not promise.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace shoal {

// 16 lowercase hex digits.
inline std::string stableHash(std::string_view text) {
  uint64_t h = 14695981039346656037ULL;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, h);
  return buf;
}

}  // namespace shoal
