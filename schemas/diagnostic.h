// One validation error, located in the file a person edits.
#pragma once

#include <string>
#include <vector>

namespace shoal {

struct Diagnostic {
  std::string file;     // "apps/web.yaml" (relative to the spec repo root) or the node.yaml path
  int line = 0;         // 1-based; 0 when the error has no single place (e.g. a missing file)
  int column = 0;       // 1-based
  std::string path;     // "replicas", "health.interval", "ports[1].host", "" for the whole file
  std::string message;  // "expected an integer, got \"three\""

  // "apps/web.yaml:4:11: replicas: expected an integer, got \"three\"". Without a line:
  // "apps/web.yaml: ...". Without a path: "apps/web.yaml:1:1: message".
  std::string str() const;
  bool operator==(const Diagnostic&) const = default;
};

using Diagnostics = std::vector<Diagnostic>;

// Sorted by file, line, column; one per line, each ending in '\n'.
std::string formatDiagnostics(const Diagnostics& diags);

}  // namespace shoal
