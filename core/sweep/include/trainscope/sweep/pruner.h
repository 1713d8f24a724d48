// Pruners decide, after a trial reports an intermediate value, whether it should stop:
// none, median (Optuna's MedianPruner) and successive_halving (Optuna's asynchronous
// SuccessiveHalvingPruner).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainscope/sweep/types.h"

namespace trainscope::sweep {

struct PrunerOptions {
  std::string kind = "none";  // "none" | "median" | "successive_halving"
  // median (Optuna's MedianPruner defaults)
  int n_startup_trials = 5;
  int n_warmup_steps = 0;
  int interval_steps = 1;
  int n_min_trials = 1;
  // successive_halving (Optuna's SuccessiveHalvingPruner defaults; min_resource 0 = "auto")
  int64_t min_resource = 0;
  int reduction_factor = 4;
  int min_early_stopping_rate = 0;
};

// What a pruner wants recorded with the trial (successive halving's rung values), as
// (system attribute key, JSON value) pairs.
using PrunerAttrs = std::vector<std::pair<std::string, std::string>>;

class Pruner {
 public:
  virtual ~Pruner() = default;
  // `trial` has just reported its value at its latest step (its intermediate_values include
  // it); `history` is every trial of the study (it may include `trial` itself).
  virtual bool prune(const std::vector<Trial>& history, const Trial& trial, Direction direction,
                     PrunerAttrs* attrs_to_record) = 0;
};

std::unique_ptr<Pruner> make_pruner(const PrunerOptions& options);

}  // namespace trainscope::sweep
