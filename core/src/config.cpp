// TOML -> RunConfig. The only translation unit that includes TOML++ (it is costly to compile).
// Every problem is collected, not just the first, and each names file:line:column (TOML++
// keeps the source position of every key and node).
#include "trainscope/config.h"

#include "toml_guard.h"
#include "trainscope/model_options.h"
#include "trainscope/run_dir.h"

#define TOML_ENABLE_FORMATTERS 0  // we only parse
#include <sys/stat.h>
#include <sys/vfs.h>
#include <toml++/toml.h>

#include "toml_text.h"  // after toml++

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

namespace trainscope {

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error([&] {
        std::string all;
        for (const auto& p : problems) all += (all.empty() ? "" : "\n") + p;
        return all;
      }()),
      problems_(std::move(problems)) {}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions ("nrom" -> "norm" is 1).
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  auto lower = [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); };
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  // Close enough to be a typo: 1 edit for short words, up to a third of the word otherwise.
  const size_t limit = word.size() <= 3 ? 1 : std::max<size_t>(2, word.size() / 3);
  if (best_d <= limit) return best;
  // Or one is the start of the other ("training" -> "train", "valid" -> "validation").
  auto starts_with = [](std::string_view s, std::string_view prefix) {
    return prefix.size() >= 3 && s.size() >= prefix.size() && edit_distance(s.substr(0, prefix.size()), prefix) == 0;
  };
  for (const auto& c : candidates) {
    if (starts_with(word, c) || starts_with(c, word)) return c;
  }
  return std::string();
}

namespace {

using detail::join;

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string n = nearest(word, candidates);
  return n.empty() ? std::string() : "; did you mean '" + n + "'?";
}

const char* type_name(const toml::node& n) { return detail::toml_type_name(n); }

std::string format_double(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Collects problems and knows where every node came from.
struct Reader {
  std::string source;  // file name used in messages
  std::vector<std::string> problems;
  std::map<const toml::node*, std::string> origins;  // nodes set by --set -> "--set k=v"
  RunConfig* config = nullptr;

  std::string at(const toml::source_region& region) const {
    const auto& b = region.begin;
    if (b.line == 0) return source;
    return source + ":" + std::to_string(b.line) + ":" + std::to_string(b.column);
  }
  std::string where(const toml::node& n) const {
    auto it = origins.find(&n);
    return it != origins.end() ? it->second : at(n.source());
  }
  // A key's own position (an unknown key is reported where the key is written).
  std::string where(const toml::key& k, const toml::node& v) const {
    auto it = origins.find(&v);
    if (it != origins.end()) return it->second;
    return k.source().begin.line ? at(k.source()) : where(v);
  }
  void error(const std::string& location, const std::string& message) { problems.push_back(location + ": " + message); }
  void locate(const std::string& key, const toml::node& n) { config->locations.emplace(key, where(n)); }
};

std::optional<std::vector<std::string>> as_string_list(const toml::node& n) {
  const toml::array* arr = n.as_array();
  if (!arr) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& el : *arr) {
    const auto* s = el.as_string();
    if (!s) return std::nullopt;
    out.push_back(s->get());
  }
  return out;
}

// Reads the known keys of one table with type checks; reports the keys nobody read.
class Section {
 public:
  Section(Reader& r, const toml::table& table, std::string prefix) : r_(r), table_(table), prefix_(std::move(prefix)) {}

  void read(const char* key, std::string& out) {
    if (const toml::node* n = find(key)) {
      if (const auto* v = n->as_string())
        out = v->get();
      else
        mismatch(key, *n, "string");
    }
  }
  void read(const char* key, int64_t& out) {
    if (const toml::node* n = find(key)) {
      if (const auto* v = n->as_integer())
        out = v->get();
      else
        mismatch(key, *n, "int");
    }
  }
  void read(const char* key, double& out) {  // an int is accepted for a float
    if (const toml::node* n = find(key)) {
      if (const auto* f = n->as_floating_point())
        out = f->get();
      else if (const auto* i = n->as_integer())
        out = static_cast<double>(i->get());
      else
        mismatch(key, *n, "float");
    }
  }
  void read(const char* key, bool& out) {
    if (const toml::node* n = find(key)) {
      if (const auto* v = n->as_boolean())
        out = v->get();
      else
        mismatch(key, *n, "bool");
    }
  }
  void read(const char* key, std::vector<std::string>& out) {
    if (const toml::node* n = find(key)) {
      if (auto v = as_string_list(*n))
        out = std::move(*v);
      else
        mismatch(key, *n, "array of strings");
    }
  }
  void read(const char* key, std::vector<double>& out) {
    if (const toml::node* n = find(key)) {
      const toml::array* arr = n->as_array();
      std::vector<double> values;
      bool ok = arr != nullptr;
      for (size_t i = 0; ok && i < arr->size(); ++i) {
        const toml::node& el = *arr->get(i);
        if (const auto* f = el.as_floating_point())
          values.push_back(f->get());
        else if (const auto* k = el.as_integer())
          values.push_back(static_cast<double>(k->get()));
        else
          ok = false;
      }
      if (ok)
        out = std::move(values);
      else
        mismatch(key, *n, "array of numbers");
    }
  }
  void read(const char* key, std::vector<int64_t>& out) {
    if (const toml::node* n = find(key)) {
      const toml::array* arr = n->as_array();
      std::vector<int64_t> values;
      bool ok = arr != nullptr;
      for (size_t i = 0; ok && i < arr->size(); ++i) {
        if (const auto* k = arr->get(i)->as_integer())
          values.push_back(k->get());
        else
          ok = false;
      }
      if (ok)
        out = std::move(values);
      else
        mismatch(key, *n, "array of ints");
    }
  }
  // The node of `key` when present (marks it known and records its location).
  const toml::node* find(const char* key) {
    known_.emplace_back(key);
    const toml::node* n = table_.get(key);
    if (n) r_.locate(prefix_ + key, *n);
    return n;
  }
  // Reports every key of the table that no read() asked for.
  void finish(const std::string& context) {
    for (auto&& [k, v] : table_) {
      const std::string key(k.str());
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      const std::string hint = did_you_mean(key, known_);
      r_.error(r_.where(k, v),
               "unknown key '" + key + "' " + context + (hint.empty() ? " (valid keys: " + join(known_) + ")" : hint));
    }
  }
  const std::vector<std::string>& known() const { return known_; }

