#include "schemas/json_schema.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "schemas/embedded_schemas.h"

namespace shoal {
namespace {

using nlohmann::json;

std::unique_ptr<JsonSchema> parseNode(const json& j, const std::string& where);

std::unique_ptr<JsonSchema> parseSub(const json& j, const std::string& where) {
  if (!j.is_object()) throw std::runtime_error(where + ": a schema must be an object");
  return parseNode(j, where);
}

void parseTypes(JsonSchema& s, const json& t, const std::string& where) {
  if (t.is_string()) s.types.push_back(t.get<std::string>());
  else if (t.is_array()) for (const auto& x : t) s.types.push_back(x.get<std::string>());
  else throw std::runtime_error(where + ".type: expected a string or a list");
}

void parseObjectKeywords(JsonSchema& s, const json& j, const std::string& where) {
  if (j.contains("properties")) {
    for (const auto& [key, sub] : j["properties"].items()) {
      s.properties[key] = parseSub(sub, where + ".properties." + key);
    }
  }
  if (j.contains("required")) s.required = j["required"].get<std::vector<std::string>>();
  if (j.contains("additionalProperties")) {
    const json& a = j["additionalProperties"];
    if (a.is_boolean()) s.additional_allowed = a.get<bool>();
    else s.additional = parseSub(a, where + ".additionalProperties");
  }
  if (j.contains("propertyNames")) s.property_names = parseSub(j["propertyNames"], where + ".propertyNames");
}

std::unique_ptr<JsonSchema> parseNode(const json& j, const std::string& where) {
  auto s = std::make_unique<JsonSchema>();
  if (j.contains("type")) parseTypes(*s, j["type"], where);
  parseObjectKeywords(*s, j, where);
  if (j.contains("enum")) s->enum_values = j["enum"].get<std::vector<std::string>>();
  if (j.contains("minimum")) s->minimum = j["minimum"].get<double>();
  if (j.contains("maximum")) s->maximum = j["maximum"].get<double>();
  if (j.contains("exclusiveMinimum")) s->exclusive_minimum = j["exclusiveMinimum"].get<double>();
  if (j.contains("minLength")) s->min_length = j["minLength"].get<size_t>();
  if (j.contains("minItems")) s->min_items = j["minItems"].get<size_t>();
  if (j.contains("pattern")) {
    s->pattern = j["pattern"].get<std::string>();
    s->pattern_re.emplace(s->pattern, std::regex::ECMAScript);
  }
  if (j.contains("errorMessage")) s->error_message = j["errorMessage"].get<std::string>();
  if (j.contains("format")) s->format = j["format"].get<std::string>();
  if (j.contains("items")) s->items = parseSub(j["items"], where + ".items");
  if (j.contains("oneOf")) {
    int i = 0;
    for (const auto& b : j["oneOf"]) s->one_of.push_back(std::move(*parseSub(b, where + ".oneOf[" + std::to_string(i++) + "]")));
  }
  if (j.contains("default")) s->default_text = j["default"].dump();
  return s;
}

void collectKeys(const JsonSchema& s, const std::string& prefix, std::set<std::string>& out) {
  for (const auto& [key, sub] : s.properties) {
    std::string path = prefix.empty() ? key : prefix + "." + key;
    out.insert(path);
    collectKeys(*sub, path, out);
  }
  if (s.items) collectKeys(*s.items, prefix + "[]", out);
  if (s.additional) collectKeys(*s.additional, prefix + ".*", out);
  for (const auto& b : s.one_of) collectKeys(b, prefix, out);
}

}  // namespace

bool JsonSchema::allowsType(const std::string& type) const {
  if (types.empty()) return true;
  for (const auto& t : types) {
    if (t == type || (t == "number" && type == "integer")) return true;
  }
  return false;
}

const JsonSchema* JsonSchema::property(const std::string& key) const {
  auto it = properties.find(key);
  return it == properties.end() ? nullptr : it->second.get();
}

JsonSchema parseJsonSchema(const std::string& json_text) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("not valid JSON: ") + e.what());
  }
  try {
    return std::move(*parseSub(j, "#"));
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("bad schema: ") + e.what());
  } catch (const std::regex_error& e) {
    throw std::runtime_error(std::string("bad pattern: ") + e.what());
  }
}

const char* schemaText(SchemaKind kind) {
  switch (kind) {
    case SchemaKind::kCluster: return kClusterSchemaJson;
    case SchemaKind::kApp: return kAppSchemaJson;
    case SchemaKind::kNode: return kNodeSchemaJson;
  }
  std::abort();
}

const JsonSchema& schemaFor(SchemaKind kind) {
  auto parse = [](SchemaKind k) {
    try {
      return parseJsonSchema(schemaText(k));
    } catch (const std::exception& e) {
      // The text was compiled in: a broken schema file is a bug of this build.
      std::fprintf(stderr, "embedded schema %d is broken: %s\n", static_cast<int>(k), e.what());
      std::abort();
    }
  };
  static const JsonSchema cluster = parse(SchemaKind::kCluster);
  static const JsonSchema app = parse(SchemaKind::kApp);
  static const JsonSchema node = parse(SchemaKind::kNode);
  switch (kind) {
    case SchemaKind::kCluster: return cluster;
    case SchemaKind::kApp: return app;
    case SchemaKind::kNode: return node;
  }
  std::abort();
}

std::set<std::string> schemaKeyPaths(const JsonSchema& schema) {
  std::set<std::string> out;
  collectKeys(schema, "", out);
  return out;
}

}  // namespace shoal
