// Drives trainscope's Optuna journal storage for tests/conformance/test_optuna_journal.py:
//   sweep_journal_tool create URL STUDY minimize|maximize
//   sweep_journal_tool run-trials URL STUDY N [--leave-running]
//       N trials over a fixed space with a deterministic objective: each reports 4
//       intermediate values; the second one FAILs, every trial whose number % 3 == 2 is PRUNED
//       after 2 steps, the others COMPLETE; --leave-running adds one RUNNING trial.
//   sweep_journal_tool dump URL STUDY
//       JSON of every trial field as trainscope replayed it (params in external form,
//       distributions as Optuna's {"name", "attributes"}, datetimes in ISO 8601 UTC).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "trainscope/sweep/storage.h"

using namespace trainscope::sweep;
using nlohmann::json;

namespace {

const CategoricalDistribution kOpt{{std::string("adam"), std::string("sgd"), int64_t{3}, 0.5, true, std::monostate{}}};

// Deterministic, irrational-step points so that every trial differs.
double frac(double x) { return x - std::floor(x); }

NewTrial point(int64_t n) {
  NewTrial t;
  t.distributions["x"] = FloatDistribution{-5.0, 5.0, false, std::nullopt};
  t.distributions["lr"] = FloatDistribution{1e-4, 1e-1, true, std::nullopt};
  t.distributions["momentum"] = FloatDistribution{0.0, 0.9, false, 0.1};
  t.distributions["units"] = IntDistribution{16, 128, false, 16};
  t.distributions["layers"] = IntDistribution{1, 8, true, 1};
  t.distributions["opt"] = kOpt;
  const double d = static_cast<double>(n);
  t.params["x"] = -5.0 + 10.0 * frac(d * 0.6180339887498949);
  t.params["lr"] = std::pow(10.0, -4.0 + 3.0 * frac(d * 0.4142135623730951));
  t.params["momentum"] = 0.1 * static_cast<double>(n % 10);
  t.params["units"] = static_cast<double>(16 + 16 * (n % 8));
  t.params["layers"] = static_cast<double>(1 + n % 8);
  t.params["opt"] = static_cast<double>(n % 6);
  return t;
}

double objective(const Trial& t, int step) {
  const double x = t.params.at("x");
  const double lr = t.params.at("lr");
  return (x - 1.0) * (x - 1.0) + std::pow(std::log10(lr) + 2.5, 2) + t.params.at("units") / 128.0 +
         0.1 * t.params.at("opt") + 1.0 / (step + 1);
}

std::string iso(const std::optional<std::chrono::system_clock::time_point>& t) {
  if (!t) return "";
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t->time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us % 1000000));
  return buf;
}

json choice_json(const Choice& c) {
  if (std::holds_alternative<std::monostate>(c)) return nullptr;
  if (const auto* b = std::get_if<bool>(&c)) return *b;
  if (const auto* i = std::get_if<int64_t>(&c)) return *i;
  if (const auto* x = std::get_if<double>(&c)) return *x;
  return std::get<std::string>(c);
}

// Optuna's distribution_to_json layout, written independently of the storage's encoder.
json distribution_json(const Distribution& d) {
  if (const auto* f = std::get_if<FloatDistribution>(&d)) {
    return {{"name", "FloatDistribution"},
            {"attributes",
             {{"low", f->low}, {"high", f->high}, {"log", f->log}, {"step", f->step ? json(*f->step) : json()}}}};
  }
  if (const auto* i = std::get_if<IntDistribution>(&d)) {
    return {{"name", "IntDistribution"},
            {"attributes", {{"low", i->low}, {"high", i->high}, {"log", i->log}, {"step", i->step}}}};
  }
  json choices = json::array();
  for (const auto& c : std::get<CategoricalDistribution>(d).choices) choices.push_back(choice_json(c));
  return {{"name", "CategoricalDistribution"}, {"attributes", {{"choices", choices}}}};
}

json param_json(const Distribution& d, double internal) {
  const ParamValue v = to_external(d, internal);
  if (const auto* x = std::get_if<double>(&v)) return *x;
  if (const auto* n = std::get_if<int64_t>(&v)) return *n;
  return choice_json(std::get<Choice>(v));
}

// An attribute's JSON text; Python's bare NaN/Infinity tokens, which JSON lacks, as their text.
json attr_json(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    return text;
  }
}

