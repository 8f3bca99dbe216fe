// The second pass reads validated YAML through `Value`, which pairs a node with its schema. Reading
// a key goes through the schema, so the code can only read keys the schema declares (reading an
// undeclared key is a bug and aborts), and absent keys get the schema's `default`: the .json files
// stay the single source of truth for keys and defaults.
//
// The first pass has already reported every schema error; a value that failed it reads as absent
// here, so the second pass never reports the same problem twice or works on a wrong type.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/clock.h"
#include "schemas/diagnostic.h"
#include "schemas/json_schema.h"
#include "schemas/yaml_value.h"

namespace shoal {

// Where the second pass reports, and (for the schema-drift test) which keys it asked for.
struct BuildCtx {
  std::string file;
  Diagnostics* diags = nullptr;
  std::set<std::string>* trace = nullptr;  // key paths read, e.g. "ports[].host"
  void error(Loc loc, const std::string& path, std::string message) const;
};

class Value {
 public:
  Value(YAML::Node node, const JsonSchema& schema, std::string path, std::string trace_path, Loc loc,
        const BuildCtx& ctx);

  YamlKind kind() const { return kindOf(node_); }
  bool isMap() const { return kind() == YamlKind::kMap; }
  bool isList() const { return kind() == YamlKind::kList; }
  const std::string& path() const { return path_; }
  Loc loc() const { return loc_; }
  const BuildCtx& ctx() const { return ctx_; }

  std::string text() const;  // a scalar's text ("" for null)
  int integer() const;
  int64_t integer64() const;
  double number() const;
  bool boolean() const;
  Duration duration() const;

  // Maps and lists: the entries written, valid or not.
  size_t size() const { return isMap() || isList() ? node_.size() : 0; }
  // Maps: whether `key` is written at all (even with a bad value), and where.
  bool has(const std::string& key) const;
  Loc keyLoc(const std::string& key) const;
  // Maps: the value of a declared key when present and valid, else its default, else nullopt.
  std::optional<Value> field(const std::string& key) const;
  // Maps with `additionalProperties`: the valid entries, in file order (first of duplicates).
  std::vector<std::pair<std::string, Value>> entries() const;
  // Lists: the valid items.
  std::vector<Value> items() const;

 private:
  YAML::Node findKey(const std::string& key, YAML::Node* key_node) const;

  YAML::Node node_;
  const JsonSchema* schema_;  // the `oneOf` branch that accepts the node, if the schema has one
  std::string path_;
  std::string trace_path_;
  Loc loc_;
  const BuildCtx& ctx_;
};

// Whether the second pass may read `node`: a map or list of the right type (its parts are judged
// one by one), or a scalar with no schema error.
bool usable(const JsonSchema& schema, const YAML::Node& node);

}  // namespace shoal
