// write_hparams <logdir> <manifest>
//
// Drives the HParams and custom-scalars API of trainscope::SummaryWriter from a manifest
// written by tests/conformance/test_hparams.py and test_custom_scalars.py, one call per line;
// tokens are separated by whitespace and percent-decoded (%20 space, %2C comma, ...):
//
//   open <run>                       a SummaryWriter on <logdir>/<run> ("." = logdir) becomes
//                                    the current writer (the previous one is destroyed first)
//   scalar <tag> <step> <value>
//   add_hparams <hparams> <metrics> [option...]
//   hparams_start <hparams> <metric_tags> [option...]
//   hparams_end success|failure
//   close                            close() then destroy the current writer
//   destroy                          destroy it (destructor only)
//   throw                            destroy it while an exception unwinds the stack
//   exit <code>                      std::exit(code) with the current writer still alive
//   flush                            flush() the current writer
//   abort                            std::abort(): a crash (no destructor, no exit handler)
//   multiline <category> <title> <tag>[,<tag>...]     add_custom_scalars_multilinechart
//   margin <category> <title> <tag>[,<tag>...]        add_custom_scalars_marginchart
//   category <title> [closed]        starts a category of the pending layout
//   chart_multiline <title> <tag>[,<tag>...]
//   chart_margin <title> <value>,<lower>,<upper>[;<value>,<lower>,<upper>...]
//   custom_scalars                   add_custom_scalars(pending layout); clears it
//
// hparams: <name>=<kind>:<value>[,...] with kind n (number), b (true|false) or s (string).
// metrics: <name>=<value>[,...]; metric_tags: <tag>[,...]; "-" for none.
// options: child (pytorch_child_run), run=<name>, group=<name>, desc=<text>, step=<n>,
//          discrete=<name>=<kind>:<value>[|<kind>:<value>...], interval=<name>=<min>:<max>.
// Blank lines and lines starting with '#' are ignored.
//
// Exit status: 0 on success; 2 for a usage error or a bad manifest line; 3 when the SDK
// rejects a call (the message is printed); `exit <code>` exits with <code>.
#include <c10/util/Exception.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "trainscope/summary_writer.h"

#include "manifest.h"

namespace fs = std::filesystem;
using trainscope::HParamValue;

namespace {

using trainscope::tools::ManifestError;
using trainscope::tools::split_ws;
using trainscope::tools::split;

struct SimulatedCrash : std::runtime_error {
  SimulatedCrash() : std::runtime_error("simulated crash") {}
};

std::string decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) throw ManifestError("bad escape in '" + s + "'");
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::pair<std::string, std::string> key_value(const std::string& s, char sep) {
  const size_t at = s.find(sep);
  if (at == std::string::npos) throw ManifestError("expected '" + std::string(1, sep) + "' in '" + s + "'");
  return {s.substr(0, at), s.substr(at + 1)};
}

int64_t parse_int(const std::string& s) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || errno != 0 || end != s.c_str() + s.size()) throw ManifestError("bad integer '" + s + "'");
  return v;
}

double parse_double(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) throw ManifestError("bad number '" + s + "'");
  return v;
}

HParamValue parse_value(const std::string& s) {
  const auto [kind, text] = key_value(s, ':');
  if (kind == "n") return parse_double(decode(text));
  if (kind == "s") return decode(text);
  if (kind == "b") {
    if (text == "true") return true;
    if (text == "false") return false;
    throw ManifestError("bad bool '" + text + "'");
  }
  throw ManifestError("bad value kind '" + kind + "' (n|b|s)");
}

trainscope::HParams parse_hparams(const std::string& s) {
  trainscope::HParams out;
  if (s == "-") return out;
  for (const std::string& item : split(s, ',')) {
    const auto [name, value] = key_value(item, '=');
    out[decode(name)] = parse_value(value);
  }
  return out;
}

std::vector<std::string> parse_list(const std::string& s) {
  std::vector<std::string> out;
  if (s == "-") return out;
  for (const std::string& item : split(s, ',')) out.push_back(decode(item));
  return out;
}

trainscope::HParamsOptions parse_options(const std::vector<std::string>& tok, size_t first) {
  trainscope::HParamsOptions o;
  for (size_t i = first; i < tok.size(); ++i) {
    if (tok[i] == "child") {
      o.pytorch_child_run = true;
      continue;
    }
    const auto [key, value] = key_value(tok[i], '=');
    if (key == "run") {
      o.run_name = decode(value);
    } else if (key == "group") {
      o.group_name = decode(value);
    } else if (key == "desc") {
      o.description = decode(value);
    } else if (key == "step") {
      o.step = parse_int(value);
    } else if (key == "discrete") {
      const auto [name, values] = key_value(value, '=');
      auto& domain = o.domain_discrete[decode(name)];
      for (const std::string& v : split(values, '|')) domain.push_back(parse_value(v));
    } else if (key == "interval") {
      const auto [name, range] = key_value(value, '=');
      const auto [lo, hi] = key_value(range, ':');
      o.domain_interval[decode(name)] = {parse_double(lo), parse_double(hi)};
    } else {
      throw ManifestError("unknown option '" + key + "'");
    }
  }
  return o;
}

trainscope::SessionStatus parse_status(const std::string& s) {
  if (s == "success") return trainscope::SessionStatus::kSuccess;
  if (s == "failure") return trainscope::SessionStatus::kFailure;
  throw ManifestError("bad status '" + s + "' (success|failure)");
}

