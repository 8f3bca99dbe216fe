// An in-memory POSIX ustar writer: regular files with their mode, directories and symlinks.
//
// Names longer than 100 bytes go into the ustar `prefix` field when they can be split at a '/';
// names (or link targets) that still don't fit get a PAX extended header (`x`) before the entry.
// Every entry has uid/gid 0 and mtime 0, so the same tree always gives the same bytes (the
// image builder's cache depends on it). Not thread-safe; build one archive per writer.
#pragma once

#include <string>
#include <string_view>

namespace shoal {

class TarWriter {
 public:
  // `path` is relative, '/'-separated, without a trailing slash (one is added for directories).
  void addDirectory(std::string_view path, unsigned mode = 0755);
  void addFile(std::string_view path, std::string_view content, unsigned mode = 0644);
  void addSymlink(std::string_view path, std::string_view target);

  // Appends the two zero blocks that end an archive and hands the bytes over; the writer is
  // empty afterwards.
  std::string finish();

 private:
  void addEntry(std::string name, char type, unsigned mode, std::string_view content,
                std::string_view link);
  void writeHeader(std::string_view name, std::string_view prefix, char type, unsigned mode,
                   size_t size, std::string_view link);
  void writePadded(std::string_view data);

  std::string out_;
};

// Exposed for tests: splits `name` into (prefix, name) fitting ustar's 155 + 100 bytes at a '/',
// or returns false if no split fits.
bool splitUstarName(std::string_view full, std::string* prefix, std::string* name);

}  // namespace shoal