 private:
  void mismatch(const char* key, const toml::node& n, const char* expected) {
    r_.error(r_.where(n), prefix_ + key + ": expected " + expected + ", got " + type_name(n));
  }
  Reader& r_;
  const toml::table& table_;
  std::string prefix_;
  std::vector<std::string> known_;
};

// A free value ([hparams], model options, plugin options without schema type): bool, int,
// float, string; with `lists`, also an array of strings.
std::optional<OptionValue> free_value(const toml::node& n, bool lists) {
  if (const auto* v = n.as_boolean()) return OptionValue{v->get()};
  if (const auto* v = n.as_integer()) return OptionValue{v->get()};
  if (const auto* v = n.as_floating_point()) return OptionValue{v->get()};
  if (const auto* v = n.as_string()) return OptionValue{v->get()};
  if (lists) {
    if (auto l = as_string_list(n)) return OptionValue{std::move(*l)};
  }
  return std::nullopt;
}

// Converts `n` to the schema's type (an int is accepted for a float).
std::optional<OptionValue> typed_value(const toml::node& n, OptionType type) {
  switch (type) {
    case OptionType::kBool:
      if (const auto* v = n.as_boolean()) return OptionValue{v->get()};
      break;
    case OptionType::kInt:
      if (const auto* v = n.as_integer()) return OptionValue{v->get()};
      break;
    case OptionType::kDouble:
      if (const auto* v = n.as_floating_point()) return OptionValue{v->get()};
      if (const auto* v = n.as_integer()) return OptionValue{static_cast<double>(v->get())};
      break;
    case OptionType::kString:
      if (const auto* v = n.as_string()) return OptionValue{v->get()};
      break;
    case OptionType::kStringList:
      if (auto l = as_string_list(n)) return OptionValue{std::move(*l)};
      break;
  }
  return std::nullopt;
}

std::string resolve_dir(const std::string& dir, const std::string& source_name) {
  if (dir.empty() || dir.front() == '/') return dir;
  const size_t slash = source_name.rfind('/');
  if (slash == std::string::npos) return dir;
  return source_name.substr(0, slash + 1) + dir;
}

void read_run(Reader& r, const toml::table& t, RunSection& run) {
  Section s(r, t, "run.");
  s.read("name", run.name);
  s.read("log_dir", run.log_dir);
  s.read("seed", run.seed);
  s.read("device", run.device);
  s.read("log", run.log);
  s.read("plugin_path", run.plugin_path);
  s.read("overwrite", run.overwrite);
  for (auto& dir : run.plugin_path) dir = resolve_dir(dir, r.source);
  s.finish("in [run]");
}

// [trainer.scheduler] (lr_schedule.h); validate() checks the values.
void read_schedule(Reader& r, const toml::table& t, TrainerSection& tr) {
  Section s(r, t, "trainer.scheduler.");
  LrScheduleConfig& c = tr.schedule;
  s.read("name", c.name);
  s.read("interval", c.interval);
  s.read("warmup", c.warmup);
  s.read("warmup_start_factor", c.warmup_start_factor);
  s.read("step_size", c.step_size);
  s.read("gamma", c.gamma);
  s.read("t_max", c.t_max);
  s.read("eta_min", c.eta_min);
  s.read("max_lr", c.max_lr);
  s.read("pct_start", c.pct_start);
  s.read("anneal", c.anneal);
  s.read("div_factor", c.div_factor);
  s.read("final_div_factor", c.final_div_factor);
  s.read("three_phase", c.three_phase);
  s.read("total_steps", c.total_steps);
  s.read("metric", c.metric);
  s.read("mode", c.mode);
  s.read("factor", c.factor);
  s.read("patience", c.patience);
  s.read("threshold", c.threshold);
  s.read("threshold_mode", c.threshold_mode);
  s.read("cooldown", c.cooldown);
  s.read("min_lr", c.min_lr);
  s.read("eps", c.eps);
  s.finish("in [trainer.scheduler]");
  tr.scheduler = c.name;
}

void read_trainer(Reader& r, const toml::table& t, TrainerSection& tr) {
  Section s(r, t, "trainer.");
  s.read("epochs", tr.epochs);
  s.read("batch_size", tr.batch_size);
  s.read("optimizer", tr.optimizer);
  s.read("lr", tr.lr);
  s.read("momentum", tr.momentum);
  s.read("weight_decay", tr.weight_decay);
  if (const toml::node* n = t.get("scheduler"); n != nullptr && n->is_table()) {
    s.find("scheduler");
    read_schedule(r, *n->as_table(), tr);
    for (const char* key : {"step_size", "gamma"}) {
      if (const toml::node* legacy = t.get(key)) {
        r.error(r.where(*legacy), std::string("trainer.") + key +
                                      " belongs to the string form (scheduler = \"step\"): with a [trainer.scheduler] "
                                      "table, write " +
                                      key + " in that table");
      }
    }
  } else {
    s.read("scheduler", tr.scheduler);
  }
  s.read("step_size", tr.step_size);
  s.read("gamma", tr.gamma);
  s.read("clip_grad_norm", tr.clip_grad_norm);
  s.read("precision", tr.precision);
  s.read("log_every_n_steps", tr.log_every_n_steps);
  s.read("checkpoint_dir", tr.checkpoint_dir);
  s.read("checkpoint_every_n_epochs", tr.checkpoint_every_n_epochs);
  s.read("resume", tr.resume);
  s.read("on_write_error", tr.on_write_error);
  s.read("max_steps", tr.max_steps);
  s.finish("in [trainer]");
}

void read_data(Reader& r, const toml::table& t, DataSection& d) {
  Section s(r, t, "data.");
  s.read("dataset", d.dataset);
  s.read("path", d.path);
  s.read("train_limit", d.train_limit);
  s.read("val_limit", d.val_limit);
  s.read("normalize_mean", d.normalize_mean);
  s.read("normalize_std", d.normalize_std);
  s.read("synthetic_samples", d.synthetic_samples);
  s.read("synthetic_classes", d.synthetic_classes);
  s.finish("in [data]");
}

