// The worker loop of a study and what is shown about it (sweep_run.h). Torch-free.
#include <chrono>
#include <cstdio>

#include "trainscope/sweep_run.h"

namespace trainscope {

int64_t run_worker(const SweepSetup& setup, sweep::Storage& storage, sweep::Sampler& sampler, sweep::Pruner& pruner,
                   int64_t study_id, std::optional<std::chrono::system_clock::time_point> deadline) {
  int64_t ran = 0;
  const auto direction = setup.sweep.direction;
  for (;;) {
    if (deadline && std::chrono::system_clock::now() >= *deadline) break;
    // Under the storage's lock: count, sample and create, so that no two workers overshoot
    // n_trials or draw the same grid point.
    auto trial = storage.create_trial(study_id, [&](const std::vector<sweep::Trial>& history) {
      const StudySummary s = summarize(history, direction);
      std::optional<sweep::NewTrial> none;
      if (s.finished() + s.running >= setup.sweep.n_trials) return none;
      return sampler.sample(history, setup.sweep.params, direction, static_cast<int64_t>(history.size()));
    });
    if (!trial) break;
    run_trial(setup, storage, pruner, study_id, *trial);
    ++ran;
  }
  return ran;
}

StudySummary summarize(const std::vector<sweep::Trial>& trials, sweep::Direction direction) {
  StudySummary s;
  for (const auto& t : trials) {
    s.epochs += static_cast<int64_t>(t.intermediate_values.size());
    switch (t.state) {
      case sweep::TrialState::kComplete:
        ++s.complete;
        if (t.value && (!s.best || (direction == sweep::Direction::kMaximize ? *t.value > *s.best->value
                                                                             : *t.value < *s.best->value)))
          s.best = t;
        break;
      case sweep::TrialState::kPruned:
        ++s.pruned;
        break;
      case sweep::TrialState::kFail:
        ++s.failed;
        break;
      case sweep::TrialState::kRunning:
      case sweep::TrialState::kWaiting:
        ++s.running;
        break;
    }
  }
  return s;
}

namespace {

std::string short_value(const sweep::ParamValue& v) {
  char buf[32];
  if (const auto* d = std::get_if<double>(&v)) {
    std::snprintf(buf, sizeof buf, "%.4g", *d);
    return buf;
  }
  if (const auto* c = std::get_if<sweep::Choice>(&v)) {
    if (const auto* s = std::get_if<std::string>(c)) return *s;
    if (const auto* d = std::get_if<double>(c)) {
      std::snprintf(buf, sizeof buf, "%.4g", *d);
      return buf;
    }
  }
  return sweep::to_config_text(v);
}

}  // namespace

std::string table_header(const SweepConfig& sweep) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%6s  %-8s  %12s  %6s  %8s  %s", "trial", "state", sweep.metric.substr(0, 12).c_str(),
                "epochs", "time", "parameters");
  return buf;
}

std::string trial_row(const sweep::Trial& t, const sweep::SearchSpace& space) {
  std::optional<double> value = t.value;
  if (!value && !t.intermediate_values.empty()) value = t.intermediate_values.rbegin()->second;
  double seconds = 0;
  if (t.datetime_start) {
    const auto end = t.datetime_complete ? *t.datetime_complete : std::chrono::system_clock::now();
    seconds = std::chrono::duration<double>(end - *t.datetime_start).count();
  }
  std::string params;
  for (const auto& p : space) {
    auto it = t.params.find(p.name);
    if (it == t.params.end()) continue;
    std::string v(1, '?');  // a value outside the distribution (another program's trial)
    if (sweep::contains(p.distribution, it->second)) v = short_value(sweep::to_external(p.distribution, it->second));
    params += (params.empty() ? "" : " ") + p.name + "=" + v;
  }
  char value_text[32] = "-";
  if (value) std::snprintf(value_text, sizeof value_text, "%.6g", *value);
  char buf[128];
  std::snprintf(buf, sizeof buf, "%6lld  %-8s  %12s  %6zu  %7.1fs  ", static_cast<long long>(t.number),
                sweep::to_string(t.state), value_text, t.intermediate_values.size(), seconds);
  return buf + params;
}

}  // namespace trainscope
