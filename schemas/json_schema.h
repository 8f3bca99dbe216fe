// The subset of JSON Schema (draft 2020-12) that shoal's schema files use, as a tree the validator
// walks. Parsed once from the embedded .json text.
//
// Supported keywords: type (a name or a list), properties, required, additionalProperties (false or
// a schema), propertyNames (every key, read as a string), enum (strings), minimum, maximum,
// exclusiveMinimum, minLength, minItems, pattern (ECMAScript, searched like JSON Schema does),
// items, oneOf, format, default, and the annotation `errorMessage` (the text shown when `pattern`
// fails). Other keywords ($schema, title, description, ...) are annotations and ignored.
//
// `oneOf` branches must accept disjoint types: the validator picks the branch by the value's type,
// which is what `oneOf` means when the branches can't overlap.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace shoal {

struct JsonSchema {
  std::vector<std::string> types;  // empty: any type
  std::map<std::string, std::unique_ptr<JsonSchema>> properties;
  std::vector<std::string> required;
  bool additional_allowed = true;
  std::unique_ptr<JsonSchema> additional;  // schema of keys not in `properties`, if any
  std::unique_ptr<JsonSchema> property_names;  // schema every key (as a string) must meet, if any
  std::vector<std::string> enum_values;
  std::optional<double> minimum, maximum, exclusive_minimum;
  std::optional<size_t> min_length, min_items;
  std::string pattern;
  std::optional<std::regex> pattern_re;
  std::string error_message;
  std::unique_ptr<JsonSchema> items;
  std::vector<JsonSchema> one_of;
  // duration | size | port-or-range | port-mapping | volume-mapping | peer-address | dns-server | percent
  std::string format;
  // The `default`, as text: JSON is YAML, so loaded it reads exactly like the same value written in
  // a file. Kept as text because yaml-cpp nodes are not safe to share between threads.
  std::optional<std::string> default_text;

  bool allowsType(const std::string& type) const;
  const JsonSchema* property(const std::string& key) const;
};

enum class SchemaKind { kCluster, kApp, kNode };

// The parsed schema of `kind`. A malformed embedded schema is a bug: it aborts with its error.
// Thread-safe (parsed once).
const JsonSchema& schemaFor(SchemaKind kind);
// Parses schema text; throws std::runtime_error naming the problem. For tests and `schemaFor`.
JsonSchema parseJsonSchema(const std::string& json_text);
// The embedded text of `kind`'s schema file.
const char* schemaText(SchemaKind kind);

// Every key the schema names, as paths: "health.http.port", "ports[].host" (oneOf branches merged),
// "roles.*.count" (the keys of `additionalProperties` maps).
std::set<std::string> schemaKeyPaths(const JsonSchema& schema);

}  // namespace shoal
