// Drives trainscope::sweep's samplers and pruners from Python (the Optuna conformance test and
// bench/sweep_samplers.py): one JSON request per line on stdin, one JSON answer per line on
// stdout. Parameter values travel as external values (floats, ints, choices).
//   {"op":"study","direction":"minimize","space":[...],"sampler":{...},"pruner":{...}}
//       start a study in memory (space entries: {"name","type":"float"|"int"|"categorical",
//       "low","high","log","step","choices"})
//   {"op":"ask"} -> {"number","params"} (null params when the sampler has nothing left)
//   {"op":"tell","number","state":"COMPLETE"|"PRUNED"|"FAIL","value"}
//   {"op":"report","number","step","value"} -> {"prune": bool} (records the pruner's attrs)
//   {"op":"prune","trials":[...],"trial":{...}} -> {"prune","attrs"} (the study's pruner on a
//       given history; trials: {"number","state","value","params","intermediate_values":
//       {"step": value},"system_attrs":{key: json}})
//   {"op":"sample","trials":[...],"number"} -> {"params","system_attrs"} on a given history
//   {"op":"acquisition","trials":[...],"number","points":[{name: value}]} -> {"values"}: TPE's
//       log l(x) - log g(x) with one joint estimator over the space (null: not finite)
//   {"op":"time_ask","trials":[...],"repeat"} -> {"seconds": [...]}: sample() for trial
//       number len(trials) after the given history, timed (steady_clock) `repeat` times
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "../../core/sweep/src/samplers.h"  // detail::tpe_acquisition (test hook)
#include "trainscope/sweep/pruner.h"
#include "trainscope/sweep/sampler.h"

namespace ts = trainscope::sweep;
using nlohmann::json;

namespace {

ts::Choice to_choice(const json& j) {
  if (j.is_null()) return std::monostate{};
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return j.get<double>();
  return j.get<std::string>();
}

json from_choice(const ts::Choice& c) {
  return std::visit(
      [](const auto& v) -> json {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::monostate>) {
          return nullptr;
        } else {
          return v;
        }
      },
      c);
}

ts::SearchSpace parse_space(const json& j) {
  ts::SearchSpace space;
  for (const json& p : j) {
    const std::string type = p.at("type");
    ts::Distribution d;
    if (type == "float") {
      ts::FloatDistribution f{p.at("low"), p.at("high"), p.value("log", false), std::nullopt};
      if (p.contains("step") && !p["step"].is_null()) f.step = p["step"].get<double>();
      d = f;
    } else if (type == "int") {
      d = ts::IntDistribution{p.at("low"), p.at("high"), p.value("log", false), p.value("step", int64_t{1})};
    } else {
      ts::CategoricalDistribution c;
      for (const json& v : p.at("choices")) c.choices.push_back(to_choice(v));
      d = c;
    }
    space.push_back({p.at("name"), d});
  }
  return space;
}

ts::TrialState parse_state(const std::string& s) {
  if (s == "COMPLETE") return ts::TrialState::kComplete;
  if (s == "PRUNED") return ts::TrialState::kPruned;
  if (s == "FAIL") return ts::TrialState::kFail;
  if (s == "WAITING") return ts::TrialState::kWaiting;
  return ts::TrialState::kRunning;
}

double number_of(const json& j) {
  if (j.is_string()) {  // Python's json.dumps(float("nan")) etc. arrive quoted from the tests
    const std::string s = j;
    if (s == "NaN") return NAN;
    if (s == "Infinity") return INFINITY;
    if (s == "-Infinity") return -INFINITY;
  }
  return j.get<double>();
}

json external_json(const ts::Distribution& d, double internal) {
  const ts::ParamValue v = ts::to_external(d, internal);
  if (const auto* x = std::get_if<double>(&v)) return *x;
  if (const auto* n = std::get_if<int64_t>(&v)) return *n;
  return from_choice(std::get<ts::Choice>(v));
}

