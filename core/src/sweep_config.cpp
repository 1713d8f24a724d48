// The [sweep] table -> SweepConfig (sweep_config.h). It reads the configuration's text again with
// TOML++ (config.cpp skips the table), so that the run configuration's reader stays as it is;
// every problem is collected and located (file:line:column, or the --set that caused it).
#include "trainscope/sweep_config.h"

#define TOML_ENABLE_FORMATTERS 0  // we only parse
#include <toml++/toml.h>

#include "toml_text.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

namespace trainscope {

namespace {

const char* node_type(const toml::node& n) { return detail::toml_type_name(n); }

using detail::join;

std::string hint(std::string_view word, const std::vector<std::string>& candidates) {
  if (candidates.empty()) return std::string();
  const std::string n = nearest(word, candidates);
  return n.empty() ? " (valid: " + join(candidates) + ")" : "; did you mean '" + n + "'?";
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Collects problems; knows where a node came from (file position or the --set that made it).
struct Ctx {
  std::string source;
  std::vector<std::string> problems;
  std::map<const toml::node*, std::string> origins;

  std::string where(const toml::node& n) const {
    if (auto it = origins.find(&n); it != origins.end()) return it->second;
    const auto& b = n.source().begin;
    return b.line == 0 ? source : source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column);
  }
  std::string where(const toml::key& k, const toml::node& v) const {
    if (origins.count(&v)) return where(v);
    const auto& b = k.source().begin;
    return b.line == 0 ? where(v) : source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column);
  }
  void error(const std::string& at, const std::string& message) { problems.push_back(at + ": " + message); }
};

// The keys of one table, read with type checks; unknown keys are reported by finish().
class Keys {
 public:
  Keys(Ctx& c, const toml::table& t, std::string prefix) : c_(c), t_(t), prefix_(std::move(prefix)) {}
  const toml::node* find(const char* key) {
    known_.emplace_back(key);
    return t_.get(key);
  }
  bool str(const char* key, std::string& out) {
    if (const toml::node* n = find(key)) {
      if (const auto* s = n->as_string()) return out = s->get(), true;
      mismatch(key, *n, "string");
    }
    return false;
  }
  bool integer(const char* key, int64_t& out) {
    if (const toml::node* n = find(key)) {
      if (const auto* i = n->as_integer()) return out = i->get(), true;
      mismatch(key, *n, "int");
    }
    return false;
  }
  bool number(const char* key, double& out) {
    if (const toml::node* n = find(key)) {
      if (const auto* f = n->as_floating_point()) return out = f->get(), true;
      if (const auto* i = n->as_integer()) return out = static_cast<double>(i->get()), true;
      mismatch(key, *n, "number");
    }
    return false;
  }
  bool boolean(const char* key, bool& out) {
    if (const toml::node* n = find(key)) {
      if (const auto* b = n->as_boolean()) return out = b->get(), true;
      mismatch(key, *n, "bool");
    }
    return false;
  }
  std::string at(const char* key) const {
    const toml::node* n = t_.get(key);
    return n ? c_.where(*n) : c_.where(t_);
  }
  void finish(const std::string& context) {
    for (auto&& [k, v] : t_) {
      const std::string key(k.str());
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      c_.error(c_.where(k, v), "unknown key '" + key + "' " + context + hint(key, known_));
    }
  }

