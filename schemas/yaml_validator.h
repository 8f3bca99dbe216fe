// Validates yaml-cpp nodes against a `JsonSchema`, so every error keeps its line and column.
#pragma once

#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "schemas/diagnostic.h"
#include "schemas/json_schema.h"
#include "schemas/yaml_value.h"

namespace shoal {

// Parses one YAML document. A syntax error becomes "YAML syntax error: <problem>" at its place.
std::optional<YAML::Node> parseYaml(const std::string& text, const std::string& file, Diagnostics& out);

// Checks a whole file's top level: an empty document or a non-map is "expected a map, got ..." at
// 1:1; otherwise the map is validated against `schema`.
void validateDocument(const JsonSchema& schema, const YAML::Node& doc, const std::string& file, Diagnostics& out);

// Appends every error of `node` (found at `loc`, named `path`) under `schema`.
void validate(const JsonSchema& schema, const YAML::Node& node, Loc loc, const std::string& path,
              const std::string& file, Diagnostics& out);

// True when `node` has no error under `schema`.
bool conforms(const JsonSchema& schema, const YAML::Node& node);

// The `oneOf` branch that accepts `node`'s type; `&schema` when there is no `oneOf`; nullptr if none.
const JsonSchema* branchFor(const JsonSchema& schema, const YAML::Node& node);

// A map key as a string node, for `propertyNames`: JSON keys are strings, so `1:` is the key "1".
YAML::Node keyAsString(const std::string& key);

// By file, line, column; stable, so errors at one place keep the order they were found in.
void sortDiagnostics(Diagnostics& diags);

}  // namespace shoal