ts::ParamValue param_value(const ts::Distribution& d, const json& j) {
  if (std::holds_alternative<ts::CategoricalDistribution>(d)) return to_choice(j);
  if (std::holds_alternative<ts::IntDistribution>(d)) return j.get<int64_t>();
  return j.get<double>();
}

ts::Trial parse_trial(const json& j, const ts::SearchSpace& space) {
  ts::Trial t;
  t.number = j.at("number");
  t.trial_id = j.value("trial_id", t.number);
  t.state = parse_state(j.value("state", "RUNNING"));
  if (j.contains("value") && !j["value"].is_null()) t.value = number_of(j["value"]);
  if (j.contains("params")) {
    for (const auto& [name, v] : j["params"].items()) {
      const auto p = std::find_if(space.begin(), space.end(), [&](const ts::Parameter& q) { return q.name == name; });
      if (p == space.end()) throw std::invalid_argument("trial parameter not in the space: " + name);
      t.params[name] = ts::to_internal(p->distribution, param_value(p->distribution, v));
      t.distributions[name] = p->distribution;
    }
  }
  if (j.contains("intermediate_values")) {
    for (const auto& [step, v] : j["intermediate_values"].items())
      t.intermediate_values[std::stoll(step)] = number_of(v);
  }
  if (j.contains("system_attrs")) {
    for (const auto& [key, v] : j["system_attrs"].items()) t.system_attrs[key] = v.dump();
  }
  return t;
}

std::vector<ts::Trial> parse_trials(const json& j, const ts::SearchSpace& space) {
  std::vector<ts::Trial> trials;
  for (const json& t : j) trials.push_back(parse_trial(t, space));
  return trials;
}

json sample_json(const std::optional<ts::NewTrial>& nt) {
  json out;
  if (!nt) {
    out["params"] = nullptr;
    return out;
  }
  out["params"] = json::object();
  for (const auto& [name, v] : nt->params) out["params"][name] = external_json(nt->distributions.at(name), v);
  out["system_attrs"] = json::object();
  for (const auto& [key, v] : nt->system_attrs) out["system_attrs"][key] = json::parse(v);
  return out;
}

struct Study {
  ts::Direction direction = ts::Direction::kMinimize;
  ts::SearchSpace space;
  ts::SamplerOptions sampler_options;
  std::unique_ptr<ts::Sampler> sampler;
  std::unique_ptr<ts::Pruner> pruner;
  std::vector<ts::Trial> trials;
};

