// Run folder templates and claiming a run directory (see run_dir.h).
#include "trainscope/run_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>

#include "trainscope/config.h"
#include "trainscope/run_status.h"

namespace trainscope {
namespace fs = std::filesystem;
namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

std::string format_value(const OptionValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", *d);
    return buf;
  }
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  std::string out;
  for (const auto& s : std::get<std::vector<std::string>>(v)) out += (out.empty() ? "" : "-") + s;
  return out;
}

// A value becomes one path component: no separators, no braces (which would be read as a
// placeholder by a second expansion), no spaces.
std::string safe(std::string s) {
  for (char& c : s) {
    if (c == '/' || c == '{' || c == '}' || c == ' ' || c == '\\') c = '_';
  }
  return s;
}

struct Piece {
  bool placeholder = false;
  std::string text;  // literal text, or the placeholder's name
  size_t at = 0;     // index of the piece in the template (of its '{' for a placeholder)
};

struct TemplateError {
  size_t at;
  std::string message;
};

// Splits a template into literal text and placeholders, or says where it is malformed.
std::vector<Piece> split(const std::string& t, std::vector<TemplateError>& errors) {
  std::vector<Piece> out;
  std::string literal;
  size_t literal_at = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '}') {
      errors.push_back({i, "a '}' without its '{' (braces only enclose a placeholder such as {timestamp})"});
      continue;
    }
    if (t[i] != '{') {
      if (literal.empty()) literal_at = i;
      literal += t[i];
      continue;
    }
    const size_t close = t.find('}', i + 1);
    const size_t reopen = t.find('{', i + 1);
    if (close == std::string::npos || (reopen != std::string::npos && reopen < close)) {
      errors.push_back({i, "a '{' that is never closed (write the placeholder as {timestamp}, {host}, ...)"});
      continue;
    }
    if (!literal.empty()) out.push_back({false, literal, literal_at});
    literal.clear();
    out.push_back({true, t.substr(i + 1, close - i - 1), i});
    i = close;
  }
  if (!literal.empty()) out.push_back({false, literal, literal_at});
  return out;
}

std::vector<std::string> known_placeholders(const RunConfig& config, bool with_name) {
  std::vector<std::string> out = {"timestamp", "host"};
  if (with_name) out.insert(out.begin(), "name");
  for (const auto& [key, value] : config.hparams) out.push_back("hparams." + key);
  return out;
}

// The location of character `at` of the value of `key`: its own column when the value is
// written plainly on that line of the file, else the value's location.
std::string where(const RunConfig& config, const std::string& key, const std::string& value, size_t at) {
  auto it = config.locations.find(key);
  if (it == config.locations.end()) return config.file.empty() ? std::string("config") : config.file;
  const std::string& loc = it->second;
  const size_t c2 = loc.rfind(':');
  const size_t c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : loc.rfind(':', c2 - 1);
  if (c1 == std::string::npos) return loc + " (character " + std::to_string(at + 1) + " of the value)";
  long line = std::strtol(loc.c_str() + c1 + 1, nullptr, 10), column = std::strtol(loc.c_str() + c2 + 1, nullptr, 10);
  if (line <= 0 || column <= 0) return loc;
  size_t start = 0;
  for (long l = 1; l < line && start != std::string::npos; ++l) {
    start = config.text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos) return loc;
  const size_t q = start + static_cast<size_t>(column) - 1;
  if (q >= config.text.size() || (config.text[q] != '"' && config.text[q] != '\'') ||
      config.text.compare(q + 1, value.size(), value) != 0)
    return loc;
  return loc.substr(0, c1) + ":" + std::to_string(line) + ":" + std::to_string(column + 1 + static_cast<long>(at));
}

std::vector<std::string> check_one(const RunConfig& config, const std::string& key, const std::string& value,
                                   bool with_name) {
  std::vector<std::string> problems;
  std::vector<TemplateError> errors;
  const std::vector<Piece> pieces = split(value, errors);
  const std::vector<std::string> known = known_placeholders(config, with_name);
  for (const auto& p : pieces) {
    if (!p.placeholder || std::find(known.begin(), known.end(), p.text) != known.end()) continue;
    std::string fix;
    if (p.text == "name") {
      fix = "run.name cannot name itself; {name} is for run.log_dir";
    } else if (p.text.rfind("hparams.", 0) == 0) {
      fix = "[hparams] has no key '" + p.text.substr(8) + "'";
      const std::string near = nearest(p.text, known);
      if (!near.empty())
        fix += "; did you mean {" + near + "}?";
      else
        fix += config.hparams.empty() ? " (the table is empty)" : "";
    } else {
      const std::string near = nearest(p.text, known);
      fix = near.empty() ? "" : "did you mean {" + near + "}? ";
    }
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "{" : ", {") + k + "}";
    errors.push_back({p.at, "unknown placeholder {" + p.text + "}: " + fix +
                                (fix.empty() || fix.back() == ' ' ? "" : "; ") + "known: " + list});
  }
  std::sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
  for (const auto& e : errors) problems.push_back(where(config, key, value, e.at) + ": " + key + ": " + e.message);
  return problems;
}