void need(const std::vector<std::string>& tok, size_t min_count) {
  if (tok.size() < min_count)
    throw ManifestError("'" + tok[0] + "' needs " + std::to_string(min_count - 1) + " fields");
}

struct State {
  fs::path logdir;
  std::unique_ptr<trainscope::SummaryWriter> writer;
  trainscope::CustomScalarLayout layout;

  trainscope::SummaryWriter& w() {
    if (!writer) throw ManifestError("no open writer (use 'open <run>')");
    return *writer;
  }
};

void run_line(State& st, const std::vector<std::string>& tok) {
  const std::string& op = tok[0];
  if (op == "open") {
    need(tok, 2);
    st.writer.reset();
    st.writer = std::make_unique<trainscope::SummaryWriter>((st.logdir / decode(tok[1])).lexically_normal().string());
  } else if (op == "scalar") {
    need(tok, 4);
    st.w().add_scalar(decode(tok[1]), parse_double(tok[3]), parse_int(tok[2]));
  } else if (op == "add_hparams") {
    need(tok, 3);
    std::map<std::string, double> metrics;
    if (tok[2] != "-") {
      for (const std::string& item : split(tok[2], ',')) {
        const auto [name, value] = key_value(item, '=');
        metrics[decode(name)] = parse_double(value);
      }
    }
    st.w().add_hparams(parse_hparams(tok[1]), metrics, parse_options(tok, 3));
  } else if (op == "hparams_start") {
    need(tok, 3);
    st.w().hparams_start(parse_hparams(tok[1]), parse_list(tok[2]), parse_options(tok, 3));
  } else if (op == "hparams_end") {
    need(tok, 2);
    st.w().hparams_end(parse_status(tok[1]));
  } else if (op == "close") {
    st.w().close();
    st.writer.reset();
  } else if (op == "destroy") {
    st.w();
    st.writer.reset();
  } else if (op == "throw") {
    try {
      // The writer's destructor runs during stack unwinding (std::uncaught_exceptions() > 0).
      const auto doomed = std::move(st.writer);
      if (!doomed) throw ManifestError("no open writer");
      throw SimulatedCrash();
    } catch (const SimulatedCrash&) {
    }
  } else if (op == "flush") {
    st.w().flush();
  } else if (op == "abort") {
    std::abort();
  } else if (op == "exit") {
    need(tok, 2);
    std::exit(static_cast<int>(parse_int(tok[1])));
  } else if (op == "multiline") {
    need(tok, 4);
    st.w().add_custom_scalars_multilinechart(parse_list(tok[3]), decode(tok[1]), decode(tok[2]));
  } else if (op == "margin") {
    need(tok, 4);
    st.w().add_custom_scalars_marginchart(parse_list(tok[3]), decode(tok[1]), decode(tok[2]));
  } else if (op == "category") {
    need(tok, 2);
    st.layout.categories.push_back({decode(tok[1]), {}, tok.size() > 2 && tok[2] == "closed"});
  } else if (op == "chart_multiline" || op == "chart_margin") {
    need(tok, 3);
    if (st.layout.categories.empty()) throw ManifestError("a chart needs a 'category' line first");
    auto& charts = st.layout.categories.back().charts;
    if (op == "chart_multiline") {
      charts.push_back(trainscope::CustomChart::multiline(decode(tok[1]), parse_list(tok[2])));
    } else {
      std::vector<trainscope::MarginChart::Series> series;
      for (const std::string& triple : split(tok[2], ';')) {
        const auto t = parse_list(triple);
        if (t.size() != 3) throw ManifestError("a margin series needs value,lower,upper: '" + triple + "'");
        series.push_back({t[0], t[1], t[2]});
      }
      charts.push_back(trainscope::CustomChart::margin(decode(tok[1]), std::move(series)));
    }
  } else if (op == "custom_scalars") {
    st.w().add_custom_scalars(st.layout);
    st.layout = {};
  } else {
    throw ManifestError("unknown call '" + op + "'");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: write_hparams <logdir> <manifest>\n";
    return 2;
  }
  State st;
  st.logdir = argv[1];
  const fs::path manifest_path = argv[2];
  std::ifstream in(manifest_path);
  if (!in) {
    std::cerr << "write_hparams: cannot open '" << manifest_path.string() << "'\n";
    return 2;
  }
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const auto tok = split_ws(line);
    if (tok.empty() || tok[0][0] == '#') continue;
    try {
      run_line(st, tok);
    } catch (const ManifestError& e) {
      std::cerr << manifest_path.string() << ":" << number << ": bad line: " << e.what() << "\n";
      return 2;
    } catch (const c10::Error& e) {
      std::cerr << manifest_path.string() << ":" << number << ": SDK rejected '" << tok[0]
                << "': " << e.what_without_backtrace() << "\n";
      return 3;
    } catch (const std::exception& e) {
      std::cerr << manifest_path.string() << ":" << number << ": '" << tok[0] << "' failed: " << e.what() << "\n";
      return 3;
    }
  }
  if (st.writer) {
    const trainscope::WriteStatus status = st.writer->close();
    if (!status.ok) {
      std::cerr << "write_hparams: close() reported an error: " << status.message << "\n";
      return 4;
    }
  }
  return 0;
}
