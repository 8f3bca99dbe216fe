// A minimal ustar/PAX reader for the tests: it checks every header's checksum and magic, so the
// unit tests see the bytes exactly as an extractor does.
#pragma once

#include <string>
#include <vector>

namespace shoal::test {

struct TarEntry {
  std::string path;  // the PAX path when there is one, else prefix + "/" + name
  char type = 0;     // '0' file, '5' dir, '2' symlink
  unsigned mode = 0;
  std::string content;
  std::string link;
};

// Throws std::runtime_error on a malformed archive (bad checksum, magic, truncation).
std::vector<TarEntry> readTar(const std::string& archive);

}  // namespace shoal::test
