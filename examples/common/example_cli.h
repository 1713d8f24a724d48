// A small command-line reader shared by the example programs (header-only, no torch):
// `--name value` or `--name=value` flags declared with their default and help, `--help`.
//
//   examples::Cli cli("dcgan", "DCGAN on Fashion-MNIST");
//   cli.flag("epochs", "5", "training epochs");
//   if (!cli.parse(argc, argv)) return cli.exit_code();
//   const long long epochs = cli.integer("epochs");   // throws std::invalid_argument if not one
//   cli.switch_flag("overwrite", "...");  ...  cli.on("overwrite")    // a flag without a value
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

class Cli {
 public:
  Cli(std::string program, std::string about) : program_(std::move(program)), about_(std::move(about)) {}

  // Declares --name with its default (as text) and one line of help.
  void flag(const std::string& name, std::string default_value, std::string help) {
    order_.push_back(name);
    values_[name] = std::move(default_value);
    help_[name] = std::move(help);
  }
  // A flag that may be given several times (collected in order; no default).
  void repeated(const std::string& name, std::string help) {
    order_.push_back(name);
    help_[name] = std::move(help);
    lists_[name];
  }

  // A switch: `--name` alone sets it (no value); on(name) says whether it was given.
  void switch_flag(const std::string& name, std::string help) {
    order_.push_back(name);
    help_[name] = std::move(help);
    switches_[name] = false;
  }
  bool on(const std::string& name) const { return switches_.at(name); }

  // False when the program should exit now (--help, or a bad flag: the message is printed).
  bool parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "-h" || arg == "--help") {
        print_help(stdout);
        exit_code_ = 0;
        return false;
      }
      if (arg.rfind("--", 0) != 0) return fail("unexpected argument '" + arg + "'");
      std::string name = arg.substr(2), value;
      if (auto sw = switches_.find(name); sw != switches_.end()) {
        sw->second = true;
        continue;
      }
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return fail("--" + name + " needs a value");
      }
      if (auto it = lists_.find(name); it != lists_.end()) {
        it->second.push_back(value);
      } else if (auto v = values_.find(name); v != values_.end()) {
        v->second = value;
      } else {
        return fail("unknown flag --" + name);
      }
    }
    return true;
  }
  int exit_code() const { return exit_code_; }

  const std::string& text(const std::string& name) const { return values_.at(name); }
  const std::vector<std::string>& list(const std::string& name) const { return lists_.at(name); }
  long long integer(const std::string& name) const {
    const std::string& v = text(name);
    size_t used = 0;
    long long out = 0;
    try {
      out = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size()) throw std::invalid_argument("--" + name + ": expected an integer, got '" + v + "'");
    return out;
  }
  double number(const std::string& name) const { return to_number("--" + name, text(name)); }

  static double to_number(const std::string& what, const std::string& v) {
    size_t used = 0;
    double out = 0;
    try {
      out = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size()) throw std::invalid_argument(what + ": expected a number, got '" + v + "'");
    return out;
  }
  // "a,b,c" -> {"a", "b", "c"} (empty items dropped).
  static std::vector<std::string> split(const std::string& s, char sep = ',') {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
      if (c == sep) {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  }

  void print_help(std::FILE* out) const {
    std::fprintf(out, "%s: %s\n\nusage: %s [--flag value ...]\n\n", program_.c_str(), about_.c_str(), program_.c_str());
    for (const auto& name : order_) {
      auto v = values_.find(name);
      std::fprintf(out, "  --%-16s %s", name.c_str(), help_.at(name).c_str());
      if (v != values_.end()) std::fprintf(out, " (default: %s)", v->second.empty() ? "\"\"" : v->second.c_str());
      std::fprintf(out, "\n");
    }
  }

 private:
  bool fail(const std::string& message) {
    std::fprintf(stderr, "%s: %s (see --help)\n", program_.c_str(), message.c_str());
    exit_code_ = 2;
    return false;
  }

  std::string program_, about_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> values_, help_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, bool> switches_;
  int exit_code_ = 0;
};

}  // namespace examples