json handle(Study& study, const json& req) {
  const std::string op = req.at("op");
  if (op == "study") {
    study = Study{};
    study.direction =
        req.value("direction", "minimize") == "maximize" ? ts::Direction::kMaximize : ts::Direction::kMinimize;
    study.space = parse_space(req.value("space", json::array()));
    ts::SamplerOptions so;
    const json s = req.value("sampler", json::object());
    so.kind = s.value("kind", "tpe");
    if (s.contains("seed")) so.seed = s["seed"].get<uint64_t>();
    so.n_startup_trials = s.value("n_startup_trials", so.n_startup_trials);
    so.n_ei_candidates = s.value("n_ei_candidates", so.n_ei_candidates);
    so.constant_liar = s.value("constant_liar", so.constant_liar);
    so.multivariate = s.value("multivariate", so.multivariate);
    study.sampler_options = so;
    study.sampler = ts::make_sampler(so);
    ts::PrunerOptions po;
    const json p = req.value("pruner", json::object());
    po.kind = p.value("kind", "none");
    po.n_startup_trials = p.value("n_startup_trials", po.n_startup_trials);
    po.n_warmup_steps = p.value("n_warmup_steps", po.n_warmup_steps);
    po.interval_steps = p.value("interval_steps", po.interval_steps);
    po.n_min_trials = p.value("n_min_trials", po.n_min_trials);
    po.min_resource = p.value("min_resource", po.min_resource);
    po.reduction_factor = p.value("reduction_factor", po.reduction_factor);
    po.min_early_stopping_rate = p.value("min_early_stopping_rate", po.min_early_stopping_rate);
    study.pruner = ts::make_pruner(po);
    json out = {{"ok", true}};
    if (const auto n = study.sampler->size(study.space)) out["size"] = *n;
    return out;
  }
  if (op == "ask") {
    const auto number = static_cast<int64_t>(study.trials.size());
    const auto nt = study.sampler->sample(study.trials, study.space, study.direction, number);
    json out = sample_json(nt);
    out["number"] = number;
    if (nt) {
      ts::Trial t;
      t.number = t.trial_id = number;
      t.params = nt->params;
      t.distributions = nt->distributions;
      t.system_attrs = nt->system_attrs;
      study.trials.push_back(std::move(t));
    }
    return out;
  }
  if (op == "tell") {
    ts::Trial& t = study.trials.at(req.at("number").get<size_t>());
    t.state = parse_state(req.value("state", "COMPLETE"));
    if (req.contains("value") && !req["value"].is_null()) t.value = number_of(req["value"]);
    return {{"ok", true}};
  }
  if (op == "report") {
    ts::Trial& t = study.trials.at(req.at("number").get<size_t>());
    t.intermediate_values[req.at("step").get<int64_t>()] = number_of(req.at("value"));
    ts::PrunerAttrs attrs;
    const bool prune = study.pruner->prune(study.trials, t, study.direction, &attrs);
    for (const auto& [k, v] : attrs) t.system_attrs[k] = v;
    return {{"prune", prune}};
  }
  if (op == "prune") {
    const auto trials = parse_trials(req.at("trials"), study.space);
    const ts::Trial trial = parse_trial(req.at("trial"), study.space);
    ts::PrunerAttrs attrs;
    const bool prune = study.pruner->prune(trials, trial, study.direction, &attrs);
    json recorded = json::object();
    for (const auto& [k, v] : attrs)
      recorded[k] = json::parse(v == "Infinity" || v == "-Infinity" || v == "NaN" ? "null" : v);
    return {{"prune", prune}, {"attrs", recorded}};
  }
  if (op == "sample") {
    const auto trials = parse_trials(req.at("trials"), study.space);
    const int64_t number = req.value("number", static_cast<int64_t>(trials.size()));
    return sample_json(study.sampler->sample(trials, study.space, study.direction, number));
  }
  if (op == "acquisition") {
    const auto trials = parse_trials(req.at("trials"), study.space);
    const int64_t number = req.value("number", static_cast<int64_t>(trials.size()));
    std::vector<std::vector<double>> points;
    for (const json& p : req.at("points")) {
      std::vector<double> point;
      for (const ts::Parameter& q : study.space) {
        point.push_back(ts::to_internal(q.distribution, param_value(q.distribution, p.at(q.name))));
      }
      points.push_back(point);
    }
    json values = json::array();
    for (double v :
         ts::detail::tpe_acquisition(trials, study.space, study.direction, number, study.sampler_options, points)) {
      values.push_back(std::isfinite(v) ? json(v) : json(nullptr));
    }
    return {{"values", values}};
  }
  if (op == "time_ask") {
    const auto trials = parse_trials(req.at("trials"), study.space);
    const auto number = static_cast<int64_t>(trials.size());
    json seconds = json::array();
    for (int r = 0; r < req.value("repeat", 5); ++r) {
      const auto start = std::chrono::steady_clock::now();
      const auto nt = study.sampler->sample(trials, study.space, study.direction, number);
      const auto stop = std::chrono::steady_clock::now();
      if (!nt) throw std::runtime_error("nothing sampled");
      seconds.push_back(std::chrono::duration<double>(stop - start).count());
    }
    return {{"seconds", seconds}};
  }
  throw std::invalid_argument("unknown op " + op);
}

}  // namespace

int main() {
  Study study;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json out;
    try {
      out = handle(study, json::parse(line));
    } catch (const std::exception& e) {
      out = {{"error", e.what()}};
    }
    std::cout << out.dump() << '\n' << std::flush;
  }
  return 0;
}
