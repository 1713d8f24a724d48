// Option constraints: what each one accepts in words (describe), whether a value keeps them
// (check_option), and whether a schema entry makes sense (schema_problems). The core calls
// these while reading a configuration; `trainscope plugins` prints describe_constraints().
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "trainscope/options.h"

namespace trainscope {

// Here rather than with the plugin ABI: the torch-free config fuzz target links this file.
const char* option_type_name(OptionType type) {
  switch (type) {
    case OptionType::kBool: return "bool";
    case OptionType::kInt: return "int";
    case OptionType::kDouble: return "float";
    case OptionType::kString: return "string";
    case OptionType::kStringList: return "string list";
  }
  return "unknown";
}

namespace {

bool is_bound(ConstraintKind k) {
  return k == ConstraintKind::kAtLeast || k == ConstraintKind::kAbove || k == ConstraintKind::kAtMost ||
         k == ConstraintKind::kBelow;
}

bool has(const OptionSpec& spec, ConstraintKind kind) {
  for (const auto& c : spec.constraints) {
    if (c.kind == kind) return true;
  }
  return false;
}

const OptionConstraint* find(const OptionSpec& spec, ConstraintKind kind) {
  for (const auto& c : spec.constraints) {
    if (c.kind == kind) return &c;
  }
  return nullptr;
}

// 1 for 1.0, 0.5 for 0.5, 1e+20 for 1e20: a bound as a user would write it.
std::string number_text(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string words_text(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : ", ") + quoted(w);
  return out;
}

// " >= 2 and <= 127" for the entry's bounds (empty when it has none).
std::string bounds_text(const OptionSpec& spec) {
  std::string out;
  for (const auto& c : spec.constraints) {
    if (is_bound(c.kind)) out += (out.empty() ? " " : " and ") + describe(c);
  }
  return out;
}

bool keeps_bound(long double v, const OptionConstraint& c) {
  const long double b = c.bound;
  switch (c.kind) {
    case ConstraintKind::kAtLeast:
      return v >= b;
    case ConstraintKind::kAbove:
      return v > b;
    case ConstraintKind::kAtMost:
      return v <= b;
    case ConstraintKind::kBelow:
      return v < b;
    default:
      return true;
  }
}

// False when `v` breaks a bound (a NaN breaks every bound) or, with kFinite, is not finite.
bool keeps_numeric(const OptionSpec& spec, long double v) {
  if (has(spec, ConstraintKind::kFinite) && !std::isfinite(v)) return false;
  for (const auto& c : spec.constraints) {
    if (is_bound(c.kind) && !keeps_bound(v, c)) return false;
  }
  return true;
}

// The whole text as a finite decimal number, or nullopt.
std::optional<double> parse_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno != 0 || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Why `pattern` is not a well-formed glob (fnmatch would take a lone '[' literally, which is
// never what a user meant), or empty.
std::string glob_error(const std::string& pattern) {
  if (pattern.empty()) return "an empty pattern matches no name";
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      if (i + 1 == pattern.size()) return "it ends with a lone '\\'";
      ++i;
    } else if (pattern[i] == '[') {
      size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;  // a ']' first is a member
      const size_t close = pattern.find(']', j);
      if (close == std::string::npos) return "the '[' at offset " + std::to_string(i) + " is never closed";
      i = close;
    }
  }
  return std::string();
}

std::string value_text(const OptionValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    if (std::isnan(*d)) return "nan";
    if (std::isinf(*d)) return *d > 0 ? "inf" : "-inf";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", *d);
    return buf;
  }
  if (const auto* s = std::get_if<std::string>(&v)) return quoted(*s);
  const auto& list = std::get<std::vector<std::string>>(v);
  std::string out = "[";  // (appended, not "[" + ...: GCC 12 warns falsely on that form)
  out += words_text(list);
  out += "]";
  return out;
}