void read_model(Reader& r, const toml::table& t, ModelSection& m) {
  Section s(r, t, "model.");
  s.read("name", m.name);
  // Every other key is an option of the chosen model (model_options.h); validate() checks the
  // ranges. An unknown model name is reported by validate(); its keys cannot be checked.
  const std::vector<OptionSpec>* specs = model_options(m.name);
  std::vector<std::string> names;
  if (specs) {
    for (const auto& spec : *specs) names.push_back(spec.name);
  }
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (key == "name") continue;
    if (key == "torchscript") {  // any model: the module of this .pt file replaces the zoo's
      r.locate("model." + key, v);
      if (const auto* file = v.as_string()) {
        // A TorchScript file named in the config file is relative to that file (as plugin_path);
        // one given with --set is relative to the working directory.
        std::string path = file->get();
        if (r.origins.count(&v) == 0) path = resolve_dir(path, r.source);
        m.options[key] = std::move(path);
      } else {
        r.error(r.where(v), std::string("model.torchscript: expected a string (the path of a .pt file), got ") + type_name(v));
      }
      continue;
    }
    if (!specs) {
      if (auto value = free_value(v, true)) m.options[key] = std::move(*value);
      continue;
    }
    auto spec = std::find_if(specs->begin(), specs->end(), [&](const OptionSpec& o) { return o.name == key; });
    if (spec == specs->end()) {
      const std::string hint = did_you_mean(key, names);
      r.error(r.where(k, v), "unknown key '" + key + "' in [model]: model '" + m.name + "' takes " +
                                 (names.empty() ? std::string("no options") : join(names)) + hint);
      continue;
    }
    r.locate("model." + key, v);
    if (auto value = typed_value(v, spec->type))
      m.options[key] = std::move(*value);
    else
      r.error(r.where(v), "model." + key + ": expected " + option_type_name(spec->type) + ", got " + type_name(v));
  }
}

void read_hparams(Reader& r, const toml::table& t, std::map<std::string, OptionValue>& hparams) {
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    r.locate("hparams." + key, v);
    if (auto value = free_value(v, false))
      hparams[key] = std::move(*value);
    else
      r.error(r.where(v), "hparams." + key + ": expected string, bool, int or float, got " + type_name(v));
  }
}

// [[custom_scalars]]: one table per chart, grouped into categories by `category` (in file
// order). A chart is `tags` (exact tag names), `regex` (regular expressions, as TensorBoard
// matches them) or `margin` (inline tables {value, lower, upper}).
std::string regex_of_tag(const std::string& tag) {
  std::string out = "^";
  for (char ch : tag) {
    if (std::strchr(".^$*+?()[]{}|\\", ch) != nullptr) out += '\\';
    out += ch;
  }
  return out + "$";
}

void read_custom_scalars(Reader& r, const toml::node& node, CustomScalarLayout& layout) {
  const toml::array* arr = node.as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    r.error(r.where(node),
            "'custom_scalars' must be an array of tables: write each chart as a [[custom_scalars]] table");
    return;
  }
  std::map<std::pair<std::string, std::string>, std::string> seen;  // (category, title) -> where
  for (const auto& el : *arr) {
    const toml::table& t = *el.as_table();
    Section s(r, t, "custom_scalars.");
    std::string category, title;
    bool closed = false;
    s.read("category", category);
    s.read("title", title);
    s.read("closed", closed);
    const std::string at = r.where(t);
    if (category.empty()) r.error(at, "[[custom_scalars]] needs a category = \"...\" (the dashboard's section)");
    if (title.empty()) r.error(at, "[[custom_scalars]] needs a title = \"...\" (the chart's name)");
    CustomChart chart;
    chart.title = title;
    int kinds = 0;
    std::vector<std::string> regexes;
    if (const toml::node* n = s.find("tags")) {
      ++kinds;
      auto tags = as_string_list(*n);
      if (!tags || tags->empty() || std::any_of(tags->begin(), tags->end(), [](const auto& x) { return x.empty(); })) {
        r.error(r.where(*n), "custom_scalars.tags: expected a non-empty array of tag names, got " +
                                 std::string(tags ? "an empty name or array" : type_name(*n)));
      } else {
        for (const auto& tag : *tags) regexes.push_back(regex_of_tag(tag));
      }
    }
    if (const toml::node* n = s.find("regex")) {
      ++kinds;
      std::optional<std::vector<std::string>> list;
      if (const auto* one = n->as_string())
        list = std::vector<std::string>{one->get()};
      else
        list = as_string_list(*n);
      if (!list || list->empty()) {
        r.error(r.where(*n),
                std::string("custom_scalars.regex: expected a regular expression or a non-empty array of them, got ") +
                    type_name(*n));
      } else {
        for (const auto& re : *list) {
          try {
            if (re.empty()) throw std::regex_error(std::regex_constants::error_collate);
            (void)std::regex(re, std::regex::ECMAScript);
            regexes.push_back(re);
          } catch (const std::regex_error&) {
            r.error(r.where(*n), "custom_scalars.regex: '" + re +
                                     "' is not a valid regular expression (TensorBoard matches tags with Python's re): "
                                     "fix it, or list exact names under tags = [...]");
          }
        }
      }
    }
    if (const toml::node* n = s.find("margin")) {
      ++kinds;
      MarginChart margin;
      const toml::array* series = n->as_array();
      if (series == nullptr || series->empty()) {
        r.error(r.where(*n),
                "custom_scalars.margin: expected an array of {value = \"...\", lower = \"...\", upper = \"...\"}");
      } else {
        for (const auto& item : *series) {
          const toml::table* st = item.as_table();
          MarginChart::Series one;
          bool ok = st != nullptr;
          if (ok) {
            Section ss(r, *st, "custom_scalars.margin.");
            ss.read("value", one.value);
            ss.read("lower", one.lower);
            ss.read("upper", one.upper);
            ss.finish("in a custom_scalars.margin series");
            ok = !one.value.empty() && !one.lower.empty() && !one.upper.empty();
          }
          if (!ok) {
            r.error(r.where(item),
                    "custom_scalars.margin: each series is {value = \"tag\", lower = \"tag\", upper = "
                    "\"tag\"}, all three non-empty tag names");
          } else {
            margin.series.push_back(std::move(one));
          }
        }
      }
      chart.content = std::move(margin);
    }
    s.finish("in [[custom_scalars]]");
    if (kinds != 1) {
      r.error(at, "[[custom_scalars]] '" + title +
                      "': give exactly one of tags = [...] (exact names), regex = [...] or "
                      "margin = [{value, lower, upper}] (got " +
                      std::to_string(kinds) + ")");
      continue;
    }
    if (!regexes.empty()) chart.content = MultilineChart{std::move(regexes)};
    if (category.empty() || title.empty()) continue;
    if (auto [it, fresh] = seen.emplace(std::make_pair(category, title), at); !fresh) {
      r.error(at, "[[custom_scalars]] chart '" + title + "' of category '" + category +
                      "' is declared twice (first at " + it->second + ")");
      continue;
    }
    auto same = std::find_if(layout.categories.begin(), layout.categories.end(),
                             [&](const CustomCategory& c) { return c.title == category; });
    if (same == layout.categories.end()) {
      layout.categories.push_back({category, {}, false});
      same = layout.categories.end() - 1;
    }
    same->closed = same->closed || closed;
    same->charts.push_back(std::move(chart));
  }
}