 private:
  void mismatch(const char* key, const toml::node& n, const char* expected) {
    c_.error(c_.where(n), prefix_ + key + ": expected " + expected + ", got " + node_type(n));
  }
  Ctx& c_;
  const toml::table& t_;
  std::string prefix_;
  std::vector<std::string> known_;
};

std::string param_label(const std::string& name) { return "sweep.params.\"" + name + "\""; }

std::optional<sweep::Choice> choice_of(const toml::node& n) {
  if (const auto* v = n.as_boolean()) return sweep::Choice{v->get()};
  if (const auto* v = n.as_integer()) return sweep::Choice{v->get()};
  if (const auto* v = n.as_floating_point()) return sweep::Choice{v->get()};
  if (const auto* v = n.as_string()) return sweep::Choice{v->get()};
  return std::nullopt;
}

// One [sweep.params] entry; nullopt after reporting its problems.
std::optional<sweep::Parameter> read_param(Ctx& c, const std::string& name, const toml::node& node, bool grid) {
  const std::string label = param_label(name);
  const toml::table* t = node.as_table();
  if (t == nullptr) {
    c.error(c.where(node), label + ": expected a table such as { type = \"float\", low = 0.0001, high = 0.1 }, got " +
                               node_type(node));
    return std::nullopt;
  }
  const size_t before = c.problems.size();
  Keys k(c, *t, label + ".");
  std::string type;
  if (!k.str("type", type)) {
    if (!t->get("type")) c.error(c.where(*t), label + ": needs type = \"float\", \"int\" or \"categorical\"");
    return std::nullopt;
  }
  const std::vector<std::string> types = {"float", "int", "categorical"};
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    c.error(k.at("type"), label + ": unknown type '" + type + "'" + hint(type, types));
    return std::nullopt;
  }
  sweep::Parameter p;
  p.name = name;
  if (type == "categorical") {
    const toml::node* n = k.find("choices");
    k.finish("in " + label + " (a categorical takes choices)");
    if (n == nullptr) {
      c.error(c.where(*t), label + ": a categorical needs choices = [ ... ]");
      return std::nullopt;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr || arr->empty()) {
      c.error(c.where(*n), label + ".choices: expected a non-empty array of bools, ints, floats or strings");
      return std::nullopt;
    }
    sweep::CategoricalDistribution d;
    for (const auto& el : *arr) {
      auto choice = choice_of(el);
      if (!choice) {
        c.error(c.where(el), label + ".choices: a choice is a bool, int, float or string, got " + node_type(el));
        continue;
      }
      if (std::find(d.choices.begin(), d.choices.end(), *choice) != d.choices.end()) {
        c.error(c.where(el), label + ".choices: a choice is repeated; remove it");
        continue;
      }
      d.choices.push_back(std::move(*choice));
    }
    if (c.problems.size() != before) return std::nullopt;
    p.distribution = std::move(d);
    return p;
  }

  const bool is_int = type == "int";
  double low = 0, high = 0, step = 0;
  bool log = false;
  const bool has_low = is_int ? [&] { int64_t v; return k.integer("low", v) ? (low = double(v), true) : false; }()
                              : k.number("low", low);
  const bool has_high = is_int ? [&] { int64_t v; return k.integer("high", v) ? (high = double(v), true) : false; }()
                               : k.number("high", high);
  const bool has_step = is_int ? [&] { int64_t v; return k.integer("step", v) ? (step = double(v), true) : false; }()
                               : k.number("step", step);
  const bool has_log = k.boolean("log", log);
  k.finish("in " + label + " (a " + type + " takes low, high, step, log)");
  if (c.problems.size() != before) return std::nullopt;
  if (!has_low || !has_high) {
    c.error(c.where(*t), label + ": a " + type + " needs both low and high");
    return std::nullopt;
  }
  if (!std::isfinite(low) || !std::isfinite(high)) {
    c.error(k.at(std::isfinite(low) ? "high" : "low"), label + ": low and high must be finite numbers");
    return std::nullopt;
  }
  if (low > high) {
    c.error(k.at("low"), label + ": empty range: low = " + fmt(low) + " > high = " + fmt(high) + "; swap them");
    return std::nullopt;
  }
  if (log && low <= 0) {
    c.error(k.at("low"), label + ": log = true needs low > 0 (got " + fmt(low) + ")");
    return std::nullopt;
  }
  if (has_step && !(step > 0)) {
    c.error(k.at("step"), label + ": step must be > 0 (got " + fmt(step) + ")");
    return std::nullopt;
  }
  if (log && has_step && !(is_int && step == 1)) {
    c.error(k.at("step"), label + ": log = true cannot go with a step (a log-scaled range has no even step); " +
                              "remove one of them");
    return std::nullopt;
  }
  if (has_step) {
    const double k_steps = (high - low) / step;
    if (std::fabs(k_steps - std::round(k_steps)) > 1e-9 * std::max(1.0, k_steps)) {
      c.error(k.at("high"), label + ": high - low = " + fmt(high - low) + " is not a multiple of step = " + fmt(step) +
                                "; use high = " + fmt(low + std::floor(k_steps) * step));
      return std::nullopt;
    }
  }
  if (grid && !is_int && !has_step) {
    c.error(c.where(*t), label + ": sampler = \"grid\" needs a step for a float range (or use choices)");
    return std::nullopt;
  }
  (void)has_log;
  if (is_int) {
    sweep::IntDistribution d;
    d.low = static_cast<int64_t>(low);
    d.high = static_cast<int64_t>(high);
    d.log = log;
    d.step = has_step ? static_cast<int64_t>(step) : 1;
    p.distribution = d;
  } else {
    sweep::FloatDistribution d;
    d.low = low;
    d.high = high;
    d.log = log;
    if (has_step) d.step = step;
    p.distribution = d;
  }
  return p;
}

