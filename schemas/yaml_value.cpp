#include "schemas/yaml_value.h"

#include <charconv>
#include <cmath>
#include <regex>

namespace shoal {
namespace {

bool isQuoted(const YAML::Node& node) {
  // "!" = a quoted or block scalar; an explicit `!!str` tag also makes a string.
  return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
}

YamlKind resolvePlain(const std::string& s) {
  static const std::regex kInt(R"([-+]?[0-9]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return YamlKind::kNull;
  if (s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" || s == "FALSE") {
    return YamlKind::kBool;
  }
  if (std::regex_match(s, kInt)) return YamlKind::kInt;
  if (std::regex_match(s, kFloat)) return YamlKind::kFloat;
  return YamlKind::kString;
}

}  // namespace

YamlKind kindOf(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return YamlKind::kNull;
  if (node.IsMap()) return YamlKind::kMap;
  if (node.IsSequence()) return YamlKind::kList;
  if (isQuoted(node)) return YamlKind::kString;
  return resolvePlain(node.Scalar());
}

const char* schemaTypeOf(YamlKind kind) {
  switch (kind) {
    case YamlKind::kNull: return "null";
    case YamlKind::kBool: return "boolean";
    case YamlKind::kInt: return "integer";
    case YamlKind::kFloat: return "number";
    case YamlKind::kString: return "string";
    case YamlKind::kMap: return "object";
    case YamlKind::kList: return "array";
  }
  return "?";
}

std::string describeValue(const YAML::Node& node) {
  switch (kindOf(node)) {
    case YamlKind::kNull: return "nothing";
    case YamlKind::kMap: return "a map";
    case YamlKind::kList: return "a list";
    case YamlKind::kString: return "\"" + node.Scalar() + "\"";
    default: return node.Scalar();
  }
}

std::string describeTypes(const std::vector<std::string>& schema_types) {
  std::vector<std::string> names;
  bool has_number = false;
  for (const auto& t : schema_types) has_number = has_number || t == "number";
  for (const auto& t : schema_types) {
    if (t == "object") names.push_back("a map");
    else if (t == "array") names.push_back("a list");
    else if (t == "string") names.push_back("a string");
    else if (t == "integer" && !has_number) names.push_back("an integer");
    else if (t == "number") names.push_back("a number");
    else if (t == "boolean") names.push_back("a boolean");
    else if (t == "null") names.push_back("nothing");
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out += names[i];
  }
  return out;
}

std::optional<int64_t> intValue(const YAML::Node& node) {
  if (kindOf(node) != YamlKind::kInt) return std::nullopt;
  const std::string& s = node.Scalar();
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;  // out of range
  return v;
}

std::optional<double> numberValue(const YAML::Node& node) {
  YamlKind k = kindOf(node);
  if (k != YamlKind::kInt && k != YamlKind::kFloat) return std::nullopt;
  std::string s = node.Scalar();
  if (s.find("inf") != std::string::npos || s.find("Inf") != std::string::npos || s.find("INF") != std::string::npos) {
    return s[0] == '-' ? -INFINITY : INFINITY;
  }
  if (s.find("nan") != std::string::npos || s.find("NaN") != std::string::npos || s.find("NAN") != std::string::npos) {
    return NAN;
  }
  return std::strtod(s.c_str(), nullptr);
}

std::optional<bool> boolValue(const YAML::Node& node) {
  if (kindOf(node) != YamlKind::kBool) return std::nullopt;
  char c = node.Scalar()[0];
  return c == 't' || c == 'T';
}

Loc locOf(const YAML::Node& node, Loc fallback) {
  if (!node.IsDefined()) return fallback;
  YAML::Mark m = node.Mark();
  if (m.line < 0 || m.column < 0) return fallback;
  return Loc{m.line + 1, m.column + 1};
}

Loc valueLoc(const YAML::Node& key, const YAML::Node& value) {
  Loc at_key = locOf(key);
  if (!value.IsDefined() || value.IsNull()) return at_key;
  return locOf(value, at_key);
}

std::string joinPath(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string indexPath(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

Diagnostic diagAt(const std::string& file, Loc loc, std::string path, std::string message) {
  return Diagnostic{file, loc.line, loc.column, std::move(path), std::move(message)};
}

}  // namespace shoal