const std::vector<std::string> kPluginKeys = {"name",     "enabled", "every_n_steps", "every_n_epochs",
                                              "at_steps", "phases",  "on_error"};

std::string unknown_plugin_message(const std::string& name, const PluginCatalog& catalog) {
  const auto names = catalog.names();
  std::string msg = "unknown plugin '" + name + "'" + did_you_mean(name, names) +
                    " (available: " + (names.empty() ? "none found on the plugin search path" : join(names)) + ")";
  for (const auto& refusal : catalog.refusals) {
    if (refusal.find("/lib" + name + ".so:") != std::string::npos ||
        refusal.find("plugin '" + name + "'") != std::string::npos) {
      msg += "; a library for it was refused: " + refusal;
      break;
    }
  }
  return msg;
}

// "cfg.toml:12:19: plugin 'scalars' option 'log_every_n_steps' = 0 is out of range: must be an
// integer >= 1", at the offending item of a list, with the nearest allowed word when there is one.
void report_violation(Reader& r, const std::string& plugin, const OptionSpec& spec, const toml::node& value,
                      const OptionViolation& bad) {
  const toml::node* at = &value;
  std::string item;
  if (const toml::array* arr = value.as_array(); arr && bad.item >= 0 && static_cast<size_t>(bad.item) < arr->size()) {
    at = arr->get(static_cast<size_t>(bad.item));
    if (const auto* s = at->as_string()) item = s->get();
  } else if (const auto* s = value.as_string()) {
    item = s->get();
  }
  std::string hint;
  for (const auto& c : spec.constraints) {
    if (c.kind == ConstraintKind::kOneOf) hint = did_you_mean(item, c.words);
  }
  r.error(r.where(*at), "plugin '" + plugin + "' option '" + spec.name + "' " + bad.message + hint);
}

void read_plugin(Reader& r, const toml::table& t, const PluginCatalog& catalog, std::vector<PluginConfig>& out,
                 std::map<std::string, std::string>& first_seen) {
  PluginConfig pc;
  pc.source = r.where(t);
  const toml::node* name_node = t.get("name");
  if (name_node == nullptr) {
    r.error(pc.source, "[[plugin]] needs a name (name = \"...\"; available: " + join(catalog.names()) + ")");
    return;
  }
  if (const auto* s = name_node->as_string()) {
    pc.name = s->get();
  } else {
    r.error(r.where(*name_node), std::string("plugin name: expected string, got ") + type_name(*name_node));
    return;
  }
  const std::string prefix = "plugin." + pc.name + ".";
  if (auto [it, fresh] = first_seen.emplace(pc.name, r.where(*name_node)); !fresh) {
    r.error(r.where(*name_node), "plugin '" + pc.name + "' is configured twice (first at " + it->second + ")");
    return;
  }
  r.locate(prefix + "name", *name_node);

  Section s(r, t, prefix);
  s.read("enabled", pc.enabled);
  if (const toml::node* n = s.find("every_n_steps")) {
    if (const auto* v = n->as_integer()) {
      pc.cadence.every_n_steps = v->get();
      if (v->get() < 1)
        r.error(r.where(*n), prefix + "every_n_steps must be >= 1 (got " + std::to_string(v->get()) + ")");
    } else {
      r.error(r.where(*n), prefix + "every_n_steps: expected int, got " + type_name(*n));
    }
  }
  s.read("every_n_epochs", pc.cadence.every_n_epochs);
  s.read("at_steps", pc.cadence.at_steps);
  if (const toml::node* n = s.find("phases")) {
    auto phases = as_string_list(*n);
    if (!phases) {
      r.error(r.where(*n), prefix + "phases: expected array of strings, got " + type_name(*n));
    } else if (phases->empty()) {
      r.error(r.where(*n), prefix + "phases must name at least one of \"train\", \"validation\"");
    } else {
      bool train = false, validation = false, ok = true;
      for (const auto& p : *phases) {
        if (p == "train")
          train = true;
        else if (p == "validation")
          validation = true;
        else {
          ok = false;
          r.error(r.where(*n), prefix + "phases: unknown phase '" + p + "' (expected \"train\" or \"validation\")" +
                                   did_you_mean(p, {"train", "validation"}));
        }
      }
      if (ok) pc.cadence.train = train, pc.cadence.validation = validation;
    }
  }
  std::string on_error = "disable";
  s.read("on_error", on_error);
  if (on_error == "abort")
    pc.on_error = ErrorPolicy::kAbort;
  else if (on_error != "disable")
    r.error(r.where(*t.get("on_error")), prefix + "on_error: unknown policy '" + on_error +
                                             "' (expected \"disable\" or \"abort\")" +
                                             did_you_mean(on_error, {"disable", "abort"}));

  // The plugin's own options, checked against its schema; defaults fill the rest.
  auto library = catalog.find(pc.name);
  if (!library) {
    r.error(r.where(*name_node), unknown_plugin_message(pc.name, catalog));
  }
  std::map<std::string, OptionValue> values;
  std::vector<std::string> candidates = kPluginKeys;
  if (library) {
    for (const auto& spec : library->options()) {
      values[spec.name] = spec.default_value;
      candidates.push_back(spec.name);
      // The bus reads these keys itself: such an option would never receive its value.
      if (std::find(kPluginKeys.begin(), kPluginKeys.end(), spec.name) != kPluginKeys.end()) {
        r.error(r.where(*name_node), prefix + "plugin '" + pc.name + "' (" + library->path() +
                                         ") declares an option named '" + spec.name +
                                         "', which is a key of every [[plugin]] table: rename the option in the plugin");
      }
    }
  }
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (std::find(kPluginKeys.begin(), kPluginKeys.end(), key) != kPluginKeys.end()) continue;
    if (!library) continue;  // unknown plugin: already reported, its options cannot be checked
    const auto& specs = library->options();
    auto spec = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& o) { return o.name == key; });
    if (spec == specs.end()) {
      std::vector<std::string> option_names;
      for (const auto& o : specs) option_names.push_back(o.name);
      const std::string hint = did_you_mean(key, candidates);
      r.error(r.where(k, v),
              "unknown option '" + key + "' for plugin '" + pc.name + "'" +
                  (hint.empty()
                       ? " (its options: " + (option_names.empty() ? std::string("none") : join(option_names)) + ")"
                       : hint));
      continue;
    }
    r.locate(prefix + key, v);
    auto value = typed_value(v, spec->type);
    if (!value) {
      r.error(r.where(v), prefix + key + ": expected " + option_type_name(spec->type) + ", got " + type_name(v));
    } else if (auto bad = check_option(*spec, *value)) {
      report_violation(r, pc.name, *spec, v, *bad);  // the default stays: nothing is reported twice
    } else {
      values[key] = std::move(*value);
    }
  }
  pc.options = Options(std::move(values));
  out.push_back(std::move(pc));
}

