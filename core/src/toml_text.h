// Text helpers shared by the two TOML readers (config.cpp and sweep_config.cpp): the TOML type
// name used in "expected X, got Y" messages, and a list joined for "did you mean" hints.
// Include after <toml++/toml.h>.
#pragma once

#include <string>
#include <vector>

namespace trainscope::detail {

inline const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "int";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "bool";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    default: return "nothing";
  }
}

inline std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

}  // namespace trainscope::detail
