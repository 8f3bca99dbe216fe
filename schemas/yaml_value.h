// What a yaml-cpp node *is* under YAML 1.2's core schema, and how messages name it.
//
// yaml-cpp keeps every scalar as text; whether `3` is an integer or a string depends on whether it
// was quoted (tag "!") or plain (tag "?"). These helpers resolve plain scalars the way JSON Schema
// tools reading the same file would, so the editor and the node agree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "schemas/diagnostic.h"

namespace shoal {

enum class YamlKind { kNull, kBool, kInt, kFloat, kString, kMap, kList };

YamlKind kindOf(const YAML::Node& node);
// The JSON Schema type name of a kind: "null", "boolean", "integer", "number", "string", "object", "array".
const char* schemaTypeOf(YamlKind kind);
// How a message shows a value: "three" quoted, 3 and true bare, "a map", "a list", "nothing".
std::string describeValue(const YAML::Node& node);
// "a string or a list" for {"string", "array"}; "an integer" for {"integer"}.
std::string describeTypes(const std::vector<std::string>& schema_types);

std::optional<int64_t> intValue(const YAML::Node& node);  // integers only
std::optional<double> numberValue(const YAML::Node& node);  // integers and floats
std::optional<bool> boolValue(const YAML::Node& node);

// A 1-based place in a file.
struct Loc {
  int line = 1;
  int column = 1;
};
// The node's place, or `fallback` when yaml-cpp has none (a missing or empty document).
Loc locOf(const YAML::Node& node, Loc fallback = {});
// The place to report a map value at. yaml-cpp marks an empty value at the *next* token, often on
// the next line, so an empty value is reported at its key.
Loc valueLoc(const YAML::Node& key, const YAML::Node& value);

std::string joinPath(const std::string& path, const std::string& key);  // "health" + "interval"
std::string indexPath(const std::string& path, size_t index);           // "ports" + 1 -> "ports[1]"

Diagnostic diagAt(const std::string& file, Loc loc, std::string path, std::string message);

}  // namespace shoal
