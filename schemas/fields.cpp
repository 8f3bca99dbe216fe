#include "schemas/fields.h"

#include <cstdio>
#include <cstdlib>

#include "common/duration.h"
#include "schemas/yaml_validator.h"

namespace shoal {

void BuildCtx::error(Loc loc, const std::string& path, std::string message) const {
  diags->push_back(diagAt(file, loc, path, std::move(message)));
}

bool usable(const JsonSchema& schema, const YAML::Node& node) {
  const JsonSchema* branch = branchFor(schema, node);
  if (branch == nullptr) return false;
  YamlKind k = kindOf(node);
  if (k == YamlKind::kMap || k == YamlKind::kList) return branch->allowsType(schemaTypeOf(k));
  return conforms(schema, node);
}

Value::Value(YAML::Node node, const JsonSchema& schema, std::string path, std::string trace_path, Loc loc,
             const BuildCtx& ctx)
    : node_(std::move(node)), path_(std::move(path)), trace_path_(std::move(trace_path)), loc_(loc), ctx_(ctx) {
  const JsonSchema* branch = branchFor(schema, node_);
  schema_ = branch != nullptr ? branch : &schema;
}

std::string Value::text() const { return node_.IsScalar() ? node_.Scalar() : std::string(); }
int Value::integer() const { return static_cast<int>(intValue(node_).value_or(0)); }
int64_t Value::integer64() const { return intValue(node_).value_or(0); }
double Value::number() const { return numberValue(node_).value_or(0); }
bool Value::boolean() const { return boolValue(node_).value_or(false); }
Duration Value::duration() const { return parseDuration(text()).value_or(Duration(0)); }

YAML::Node Value::findKey(const std::string& key, YAML::Node* key_node) const {
  if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& kv : node_) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      if (key_node != nullptr) *key_node = kv.first;
      return kv.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

bool Value::has(const std::string& key) const { return findKey(key, nullptr).IsDefined(); }

Loc Value::keyLoc(const std::string& key) const {
  YAML::Node key_node;
  findKey(key, &key_node);
  return locOf(key_node, loc_);
}

std::optional<Value> Value::field(const std::string& key) const {
  const JsonSchema* sub = schema_->property(key);
  if (sub == nullptr) {
    std::fprintf(stderr, "schemas: code reads key %s.%s that the schema doesn't declare\n", path_.c_str(), key.c_str());
    std::abort();
  }
  if (ctx_.trace != nullptr) ctx_.trace->insert(joinPath(trace_path_, key));
  YAML::Node key_node;
  YAML::Node value = findKey(key, &key_node);
  std::string path = joinPath(path_, key);
  if (value.IsDefined()) {
    if (!usable(*sub, value)) return std::nullopt;
    return Value(value, *sub, path, joinPath(trace_path_, key), valueLoc(key_node, value), ctx_);
  }
  if (!sub->default_text) return std::nullopt;
  return Value(YAML::Load(*sub->default_text), *sub, path, joinPath(trace_path_, key), loc_, ctx_);
}

std::vector<std::pair<std::string, Value>> Value::entries() const {
  std::vector<std::pair<std::string, Value>> out;
  if (!node_.IsMap() || !schema_->additional) return out;
  std::set<std::string> seen;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar() || !seen.insert(kv.first.Scalar()).second) continue;
    if (!usable(*schema_->additional, kv.second)) continue;
    const std::string& key = kv.first.Scalar();
    if (schema_->property_names && !conforms(*schema_->property_names, keyAsString(key))) continue;
    out.emplace_back(key, Value(kv.second, *schema_->additional, joinPath(path_, key), trace_path_ + ".*",
                                valueLoc(kv.first, kv.second), ctx_));
  }
  return out;
}

std::vector<Value> Value::items() const {
  std::vector<Value> out;
  if (!node_.IsSequence() || !schema_->items) return out;
  for (size_t i = 0; i < node_.size(); ++i) {
    YAML::Node item = node_[i];
    if (!usable(*schema_->items, item)) continue;
    out.emplace_back(item, *schema_->items, indexPath(path_, i), trace_path_ + "[]", locOf(item, loc_), ctx_);
  }
  return out;
}

}  // namespace shoal
