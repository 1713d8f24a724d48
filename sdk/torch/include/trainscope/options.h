// Plugin options: the schema a plugin declares (name, type, default, help, constraints) and
// the validated values it receives. The core checks every value against its schema entry
// (type, then constraints) when the configuration is read, before any plugin exists.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

using OptionValue = std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

enum class OptionType : uint8_t { kBool, kInt, kDouble, kString, kStringList };
TRAINSCOPE_API const char* option_type_name(OptionType type);

// One rule an option's value must follow. Plain data: the core checks it (check_option) and
// prints it (describe), so no plugin code runs to validate a configuration.
enum class ConstraintKind : uint8_t {
  kAtLeast,   // int or float >= bound (a numeric string list: every item)
  kAbove,     // ... > bound
  kAtMost,    // ... <= bound
  kBelow,     // ... < bound
  kFinite,    // float: not nan, not +-inf
  kOneOf,     // string, or every item of a string list: one of `words`
  kNotEmpty,  // string or string list: not empty
  kGlobs,     // string, or every item of a string list: a well-formed glob pattern (*, ?, [...])
  kNumeric,   // every item of a string list is a decimal number (bounds then apply to each)
};

struct OptionConstraint {
  ConstraintKind kind;
  double bound = 0;                // kAtLeast .. kBelow (integral for an int option)
  std::vector<std::string> words;  // kOneOf
};

// A schema entry. The constraint setters chain: option<int64_t>("every", 1, "help").min(1).
// Part of the plugin ABI (the core reads it from the plugin's descriptor): changing the
// data members' layout needs a new kPluginAbiMajor.
struct OptionSpec {
  std::string name;
  OptionType type;
  OptionValue default_value;
  std::string help;
  std::vector<OptionConstraint> constraints;

  OptionSpec& min(double bound) { return add({ConstraintKind::kAtLeast, bound, {}}); }         // >= bound
  OptionSpec& greater_than(double bound) { return add({ConstraintKind::kAbove, bound, {}}); }  // > bound
  OptionSpec& max(double bound) { return add({ConstraintKind::kAtMost, bound, {}}); }          // <= bound
  OptionSpec& less_than(double bound) { return add({ConstraintKind::kBelow, bound, {}}); }     // < bound
  OptionSpec& range(double lo, double hi) { return min(lo).max(hi); }                          // [lo, hi]
  OptionSpec& finite() { return add({ConstraintKind::kFinite, 0, {}}); }
  OptionSpec& one_of(std::vector<std::string> words) { return add({ConstraintKind::kOneOf, 0, std::move(words)}); }
  OptionSpec& not_empty() { return add({ConstraintKind::kNotEmpty, 0, {}}); }
  OptionSpec& globs() { return add({ConstraintKind::kGlobs, 0, {}}); }
  OptionSpec& numeric() { return add({ConstraintKind::kNumeric, 0, {}}); }

 private:
  OptionSpec& add(OptionConstraint c) {
    constraints.push_back(std::move(c));
    return *this;
  }
};

// What one constraint asks, in words: ">= 1", "one of: \"min\", \"max\"", "non-empty".
TRAINSCOPE_API std::string describe(const OptionConstraint& constraint);
// What the whole entry accepts, as a noun phrase: "an integer >= 1", "a finite number >= 0",
// "one of: \"min\", \"max\", \"auto\"", "a non-empty list of glob patterns"; empty when
// the entry has no constraints.
TRAINSCOPE_API std::string describe_constraints(const OptionSpec& spec);

// A value that breaks its entry's constraints. `message` continues "option 'x' ": e.g.
// "= 0 is out of range: must be an integer >= 1"; `item` is the index of the offending item
// of a list (-1: the value as a whole).
struct OptionViolation {
  std::string message;
  int64_t item = -1;
};
// Checks a value of the entry's type (as the core read it) against every constraint.
TRAINSCOPE_API std::optional<OptionViolation> check_option(const OptionSpec& spec, const OptionValue& value);
// Mistakes in the entry itself (a constraint that does not fit the type, a default that breaks
// its own constraints, ...); the loader refuses a plugin that has any.
TRAINSCOPE_API std::vector<std::string> schema_problems(const OptionSpec& spec);

// One option of the schema, typed by its default: option<double>("max_norm", 1.0, "help").
template <typename T>
OptionSpec option(std::string name, T default_value, std::string help) {
  if constexpr (std::is_same_v<T, bool>) {
    return {std::move(name), OptionType::kBool, default_value, std::move(help), {}};
  } else if constexpr (std::is_integral_v<T>) {
    return {std::move(name), OptionType::kInt, static_cast<int64_t>(default_value), std::move(help), {}};
  } else if constexpr (std::is_floating_point_v<T>) {
    return {std::move(name), OptionType::kDouble, static_cast<double>(default_value), std::move(help), {}};
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return {std::move(name), OptionType::kStringList, std::move(default_value), std::move(help), {}};
  } else {
    return {std::move(name), OptionType::kString, std::string(default_value), std::move(help), {}};
  }
}

// Validated option values (defaults filled in). get<T> throws std::out_of_range naming the
// option when it is absent or of another type: a schema/code mismatch in the plugin.
class Options {
 public:
  Options() = default;
  explicit Options(std::map<std::string, OptionValue> values) : values_(std::move(values)) {}

  template <typename T>
  T get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw std::out_of_range("option '" + name + "' is not in the plugin's schema");
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<T>(*v);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (auto* v = std::get_if<double>(&it->second)) return static_cast<T>(*v);
      if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<T>(*v);
    } else {
      if (auto* v = std::get_if<T>(&it->second)) return *v;
    }
    throw std::out_of_range("option '" + name + "' has another type");
  }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const std::map<std::string, OptionValue>& values() const { return values_; }
  void set(const std::string& name, OptionValue v) { values_[name] = std::move(v); }

 private:
  std::map<std::string, OptionValue> values_;
};

}  // namespace trainscope
