// Text that TOML++ 3.3 must not be shown (a non-ASCII character where it tests for whitespace
// reaches __builtin_unreachable(); found by tests/fuzz/fuzz_config) is a located syntax error
// in a file, and a plain string in a --set override; valid non-ASCII text still parses.
#include <gtest/gtest.h>

#include <string>

#include "trainscope/config.h"

namespace trainscope {
namespace {

std::string only_problem(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(text, "job.toml", PluginCatalog{}, overrides);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.problems().size(), 1u) << e.what();
    return e.problems().empty() ? "" : e.problems()[0];
  }
  ADD_FAILURE() << "accepted: " << text;
  return "";
}

TEST(ConfigTomlGuard, NonAsciiOutsideStringsIsALocatedSyntaxError) {
  EXPECT_EQ(only_problem("[run]\nname = \"x\"\n\xd0\xbf = 1\n"),
            "job.toml:3:1: TOML syntax error: a non-ASCII character outside a string or comment; TOML keys and "
            "values other than strings are ASCII (quote it: \"...\")");
  // U+032A, the two bytes of marzer/tomlplusplus#295; column counts characters.
  EXPECT_EQ(only_problem("[run]\nname = \"\xc3\xa9\" \xcc\xaa\n").rfind("job.toml:2:12: TOML syntax error", 0), 0u);
}

TEST(ConfigTomlGuard, QuotesWhereNoStringCanStartDoNotHideNonAscii) {
  // fuzz_config's second find: TOML++ reads `2.5"Y...` as one bad value and tests each of its
  // characters, the U+00A7 between the quotes included, for whitespace.
  EXPECT_EQ(only_problem("a = {b = [1, 2.5\"Y\xc2\xa7" "b\"\", \"x\"]}\n").rfind("job.toml:1:19: TOML syntax error", 0), 0u);
  // fuzz_config's third find: in `0.e="...` the quote comes after an '=' that TOML++ reads as
  // part of a bad value, not as a string's start.
  EXPECT_EQ(only_problem("v = 0.e=\"r\xd0\xbf" "1\"\n").rfind("job.toml:1:", 0), 0u);
  EXPECT_NE(only_problem("", {"trainer.lr=0.e=\"r.lr=\xd0\xbf" "1= 1\n"}).find("trainer.lr"), std::string::npos);
  // A string may start after '=', '[', ',', '{', '.' or at the start of a line (blanks aside).
  const RunConfig c = parse_config("[hparams]\n\"k\xc3\xa9\" =   \"\xd0\xbf\"\n", "job.toml",
                                   PluginCatalog{}, {});
  EXPECT_EQ(std::get<std::string>(c.hparams.at("k\xc3\xa9")), "\xd0\xbf");
}

TEST(ConfigTomlGuard, NonAsciiAfterALineEndingBackslashIsRefusedWithTheFix) {
  // marzer/tomlplusplus#190: valid TOML that this TOML++ cannot parse.
  const std::string msg = only_problem("[run]\nname = \"\"\"\\\n  \xc2\xa7\"\"\"\n");
  EXPECT_EQ(msg.rfind("job.toml:3:3: TOML syntax error: a non-ASCII character first after a line-ending backslash", 0),
            0u)
      << msg;
  EXPECT_NE(msg.find("\\uXXXX"), std::string::npos) << msg;
}

TEST(ConfigTomlGuard, NonAsciiInStringsAndCommentsStillParses) {
  const RunConfig c = parse_config(
      "# caf\xc3\xa9 \xd0\xbf\n[run]\nname = \"caf\xc3\xa9 \xd0\xbf\" # \xd0\xbf\n"
      "[hparams]\nnote = '\xd0\xbf'\nlong = \"\"\"\n\xd0\xbf \\\"\xd0\xbf\\\" \\\n  \\u00e9\"\"\"\n"
      "lit = '''\n\xd0\xbf'''''\n",
      "job.toml", PluginCatalog{});
  EXPECT_EQ(c.run.name, "caf\xc3\xa9 \xd0\xbf");
  EXPECT_EQ(std::get<std::string>(c.hparams.at("note")), "\xd0\xbf");
  EXPECT_EQ(std::get<std::string>(c.hparams.at("long")), "\xd0\xbf \"\xd0\xbf\" \xc3\xa9");
  EXPECT_EQ(std::get<std::string>(c.hparams.at("lit")), "\xd0\xbf''");
}

TEST(ConfigTomlGuard, NonAsciiOverrideValueIsAString) {
  const RunConfig c = parse_config("[run]\nname = \"x\"\n", "job.toml", PluginCatalog{}, {"run.name=caf\xc3\xa9"});
  EXPECT_EQ(c.run.name, "caf\xc3\xa9");
}

}  // namespace
}  // namespace trainscope