void read_plugins(Reader& r, const toml::node& node, const PluginCatalog& catalog, std::vector<PluginConfig>& out) {
  const toml::array* arr = node.as_array();
  if (arr == nullptr || !arr->is_array_of_tables()) {
    r.error(r.where(node), "'plugin' must be an array of tables: write each plugin as a [[plugin]] table");
    return;
  }
  std::map<std::string, std::string> first_seen;
  for (const auto& el : *arr) read_plugin(r, *el.as_table(), catalog, out, first_seen);
}

// Applies "--set key=value" overrides to the parsed tree.
// TOML++ 3.3 may test a non-ASCII character for whitespace where it expects no string, which
// is undefined behaviour (toml_guard.h). toml_guard's lexer refuses such characters outside
// strings, but a text that is not valid TOML can have quotes that TOML++ does not take for a
// string (`v = 0.e="\u00e9"`, found by fuzz_config). So a text with non-ASCII bytes is first
// parsed with each of them replaced by an ASCII letter, and shown to TOML++ as it is only when
// that copy is valid TOML: its strings are then where the lexer saw them. Returns the copy's
// parse error, if any (same lines; columns count bytes).
std::optional<toml::parse_error> ascii_copy_error(std::string_view text, std::string_view source) {
  if (std::none_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    return std::nullopt;
  }
  std::string ascii(text);
  for (char& c : ascii) {
    if (static_cast<unsigned char>(c) >= 0x80) c = 'a';
  }
  try {
    (void)toml::parse(std::string_view(ascii), source);
  } catch (const toml::parse_error& e) {
    return e;
  }
  return std::nullopt;
}

void apply_overrides(Reader& r, toml::table& root, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const std::string origin = "--set " + o;
    const size_t eq = o.find('=');
    std::vector<std::string> parts;
    if (eq != std::string::npos) {
      std::string key = o.substr(0, eq);
      size_t start = 0;
      while (start <= key.size()) {
        size_t dot = key.find('.', start);
        if (dot == std::string::npos) dot = key.size();
        parts.push_back(key.substr(start, dot - start));
        start = dot + 1;
      }
    }
    if (eq == std::string::npos || parts.size() < 2 ||
        std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
      r.error(origin, "expected section.key=value (e.g. trainer.lr=0.01 or plugin.<name>.<option>=value)");
      continue;
    }
    // The value is TOML when it parses as such; otherwise a bare string (adam, cuda:0).
    // TOML++ is not shown what its pre-scan refuses (toml_guard.h): such a value is a string.
    const std::string doc = "v = " + o.substr(eq + 1);
    toml::table holder;
    bool parsed = false;
    if (detail::toml_guard(doc).message.empty() && !ascii_copy_error(doc, "--set")) {
      try {
        holder = toml::parse(std::string_view(doc), std::string_view("--set"));
        parsed = true;
      } catch (const toml::parse_error&) {
      }
    }
    if (!parsed) {
      holder = toml::table{};
      holder.insert_or_assign("v", o.substr(eq + 1));
    }
    toml::node& value = *holder.get("v");

    toml::table* dest = &root;
    if (parts[0] == "plugin") {
      if (parts.size() != 3) {
        r.error(origin, "plugin overrides are plugin.<name>.<option>=value");
        continue;
      }
      toml::node* list_node = root.get("plugin");
      if (list_node == nullptr) {
        root.insert_or_assign("plugin", toml::array{});
        list_node = root.get("plugin");
      }
      toml::array* list = list_node->as_array();
      // An empty array (just made above) is no array of tables for TOML++ yet.
      if (list == nullptr || (!list->empty() && !list->is_array_of_tables())) {
        r.error(origin, "'plugin' is not an array of [[plugin]] tables");
        continue;
      }
      dest = nullptr;
      for (auto& el : *list) {
        const toml::node* n = el.as_table()->get("name");
        if (n && n->as_string() && n->as_string()->get() == parts[1]) dest = el.as_table();
      }
      if (dest == nullptr) {  // a plugin enabled from the command line
        list->push_back(toml::table{{"name", parts[1]}});
        dest = list->back().as_table();
        r.origins[dest] = origin;
        r.origins[dest->get("name")] = origin;
      }
      parts.erase(parts.begin(), parts.begin() + 2);
    } else {
      bool ok = true;
      for (size_t i = 0; ok && i + 1 < parts.size(); ++i) {
        toml::node* next = dest->get(parts[i]);
        if (next == nullptr) {
          dest->insert_or_assign(parts[i], toml::table{});
          next = dest->get(parts[i]);
          r.origins[next] = origin;
        }
        if (!next->is_table()) {
          r.error(origin, "'" + parts[i] + "' is not a table");
          ok = false;
        } else {
          dest = next->as_table();
        }
      }
      if (!ok) continue;
      parts.erase(parts.begin(), parts.end() - 1);
    }
    value.visit([&](auto& v) { dest->insert_or_assign(parts[0], v); });
    toml::node* placed = dest->get(parts[0]);
    r.origins[placed] = origin;
    if (auto* arr = placed->as_array()) {
      for (auto& el : *arr) r.origins[&el] = origin;
    }
  }
}

// Parses `text`; on a syntax error adds the problem and returns nullopt.
std::optional<toml::table> parse_toml(Reader& r, std::string_view text) {
  if (const auto guard = detail::toml_guard(text); !guard.message.empty()) {
    r.error(r.source + ":" + std::to_string(guard.line) + ":" + std::to_string(guard.column),
            "TOML syntax error: " + guard.message);
    return std::nullopt;
  }
  if (auto e = ascii_copy_error(text, r.source)) {
    r.error(r.at(e->source()), "TOML syntax error: " + std::string(e->description()));
    return std::nullopt;
  }
  try {
    return toml::parse(text, r.source);
  } catch (const toml::parse_error& e) {
    r.error(r.at(e.source()), "TOML syntax error: " + std::string(e.description()));
    return std::nullopt;
  }
}

