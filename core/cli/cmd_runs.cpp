// trainscope runs LOGDIR [--metric TAG] [--sort COL] [--filter EXPR ...] [--json]: a table of
// the runs under LOGDIR (run_scan.h). trainscope runs prune LOGDIR (--keep-best N [--by TAG] |
// --older-than AGE | --failed | --filter EXPR ...) [--yes]: which runs would be deleted (a dry
// run), or delete them with --yes: each chosen run's own folder, nothing else. docs/runs.md.
#include <algorithm>
#include <boost/filesystem.hpp>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.h"
#include "run_scan.h"
#include "trainscope/metric_direction.h"

namespace {

namespace fs = boost::filesystem;
using runs::RunInfo;

struct Args {
  std::string logdir;
  std::string metric = "val/accuracy";
  std::string sort;
  std::vector<std::string> filters;
  bool json = false;
  // prune
  bool prune = false, yes = false, failed = false;
  std::optional<long long> keep_best;
  std::optional<double> older_than;  // seconds
};

std::optional<double> parse_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

// "7d", "12h", "30m", "45s", "2w" -> seconds.
std::optional<double> parse_age(const std::string& s) {
  if (s.size() < 2) return std::nullopt;
  const auto n = parse_number(s.substr(0, s.size() - 1));
  if (!n || *n < 0) return std::nullopt;
  switch (s.back()) {
    case 's':
      return *n;
    case 'm':
      return *n * 60;
    case 'h':
      return *n * 3600;
    case 'd':
      return *n * 86400;
    case 'w':
      return *n * 7 * 86400;
    default:
      return std::nullopt;
  }
}

// The main metric's best (by its direction: higher_is_better) and final value.
std::optional<double> final_of(const RunInfo& r, const std::string& tag) {
  auto it = r.scalars.find(tag);
  if (it == r.scalars.end() || it->second.empty()) return std::nullopt;
  return it->second.back().value;
}
std::optional<double> best_of(const RunInfo& r, const std::string& tag) {
  auto it = r.scalars.find(tag);
  if (it == r.scalars.end() || it->second.empty()) return std::nullopt;
  const bool up = trainscope::higher_is_better(tag);
  double best = it->second.front().value;
  for (const auto& p : it->second) {
    if (std::isnan(p.value)) continue;
    if (std::isnan(best) || (up ? p.value > best : p.value < best)) best = p.value;
  }
  return best;
}

std::string date_text(double unix_seconds) {
  if (unix_seconds <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string duration_text(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, static_cast<int>(s) % 3600 / 60);
  return buf;
}

std::string size_text(uint64_t b) {
  char buf[32];
  if (b < 1024)
    std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(b));
  else if (b < (1ull << 20))
    std::snprintf(buf, sizeof buf, "%.1fK", b / 1024.0);
  else if (b < (1ull << 30))
    std::snprintf(buf, sizeof buf, "%.1fM", b / 1048576.0);
  else
    std::snprintf(buf, sizeof buf, "%.1fG", b / 1073741824.0);
  return buf;
}

std::string value_text(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", *v);
  return buf;
}

// What a filter or sort key means for one run: a column, an hparam, or a scalar tag (its final
// value). nullopt when the run has none.
struct Value {
  std::optional<double> number;
  std::string text;
};
std::optional<Value> lookup(const RunInfo& r, const std::string& key, const std::string& metric) {
  auto num = [](double v) { return Value{v, runs::format_number(v)}; };
  if (key == "name") return Value{std::nullopt, r.name};
  if (key == "state") return Value{std::nullopt, r.state};
  if (key == "steps") return num(static_cast<double>(r.steps));
  if (key == "start") return num(r.start);
  if (key == "wall") return num(r.wall_seconds());
  if (key == "size") return num(static_cast<double>(r.bytes));
  if (key == "best" || key == "final") {
    const auto v = key == "best" ? best_of(r, metric) : final_of(r, metric);
    if (!v) return std::nullopt;
    return num(*v);
  }
  if (r.status) {
    auto it = r.status->hparams.find(key);
    if (it != r.status->hparams.end()) return Value{parse_number(it->second), it->second};
  }
  if (const auto v = final_of(r, key)) return num(*v);
  return std::nullopt;
}

struct Filter {
  std::string key, op, value;
};

std::optional<Filter> parse_filter(const std::string& s) {
  // Two-character operators first ("<=" before "<"); "==" means "=".
  static const std::pair<std::string_view, std::string_view> kOps[] = {
      {"<=", "<="}, {">=", ">="}, {"!=", "!="}, {"==", "="}, {"<", "<"}, {">", ">"}, {"=", "="}};
  for (const auto& [text, op] : kOps) {
    const size_t at = s.find(text);
    if (at == std::string::npos || at == 0) continue;
    Filter f{s.substr(0, at), std::string(op), s.substr(at + text.size())};
    if (f.value.empty()) return std::nullopt;
    return f;
  }
  return std::nullopt;
}

bool passes(const RunInfo& r, const Filter& f, const std::string& metric) {
  const auto v = lookup(r, f.key, metric);
  if (!v) return false;
  const auto want = parse_number(f.value);
  int cmp;
  if (v->number && want) {
    cmp = *v->number < *want ? -1 : *v->number > *want ? 1 : 0;
  } else {
    cmp = v->text.compare(f.value);
    cmp = cmp < 0 ? -1 : cmp > 0 ? 1 : 0;
  }
  if (f.op == "<") return cmp < 0;
  if (f.op == "<=") return cmp <= 0;
  if (f.op == ">") return cmp > 0;
  if (f.op == ">=") return cmp >= 0;
  if (f.op == "!=") return cmp != 0;
  return cmp == 0;
}

// Hparams whose values differ between the runs (or that only some runs have).
std::vector<std::string> differing_hparams(const std::vector<RunInfo>& rs) {
  std::map<std::string, std::set<std::string>> seen;
  std::map<std::string, size_t> count;
  for (const auto& r : rs) {
    if (!r.status) continue;
    for (const auto& [k, v] : r.status->hparams) {
      seen[k].insert(v);
      ++count[k];
    }
  }
  std::vector<std::string> out;
  for (const auto& [k, values] : seen) {
    if (values.size() > 1 || count[k] != rs.size()) out.push_back(k);
  }
  return out;
}

std::string json_number(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return "null";
  return runs::format_number(*v);
}

void print_json(const std::vector<RunInfo>& rs, const std::string& metric) {
  std::printf("[");
  for (size_t i = 0; i < rs.size(); ++i) {
    const RunInfo& r = rs[i];
    std::printf(
        "%s\n  {\"name\": %s, \"dir\": %s, \"state\": %s, \"note\": %s, \"start_time\": %s, \"steps\": %lld, "
        "\"wall_seconds\": %s, \"metric\": %s, \"best\": %s, \"final\": %s, \"bytes\": %llu, \"hparams\": {",
        i ? "," : "", runs::json_string(r.name).c_str(), runs::json_string(r.dir).c_str(),
        runs::json_string(r.state).c_str(), runs::json_string(r.note).c_str(), json_number(r.start).c_str(),
        static_cast<long long>(r.steps), json_number(r.wall_seconds()).c_str(), runs::json_string(metric).c_str(),
        json_number(best_of(r, metric)).c_str(), json_number(final_of(r, metric)).c_str(),
        static_cast<unsigned long long>(r.bytes));
    bool first = true;
    if (r.status) {
      for (const auto& [k, v] : r.status->hparams) {
        std::printf("%s%s: %s", first ? "" : ", ", runs::json_string(k).c_str(),
                    parse_number(v) ? runs::format_number(*parse_number(v)).c_str() : runs::json_string(v).c_str());
        first = false;
      }
    }
    std::printf("}}");
  }
  std::printf("%s]\n", rs.empty() ? "" : "\n");
}

void print_table(const std::vector<RunInfo>& rs, const std::string& metric, const std::vector<std::string>& extra,
                 const std::vector<std::string>& marks = {}) {
  std::vector<std::string> head = {"NAME", "START", "STEPS", "WALL", "STATE", "BEST " + metric, "FINAL"};
  for (const auto& h : extra) head.push_back(h);
  head.push_back("SIZE");
  if (!marks.empty()) head.insert(head.begin(), "");
  std::vector<std::vector<std::string>> rows{head};
  for (size_t i = 0; i < rs.size(); ++i) {
    const RunInfo& r = rs[i];
    std::vector<std::string> row = {r.name,
                                    date_text(r.start),
                                    std::to_string(r.steps),
                                    duration_text(r.wall_seconds()),
                                    r.state,
                                    value_text(best_of(r, metric)),
                                    value_text(final_of(r, metric))};
    for (const auto& h : extra) {
      std::string v = "-";
      if (r.status) {
        auto it = r.status->hparams.find(h);
        if (it != r.status->hparams.end()) v = it->second;
      }
      row.push_back(v);
    }
    row.push_back(size_text(r.bytes));
    if (!marks.empty()) row.insert(row.begin(), marks[i]);
    rows.push_back(row);
  }
  std::vector<size_t> width(head.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      std::string cell = row[c];
      if (c + 1 < row.size()) cell.resize(width[c] + 2, ' ');
      line += cell;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

bool parse_args(const std::vector<std::string>& args, Args& a, std::string& error) {
  size_t i = 0;
  if (!args.empty() && args[0] == "prune") {
    a.prune = true;
    i = 1;
  }
  auto value = [&](const std::string& flag, std::string& out) {
    if (i + 1 >= args.size()) {
      error = flag + " needs a value";
      return false;
    }
    out = args[++i];
    return true;
  };
  for (; i < args.size(); ++i) {
    std::string arg = args[i], v;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      if (arg == "--filter" || arg == "--metric" || arg == "--by" || arg == "--sort" || arg == "--keep-best" ||
          arg == "--older-than") {
        // handled below with v set
      } else {
        error = "unknown option '" + args[i] + "'";
        return false;
      }
    } else if (arg == "--filter" || arg == "--metric" || arg == "--by" || arg == "--sort" || arg == "--keep-best" ||
               arg == "--older-than") {
      if (!value(arg, v)) return false;
    }
    if (arg == "--json" && !a.prune) {
      a.json = true;
    } else if (arg == "--yes" && a.prune) {
      a.yes = true;
    } else if (arg == "--failed" && a.prune) {
      a.failed = true;
    } else if (arg == "--filter") {
      if (!parse_filter(v)) {
        error = "--filter '" + v + "': expected KEY OP VALUE with OP one of < <= > >= = != (e.g. \"lr<0.01\")";
        return false;
      }
      a.filters.push_back(v);
    } else if (arg == "--metric" || arg == "--by") {
      a.metric = v;
    } else if (arg == "--sort" && !a.prune) {
      a.sort = v;
    } else if (arg == "--keep-best" && a.prune) {
      const auto n = parse_number(v);
      if (!n || *n < 0 || *n != std::floor(*n)) {
        error = "--keep-best '" + v + "': expected a whole number of runs to keep";
        return false;
      }
      a.keep_best = static_cast<long long>(*n);
    } else if (arg == "--older-than" && a.prune) {
      a.older_than = parse_age(v);
      if (!a.older_than) {
        error = "--older-than '" + v + "': expected a number and a unit s, m, h, d or w (e.g. 7d)";
        return false;
      }
    } else if (arg.size() > 1 && arg[0] == '-') {
      error = "unknown option '" + args[i] + "'" + (a.prune ? " for runs prune" : " for runs");
      return false;
    } else if (a.logdir.empty()) {
      a.logdir = arg;
    } else {
      error = "unexpected argument '" + arg + "' (one LOGDIR)";
      return false;
    }
  }
  if (a.logdir.empty()) {
    error = a.prune ? "expected: runs prune LOGDIR (--keep-best N [--by TAG] | --older-than AGE | --failed) [--yes]"
                    : "expected: runs LOGDIR";
    return false;
  }
  if (a.prune && !a.keep_best && !a.older_than && !a.failed && a.filters.empty()) {
    error = "runs prune needs a rule: --keep-best N [--by TAG], --older-than AGE, --failed or --filter EXPR";
    return false;
  }
  return true;
}

std::vector<RunInfo> filtered(std::vector<RunInfo> rs, const Args& a) {
  for (const auto& text : a.filters) {
    const Filter f = *parse_filter(text);
    rs.erase(std::remove_if(rs.begin(), rs.end(), [&](const RunInfo& r) { return !passes(r, f, a.metric); }), rs.end());
  }
  return rs;
}

int list_runs(const Args& a) {
  std::vector<RunInfo> rs = filtered(runs::scan_runs(a.logdir), a);
  if (!a.sort.empty()) {
    const bool desc = a.sort[0] == '-';
    const std::string key = desc ? a.sort.substr(1) : a.sort;
    // Runs without the key go last either way.
    std::stable_sort(rs.begin(), rs.end(), [&](const RunInfo& x, const RunInfo& y) {
      const auto vx = lookup(x, key, a.metric), vy = lookup(y, key, a.metric);
      if (!vx || !vy) return vx.has_value() && !vy.has_value();
      if (vx->number && vy->number) return desc ? *vx->number > *vy->number : *vx->number < *vy->number;
      return desc ? vx->text > vy->text : vx->text < vy->text;
    });
  }
  if (a.json) {
    print_json(rs, a.metric);
    return 0;
  }
  if (rs.empty()) {
    std::printf("no runs under %s%s\n", a.logdir.c_str(), a.filters.empty() ? "" : " match the filters");
    return 0;
  }
  print_table(rs, a.metric, differing_hparams(rs));
  return 0;
}

int prune_runs(const Args& a) {
  const std::vector<RunInfo> all = runs::scan_runs(a.logdir);
  std::vector<RunInfo> rs = filtered(all, a);
  // The runs ranked by the metric (its direction); those without it are never "not best".
  std::set<std::string> best;
  if (a.keep_best) {
    std::vector<std::pair<double, std::string>> ranked;
    const bool up = trainscope::higher_is_better(a.metric);
    for (const auto& r : all) {
      if (const auto v = best_of(r, a.metric); v && !std::isnan(*v)) ranked.push_back({up ? -*v : *v, r.name});
    }
    std::stable_sort(ranked.begin(), ranked.end());
    // The N best, and every run as good as the N-th: a tie never decides what is deleted.
    const size_t n = static_cast<size_t>(*a.keep_best);
    for (size_t i = 0; i < ranked.size() && n > 0 && (i < n || ranked[i].first == ranked[n - 1].first); ++i)
      best.insert(ranked[i].second);
  }
  const double now = static_cast<double>(std::time(nullptr));
  std::vector<RunInfo> shown;
  std::vector<std::string> marks;
  std::vector<std::string> why_kept;
  std::vector<const RunInfo*> doomed;
  for (const auto& r : rs) {
    bool go = true;
    if (a.keep_best) go = go && !best.count(r.name) && best_of(r, a.metric).has_value();
    if (a.older_than) go = go && r.last > 0 && now - r.last > *a.older_than;
    if (a.failed) go = go && r.state == "failed";
    std::string keep;
    if (go && r.state == "running") keep = r.name + ": kept (running)";
    if (go && r.name == ".") keep = r.name + ": kept (the log directory itself)";
    if (go && r.holds_runs) keep = r.name + ": kept (other runs live inside its folder)";
    if (!keep.empty()) {
      why_kept.push_back(keep);
      go = false;
    }
    shown.push_back(r);
    marks.push_back(go ? (a.yes ? "deleted" : "would delete") : "keep");
    if (go) doomed.push_back(&r);
  }
  print_table(shown, a.metric, differing_hparams(shown), marks);
  for (const auto& k : why_kept) std::printf("%s\n", k.c_str());
  uint64_t bytes = 0;
  for (const auto* r : doomed) bytes += r->bytes;
  if (!a.yes) {
    std::printf("dry run: %zu of %zu runs would be deleted (%s); add --yes to delete them\n", doomed.size(), all.size(),
                size_text(bytes).c_str());
    return 0;
  }
  // Each run's own folder, and only when it is where the scan found it, inside LOGDIR.
  const fs::path root = fs::canonical(a.logdir);
  int failures = 0;
  for (const auto* r : doomed) {
    boost::system::error_code ec;
    const fs::path dir = fs::canonical(r->dir, ec);
    const fs::path rel = ec ? fs::path() : dir.lexically_relative(root);
    if (ec || rel.empty() || rel.string().rfind("..", 0) == 0 || fs::is_symlink(fs::symlink_status(r->dir))) {
      std::fprintf(stderr, "trainscope runs prune: %s: not deleted (not a folder inside %s)\n", r->dir.c_str(),
                   root.string().c_str());
      ++failures;
      continue;
    }
    fs::remove_all(dir, ec);  // does not follow symbolic links: a link inside goes, its target stays
    if (ec) {
      std::fprintf(stderr, "trainscope runs prune: %s: %s\n", r->dir.c_str(), ec.message().c_str());
      ++failures;
    }
  }
  std::printf("deleted %zu run%s (%s)\n", doomed.size() - static_cast<size_t>(failures), doomed.size() == 1 ? "" : "s",
              size_text(bytes).c_str());
  return failures ? 1 : 0;
}

}  // namespace

int cmd_runs(const std::vector<std::string>& args) {
  Args a;
  std::string error;
  if (!parse_args(args, a, error)) return usage_error("runs", error);
  return a.prune ? prune_runs(a) : list_runs(a);
}