OptionViolation violation(const OptionSpec& spec, const std::string& what, bool range, int64_t item = -1) {
  return {what + (range ? " is out of range: must be " : " is not allowed: must be ") + describe_constraints(spec),
          item};
}

// The problem of one item of a string list, or empty.
std::string item_problem(const OptionSpec& spec, const std::string& item, bool* range) {
  *range = false;
  if (const auto* one_of = find(spec, ConstraintKind::kOneOf)) {
    bool found = false;
    for (const auto& w : one_of->words) found = found || w == item;
    if (!found) return "not one of the allowed words";
  }
  if (has(spec, ConstraintKind::kGlobs)) {
    const std::string why = glob_error(item);
    if (!why.empty()) return why;
  }
  if (has(spec, ConstraintKind::kNumeric)) {
    const auto v = parse_number(item);
    if (!v) return "not a number";
    if (!keeps_numeric(spec, *v)) {
      *range = true;
      return "out of range";
    }
  }
  return std::string();
}

const char* applies_to(ConstraintKind k) {
  switch (k) {
    case ConstraintKind::kAtLeast:
    case ConstraintKind::kAbove:
    case ConstraintKind::kAtMost:
    case ConstraintKind::kBelow:
      return "int, float and numeric string-list options";
    case ConstraintKind::kFinite:
      return "float options";
    case ConstraintKind::kOneOf:
    case ConstraintKind::kNotEmpty:
    case ConstraintKind::kGlobs:
      return "string and string-list options";
    case ConstraintKind::kNumeric:
      return "string-list options";
  }
  return "no option";
}

bool fits(ConstraintKind k, const OptionSpec& spec) {
  const OptionType t = spec.type;
  switch (k) {
    case ConstraintKind::kAtLeast:
    case ConstraintKind::kAbove:
    case ConstraintKind::kAtMost:
    case ConstraintKind::kBelow:
      return t == OptionType::kInt || t == OptionType::kDouble ||
             (t == OptionType::kStringList && has(spec, ConstraintKind::kNumeric));
    case ConstraintKind::kFinite:
      return t == OptionType::kDouble;
    case ConstraintKind::kOneOf:
    case ConstraintKind::kNotEmpty:
    case ConstraintKind::kGlobs:
      return t == OptionType::kString || t == OptionType::kStringList;
    case ConstraintKind::kNumeric:
      return t == OptionType::kStringList;
  }
  return false;
}

const char* setter_name(ConstraintKind k) {
  switch (k) {
    case ConstraintKind::kAtLeast:
      return "min";
    case ConstraintKind::kAbove:
      return "greater_than";
    case ConstraintKind::kAtMost:
      return "max";
    case ConstraintKind::kBelow:
      return "less_than";
    case ConstraintKind::kFinite:
      return "finite";
    case ConstraintKind::kOneOf:
      return "one_of";
    case ConstraintKind::kNotEmpty:
      return "not_empty";
    case ConstraintKind::kGlobs:
      return "globs";
    case ConstraintKind::kNumeric:
      return "numeric";
  }
  return "?";
}

}  // namespace

std::string describe(const OptionConstraint& c) {
  switch (c.kind) {
    case ConstraintKind::kAtLeast:
      return ">= " + number_text(c.bound);
    case ConstraintKind::kAbove:
      return "> " + number_text(c.bound);
    case ConstraintKind::kAtMost:
      return "<= " + number_text(c.bound);
    case ConstraintKind::kBelow:
      return "< " + number_text(c.bound);
    case ConstraintKind::kFinite:
      return "finite";
    case ConstraintKind::kOneOf:
      return "one of: " + words_text(c.words);
    case ConstraintKind::kNotEmpty:
      return "non-empty";
    case ConstraintKind::kGlobs:
      return "glob patterns (*, ?, [...])";
    case ConstraintKind::kNumeric:
      return "numbers";
  }
  return "unknown constraint";
}

