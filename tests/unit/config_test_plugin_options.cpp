// Part of config_test: `trainscope validate` against every bundled plugin's option schema.
// For each constraint of each option, a configuration that breaks it is generated from the
// schema (no hand-written list); validate must refuse it (exit 1) naming file:line:column of
// the value and the allowed range. A constraint that validate does not enforce fails here.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "test_util.h"
#include "trainscope/config.h"
#include "trainscope/plugin_loader.h"

namespace trainscope {
namespace {

// ---- The constraint vocabulary itself (sdk option_constraints.cpp) ----

TEST(OptionConstraints, DescribeEachEntryAsANounPhrase) {
  EXPECT_EQ(describe_constraints(option<int64_t>("n", 1, "").min(1)), "an integer >= 1");
  EXPECT_EQ(describe_constraints(option<int64_t>("n", 127, "").range(2, 127)), "an integer >= 2 and <= 127");
  EXPECT_EQ(describe_constraints(option<double>("d", 0.0, "").finite().min(0)), "a finite number >= 0");
  EXPECT_EQ(describe_constraints(option<double>("d", 0.5, "").greater_than(0).less_than(1.5)),
            "a number > 0 and < 1.5");
  EXPECT_EQ(describe_constraints(option<std::string>("m", "auto", "").one_of({"min", "max", "auto"})),
            "one of: \"min\", \"max\", \"auto\"");
  EXPECT_EQ(describe_constraints(option<std::string>("s", "x", "").not_empty()), "a non-empty string");
  EXPECT_EQ(describe_constraints(option<std::vector<std::string>>("g", {"*"}, "").not_empty().globs()),
            "a non-empty list of glob patterns (*, ?, [...])");
  EXPECT_EQ(describe_constraints(option<std::vector<std::string>>("v", {"1"}, "").numeric().greater_than(0)),
            "a list of numbers > 0");
  EXPECT_EQ(describe_constraints(option<bool>("b", true, "")), "");
}

TEST(OptionConstraints, CheckNamesTheValueAndTheOffendingItem) {
  const auto every = option<int64_t>("every", 1, "").min(1);
  EXPECT_FALSE(check_option(every, OptionValue{int64_t{1}}));
  auto bad = check_option(every, OptionValue{int64_t{0}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->message, "= 0 is out of range: must be an integer >= 1");
  EXPECT_EQ(bad->item, -1);

  const auto ratio = option<double>("r", 0.0, "").range(0, 1);
  EXPECT_FALSE(check_option(ratio, OptionValue{1.0}));
  EXPECT_TRUE(check_option(ratio, OptionValue{std::nan("")}));  // NaN breaks every bound
  EXPECT_TRUE(check_option(option<double>("f", 0.0, "").finite(), OptionValue{INFINITY}));

  const auto globs = option<std::vector<std::string>>("g", {"*"}, "").globs();
  EXPECT_FALSE(check_option(globs, OptionValue{std::vector<std::string>{"conv*", "fc[12]", "[]x]", "a\\["}}));
  bad = check_option(globs, OptionValue{std::vector<std::string>{"conv*", "fc[1"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->item, 1);
  EXPECT_EQ(bad->message, "item \"fc[1\" is not allowed: must be a list of glob patterns (*, ?, [...])");

  const auto stds = option<std::vector<std::string>>("std", {"1"}, "").not_empty().numeric().greater_than(0);
  EXPECT_FALSE(check_option(stds, OptionValue{std::vector<std::string>{"0.5", "2e-1"}}));
  EXPECT_EQ(check_option(stds, OptionValue{std::vector<std::string>{"0.5", "0"}})->item, 1);
  EXPECT_EQ(check_option(stds, OptionValue{std::vector<std::string>{"x"}})->item, 0);
  EXPECT_EQ(check_option(stds, OptionValue{std::vector<std::string>{}})->message,
            "= [] is not allowed: must be a non-empty list of numbers > 0");
}

TEST(OptionConstraints, SchemaProblemsCatchMistakesInTheEntry) {
  EXPECT_TRUE(schema_problems(option<int64_t>("n", 1, "").min(1)).empty());
  const auto wrong_type = schema_problems(option<std::string>("s", "x", "").min(1));
  ASSERT_EQ(wrong_type.size(), 1u);
  EXPECT_EQ(wrong_type[0], "option 's' (string): .min() applies to int, float and numeric string-list options");
  const auto bad_default = schema_problems(option<int64_t>("n", 0, "").min(1));
  ASSERT_EQ(bad_default.size(), 1u);
  EXPECT_EQ(bad_default[0], "option 'n' (int): the default = 0 is out of range: must be an integer >= 1");
  EXPECT_EQ(schema_problems(option<int64_t>("n", 1, "").min(0.5)).size(), 1u);  // an int needs a whole bound
  EXPECT_EQ(schema_problems(option<std::string>("s", "", "").one_of({})).size(), 1u);
  EXPECT_EQ(schema_problems(option<std::vector<std::string>>("v", {}, "").min(0)).size(), 1u);  // needs numeric()
}

}  // namespace
}  // namespace trainscope

// ---- Every bundled plugin through the real CLI ----
#if defined(TRAINSCOPE_CLI) && defined(TRAINSCOPE_BUNDLED_PLUGIN_DIR)

namespace trainscope {
namespace {

const PluginCatalog& bundled() {
  static const PluginCatalog c = discover_plugins({TRAINSCOPE_BUNDLED_PLUGIN_DIR});
  return c;
}

struct CliResult {
  int status = -1;
  std::string output;  // stdout and stderr
};

CliResult cli(const std::string& args) {
  CliResult r;
  const std::string command = std::string(TRAINSCOPE_CLI) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

CliResult validate_file(const std::string& path) {
  return cli(std::string("validate --path ") + TRAINSCOPE_BUNDLED_PLUGIN_DIR + " " + path);
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// A TOML number for `v`: an integer for an int option, a float otherwise.
std::string number(double v, bool integer) {
  if (integer) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

// A TOML value of the option's type that breaks `c`, and how far into the value the error
// points (0: the value itself; 1: the first item of a list).
struct BadValue {
  std::string toml;
  int column_offset = 0;
};

std::optional<BadValue> breaking(const OptionSpec& spec, const OptionConstraint& c) {
  const bool list = spec.type == OptionType::kStringList;
  const bool integer = spec.type == OptionType::kInt;
  auto item = [&](const std::string& text) {
    return list ? BadValue{"[\"" + text + "\"]", 1} : BadValue{"\"" + text + "\"", 0};
  };
  auto numeric = [&](double v) {
    return list ? BadValue{"[\"" + number(v, false) + "\"]", 1} : BadValue{number(v, integer), 0};
  };
  switch (c.kind) {
    case ConstraintKind::kAtLeast:
      return numeric(c.bound - 1);
    case ConstraintKind::kAbove:
      return numeric(c.bound);
    case ConstraintKind::kAtMost:
      return numeric(c.bound + 1);
    case ConstraintKind::kBelow:
      return numeric(c.bound);
    case ConstraintKind::kFinite:
      return BadValue{"nan", 0};
    case ConstraintKind::kOneOf: {
      std::string word = "not_" + (c.words.empty() ? std::string("any") : c.words.front());
      return item(word);
    }
    case ConstraintKind::kNotEmpty:
      return BadValue{list ? "[]" : "\"\"", 0};
    case ConstraintKind::kGlobs:
      return item("layer[1");
    case ConstraintKind::kNumeric:
      return item("one");
  }
  return std::nullopt;  // a new kind: the test below fails until it can break it
}

// One generated case: plugin, option, the constraint it breaks, and where the value is.
struct Case {
  std::string plugin;
  const OptionSpec* spec;
  const OptionConstraint* constraint;
  BadValue value;
};

std::vector<Case> cases_of(const std::string& plugin) {
  std::vector<Case> out;
  for (const auto& spec : bundled().find(plugin)->options()) {
    for (const auto& c : spec.constraints) {
      auto bad = breaking(spec, c);
      if (!bad) {
        ADD_FAILURE() << plugin << "." << spec.name << ": no generator for constraint '" << describe(c)
                      << "'; teach breaking() this kind";
        continue;
      }
      out.push_back({plugin, &spec, &c, *bad});
    }
  }
  return out;
}

std::vector<std::string> constrained_plugins() {
  std::vector<std::string> out;
  for (const auto& name : bundled().names()) {
    for (const auto& spec : bundled().find(name)->options()) {
      if (!spec.constraints.empty()) {
        out.push_back(name);
        break;
      }
    }
  }
  return out;
}

// "<file>:<line>:<column>: plugin 'p' option 'o' " for a value on `line` written as
// `o = <value>`.
std::string location(const std::string& file, int line, const Case& c) {
  const int column = static_cast<int>(c.spec->name.size() + 3) + 1 + c.value.column_offset;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": plugin '" + c.plugin + "' option '" +
         c.spec->name + "' ";
}

TEST(PluginOptionSchemas, EveryBundledPluginLoadsAndSomeHaveConstraints) {
  EXPECT_TRUE(bundled().refusals.empty()) << ::testing::PrintToString(bundled().refusals);
  EXPECT_FALSE(bundled().libraries.empty());
  EXPECT_FALSE(constrained_plugins().empty());
}

class PluginOptionConstraints : public ::testing::TestWithParam<std::string> {};

TEST_P(PluginOptionConstraints, ValidateRefusesEachBrokenConstraintWhereTheValueIs) {
  const std::string dir = testing::fresh_dir();
  const auto cases = cases_of(GetParam());
  ASSERT_FALSE(cases.empty());
  int k = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.plugin + "." + c.spec->name + " breaking '" + describe(*c.constraint) + "' with " + c.value.toml);
    const std::string file = write_file(dir + "/case" + std::to_string(k++) + ".toml",
                                        "# generated from the option schema\n[[plugin]]\nname = \"" + c.plugin +
                                            "\"\n" + c.spec->name + " = " + c.value.toml + "\n");
    const CliResult r = validate_file(file);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find(location(file, 4, c)), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("must be " + describe_constraints(*c.spec)), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(describe(*c.constraint)), std::string::npos) << r.output;  // the range broken
    EXPECT_NE(r.output.find(file + ": 1 problem\n"), std::string::npos) << r.output;
  }
}

INSTANTIATE_TEST_SUITE_P(Bundled, PluginOptionConstraints, ::testing::ValuesIn(constrained_plugins()),
                         [](const auto& info) { return info.param; });

TEST(PluginOptionSchemas, ValidateReportsEveryBrokenOptionOfEveryPluginAtOnce) {
  std::string text = "# every constrained option of every bundled plugin, each broken once\n";
  int line = 2;
  std::vector<std::pair<int, Case>> expected;
  for (const auto& plugin : constrained_plugins()) {
    text += "[[plugin]]\nname = \"" + plugin + "\"\n";
    line += 2;
    std::string last_option;
    for (const auto& c : cases_of(plugin)) {
      if (c.spec->name == last_option) continue;  // one value per option: its first constraint
      last_option = c.spec->name;
      text += c.spec->name + " = " + c.value.toml + "\n";
      expected.emplace_back(line++, c);
    }
  }
  const std::string file = write_file(testing::fresh_dir() + "/all.toml", text);
  const CliResult r = validate_file(file);
  EXPECT_EQ(r.status, 1) << r.output;
  for (const auto& [at, c] : expected) {
    EXPECT_NE(r.output.find(location(file, at, c)), std::string::npos)
        << c.plugin << "." << c.spec->name << " not reported at line " << at << ":\n"
        << r.output;
  }
  EXPECT_NE(r.output.find(file + ": " + std::to_string(expected.size()) + " problems\n"), std::string::npos)
      << r.output;
}

// A TOML literal of an option's value.
std::string toml_of(const OptionValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) return number(*d, false);
  if (const auto* s = std::get_if<std::string>(&v)) return "\"" + *s + "\"";
  std::string out = "[";
  for (const auto& s : std::get<std::vector<std::string>>(v)) out += (out.size() > 1 ? ", \"" : "\"") + s + "\"";
  return out + "]";
}

TEST(PluginOptionSchemas, EveryDefaultWrittenOutIsValid) {
  std::string text;
  for (const auto& name : bundled().names()) {
    text += "[[plugin]]\nname = \"" + name + "\"\n";
    for (const auto& spec : bundled().find(name)->options())
      text += spec.name + " = " + toml_of(spec.default_value) + "\n";
  }
  const std::string file = write_file(testing::fresh_dir() + "/defaults.toml", text);
  const CliResult r = validate_file(file);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(file + ": ok (" + std::to_string(bundled().names().size()) + " plugins"), std::string::npos)
      << r.output;
}

TEST(PluginOptionSchemas, RunRefusesABrokenOptionBeforeTrainingWhateverOnError) {
  const auto cases = cases_of(constrained_plugins().front());
  ASSERT_FALSE(cases.empty());
  const Case& c = cases.front();
  const std::string dir = testing::fresh_dir();
  const std::string file =
      write_file(dir + "/run.toml", "[run]\nlog_dir = \"" + dir + "/logs\"\n[[plugin]]\nname = \"" + c.plugin +
                                        "\"\non_error = \"disable\"\n" + c.spec->name + " = " + c.value.toml + "\n");
  const CliResult r = cli(std::string("run --path ") + TRAINSCOPE_BUNDLED_PLUGIN_DIR + " " + file);
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(location(file, 6, c)), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/logs")) << "the run started:\n" << r.output;
}

}  // namespace
}  // namespace trainscope

#endif  // TRAINSCOPE_CLI && TRAINSCOPE_BUNDLED_PLUGIN_DIR