json dump_trial(const Trial& t) {
  json j;
  j["number"] = t.number;
  j["trial_id"] = t.trial_id;
  j["state"] = to_string(t.state);
  j["value"] = t.value ? json(*t.value) : json();
  json params = json::object(), dists = json::object(), inter = json::object(), user = json::object(),
       sys = json::object();
  for (const auto& [k, v] : t.params) params[k] = param_json(t.distributions.at(k), v);
  for (const auto& [k, d] : t.distributions) dists[k] = distribution_json(d);
  for (const auto& [s, v] : t.intermediate_values) inter[std::to_string(s)] = v;
  for (const auto& [k, v] : t.user_attrs) user[k] = attr_json(v);
  for (const auto& [k, v] : t.system_attrs) sys[k] = attr_json(v);
  j["params"] = params;
  j["distributions"] = dists;
  j["intermediate_values"] = inter;
  j["user_attrs"] = user;
  j["system_attrs"] = sys;
  j["datetime_start"] = t.datetime_start ? json(iso(t.datetime_start)) : json();
  j["datetime_complete"] = t.datetime_complete ? json(iso(t.datetime_complete)) : json();
  return j;
}

int64_t study_id(Storage& s, const std::string& name) {
  const auto id = s.find_study(name);
  if (!id) throw StorageError("no study " + name + " in " + s.describe());
  return *id;
}

Trial start(Storage& s, int64_t study) {
  return *s.create_trial(study, [](const std::vector<Trial>& history) {
    return std::optional<NewTrial>(point(static_cast<int64_t>(history.size())));
  });
}

void run_trials(Storage& s, const std::string& name, int n, bool leave_running) {
  const int64_t study = study_id(s, name);
  for (int k = 0; k < n; ++k) {
    const Trial t = start(s, study);
    s.set_trial_user_attr(t.trial_id, "writer", "\"trainscope\"");
    std::optional<double> last;
    bool pruned = false;
    for (int step = 0; step < 4; ++step) {
      last = objective(t, step);
      s.set_intermediate_value(t.trial_id, step, *last);
      if (t.number % 3 == 2 && step == 1 && k != 1) {
        pruned = true;
        break;
      }
    }
    if (k == 1) {
      s.set_trial_system_attr(t.trial_id, "fail_reason", "\"objective raised\"");
      s.finish_trial(t.trial_id, TrialState::kFail, std::nullopt);
    } else if (pruned) {
      s.finish_trial(t.trial_id, TrialState::kPruned, last);
    } else {
      s.finish_trial(t.trial_id, TrialState::kComplete, last);
    }
  }
  if (leave_running) {
    const Trial t = start(s, study);
    s.set_intermediate_value(t.trial_id, 0, objective(t, 0));
  }
}

int usage() {
  std::cerr << "usage: sweep_journal_tool create URL STUDY minimize|maximize\n"
               "       sweep_journal_tool run-trials URL STUDY N [--leave-running]\n"
               "       sweep_journal_tool dump URL STUDY\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string cmd = argv[1];
  try {
    auto storage = open_storage(argv[2]);
    const std::string name = argv[3];
    if (cmd == "create" && argc == 5) {
      const std::string dir = argv[4];
      if (dir != "minimize" && dir != "maximize") return usage();
      std::cout << storage->create_or_load_study(name, dir == "minimize" ? Direction::kMinimize : Direction::kMaximize)
                << "\n";
    } else if (cmd == "run-trials" && (argc == 5 || argc == 6)) {
      const bool leave_running = argc == 6 && std::strcmp(argv[5], "--leave-running") == 0;
      if (argc == 6 && !leave_running) return usage();
      run_trials(*storage, name, std::stoi(argv[4]), leave_running);
    } else if (cmd == "dump" && argc == 4) {
      const int64_t study = study_id(*storage, name);
      json out = {{"study", name}, {"study_id", study}, {"direction", to_string(storage->direction(study))}};
      out["trials"] = json::array();
      for (const Trial& t : storage->trials(study)) out["trials"].push_back(dump_trial(t));
      std::cout << out.dump(1) << "\n";
    } else {
      return usage();
    }
  } catch (const std::exception& e) {
    std::cerr << "sweep_journal_tool: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