// [sweep] is read by `trainscope sweep` (sweep_config.cpp); run and validate leave it to that.
const std::vector<std::string> kTopLevel = {"run",     "trainer", "data",           "model",
                                            "hparams", "plugin",  "custom_scalars", "sweep"};

// Reads the sections of a parsed (and overridden) tree into `config`; problems go to `r`.
void read_tree(Reader& r, const toml::table& root, const PluginCatalog& catalog, RunConfig& config) {
  auto section = [&](const char* name, auto&& fn) {
    const toml::node* n = root.get(name);
    if (n == nullptr) return;
    if (const toml::table* t = n->as_table())
      fn(*t);
    else
      r.error(r.where(*n), std::string("'") + name + "' must be a table ([" + name + "]), got " + type_name(*n));
  };
  section("run", [&](const toml::table& t) { read_run(r, t, config.run); });
  section("trainer", [&](const toml::table& t) { read_trainer(r, t, config.trainer); });
  section("data", [&](const toml::table& t) { read_data(r, t, config.data); });
  section("model", [&](const toml::table& t) { read_model(r, t, config.model); });
  section("hparams", [&](const toml::table& t) { read_hparams(r, t, config.hparams); });
  if (const toml::node* n = root.get("plugin")) read_plugins(r, *n, catalog, config.plugins);
  if (const toml::node* n = root.get("custom_scalars")) read_custom_scalars(r, *n, config.custom_scalars);
  for (auto&& [k, v] : root) {
    const std::string key(k.str());
    if (std::find(kTopLevel.begin(), kTopLevel.end(), key) != kTopLevel.end()) continue;
    const std::string hint = did_you_mean(key, kTopLevel);
    r.error(r.where(k, v),
            "unknown " + std::string(v.is_table() ? "table" : "key") + " '" + key + "'" +
                (hint.empty() ? " (valid: [run], [trainer], [data], [model], [hparams], [[plugin]], [[custom_scalars]])"
                              : hint));
  }
}

// A configuration is a regular file of at most kMaxConfigBytes on an ordinary file system:
// a directory, FIFO, device or socket, or a file of /proc or /sys (whose sizes are not their
// contents: /proc/self/mem reads as nothing, /dev/zero never ends) is refused, naming why.
constexpr size_t kMaxConfigBytes = size_t{16} << 20;

bool read_file(const std::string& path, std::string& out, std::string& error) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    error = path + ": cannot read: " + std::strerror(errno);
    return false;
  }
  const char* kind = nullptr;
  if (S_ISDIR(st.st_mode))
    kind = "a directory";
  else if (S_ISFIFO(st.st_mode))
    kind = "a FIFO (named pipe)";
  else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
    kind = "a device";
  else if (S_ISSOCK(st.st_mode))
    kind = "a socket";
  else if (!S_ISREG(st.st_mode))
    kind = "not a regular file";
  if (kind) {
    error = path + ": is " + std::string(kind) + ", not a configuration file: give the path of a .toml file";
    return false;
  }
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) == 0 && (fs.f_type == 0x9fa0 /* procfs */ || fs.f_type == 0x62656572 /* sysfs */)) {
    error = path + ": is a file of the kernel's " + std::string(fs.f_type == 0x9fa0 ? "/proc" : "/sys") +
            " file system, not a configuration file: give the path of a .toml file";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigBytes) {
    error = path + ": is " + std::to_string(st.st_size) + " bytes; a configuration file may have at most " +
            std::to_string(kMaxConfigBytes) + " (16 MiB)";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot read: " + std::strerror(errno);
    return false;
  }
  // Bounded: the file may grow between stat() and the read.
  out.assign(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  for (;;) {
    if (got == out.size()) out.resize(std::min(kMaxConfigBytes + 1, std::max<size_t>(out.size() * 2, 4096)));
    in.read(out.data() + got, static_cast<std::streamsize>(out.size() - got));
    got += static_cast<size_t>(in.gcount());
    if (in.bad()) {
      error = path + ": cannot read: " + std::strerror(errno);
      return false;
    }
    if (in.eof()) break;
    if (got > kMaxConfigBytes) {
      error = path + ": is more than " + std::to_string(kMaxConfigBytes) +
              " bytes (16 MiB), the most a configuration file may have";
      return false;
    }
  }
  out.resize(got);
  return true;
}

// ---- validate() ----

struct Checker {
  const RunConfig& config;
  std::vector<std::string> problems;

  std::string where(const std::string& key) const {
    auto it = config.locations.find(key);
    if (it != config.locations.end()) return it->second;
    return config.file.empty() ? std::string("config") : config.file;
  }
  void fail(const std::string& key, const std::string& message) {
    problems.push_back(where(key) + ": " + key + " " + message);
  }
  void at_least(const std::string& key, int64_t v, int64_t min) {
    if (v < min) fail(key, "must be >= " + std::to_string(min) + " (got " + std::to_string(v) + ")");
  }
  void at_least(const std::string& key, double v, double min) {
    if (!(v >= min)) fail(key, "must be >= " + format_double(min) + " (got " + format_double(v) + ")");
  }
  void positive(const std::string& key, double v) {
    if (!(v > 0)) fail(key, "must be > 0 (got " + format_double(v) + ")");
  }
  void one_of(const std::string& key, const std::string& v, const std::vector<std::string>& allowed, const char* what) {
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return;
    problems.push_back(where(key) + ": " + key + ": unknown " + what + " '" + v +
                       "' (expected one of: " + join(allowed) + ")" + did_you_mean(v, allowed));
  }
};

// The largest CUDA device index a build can address: torch's c10::DeviceIndex is an int8_t.
// Whether that device exists is known only where the run starts (trainer_parts.cpp).
constexpr int64_t kMaxCudaIndex = 127;

