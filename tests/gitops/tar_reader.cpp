#include "tests/gitops/tar_reader.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>

namespace shoal::test {
namespace {

std::string field(const char* h, size_t off, size_t len) {
  std::string s(h + off, len);
  return s.substr(0, s.find('\0'));
}

unsigned long long octal(const char* h, size_t off, size_t len) {
  return std::stoull(field(h, off, len), nullptr, 8);
}

std::map<std::string, std::string> paxRecords(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t space = body.find(' ', pos);
    size_t len = std::stoul(body.substr(pos, space - pos));
    std::string rec = body.substr(space + 1, len - (space - pos) - 2);  // without the '\n'
    if (body[pos + len - 1] != '\n') throw std::runtime_error("pax record length wrong");
    size_t eq = rec.find('=');
    out[rec.substr(0, eq)] = rec.substr(eq + 1);
    pos += len;
  }
  return out;
}

}  // namespace

std::vector<TarEntry> readTar(const std::string& archive) {
  if (archive.size() % 512 != 0) throw std::runtime_error("archive not a multiple of 512");
  std::vector<TarEntry> out;
  std::map<std::string, std::string> pax;
  size_t pos = 0;
  while (true) {
    if (pos + 512 > archive.size()) throw std::runtime_error("no end-of-archive blocks");
    const char* h = archive.data() + pos;
    if (std::all_of(h, h + 512, [](char c) { return c == 0; })) break;
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    if (sum != octal(h, 148, 8)) throw std::runtime_error("bad checksum at " + std::to_string(pos));
    if (std::memcmp(h + 257, "ustar\0" "00", 8) != 0) throw std::runtime_error("bad magic");
    TarEntry e;
    e.type = h[156];
    e.mode = static_cast<unsigned>(octal(h, 100, 8));
    size_t size = octal(h, 124, 12);
    std::string prefix = field(h, 345, 155);
    e.path = prefix.empty() ? field(h, 0, 100) : prefix + "/" + field(h, 0, 100);
    e.link = field(h, 157, 100);
    e.content = archive.substr(pos + 512, size);
    pos += 512 + (size + 511) / 512 * 512;
    if (e.type == 'x') {
      pax = paxRecords(e.content);
      continue;
    }
    if (pax.contains("path")) e.path = pax["path"];
    if (pax.contains("linkpath")) e.link = pax["linkpath"];
    pax.clear();
    out.push_back(std::move(e));
  }
  if (archive.size() - pos != 1024) throw std::runtime_error("expected exactly two zero blocks at the end");
  return out;
}

}  // namespace shoal::test
