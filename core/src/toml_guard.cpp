// The TOML++ pre-scan (toml_guard.h): a small lexer that knows comments and the four kinds of
// strings, and nothing else of TOML.
#include "toml_guard.h"

namespace trainscope::detail {
namespace {

class Scanner {
 public:
  explicit Scanner(std::string_view t) : t_(t) {}

  TomlGuardProblem run() {
    while (i_ < t_.size()) {
      const unsigned char c = byte();
      // A quote opens a string only where TOML lets one start (a key at the start of a line or
      // after '.', '[' or '{'; a value after '=', '[' or ','): TOML++ reads a quote elsewhere
      // (`2.5"x"`) as the rest of a bad value and tests its characters for whitespace, so
      // there a non-ASCII character between quotes is refused like any outside a string.
      const bool string_may_start = last_ == '\n' || last_ == '=' || last_ == '[' || last_ == ',' ||
                                    last_ == '{' || last_ == '.';
      if (c == ' ' || c == '\t' || c == '\r') {
        advance(1);
        continue;
      }
      if ((c == '"' || c == '\'') && !string_may_start) {
        last_ = c;
        advance(1);
        continue;
      }
      last_ = (c == '"' || c == '\'') ? '"' : c;
      if (c == '#') {
        skip_comment();
        last_ = '\n';
      } else if (c == '"') {
        if (starts("\"\"\"")) {
          advance(3);
          if (!multi_line_basic()) return problem_;
        } else {
          advance(1);
          if (!basic()) return problem_;
        }
      } else if (c == '\'') {
        if (starts("'''")) {
          advance(3);
          multi_line_literal();
        } else {
          advance(1);
          literal();
        }
      } else if (c >= 0x80) {
        return fail(
            "a non-ASCII character outside a string or comment; TOML keys and values other than "
            "strings are ASCII (quote it: \"...\")");
      } else {
        advance(1);
      }
    }
    return {};
  }

 private:
  unsigned char byte(size_t ahead = 0) const {
    return i_ + ahead < t_.size() ? static_cast<unsigned char>(t_[i_ + ahead]) : 0;
  }
  bool starts(std::string_view s) const { return t_.substr(i_, s.size()) == s; }
  void advance(size_t n) {
    for (; n > 0 && i_ < t_.size(); --n, ++i_) {
      const unsigned char c = static_cast<unsigned char>(t_[i_]);
      if (c == '\n') {
        ++line_, column_ = 1;
      } else if ((c & 0xC0) != 0x80) {  // not a UTF-8 continuation byte
        ++column_;
      }
    }
  }
  TomlGuardProblem fail(std::string message) {
    problem_ = {line_, column_, std::move(message)};
    return problem_;
  }
  void skip_comment() {
    while (i_ < t_.size() && byte() != '\n') advance(1);
  }
  void literal() {
    while (i_ < t_.size() && byte() != '\'' && byte() != '\n') advance(1);
    if (byte() == '\'') advance(1);
  }
  void multi_line_literal() {
    while (i_ < t_.size() && !starts("'''")) advance(1);
    advance(3);
    for (int extra = 0; extra < 2 && byte() == '\''; ++extra) advance(1);  // ''''' ends with quotes
  }
  // After a backslash in a basic string: an escape is ASCII, so a non-ASCII byte is an error
  // (TOML++ 3.3 first asks whether it is whitespace).
  bool escape() {
    advance(1);  // the backslash
    if (byte() >= 0x80) {
      fail(
          "a backslash followed by a non-ASCII character in a string, which is no escape sequence (write \\\\ "
          "for a backslash)");
      return false;
    }
    return true;
  }
  bool basic() {
    while (i_ < t_.size() && byte() != '"' && byte() != '\n') {
      if (byte() == '\\') {
        if (!escape()) return false;
        if (byte() != '\n') advance(1);
      } else {
        advance(1);
      }
    }
    if (byte() == '"') advance(1);
    return true;
  }
  bool multi_line_basic() {
    while (i_ < t_.size() && !starts("\"\"\"")) {
      if (byte() != '\\') {
        advance(1);
        continue;
      }
      if (!escape()) return false;
      // A line-ending backslash: the whitespace and newlines after it are trimmed, and TOML++
      // tests the first character after them for whitespace.
      size_t j = i_;
      while (j < t_.size() && (t_[j] == ' ' || t_[j] == '\t' || t_[j] == '\r')) ++j;
      if (j < t_.size() && t_[j] == '\n') {
        while (i_ < t_.size() && (byte() == ' ' || byte() == '\t' || byte() == '\r' || byte() == '\n')) advance(1);
        if (byte() >= 0x80) {
          fail(
              "a non-ASCII character first after a line-ending backslash, which this TOML++ cannot parse; "
              "drop the backslash or write that character as \\uXXXX");
          return false;
        }
      } else {
        advance(1);
      }
    }
    advance(3);
    for (int extra = 0; extra < 2 && byte() == '"'; ++extra) advance(1);
    return true;
  }

  std::string_view t_;
  size_t i_ = 0, line_ = 1, column_ = 1;
  unsigned char last_ = '\n';  // the last character outside strings and comments, blanks aside
  TomlGuardProblem problem_;
};

}  // namespace

TomlGuardProblem toml_guard(std::string_view text) { return Scanner(text).run(); }

}  // namespace trainscope::detail