// "" when `d` is a device this build can name, else why not.
std::string device_problem(const std::string& d) {
  if (d == "auto" || d == "cpu" || d == "cuda") return std::string();
  const bool digits = d.rfind("cuda:", 0) == 0 && d.size() > 5 &&
                      std::all_of(d.begin() + 5, d.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return "unknown device '" + d + "' (expected auto, cpu, cuda or cuda:N)";
  const std::string n = d.substr(5);
  const size_t first = std::min(n.find_first_not_of('0'), n.size() - 1);
  if (n.size() - first > 3 || std::stoll(n.substr(first)) > kMaxCudaIndex)
    return "device index " + n + " in '" + d + "' is out of range: CUDA device indices are 0.." +
           std::to_string(kMaxCudaIndex) + " (and below the number of GPUs of the machine)";
  return std::string();
}

// `v` is finite: "trainer.lr must be a finite number (got inf)".
bool finite(Checker& c, const std::string& key, double v) {
  if (std::isfinite(v)) return true;
  c.fail(key, "must be a finite number (got " + format_double(v) + ")");
  return false;
}

// [trainer.scheduler] (a table), or the string form with [trainer] step_size and gamma.
void check_schedule_keys(Checker& c, const RunConfig& config) {
  const auto& t = config.trainer;
  const std::string prefix = "trainer.scheduler.";
  std::set<std::string> given;
  for (const auto& entry : config.locations) {
    if (entry.first.rfind(prefix, 0) == 0) given.insert(entry.first.substr(prefix.size()));
  }
  if (given.empty() && t.schedule.name == "none" && t.schedule.warmup == 0) {
    c.one_of("trainer.scheduler", t.scheduler, {"none", "step", "exponential", "cosine", "one_cycle", "plateau"},
             "scheduler");
    c.at_least("trainer.step_size", t.step_size, 1);
    if (finite(c, "trainer.gamma", t.gamma)) c.positive("trainer.gamma", t.gamma);
    return;
  }
  for (const auto& entry : check_schedule(t.schedule, given)) {
    const std::string key = prefix + entry.first;
    // A default that conflicts with another key: reported where the table is.
    const std::string at = c.where(config.locations.count(key) ? key : std::string("trainer.scheduler"));
    std::string hint;
    if (entry.first == "name")
      hint = did_you_mean(t.schedule.name, {"none", "step", "exponential", "cosine", "one_cycle", "plateau"});
    c.problems.push_back(at + ": " + key + " " + entry.second + hint);
  }
}

}  // namespace

// The values the trainer understands. Keep in sync with the trainer's factories.
std::vector<std::string> validate(const RunConfig& config) {
  Checker c{config, {}};
  const auto& run = config.run;
  if (run.name.empty()) c.fail("run.name", "must not be empty");
  if (run.log_dir.empty()) c.fail("run.log_dir", "must not be empty");
  for (auto& p : check_run_dir_templates(config)) c.problems.push_back(std::move(p));
  if (const std::string why = device_problem(run.device); !why.empty()) {
    const bool unknown = why.rfind("unknown", 0) == 0;
    c.problems.push_back(c.where("run.device") + ": run.device: " + why +
                         (unknown ? did_you_mean(run.device, {"auto", "cpu", "cuda", "cuda:0"}) : std::string()));
  }

  const auto& t = config.trainer;
  c.at_least("trainer.epochs", t.epochs, 1);
  c.at_least("trainer.batch_size", t.batch_size, 1);
  c.one_of("trainer.optimizer", t.optimizer, {"adam", "adamw", "sgd"}, "optimizer");
  if (finite(c, "trainer.lr", t.lr)) c.positive("trainer.lr", t.lr);
  if (finite(c, "trainer.momentum", t.momentum)) {
    c.at_least("trainer.momentum", t.momentum, 0.0);
    if (t.momentum > 1) c.fail("trainer.momentum", "must be <= 1 (got " + format_double(t.momentum) + ")");
  }
  if (finite(c, "trainer.weight_decay", t.weight_decay)) c.at_least("trainer.weight_decay", t.weight_decay, 0.0);
  check_schedule_keys(c, config);
  if (finite(c, "trainer.clip_grad_norm", t.clip_grad_norm))
    c.at_least("trainer.clip_grad_norm", t.clip_grad_norm, 0.0);
  c.one_of("trainer.precision", t.precision, {"fp32", "bf16", "fp16"}, "precision");
  c.at_least("trainer.log_every_n_steps", t.log_every_n_steps, 1);
  c.at_least("trainer.checkpoint_every_n_epochs", t.checkpoint_every_n_epochs, 0);
  c.at_least("trainer.max_steps", t.max_steps, 0);
  c.one_of("trainer.on_write_error", t.on_write_error, {"stop", "continue"}, "on_write_error");

  const auto& d = config.data;
  c.one_of("data.dataset", d.dataset, {"fashion_mnist", "mnist_idx", "cifar10", "synthetic"}, "dataset");
  c.at_least("data.train_limit", d.train_limit, 0);
  c.at_least("data.val_limit", d.val_limit, 0);
  c.at_least("data.synthetic_samples", d.synthetic_samples, 1);
  c.at_least("data.synthetic_classes", d.synthetic_classes, 2);
  if (!d.normalize_mean.empty() && !d.normalize_std.empty() && d.normalize_mean.size() != d.normalize_std.size()) {
    c.fail("data.normalize_std", "must have as many entries as data.normalize_mean (" +
                                     std::to_string(d.normalize_std.size()) + " vs " +
                                     std::to_string(d.normalize_mean.size()) + ")");
  }
  for (double m : d.normalize_mean) {
    if (!std::isfinite(m)) {
      c.fail("data.normalize_mean", "entries must be finite numbers (got " + format_double(m) + ")");
      break;
    }
  }
  for (double s : d.normalize_std) {
    if (!(s > 0) || !std::isfinite(s)) {
      c.fail("data.normalize_std", "entries must be finite numbers > 0 (got " + format_double(s) + ")");
      break;
    }
  }
  // A batch larger than the training set makes no step at all. The set's size is known here
  // for synthetic data and a train_limit; assemble_run checks it against the loaded data.
  int64_t known_size = d.train_limit > 0 ? d.train_limit : 0;
  if (d.dataset == "synthetic" && d.synthetic_samples > 0)
    known_size = known_size > 0 ? std::min(known_size, d.synthetic_samples) : d.synthetic_samples;
  if (known_size > 0 && t.batch_size > known_size) {
    c.fail("trainer.batch_size", "= " + std::to_string(t.batch_size) + " is larger than the training set (" +
                                     std::to_string(known_size) + " samples): no batch would be made; use at most " +
                                     std::to_string(known_size));
  }

  c.one_of("model.name", config.model.name, {"simple_cnn", "mlp", "resnet", "transformer_encoder"}, "model");
  if (const std::vector<OptionSpec>* specs = model_options(config.model.name)) {
    std::vector<std::string> names;
    for (const auto& spec : *specs) names.push_back(spec.name);
    for (const auto& entry : config.model.options) {
      // (no structured binding: clang 14, which builds the fuzz targets, cannot capture one)
      const std::string& key = entry.first;
      const OptionValue& value = entry.second;
      if (key == "torchscript") continue;  // any model (make_model checks it comes alone)
      auto spec = std::find_if(specs->begin(), specs->end(), [&](const OptionSpec& o) { return o.name == key; });
      if (spec == specs->end()) {
        c.problems.push_back(c.where("model." + key) + ": unknown key '" + key + "' in [model]: model '" +
                             config.model.name + "' takes " + join(names) + did_you_mean(key, names));
        continue;
      }
      OptionValue v = value;
      if (spec->type == OptionType::kDouble) {
        if (const auto* i = std::get_if<int64_t>(&v)) v = static_cast<double>(*i);
      }
      if (v.index() != spec->default_value.index()) {
        c.fail("model." + key, std::string("must be ") + option_type_name(spec->type));
      } else if (auto bad = check_option(*spec, v)) {
        c.problems.push_back(c.where("model." + key) + ": model." + key + " " + bad->message);
      }
    }
    if (auto bad = check_model_option_pairs(config.model.name, config.model.options)) {
      c.fail("model." + bad->key, bad->message);
    }
  }

  std::set<std::string> names;
  for (const auto& p : config.plugins) {
    const std::string prefix = "plugin." + p.name + ".";
    if (p.name.empty())
      c.problems.push_back((p.source.empty() ? c.where("") : p.source) + ": a plugin needs a name");
    else if (!names.insert(p.name).second)
      c.problems.push_back((p.source.empty() ? c.where(prefix + "name") : p.source) + ": plugin '" + p.name +
                           "' is configured twice");
    c.at_least(prefix + "every_n_steps", p.cadence.every_n_steps, 0);
    c.at_least(prefix + "every_n_epochs", p.cadence.every_n_epochs, 1);
    for (int64_t s : p.cadence.at_steps) {
      if (s < 1) {
        c.fail(prefix + "at_steps", "entries must be >= 1: steps are counted from 1 (got " + std::to_string(s) + ")");
        break;
      }
    }
    if (!p.cadence.train && !p.cadence.validation) c.fail(prefix + "phases", "must include train or validation");
  }
  return c.problems;
}