void read_sampler_options(Ctx& c, const toml::table& t, SweepConfig& s) {
  Keys k(c, t, "sweep.sampler_options.");
  auto& o = s.sampler;
  if (o.kind == "tpe") {
    int64_t v = 0;
    if (k.integer("n_startup_trials", v)) {
      if (v < 0) c.error(k.at("n_startup_trials"), "sweep.sampler_options.n_startup_trials must be >= 0");
      o.n_startup_trials = static_cast<int>(v);
    }
    if (k.integer("n_ei_candidates", v)) {
      if (v < 1) c.error(k.at("n_ei_candidates"), "sweep.sampler_options.n_ei_candidates must be >= 1");
      o.n_ei_candidates = static_cast<int>(v);
    }
    k.boolean("consider_endpoints", o.consider_endpoints);
  }
  k.finish("in [sweep.sampler_options] for sampler '" + o.kind + "'" +
           (o.kind == "tpe" ? std::string() : std::string(" (it takes no options)")));
}

void read_pruner_options(Ctx& c, const toml::table& t, SweepConfig& s) {
  Keys k(c, t, "sweep.pruner_options.");
  auto& o = s.pruner;
  auto at_least = [&](const char* key, int64_t min, auto& out) {
    int64_t v = 0;
    if (!k.integer(key, v)) return;
    if (v < min) {
      c.error(k.at(key), std::string("sweep.pruner_options.") + key + " must be >= " + std::to_string(min) + " (got " +
                             std::to_string(v) + ")");
    }
    out = static_cast<std::remove_reference_t<decltype(out)>>(v);
  };
  if (o.kind == "median") {
    at_least("n_startup_trials", 0, o.n_startup_trials);
    at_least("n_warmup_steps", 0, o.n_warmup_steps);
    at_least("interval_steps", 1, o.interval_steps);
    at_least("n_min_trials", 1, o.n_min_trials);
  } else if (o.kind == "successive_halving") {
    if (const toml::node* n = t.get("min_resource"); n && n->as_string()) {
      k.find("min_resource");
      if (n->as_string()->get() != "auto")
        c.error(c.where(*n), "sweep.pruner_options.min_resource: expected an int >= 1 or \"auto\"");
      o.min_resource = 0;
    } else {
      at_least("min_resource", 1, o.min_resource);
    }
    at_least("reduction_factor", 2, o.reduction_factor);
    at_least("min_early_stopping_rate", 0, o.min_early_stopping_rate);
  }
  k.finish("in [sweep.pruner_options] for pruner '" + o.kind + "'" +
           (o.kind == "none" ? std::string(" (it takes no options)") : std::string()));
}

