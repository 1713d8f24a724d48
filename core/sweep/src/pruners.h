// Internal: the pruner implementations behind make_pruner.
#pragma once

#include <memory>

#include "trainscope/sweep/pruner.h"

namespace trainscope::sweep::detail {

// Optuna's PercentilePruner (MedianPruner: percentile 50).
std::unique_ptr<Pruner> make_percentile_pruner(double percentile, const PrunerOptions& options);
// Optuna's asynchronous SuccessiveHalvingPruner (bootstrap_count 0).
std::unique_ptr<Pruner> make_successive_halving_pruner(const PrunerOptions& options);

}  // namespace trainscope::sweep::detail
