// Internal: the sampler implementations behind make_sampler and the helpers they share.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "random_stream.h"
#include "trainscope/sweep/sampler.h"

namespace trainscope::sweep::detail {

std::unique_ptr<Sampler> make_random_sampler(const SamplerOptions& options);
std::unique_ptr<Sampler> make_grid_sampler(const SamplerOptions& options);
std::unique_ptr<Sampler> make_tpe_sampler(const SamplerOptions& options);

// Throws std::invalid_argument naming the parameter when a distribution is malformed (empty
// or reversed range, log scale with low <= 0, log with a step, step <= 0, no choices) or a
// name repeats.
void check_space(const SearchSpace& space);

// True when the distribution has a single value (Optuna then skips the sampler).
bool is_single(const Distribution& distribution);
// The largest value on a float distribution's step grid (Optuna shortens high to it).
double float_grid_high(const FloatDistribution& distribution);

// A uniform draw (log-uniform for log scale, uniform over the step grid for int and stepped
// parameters, uniform over the choices), as an internal value: Optuna's RandomSampler.
double sample_uniformly(const Distribution& distribution, RandomStream& rng);

// The internal value of `trial`'s parameter `name` under `distribution`, converted through
// the external value when the trial recorded it under another distribution; nullopt when
// the trial has no such parameter or its value is not in `distribution`.
std::optional<double> observed_value(const Trial& trial, const std::string& name, const Distribution& distribution);

// What TPE's acquisition function, log l(x) - log g(x), gives each of `points` (internal
// values, one per parameter of `space`) for trial `number` after `history`: one joint
// estimator over `space` (the test tool compares it with Optuna's; independent sampling calls
// it with one parameter).
std::vector<double> tpe_acquisition(const std::vector<Trial>& history, const SearchSpace& space, Direction direction,
                                    int64_t number, const SamplerOptions& options,
                                    const std::vector<std::vector<double>>& points);

}  // namespace trainscope::sweep::detail
