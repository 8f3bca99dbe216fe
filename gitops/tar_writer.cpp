#include "gitops/tar_writer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <utility>

namespace shoal {
namespace {

constexpr size_t kBlock = 512;
constexpr size_t kNameLen = 100;
constexpr size_t kPrefixLen = 155;

// Writes `value` as zero-padded octal filling `width - 1` digits plus a NUL, as ustar wants.
void putOctal(char* field, size_t width, unsigned long long value) {
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), value);
}

void putString(char* field, size_t width, std::string_view s) {
  if (!s.empty()) std::memcpy(field, s.data(), std::min(width, s.size()));  // data() may be null
}

// One PAX record: "<len> <key>=<value>\n", where <len> counts the whole record, itself included.
std::string paxRecord(std::string_view key, std::string_view value) {
  size_t body = 1 + key.size() + 1 + value.size() + 1;  // ' ' key '=' value '\n'
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + std::string(key) + "=" + std::string(value) + "\n";
}

}  // namespace

bool splitUstarName(std::string_view full, std::string* prefix, std::string* name) {
  if (full.size() <= kNameLen) {
    prefix->clear();
    *name = std::string(full);
    return true;
  }
  // The prefix must end at a '/', hold at most 155 bytes, and leave at most 100 for the name.
  for (size_t slash = full.rfind('/'); slash != std::string_view::npos && slash > 0;
       slash = full.rfind('/', slash - 1)) {
    if (full.size() - slash - 1 > kNameLen) return false;
    if (slash <= kPrefixLen) {
      *prefix = std::string(full.substr(0, slash));
      *name = std::string(full.substr(slash + 1));
      return !name->empty();
    }
  }
  return false;
}

void TarWriter::addDirectory(std::string_view path, unsigned mode) {
  addEntry(std::string(path) + "/", '5', mode, {}, {});
}

void TarWriter::addFile(std::string_view path, std::string_view content, unsigned mode) {
  addEntry(std::string(path), '0', mode, content, {});
}

void TarWriter::addSymlink(std::string_view path, std::string_view target) {
  addEntry(std::string(path), '2', 0777, {}, target);
}

void TarWriter::addEntry(std::string full, char type, unsigned mode, std::string_view content,
                         std::string_view link) {
  std::string prefix, name;
  bool fits = splitUstarName(full, &prefix, &name);
  if (!fits || link.size() > kNameLen) {
    std::string pax;
    if (!fits) pax += paxRecord("path", full);
    if (link.size() > kNameLen) pax += paxRecord("linkpath", link);
    // The header's own name is informational; readers that know PAX use the record.
    std::string pax_name = "PaxHeaders/" + full.substr(0, std::min<size_t>(full.size(), 80));
    writeHeader(pax_name.substr(0, kNameLen), {}, 'x', 0644, pax.size(), {});
    writePadded(pax);
    if (!fits) {
      prefix.clear();
      name = full.substr(0, kNameLen);
    }
  }
  writeHeader(name, prefix, type, mode, content.size(), link.substr(0, kNameLen));
  writePadded(content);
}

void TarWriter::writeHeader(std::string_view name, std::string_view prefix, char type,
                            unsigned mode, size_t size, std::string_view link) {
  std::array<char, kBlock> h{};
  putString(&h[0], 100, name);
  putOctal(&h[100], 8, mode & 07777);
  putOctal(&h[108], 8, 0);  // uid
  putOctal(&h[116], 8, 0);  // gid
  putOctal(&h[124], 12, size);
  putOctal(&h[136], 12, 0);  // mtime: fixed, for reproducible archives
  h[156] = type;
  putString(&h[157], 100, link);
  std::memcpy(&h[257], "ustar", 6);  // magic with its NUL
  std::memcpy(&h[263], "00", 2);
  putString(&h[265], 32, "root");
  putString(&h[297], 32, "root");
  putOctal(&h[329], 8, 0);
  putOctal(&h[337], 8, 0);
  putString(&h[345], kPrefixLen, prefix);
  // The checksum is the byte sum of the header with its own field read as eight spaces.
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(&h[148], 7, "%06o", sum);
  h[154] = '\0';
  h[155] = ' ';
  out_.append(h.data(), h.size());
}

void TarWriter::writePadded(std::string_view data) {
  out_.append(data);
  size_t rest = data.size() % kBlock;
  if (rest != 0) out_.append(kBlock - rest, '\0');
}

std::string TarWriter::finish() {
  out_.append(2 * kBlock, '\0');
  return std::exchange(out_, {});
}

}  // namespace shoal
