// Plugin options: the schema a plugin declares (name, type, default, help) and the validated
// values it receives. Validation against the schema happens in the core, before creation.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

using OptionValue = std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

enum class OptionType : uint8_t { kBool, kInt, kDouble, kString, kStringList };
TRAINSCOPE_API const char* option_type_name(OptionType type);

struct OptionSpec {
  std::string name;
  OptionType type;
  OptionValue default_value;
  std::string help;
};

// One option of the schema, typed by its default: option<double>("max_norm", 1.0, "help").
template <typename T>
OptionSpec option(std::string name, T default_value, std::string help) {
  if constexpr (std::is_same_v<T, bool>) {
    return {std::move(name), OptionType::kBool, default_value, std::move(help)};
  } else if constexpr (std::is_integral_v<T>) {
    return {std::move(name), OptionType::kInt, static_cast<int64_t>(default_value), std::move(help)};
  } else if constexpr (std::is_floating_point_v<T>) {
    return {std::move(name), OptionType::kDouble, static_cast<double>(default_value), std::move(help)};
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return {std::move(name), OptionType::kStringList, std::move(default_value), std::move(help)};
  } else {
    return {std::move(name), OptionType::kString, std::string(default_value), std::move(help)};
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
