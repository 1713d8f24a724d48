// A pre-scan of TOML text for what TOML++ 3.3 (Debian 12's) cannot be handed: a non-ASCII
// character where the parser tests for whitespace reaches a __builtin_unreachable() in its
// Unicode tables (marzer/tomlplusplus#295, fixed upstream after 3.4), that is undefined
// behaviour in a release build. Outside strings and comments such a character is a TOML
// error anyway; inside a multi-line basic string it matters only right after a backslash.
// Found by tests/fuzz/fuzz_config.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace trainscope::detail {

struct TomlGuardProblem {
  size_t line = 0, column = 0;  // 1-based; column counts characters, as TOML++ does
  std::string message;          // empty: nothing found
};

// The first place TOML++ must not be shown, or an empty message.
TomlGuardProblem toml_guard(std::string_view text);

}  // namespace trainscope::detail
