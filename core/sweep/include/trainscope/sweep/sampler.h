// Samplers propose a new trial's parameters from the study's history: grid (every combination
// once, in any number of workers), random, and TPE (independent Tree-structured Parzen
// Estimator, Optuna's defaults). A seeded sampler is reproducible: the proposal depends only
// on (seed, trial number, history), never on which worker asks or on wall time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/sweep/storage.h"
#include "trainscope/sweep/types.h"

namespace trainscope::sweep {

struct SamplerOptions {
  std::string kind = "tpe";  // "grid" | "random" | "tpe"
  std::optional<uint64_t> seed;
  // TPE (Optuna's TPESampler defaults)
  int n_startup_trials = 10;
  int n_ei_candidates = 24;
  bool consider_endpoints = false;
  // Other workers' RUNNING trials count as "above" (bad) observations, as Optuna 5.0's
  // TPESampler(constant_liar=True) does by default: parallel workers spread out.
  bool constant_liar = true;
  // One joint estimator over all parameters (Optuna 5.0's default for one objective) instead
  // of one per parameter.
  bool multivariate = false;
  // grid: the values of a float/int parameter without choices are its step grid; a float
  // without step is refused for grid (say why).
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // Parameters for trial `number` given `history` (every trial so far, any state), or
  // std::nullopt when there is nothing left to try (grid exhausted). Throws
  // std::invalid_argument for a space the sampler cannot handle.
  virtual std::optional<NewTrial> sample(const std::vector<Trial>& history, const SearchSpace& space,
                                         Direction direction, int64_t number) = 0;
  // grid: number of points; others: std::nullopt.
  virtual std::optional<int64_t> size(const SearchSpace& /*space*/) const { return std::nullopt; }
};

std::unique_ptr<Sampler> make_sampler(const SamplerOptions& options);

}  // namespace trainscope::sweep