// Applies "sweep.<key>=value" and "sweep.<table>.<key>=value" overrides to the [sweep] table.
void apply_sweep_overrides(Ctx& c, toml::table& root, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const std::string origin = "--set " + o;
    const size_t eq = o.find('=');
    const std::string key = eq == std::string::npos ? o : o.substr(0, eq);
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      const size_t dot = key.find('.', start);
      parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (eq == std::string::npos || parts.size() < 2 || parts.size() > 3 || parts[0] != "sweep" ||
        std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); }) ||
        (parts.size() == 3 && parts[1] != "sampler_options" && parts[1] != "pruner_options")) {
      c.error(origin,
              "expected sweep.<key>=value or sweep.sampler_options.<key>=value / "
              "sweep.pruner_options.<key>=value (parameters are changed in [sweep.params])");
      continue;
    }
    toml::table holder;
    try {
      holder = toml::parse(std::string_view("v = " + o.substr(eq + 1)), std::string_view("--set"));
    } catch (const toml::parse_error&) {
      holder = toml::table{};
      holder.insert_or_assign("v", o.substr(eq + 1));
    }
    toml::table* dest = &root;
    bool ok = true;
    for (size_t i = 0; ok && i + 1 < parts.size(); ++i) {
      if (dest->get(parts[i]) == nullptr) {
        dest->insert_or_assign(parts[i], toml::table{});
        c.origins[dest->get(parts[i])] = origin;
      }
      toml::node* next = dest->get(parts[i]);
      if (!next->is_table()) {
        c.error(origin, "'" + parts[i] + "' is not a table");
        ok = false;
      } else {
        dest = next->as_table();
      }
    }
    if (!ok) continue;
    holder.get("v")->visit([&](auto& v) { dest->insert_or_assign(parts.back(), v); });
    c.origins[dest->get(parts.back())] = origin;
  }
}

// Declaration order of [sweep.params]: TOML++ iterates a table sorted by key, so the entries
// are ordered by where their keys are written (--set ones last).
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> out;
  for (auto&& [k, v] : t) out.emplace_back(&k, &v);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& x = a.first->source().begin;
    const auto& y = b.first->source().begin;
    const auto lx = x.line ? x.line : UINT32_MAX, ly = y.line ? y.line : UINT32_MAX;
    return lx != ly ? lx < ly : x.column < y.column;
  });
  return out;
}

std::optional<toml::table> parse_root(Ctx& c, const RunConfig& config) {
  try {
    return toml::parse(config.text, c.source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    c.error(c.source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column),
            "TOML syntax error: " + std::string(e.description()));
    return std::nullopt;
  }
}

}  // namespace

bool has_sweep_table(const RunConfig& config) {
  Ctx c;
  c.source = config.file.empty() ? "config" : config.file;
  auto root = parse_root(c, config);
  return root && root->get("sweep") != nullptr;
}

