// Shell-style name patterns, for plugin options that pick parameters, layers or tags by
// name ("conv*.weight", "features.[0-3]"). POSIX fnmatch(3) without flags: '*' and '?'
// match any characters, '/' and '.' included; "[...]" is a set, "[!...]" its complement;
// '\' quotes the next character.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

// Whether `name` matches `pattern` as a whole. A malformed pattern (an unclosed '[') is
// taken literally, as fnmatch does.
TRAINSCOPE_API bool glob_match(const std::string& pattern, const std::string& name);

// Whether `name` matches at least one of `globs` (false for an empty list).
TRAINSCOPE_API bool matches_any(const std::vector<std::string>& globs, const std::string& name);

// Whether `s` holds a wildcard ('*', '?' or '['), i.e. names a set rather than one name.
TRAINSCOPE_API bool has_glob(std::string_view s);

}  // namespace trainscope
