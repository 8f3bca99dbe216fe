#include "schemas/yaml_validator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>
#include <vector>

#include "common/duration.h"
#include "schemas/short_forms.h"

namespace shoal {
namespace {

struct Ctx {
  const std::string& file;
  Diagnostics& out;
  void add(Loc loc, const std::string& path, std::string message) {
    out.push_back(diagAt(file, loc, path, std::move(message)));
  }
};

// What a custom `format` expects, in words; empty for formats we don't check.
std::string formatExpectation(const std::string& format) {
  if (format == "duration") return "expected a duration like 500ms, 2s, 5m";
  if (format == "size") return "expected a size like 512k, 64M, 2G";
  if (format == "port-or-range") return "expected a port like 8080 or a range like 8080-8089";
  if (format == "port-mapping") return "expected a port like \"80\", \"8080:80\", \"8080-8089:80\" or \"127.0.0.1:53:53/udp\"";
  if (format == "volume-mapping") return "expected a volume like \"data:/var/lib/data\" or \"data:/var/lib/data:ro\"";
  if (format == "peer-address") {
    return "expected an address like \"10.0.0.2\", \"10.0.0.2:7444\", \"n1.example.com\" or \"[fd00::1]:7444\"";
  }
  if (format == "dns-server") return "expected an IPv4 address with an optional port like \"127.0.0.1:5353\"";
  if (format == "percent") return "expected a percentage from 0% to 100% like 20%";
  return "";
}

// Formats apply to strings; integers are checked by minimum/maximum instead.
bool formatHolds(const std::string& format, const std::string& text) {
  if (format == "duration") return parseDuration(text).has_value();
  if (format == "size") return parseSize(text).has_value();
  if (format == "port-or-range") return parsePortRange(text).has_value();
  if (format == "port-mapping") return parsePortMapping(text).has_value();
  if (format == "volume-mapping") return parseVolumeMapping(text).has_value();
  if (format == "peer-address") return isPeerAddress(text);
  if (format == "dns-server") return isDnsServer(text);
  if (format == "percent") return parsePercent(text).has_value();
  return true;
}

std::string number(double v) {
  char buf[64];
  if (std::floor(v) == v && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void typeError(const JsonSchema& s, const std::vector<std::string>& types, const YAML::Node& node, Loc loc,
               const std::string& path, Ctx& ctx) {
  std::string expectation = formatExpectation(s.format);
  YamlKind k = kindOf(node);
  if (expectation.empty() || k == YamlKind::kMap || k == YamlKind::kList) {
    expectation = "expected " + describeTypes(types);
  }
  ctx.add(loc, path, expectation + ", got " + describeValue(node));
}

void validateNumber(const JsonSchema& s, const YAML::Node& node, Loc loc, const std::string& path, Ctx& ctx) {
  std::optional<double> v = numberValue(node);
  if (!v) return;
  const std::string& got = node.Scalar();
  // An integer field holds a C++ int: larger values are refused rather than wrapped.
  bool int_only = !s.allowsType("number");
  double lo = s.minimum.value_or(int_only ? -2147483648.0 : -INFINITY);
  double hi = s.maximum.value_or(int_only ? 2147483647.0 : INFINITY);
  if (*v < lo) ctx.add(loc, path, "must be at least " + number(lo) + ", got " + got);
  else if (*v > hi) ctx.add(loc, path, "must be at most " + number(hi) + ", got " + got);
  else if (s.exclusive_minimum && !(*v > *s.exclusive_minimum)) {
    ctx.add(loc, path, "must be more than " + number(*s.exclusive_minimum) + ", got " + got);
  }
}

void validateString(const JsonSchema& s, const YAML::Node& node, Loc loc, const std::string& path, Ctx& ctx) {
  const std::string& text = node.Scalar();
  std::string got = describeValue(node);
  if (s.min_length && text.size() < *s.min_length) {
    ctx.add(loc, path, *s.min_length == 1 ? "must not be empty"
                                          : "must be at least " + std::to_string(*s.min_length) + " characters long");
    return;
  }
  if (!s.format.empty() && !formatHolds(s.format, text)) {
    ctx.add(loc, path, formatExpectation(s.format) + ", got " + got);
    return;  // the pattern says the same thing less clearly
  }
  if (s.pattern_re && !std::regex_search(text, *s.pattern_re)) {
    std::string why = s.error_message.empty() ? "must match " + s.pattern : s.error_message;
    ctx.add(loc, path, why + ", got " + got);
  }
}

void validateScalar(const JsonSchema& s, const YAML::Node& node, Loc loc, const std::string& path, Ctx& ctx) {
  YamlKind k = kindOf(node);
  if (!s.enum_values.empty()) {
    if (std::find(s.enum_values.begin(), s.enum_values.end(), node.Scalar()) == s.enum_values.end() ||
        k == YamlKind::kNull) {
      std::string list;
      for (const auto& e : s.enum_values) list += (list.empty() ? "" : ", ") + e;
      ctx.add(loc, path, "expected one of " + list + ", got " + describeValue(node));
    }
    return;
  }
  if (k == YamlKind::kInt || k == YamlKind::kFloat) validateNumber(s, node, loc, path, ctx);
  if (k == YamlKind::kString) validateString(s, node, loc, path, ctx);
}

void validateAt(const JsonSchema& s, const YAML::Node& node, Loc loc, const std::string& path, Ctx& ctx);

void validateMap(const JsonSchema& s, const YAML::Node& node, Loc loc, const std::string& path, Ctx& ctx) {
  std::map<std::string, Loc> seen;
  for (const auto& kv : node) {
    Loc key_loc = locOf(kv.first, loc);
    if (!kv.first.IsScalar()) {
      ctx.add(key_loc, path, "keys must be plain text, got " + describeValue(kv.first));
      continue;
    }
    const std::string key = kv.first.Scalar();
    const std::string key_path = joinPath(path, key);
    if (auto first = seen.find(key); first != seen.end()) {
      ctx.add(key_loc, key_path, "duplicate key (first at line " + std::to_string(first->second.line) + ")");
      continue;
    }
    seen.emplace(key, key_loc);
    if (s.property_names) validateAt(*s.property_names, keyAsString(key), key_loc, key_path, ctx);
    const JsonSchema* sub = s.property(key);
    if (sub == nullptr) sub = s.additional.get();
    if (sub == nullptr) {
      if (s.additional_allowed) continue;
      std::string keys;
      for (const auto& [name, _] : s.properties) keys += (keys.empty() ? "" : ", ") + name;
      ctx.add(key_loc, key_path, "unknown key; expected one of: " + keys);
      continue;
    }
    validateAt(*sub, kv.second, valueLoc(kv.first, kv.second), key_path, ctx);
  }
  for (const auto& r : s.required) {
    if (!seen.contains(r)) ctx.add(loc, joinPath(path, r), "required");
  }
}

void validateList(const JsonSchema& s, const YAML::Node& node, Loc loc, const std::string& path, Ctx& ctx) {
  if (s.min_items && node.size() < *s.min_items) {
    ctx.add(loc, path, *s.min_items == 1 ? "must not be empty"
                                         : "must have at least " + std::to_string(*s.min_items) + " items");
  }
  if (!s.items) return;
  for (size_t i = 0; i < node.size(); ++i) {
    validateAt(*s.items, node[i], locOf(node[i], loc), indexPath(path, i), ctx);
  }
}

void validateAt(const JsonSchema& s, const YAML::Node& node, Loc loc, const std::string& path, Ctx& ctx) {
  YamlKind k = kindOf(node);
  if (!s.allowsType(schemaTypeOf(k))) {
    typeError(s, s.types, node, loc, path, ctx);
    return;
  }
  if (!s.one_of.empty()) {
    const JsonSchema* branch = branchFor(s, node);
    if (branch == nullptr) {
      std::vector<std::string> types;
      for (const auto& b : s.one_of) types.insert(types.end(), b.types.begin(), b.types.end());
      typeError(s, types, node, loc, path, ctx);
      return;
    }
    validateAt(*branch, node, loc, path, ctx);
  }
  if (k == YamlKind::kMap) validateMap(s, node, loc, path, ctx);
  else if (k == YamlKind::kList) validateList(s, node, loc, path, ctx);
  else validateScalar(s, node, loc, path, ctx);
}

// yaml-cpp accepts a quoted scalar left open at the end of the file, silently taking the rest of the
// file as its text; find the closing quote ourselves. Returns the first open quote, if any.
std::optional<YAML::Mark> unclosedQuote(const YAML::Node& node, const std::string& text) {
  if (node.IsMap() || node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      auto found = node.IsMap() ? unclosedQuote(it->first, text) : unclosedQuote(*it, text);
      if (!found && node.IsMap()) found = unclosedQuote(it->second, text);
      if (found) return found;
    }
    return std::nullopt;
  }
  if (!node.IsScalar() || node.Tag() != "!") return std::nullopt;
  YAML::Mark m = node.Mark();
  if (m.pos < 0 || static_cast<size_t>(m.pos) >= text.size()) return std::nullopt;
  char q = text[m.pos];
  if (q != '"' && q != '\'') return std::nullopt;
  for (size_t i = m.pos + 1; i < text.size(); ++i) {
    if (q == '"' && text[i] == '\\') ++i;
    else if (q == '\'' && text[i] == '\'' && i + 1 < text.size() && text[i + 1] == '\'') ++i;
    else if (text[i] == q) return std::nullopt;
  }
  return m;
}

}  // namespace

YAML::Node keyAsString(const std::string& key) {
  YAML::Node node(key);
  node.SetTag("!");  // as if quoted: a key is text however it looks (`1`, `true`)
  return node;
}

std::optional<YAML::Node> parseYaml(const std::string& text, const std::string& file, Diagnostics& out) {
  YAML::Node doc;
  try {
    // yaml-cpp's `Load` would drop every document after the first without a word.
    std::vector<YAML::Node> docs = YAML::LoadAll(text);
    for (size_t i = 1; i < docs.size(); ++i) {
      if (docs[i].IsNull()) continue;  // a trailing `---` alone is harmless
      out.push_back(diagAt(file, locOf(docs[i]), "", "YAML syntax error: a file holds one document; a second starts here"));
      return std::nullopt;
    }
    if (!docs.empty()) doc = docs[0];
  } catch (const YAML::Exception& e) {
    Loc loc = e.mark.is_null() ? Loc{} : Loc{e.mark.line + 1, e.mark.column + 1};
    out.push_back(diagAt(file, loc, "", "YAML syntax error: " + e.msg));
    return std::nullopt;
  }
  if (auto open = unclosedQuote(doc, text)) {
    out.push_back(diagAt(file, Loc{open->line + 1, open->column + 1}, "",
                         "YAML syntax error: quoted text is never closed"));
    return std::nullopt;
  }
  return doc;
}

void validateDocument(const JsonSchema& schema, const YAML::Node& doc, const std::string& file, Diagnostics& out) {
  if (!doc.IsMap()) {
    std::string got = (!doc.IsDefined() || doc.IsNull()) ? "an empty file" : describeValue(doc);
    out.push_back(diagAt(file, Loc{}, "", "expected a map, got " + got));
    return;
  }
  validate(schema, doc, locOf(doc), "", file, out);
}

void validate(const JsonSchema& schema, const YAML::Node& node, Loc loc, const std::string& path,
              const std::string& file, Diagnostics& out) {
  Ctx ctx{file, out};
  validateAt(schema, node, loc, path, ctx);
}

bool conforms(const JsonSchema& schema, const YAML::Node& node) {
  Diagnostics scratch;
  validate(schema, node, Loc{}, "", "", scratch);
  return scratch.empty();
}

const JsonSchema* branchFor(const JsonSchema& schema, const YAML::Node& node) {
  if (schema.one_of.empty()) return &schema;
  const char* type = schemaTypeOf(kindOf(node));
  for (const auto& b : schema.one_of) {
    if (b.allowsType(type)) return &b;
  }
  return nullptr;
}

void sortDiagnostics(Diagnostics& diags) {
  std::stable_sort(diags.begin(), diags.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
}

}  // namespace shoal
