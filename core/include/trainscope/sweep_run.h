// Running the trials of a study (`trainscope sweep`, docs/sweeps.md). A worker takes trials
// from the study through its Storage, one at a time, until the study has n_trials finished
// trials, the sampler has nothing left or the deadline passed; any number of workers (processes)
// share one study. A trial is one ordinary run (load_run + assemble_run) of the configuration
// with the trial's parameters as --set overrides, in <run.log_dir>/<study>/trial-<number>, with
// an in-process plugin that reports the metric after every validation and stops the run when
// the pruner says so.
//
// Outcome of a trial: COMPLETE with the metric of its LAST validation; PRUNED with the last
// value it reported; FAIL when it threw (the message is its "fail_reason" user attribute), when
// the metric is missing or not finite, or when it never validated.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/config.h"
#include "trainscope/export.h"
#include "trainscope/plugin_loader.h"
#include "trainscope/sweep/pruner.h"
#include "trainscope/sweep/sampler.h"
#include "trainscope/sweep/storage.h"
#include "trainscope/sweep/types.h"
#include "trainscope/sweep_config.h"

namespace trainscope {

// What every trial of one process shares.
struct SweepSetup {
  ConfigFile file = ConfigFile::from_text("", "");  // the configuration, with the user's --set
  std::shared_ptr<const PluginCatalog> catalog;
  RunConfig base;  // `file` read against `catalog`
  SweepConfig sweep;
  std::string study_dir;  // <run.log_dir>/<study>: the trials' log dirs and the HParams experiment
  // Test only (`trainscope sweep --worker --test-objective`): no training; the objective is a
  // fixed function of the parameters, reported for trainer.epochs steps (see sweep_trial.cpp).
  bool test_objective = false;
  std::FILE* progress = nullptr;  // the trials' trainer output (null: silent)
};

struct TrialOutcome {
  sweep::TrialState state = sweep::TrialState::kFail;
  std::optional<double> value;
  int64_t epochs = 0;   // validations reported (epochs trained, for an early stop too)
  std::string message;  // why it failed or was pruned
  double seconds = 0;
};

// Runs `trial` (created RUNNING in `storage`): reports its intermediate values (step = epoch),
// asks `pruner` after each, finishes it in the storage and writes its HParams session. The
// trial's own failures are its outcome, never an exception; a StorageError propagates.
TRAINSCOPE_API TrialOutcome run_trial(const SweepSetup& setup, sweep::Storage& storage, sweep::Pruner& pruner,
                                      int64_t study_id, const sweep::Trial& trial);

// The worker loop. Returns the number of trials this worker ran.
TRAINSCOPE_API int64_t run_worker(const SweepSetup& setup, sweep::Storage& storage, sweep::Sampler& sampler,
                                  sweep::Pruner& pruner, int64_t study_id,
                                  std::optional<std::chrono::system_clock::time_point> deadline);

// ---- TensorBoard (HParams dashboard) ----
// The experiment in <study_dir>: every parameter with its domain (interval for float and int,
// discrete for categorical), "trial" and "trial_state" (COMPLETE / PRUNED / FAIL), and the
// metrics "sweep/<metric>" and "sweep/epochs".
TRAINSCOPE_API void write_study_experiment(const SweepSetup& setup);
// One session in the trial's run dir: its parameters, trial, trial_state; status SUCCESS for
// COMPLETE and PRUNED, FAILURE for FAIL; the scalar sweep/epochs.
TRAINSCOPE_API void write_trial_session(const SweepSetup& setup, const sweep::Trial& trial,
                                        const TrialOutcome& outcome);
TRAINSCOPE_API std::string trial_dir(const SweepSetup& setup, int64_t number);  // <study_dir>/trial-<n>
TRAINSCOPE_API std::string objective_tag(const SweepConfig& sweep);             // "sweep/<metric>"

// ---- The study as a whole ----
struct StudySummary {
  int64_t complete = 0, pruned = 0, failed = 0, running = 0;
  int64_t epochs = 0;                // intermediate values reported by all trials (epochs trained)
  std::optional<sweep::Trial> best;  // best COMPLETE trial in `direction`
  int64_t finished() const { return complete + pruned + failed; }
};
TRAINSCOPE_API StudySummary summarize(const std::vector<sweep::Trial>& trials, sweep::Direction direction);
// One line per trial: number, state, last value, time, parameters (external values).
TRAINSCOPE_API std::string trial_row(const sweep::Trial& trial, const sweep::SearchSpace& space);
TRAINSCOPE_API std::string table_header(const SweepConfig& sweep);

}  // namespace trainscope
