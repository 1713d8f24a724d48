// A study in TensorBoard's HParams dashboard (sweep_run.h): the experiment record in the study
// dir, one session per trial in its run dir. Written with the SDK's HParams encoders
// (dashboards/hparams.cpp) through an EventWriter of their own, after the trial's run has
// closed its files: a second event file in the run dir, which TensorBoard reads with the first.
//
// Why not SummaryWriter::hparams_start at fit_begin: a session's hparams are fixed by its start
// record, and the trial's state (an hparam here, so the table can show and filter it) is known
// only at its end; and a trial that fails before its run exists still gets its session.
#include <cmath>
#include <filesystem>

#include "trainscope/event_writer.h"
#include "trainscope/hparams.h"
#include "trainscope/sweep_run.h"
#include "trainscope/wire/dashboards/hparams.h"

namespace trainscope {

namespace {

HParamValue hparam_of(const sweep::ParamValue& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  const auto& c = std::get<sweep::Choice>(v);
  if (const auto* b = std::get_if<bool>(&c)) return *b;
  if (const auto* i = std::get_if<int64_t>(&c)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&c)) return *d;
  if (const auto* s = std::get_if<std::string>(&c)) return *s;
  return std::string("null");
}

void add_record(EventWriter& w, std::string_view tag, const std::string& content, double now) {
  w.add(tag, 0, RawEventData{RawEventData::Field::kSerializedSummary, detail::hparams_summary(tag, content)}, now);
}

void close_or_throw(EventWriter& w) {
  const WriteStatus status = w.close();
  if (!status.ok) throw std::runtime_error("writing " + w.log_dir() + " failed: " + status.message);
}

const char* kStateHParam = "trial_state";
const char* kTrialHParam = "trial";

}  // namespace

std::string trial_dir(const SweepSetup& setup, int64_t number) {
  return setup.study_dir + "/trial-" + std::to_string(number);
}

std::string objective_tag(const SweepConfig& sweep) { return "sweep/" + sweep.metric; }

void write_study_experiment(const SweepSetup& setup) {
  if (!setup.base.run.log) return;
  HParams hparams;
  HParamsOptions options;
  for (const auto& p : setup.sweep.params) {
    if (const auto* c = std::get_if<sweep::CategoricalDistribution>(&p.distribution)) {
      auto& domain = options.domain_discrete[p.name];
      for (const auto& choice : c->choices) domain.push_back(hparam_of(sweep::ParamValue{choice}));
      hparams[p.name] = domain.front();
    } else if (const auto* f = std::get_if<sweep::FloatDistribution>(&p.distribution)) {
      options.domain_interval[p.name] = {f->low, f->high};
      hparams[p.name] = f->low;
    } else {
      const auto& i = std::get<sweep::IntDistribution>(p.distribution);
      options.domain_interval[p.name] = {static_cast<double>(i.low), static_cast<double>(i.high)};
      hparams[p.name] = static_cast<double>(i.low);
    }
  }
  hparams[kTrialHParam] = 0.0;
  hparams[kStateHParam] = "COMPLETE";
  options.domain_discrete[kStateHParam] = {"COMPLETE", "PRUNED", "FAIL"};
  options.description = "trainscope sweep: study '" + setup.sweep.study + "', " + setup.sweep.sampler.kind +
                        " sampler, " + setup.sweep.pruner.kind + " pruner, " + sweep::to_string(setup.sweep.direction) +
                        " " + setup.sweep.metric + " (the value of the last validation)";
  const double now = EventWriter::now();
  EventWriter w(setup.study_dir);
  add_record(w, detail::kHParamsExperimentTag,
             detail::hparams_experiment_content(hparams, {objective_tag(setup.sweep), "sweep/epochs"}, options, now),
             now);
  close_or_throw(w);
}

void write_trial_session(const SweepSetup& setup, const sweep::Trial& trial, const TrialOutcome& outcome) {
  if (!setup.base.run.log) return;
  HParams hparams;
  for (const auto& p : setup.sweep.params) {
    auto it = trial.params.find(p.name);
    if (it != trial.params.end()) hparams[p.name] = hparam_of(sweep::to_external(p.distribution, it->second));
  }
  hparams[kTrialHParam] = static_cast<double>(trial.number);
  hparams[kStateHParam] = sweep::to_string(outcome.state);
  // TensorBoard's Status has UNKNOWN, SUCCESS, FAILURE and RUNNING only: a pruned trial ended
  // as the study decided (no error), so SUCCESS; trial_state tells it from a complete one.
  const SessionStatus status =
      outcome.state == sweep::TrialState::kFail ? SessionStatus::kFailure : SessionStatus::kSuccess;
  const double now = EventWriter::now();
  const double start = trial.datetime_start
                           ? std::chrono::duration<double>(trial.datetime_start->time_since_epoch()).count()
                           : now - outcome.seconds;
  EventWriter w(trial_dir(setup, trial.number));
  add_record(w, detail::kHParamsSessionStartTag, detail::hparams_session_start_content(hparams, "", start), start);
  w.add_scalar("sweep/epochs", static_cast<float>(outcome.epochs), outcome.epochs, now);
  add_record(w, detail::kHParamsSessionEndTag, detail::hparams_session_end_content(status, now), now);
  close_or_throw(w);
}

}  // namespace trainscope