// ---- ConfigFile: one read, one parse ----

struct ConfigFile::State {
  std::string source;                                // the name in messages (the path for a file)
  std::string text;                                  // empty when the file could not be read
  std::string read_error;                            // "<path>: cannot read: ..." (then nothing was parsed)
  std::vector<std::string> overrides;                // applied to `root`, in order
  std::optional<toml::table> root;                   // nullopt: unreadable, or a TOML syntax error
  std::vector<std::string> problems;                 // the syntax error, or the overrides' problems
  std::map<const toml::node*, std::string> origins;  // nodes of `root` set by an override
  std::vector<std::string> plugin_path;              // run.plugin_path, resolved
};

namespace {

std::shared_ptr<const ConfigFile::State> make_state(std::string source, std::string text, std::string read_error,
                                                    std::vector<std::string> overrides) {
  auto s = std::make_shared<ConfigFile::State>();
  s->source = std::move(source);
  s->text = std::move(text);
  s->read_error = std::move(read_error);
  s->overrides = std::move(overrides);
  if (!s->read_error.empty()) {
    s->problems.push_back(s->read_error);
    return s;
  }
  RunConfig scratch;
  Reader r;
  r.source = s->source;
  r.config = &scratch;
  s->root = parse_toml(r, s->text);
  if (s->root) apply_overrides(r, *s->root, s->overrides);
  s->problems = std::move(r.problems);
  s->origins = std::move(r.origins);
  // run.plugin_path now: it says where the plugins that the rest is checked against live. A
  // problem with it is reported by read(), with every other one, so this reader's are dropped.
  if (s->root) {
    if (const toml::table* run = (*s->root)["run"].as_table()) {
      Reader quiet;
      quiet.source = s->source;
      quiet.config = &scratch;
      Section(quiet, *run, "run.").read("plugin_path", s->plugin_path);
    }
  }
  for (auto& dir : s->plugin_path) dir = resolve_dir(dir, s->source);
  return s;
}

}  // namespace

ConfigFile::ConfigFile(std::shared_ptr<const State> state) : state_(std::move(state)) {}

ConfigFile ConfigFile::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::string text, error;
  read_file(path, text, error);
  return ConfigFile(make_state(path, std::move(text), std::move(error), overrides));
}

ConfigFile ConfigFile::from_text(std::string text, std::string source_name, const std::vector<std::string>& overrides) {
  return ConfigFile(make_state(std::move(source_name), std::move(text), std::string(), overrides));
}

ConfigFile ConfigFile::with_overrides(const std::vector<std::string>& more) const {
  std::vector<std::string> all = state_->overrides;
  all.insert(all.end(), more.begin(), more.end());
  return ConfigFile(make_state(state_->source, state_->text, state_->read_error, std::move(all)));
}

const std::string& ConfigFile::source_name() const { return state_->source; }

const std::vector<std::string>& ConfigFile::plugin_path() const { return state_->plugin_path; }

RunConfig ConfigFile::read(const PluginCatalog& catalog) const {
  const State& s = *state_;
  if (!s.root) throw ConfigError(s.problems);
  RunConfig config;
  config.file = s.source;
  config.text = s.text;
  Reader r;
  r.source = s.source;
  r.config = &config;
  r.problems = s.problems;
  r.origins = s.origins;
  read_tree(r, *s.root, catalog, config);
  // Enum and range checks. A value of the wrong type was reported above and left at its
  // (valid) default, so nothing is reported twice.
  for (auto& p : validate(config)) r.problems.push_back(std::move(p));
  if (!r.problems.empty()) throw ConfigError(std::move(r.problems));
  expand_run_dir_templates(config);  // valid (checked above): {timestamp}, {host}, ... filled in
  return config;
}

RunConfig parse_config(std::string_view text, const std::string& source_name, const PluginCatalog& catalog,
                       const std::vector<std::string>& overrides) {
  return ConfigFile::from_text(std::string(text), source_name, overrides).read(catalog);
}

RunConfig load_config(const std::string& path, const PluginCatalog& catalog,
                      const std::vector<std::string>& overrides) {
  return ConfigFile::load(path, overrides).read(catalog);
}

}  // namespace trainscope