std::string expand(const RunConfig& config, const std::string& value, const std::string& name) {
  std::vector<TemplateError> errors;
  std::string out;
  for (const auto& p : split(value, errors)) {
    if (!p.placeholder) {
      out += p.text;
    } else if (p.text == "name") {
      out += name;
    } else if (p.text == "timestamp") {
      out += run_timestamp();
    } else if (p.text == "host") {
      out += safe(host_name());
    } else if (p.text.rfind("hparams.", 0) == 0) {
      auto it = config.hparams.find(p.text.substr(8));
      if (it != config.hparams.end()) out += safe(format_value(it->second));
    }
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "\n") + s;
  return out;
}

}  // namespace

std::string format_run_timestamp(long long unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &tm);
  return buf;
}

const std::string& run_timestamp() {
  static const std::string value = [] {
    const char* env = std::getenv("TRAINSCOPE_RUN_TIMESTAMP");
    if (env != nullptr && *env != '\0') return safe(env);
    return format_run_timestamp(static_cast<long long>(std::time(nullptr)));
  }();
  return value;
}

std::vector<std::string> check_run_dir_templates(const RunConfig& config) {
  std::vector<std::string> problems = check_one(config, "run.name", config.run.name, false);
  for (auto& p : check_one(config, "run.log_dir", config.run.log_dir, true)) problems.push_back(std::move(p));
  return problems;
}

void expand_run_dir_templates(RunConfig& config) {
  const bool braces = config.run.name.find_first_of("{}") != std::string::npos ||
                      config.run.log_dir.find_first_of("{}") != std::string::npos;
  if (!braces) return;
  const auto problems = check_run_dir_templates(config);
  if (!problems.empty()) throw std::invalid_argument(join_lines(problems));
  config.run.name = expand(config, config.run.name, "");
  config.run.log_dir = expand(config, config.run.log_dir, config.run.name);
}

std::vector<std::string> event_files_under(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code e2;
    if (it->path().filename().string().find("tfevents") != std::string::npos && it->is_regular_file(e2))
      out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

RunDirClaim claim_run_dir(const std::string& run_dir, const RunDirPolicy& policy) {
  RunDirClaim claim;
  if (policy.resuming) return claim;
  const std::vector<std::string> events = event_files_under(run_dir);
  if (events.empty()) return claim;
  const fs::path dir = fs::path(run_dir).lexically_normal();
  const fs::path clean = dir.has_filename() ? dir : dir.parent_path();
  const auto status = read_run_status(clean.string());
  if (policy.resume_auto_without_checkpoint && !policy.overwrite && status &&
      (status->state == "running" || status->state == "failed")) {
    // We hold the lock: a "running" run here was killed. Its events are this run's first try.
    for (const auto& f : events) {
      if (::unlink(f.c_str()) != 0) throw std::runtime_error("cannot remove " + f + ": " + std::strerror(errno));
      claim.messages.push_back("removed " + f + " (logged by an earlier attempt of this run, " + status->state +
                               " before its first checkpoint: resume = \"auto\" starts it again)");
    }
    return claim;
  }
  // The old run's last write names its new folder: a sibling, so it stays next to the runs
  // TensorBoard shows (as its own run) and nothing is deleted.
  long long secs = 0;
  for (const auto& f : events) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0) secs = std::max(secs, static_cast<long long>(st.st_mtime));
  }
  const std::string aside_base = clean.string() + ".old-" + format_run_timestamp(secs);
  if (policy.overwrite) {
    std::error_code ec;
    std::string aside = aside_base;
    for (int n = 2; fs::exists(aside, ec); ++n) aside = aside_base + "-" + std::to_string(n);
    fs::rename(clean, aside, ec);
    if (ec)
      throw std::runtime_error("cannot move the old run " + clean.string() + " aside to " + aside + ": " +
                               ec.message() + " (nothing was changed)");
    claim.moved_to = aside;
    claim.messages.push_back("moved the earlier run in " + clean.string() + " aside to " + aside + " (--overwrite)");
    return claim;
  }
  const fs::path first = fs::path(events.front()).lexically_relative(clean);
  std::string what = std::to_string(events.size()) + " event file" + (events.size() == 1 ? "" : "s") + ", e.g. " +
                     first.string() + ", last written " + format_run_timestamp(secs);
  if (status) what += "; that run " + (status->state == "running" ? std::string("was killed") : status->state);
  const std::string resume_way =
      policy.resume_auto_without_checkpoint
          ? "  - resume = \"auto\" is set but there is no checkpoint to continue that run from (it " +
                (status ? status->state : std::string("was not started by this version")) + ")\n"
          : "  - continue that run from its last checkpoint: resume = \"auto\" in [trainer] (--set "
            "trainer.resume=auto)\n";
  throw RunDirTaken("run directory '" + clean.string() + "' already holds the events of another run (" + what +
                    "): a new run there would mix its events with that run's. Choose one:\n" + resume_way +
                    "  - start a new run in its own folder: another run.name (--set run.name=<other>), or a template "
                    "such as name = \"{timestamp}\" (docs/runs.md)\n"
                    "  - start afresh here and move the old run aside to " +
                    aside_base + " (nothing is deleted): --overwrite (run.overwrite = true in [run])");
}

}  // namespace trainscope
