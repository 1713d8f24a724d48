// Shell-style name patterns (see glob.h).
#include "trainscope/glob.h"

#include <fnmatch.h>

namespace trainscope {

bool glob_match(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

bool matches_any(const std::vector<std::string>& globs, const std::string& name) {
  for (const auto& g : globs)
    if (glob_match(g, name)) return true;
  return false;
}

bool has_glob(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

}  // namespace trainscope
