#include "schemas/diagnostic.h"

#include <algorithm>
#include <tuple>

namespace shoal {

std::string Diagnostic::str() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

std::string formatDiagnostics(const Diagnostics& diags) {
  Diagnostics sorted = diags;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  std::string out;
  for (const auto& d : sorted) out += d.str() + "\n";  // every line ends, so it prints as it is
  return out;
}

}  // namespace shoal
