// A minimal ustar writer for the Docker tests' build contexts (regular files and symlinks, names
// under 100 bytes). gitops/ owns the real tar writer; the tests don't depend on it.
#pragma once

#include <string>
#include <string_view>

namespace shoal::testing {

class UstarWriter {
 public:
  void addFile(std::string_view name, std::string_view content, int mode = 0644);
  void addSymlink(std::string_view name, std::string_view target);
  void addDirectory(std::string_view name);  // "bin/"
  // The archive with its two zero end blocks.
  std::string finish() const;

 private:
  void header(std::string_view name, size_t size, int mode, char type, std::string_view link);
  std::string out_;
};

std::string readFileForTest(const std::string& path);

}  // namespace shoal::testing