std::string describe_constraints(const OptionSpec& spec) {
  if (spec.constraints.empty()) return std::string();
  const bool not_empty = has(spec, ConstraintKind::kNotEmpty);
  const auto* one_of = find(spec, ConstraintKind::kOneOf);
  switch (spec.type) {
    case OptionType::kInt:
      return "an integer" + bounds_text(spec);
    case OptionType::kDouble:
      return std::string(has(spec, ConstraintKind::kFinite) ? "a finite number" : "a number") + bounds_text(spec);
    case OptionType::kString:
      if (one_of) return describe(*one_of);
      if (has(spec, ConstraintKind::kGlobs)) return "a glob pattern (*, ?, [...])";
      return not_empty ? "a non-empty string" : "a string";
    case OptionType::kStringList: {
      std::string out = not_empty ? "a non-empty list" : "a list";
      if (has(spec, ConstraintKind::kNumeric)) out += " of numbers" + bounds_text(spec);
      if (has(spec, ConstraintKind::kGlobs)) out += " of glob patterns (*, ?, [...])";
      if (one_of) out += " whose items are each " + describe(*one_of);
      return out;
    }
    case OptionType::kBool:
      break;
  }
  return std::string();
}

std::optional<OptionViolation> check_option(const OptionSpec& spec, const OptionValue& value) {
  if (spec.constraints.empty()) return std::nullopt;
  if (const auto* i = std::get_if<int64_t>(&value)) {
    if (!keeps_numeric(spec, static_cast<long double>(*i))) return violation(spec, "= " + value_text(value), true);
  } else if (const auto* d = std::get_if<double>(&value)) {
    if (!keeps_numeric(spec, *d)) return violation(spec, "= " + value_text(value), true);
  } else if (const auto* s = std::get_if<std::string>(&value)) {
    bool range = false;
    const bool empty_refused = has(spec, ConstraintKind::kNotEmpty) && s->empty();
    if (empty_refused || !item_problem(spec, *s, &range).empty()) {
      return violation(spec, "= " + value_text(value), range);
    }
  } else if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    if (has(spec, ConstraintKind::kNotEmpty) && list->empty()) return violation(spec, "= []", false);
    for (size_t k = 0; k < list->size(); ++k) {
      // .not_empty() on a list refuses an empty item too: "" names nothing in any list.
      if (has(spec, ConstraintKind::kNotEmpty) && (*list)[k].empty())
        return violation(spec, "item \"\"", false, static_cast<int64_t>(k));
      bool range = false;
      if (!item_problem(spec, (*list)[k], &range).empty()) {
        return violation(spec, "item " + quoted((*list)[k]), range, static_cast<int64_t>(k));
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> schema_problems(const OptionSpec& spec) {
  std::vector<std::string> out;
  const std::string where = "option '" + spec.name + "' (" + option_type_name(spec.type) + ")";
  for (const auto& c : spec.constraints) {
    if (!fits(c.kind, spec)) {
      out.push_back(where + ": ." + setter_name(c.kind) + "() applies to " + applies_to(c.kind) +
                    (is_bound(c.kind) && spec.type == OptionType::kStringList ? " (add .numeric())" : ""));
    } else if (is_bound(c.kind) && spec.type == OptionType::kInt &&
               (c.bound != std::floor(c.bound) || std::fabs(c.bound) > 9007199254740992.0)) {
      out.push_back(where + ": ." + setter_name(c.kind) + "(" + number_text(c.bound) +
                    ") needs a whole bound within +-2^53 for an int option");
    } else if (c.kind == ConstraintKind::kOneOf && c.words.empty()) {
      out.push_back(where + ": .one_of() needs at least one word");
    } else if (is_bound(c.kind) && std::isnan(c.bound)) {
      out.push_back(where + ": ." + setter_name(c.kind) + "(nan) is no bound");
    }
  }
  if (out.empty()) {
    if (auto v = check_option(spec, spec.default_value)) out.push_back(where + ": the default " + v->message);
  }
  return out;
}

}  // namespace trainscope
