// The [sweep] table of a run configuration: what `trainscope sweep` searches (docs/sweeps.md).
//
//   [sweep]
//   study = "fmnist_tpe"        metric = "val/accuracy"     direction = "maximize"
//   n_trials = 16               timeout = 1800              seed = 7
//   sampler = "tpe"             pruner = "median"           storage = "runs/x.journal"
//   [sweep.sampler_options]     [sweep.pruner_options]
//   [sweep.params]
//   "trainer.lr" = { type = "float", low = 1e-4, high = 1e-1, log = true }
//
// read_sweep() reads and checks the table itself (keys, types, ranges); check_sweep_params()
// then checks that every parameter sets a real configuration key with values of its type, by
// applying each value as `--set key=value` exactly as a trial will. Every problem is reported
// with file:line:column (ConfigError), before any trial starts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/config.h"
#include "trainscope/export.h"
#include "trainscope/run_config.h"
#include "trainscope/sweep/pruner.h"
#include "trainscope/sweep/sampler.h"
#include "trainscope/sweep/types.h"

namespace trainscope {

struct SweepConfig {
  std::string study;                // default: the configuration file's stem
  std::string metric = "val/loss";  // a ctx.metrics() key at validation end
  sweep::Direction direction = sweep::Direction::kMinimize;
  int64_t n_trials = 20;          // finished trials (COMPLETE, PRUNED, FAIL) in the study
  std::optional<double> timeout;  // seconds: no new trial starts after it
  std::optional<uint64_t> seed;
  sweep::SamplerOptions sampler;  // sampler.seed = seed
  sweep::PrunerOptions pruner;
  std::string storage;        // journal path or redis://...; default <log_dir>/<study>.journal
  sweep::SearchSpace params;  // in file order
  // "sweep.params.trainer.lr" -> "job.toml:14:1" (also sweep.<key> for the table's keys).
  std::map<std::string, std::string> locations;
};

// True when `config.text` has a [sweep] table (after `sweep_overrides`).
TRAINSCOPE_API bool has_sweep_table(const RunConfig& config);

// Reads the [sweep] table of `config.text` (named config.file in messages) with
// `sweep_overrides` ("sweep.n_trials=4", "sweep.pruner_options.n_startup_trials=0": the
// --set entries that start with "sweep.") applied. Defaults: study = stem of config.file,
// storage = <config.run.log_dir>/<study>.journal. Throws ConfigError with every problem.
TRAINSCOPE_API SweepConfig read_sweep(const RunConfig& config, const std::vector<std::string>& sweep_overrides = {});

// Problems (empty: none) of parameters that set no configuration key, a key the sweep itself
// owns (run.name, run.log_dir, sweep.*), an option of a plugin that `config` does not
// configure, or values the key refuses (wrong type, out of range): each value (every choice;
// low and high of a range) is applied to `file` as a trial applies it.
TRAINSCOPE_API std::vector<std::string> check_sweep_params(const SweepConfig& sweep, const ConfigFile& file,
                                                           const PluginCatalog& catalog, const RunConfig& config);

// The --set entries of a trial: "trainer.lr=0.01", ... (one per parameter, in space order).
TRAINSCOPE_API std::vector<std::string> trial_overrides(const sweep::SearchSpace& space,
                                                        const std::map<std::string, double>& params);

}  // namespace trainscope
