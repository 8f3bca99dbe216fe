#include "tests/runtime/ustar.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace shoal::testing {
namespace {

void put(char* field, size_t width, std::string_view text) {
  std::memcpy(field, text.data(), std::min(width, text.size()));
}

// Octal, zero-padded, NUL-terminated, filling `width` bytes.
void putOctal(char* field, size_t width, unsigned long long value) {
  field[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0; value >>= 3) field[i] = static_cast<char>('0' + (value & 7));
}

}  // namespace

void UstarWriter::header(std::string_view name, size_t size, int mode, char type, std::string_view link) {
  char h[512] = {0};
  put(h, 100, name);
  putOctal(h + 100, 8, static_cast<unsigned>(mode));
  putOctal(h + 108, 8, 0);
  putOctal(h + 116, 8, 0);
  putOctal(h + 124, 12, size);
  putOctal(h + 136, 12, 1767225600);
  std::memset(h + 148, ' ', 8);
  h[156] = type;
  put(h + 157, 100, link);
  std::memcpy(h + 257, "ustar\0" "00", 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  putOctal(h + 148, 7, sum);  // six digits and a NUL, then the space
  h[155] = ' ';
  out_.append(h, sizeof h);
}

void UstarWriter::addFile(std::string_view name, std::string_view content, int mode) {
  header(name, content.size(), mode, '0', "");
  out_.append(content);
  out_.append((512 - content.size() % 512) % 512, '\0');
}

void UstarWriter::addSymlink(std::string_view name, std::string_view target) {
  header(name, 0, 0777, '2', target);
}

void UstarWriter::addDirectory(std::string_view name) { header(name, 0, 0755, '5', ""); }

std::string UstarWriter::finish() const { return out_ + std::string(1024, '\0'); }

std::string readFileForTest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace shoal::testing
