// Builds a spec commit in memory and returns what `loadSpec` said, as the strings people see.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "schemas/load_spec.h"

namespace shoal::test {

struct Commit {
  std::map<std::string, std::string> files{{"cluster.yaml", "name: test\n"}};
  std::set<std::string> dirs;
  std::set<std::string> regular_files;

  Commit& with(const std::string& path, const std::string& text) {
    files[path] = text;
    return *this;
  }
  Commit& without(const std::string& path) {
    files.erase(path);
    return *this;
  }
  Commit& dir(const std::string& d) {
    dirs.insert(d);
    return *this;
  }
  Commit& file(const std::string& f) {
    regular_files.insert(f);
    return *this;
  }
  SpecFiles specFiles() const {
    SpecFiles s;
    s.files = files;
    s.has_dir = [d = dirs](const std::string& x) { return d.contains(x); };
    s.has_file = [f = regular_files](const std::string& x) { return f.contains(x); };
    return s;
  }
  // Every diagnostic's `str()`, in the order loadSpec returned them; empty when the spec loaded.
  std::vector<std::string> errors() const {
    auto r = loadSpec(specFiles());
    std::vector<std::string> out;
    if (!r) for (const auto& d : r.error()) out.push_back(d.str());
    return out;
  }
  Spec spec() const {
    auto r = loadSpec(specFiles());
    if (!r) throw std::runtime_error(formatDiagnostics(r.error()));
    return *r;
  }
};

// One app file in an otherwise valid commit.
inline std::vector<std::string> appErrors(const std::string& text, const std::string& file = "apps/web.yaml") {
  return Commit().with(file, text).errors();
}

inline AppSpec loadApp(const std::string& text) {
  Spec s = Commit().with("apps/web.yaml", text).spec();
  return s.apps.at(0);
}

using Errors = std::vector<std::string>;

}  // namespace shoal::test
