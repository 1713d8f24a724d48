// Shared by the test tools that replay a manifest written by the Python tests: the error a
// bad line raises and the tokenisers every tool uses.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace trainscope::tools {

// A bad manifest line (the caller prefixes the message with file:line).
struct ManifestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Whitespace-separated tokens of one line.
inline std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string tok; in >> tok;) out.push_back(tok);
  return out;
}

// `s` cut at every `sep` (empty fields kept).
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (true) {
    const size_t end = s.find(sep, begin);
    out.push_back(s.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

}  // namespace trainscope::tools