SweepConfig read_sweep(const RunConfig& config, const std::vector<std::string>& sweep_overrides) {
  Ctx c;
  c.source = config.file.empty() ? "config" : config.file;
  auto root = parse_root(c, config);
  if (!root) throw ConfigError(c.problems);
  apply_sweep_overrides(c, *root, sweep_overrides);
  SweepConfig s;
  const toml::node* node = root->get("sweep");
  if (node == nullptr || !node->is_table()) {
    c.error(node ? c.where(*node) : c.source, "a sweep needs a [sweep] table with [sweep.params] (see docs/sweeps.md)");
    throw ConfigError(c.problems);
  }
  const toml::table& t = *node->as_table();
  Keys k(c, t, "sweep.");
  s.study = std::filesystem::path(config.file.empty() ? "study" : config.file).stem().string();
  if (k.str("study", s.study)) {
    if (s.study.empty() || s.study == "." || s.study == ".." || s.study.find('/') != std::string::npos)
      c.error(k.at("study"), "sweep.study names a directory under run.log_dir: a non-empty name without '/'");
  }
  if (k.str("metric", s.metric) && s.metric.empty())
    c.error(k.at("metric"), "sweep.metric is empty: name a metric of the validation, e.g. \"val/accuracy\"");
  std::string direction = "minimize";
  if (k.str("direction", direction)) {
    if (direction == "maximize")
      s.direction = sweep::Direction::kMaximize;
    else if (direction != "minimize")
      c.error(k.at("direction"),
              "sweep.direction: unknown direction '" + direction + "'" + hint(direction, {"minimize", "maximize"}));
  }
  if (k.integer("n_trials", s.n_trials) && s.n_trials < 1)
    c.error(k.at("n_trials"), "sweep.n_trials must be >= 1 (got " + std::to_string(s.n_trials) + ")");
  double timeout = 0;
  if (k.number("timeout", timeout)) {
    if (!(timeout > 0)) c.error(k.at("timeout"), "sweep.timeout must be > 0 seconds (or left out)");
    s.timeout = timeout;
  }
  int64_t seed = 0;
  if (k.integer("seed", seed)) {
    if (seed < 0) c.error(k.at("seed"), "sweep.seed must be >= 0");
    s.seed = static_cast<uint64_t>(seed);
    s.sampler.seed = s.seed;
  }
  s.sampler.kind = "tpe";
  if (k.str("sampler", s.sampler.kind)) {
    const std::vector<std::string> kinds = {"grid", "random", "tpe"};
    if (std::find(kinds.begin(), kinds.end(), s.sampler.kind) == kinds.end())
      c.error(k.at("sampler"), "sweep.sampler: unknown sampler '" + s.sampler.kind + "'" + hint(s.sampler.kind, kinds));
  }
  s.pruner.kind = "none";
  if (k.str("pruner", s.pruner.kind)) {
    const std::vector<std::string> kinds = {"none", "median", "successive_halving"};
    if (std::find(kinds.begin(), kinds.end(), s.pruner.kind) == kinds.end())
      c.error(k.at("pruner"), "sweep.pruner: unknown pruner '" + s.pruner.kind + "'" + hint(s.pruner.kind, kinds));
  }
  s.storage = config.run.log_dir + "/" + s.study + ".journal";
  if (k.str("storage", s.storage) && s.storage.empty())
    c.error(k.at("storage"), "sweep.storage is empty: a journal file path or redis://host:port");
  auto subtable = [&](const char* key, auto&& fn) {
    const toml::node* n = k.find(key);
    if (n == nullptr) return;
    if (const toml::table* sub = n->as_table())
      fn(*sub);
    else
      c.error(c.where(*n),
              std::string("sweep.") + key + " must be a table ([sweep." + key + "]), got " + node_type(*n));
  };
  subtable("sampler_options", [&](const toml::table& sub) { read_sampler_options(c, sub, s); });
  subtable("pruner_options", [&](const toml::table& sub) { read_pruner_options(c, sub, s); });
  bool saw_params = false;
  subtable("params", [&](const toml::table& sub) {
    saw_params = true;
    for (const auto& [key, value] : in_file_order(sub)) {
      const std::string name(key->str());
      s.locations.emplace("sweep.params." + name, c.where(*key, *value));
      if (auto p = read_param(c, name, *value, s.sampler.kind == "grid")) s.params.push_back(std::move(*p));
    }
    if (sub.empty()) c.error(c.where(sub), "[sweep.params] is empty: give at least one parameter");
  });
  if (!saw_params && t.get("params") == nullptr)
    c.error(c.where(t), "[sweep] needs a [sweep.params] table: the parameters to search (see docs/sweeps.md)");
  for (auto&& [key, value] : t) s.locations.emplace("sweep." + std::string(key.str()), c.where(key, value));
  k.finish("in [sweep]");
  if (!c.problems.empty()) {
    // In file order (--set problems last), as a reader goes through the file.
    auto position = [&](const std::string& p) {
      unsigned line = UINT32_MAX, column = 0;
      if (p.rfind(c.source + ":", 0) == 0) std::sscanf(p.c_str() + c.source.size() + 1, "%u:%u", &line, &column);
      return std::make_pair(line, column);
    };
    std::stable_sort(c.problems.begin(), c.problems.end(),
                     [&](const std::string& a, const std::string& b) { return position(a) < position(b); });
    throw ConfigError(c.problems);
  }
  return s;
}

}  // namespace trainscope
