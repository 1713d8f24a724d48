// TPE's density model: a weighted mixture of product kernels over the parameters, one kernel
// per observation plus a prior kernel (Optuna's _ParzenEstimator). Numerical parameters get
// truncated normal kernels in the (log-)transformed space, discretised for int and stepped
// float parameters; categorical parameters get categorical kernels mixed with the prior.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "random_stream.h"
#include "trainscope/sweep/types.h"

namespace trainscope::sweep::detail {

struct ParzenOptions {
  double prior_weight = 1.0;
  bool consider_magic_clip = true;
  bool consider_endpoints = false;
};

// Optuna's default_weights(n): 1 for the latest 25 observations, a linear ramp from 1/n
// towards 1 for the older ones (oldest first).
std::vector<double> default_weights(size_t n);

class ParzenEstimator {
 public:
  // observations[d][i]: observation i of parameter d (internal representation), oldest first;
  // every parameter has the same number of observations.
  ParzenEstimator(const std::vector<std::vector<double>>& observations, const std::vector<Distribution>& distributions,
                  const ParzenOptions& options);

  // n points drawn from the mixture; point[d] is parameter d's internal value.
  std::vector<std::vector<double>> sample(RandomStream& rng, size_t n) const;
  // The log density (log probability for discrete parameters) of each point.
  std::vector<double> log_pdf(const std::vector<std::vector<double>>& points) const;

 private:
  struct Dimension {
    bool categorical = false;
    // numerical: kernels in the transformed space
    std::vector<double> mu, sigma, log_mass, log_sigma;
    // stepped: the distinct (mu, sigma) pairs (few: the observations sit on the grid) and
    // each kernel's pair, so that a cell's mass is computed once per pair
    std::vector<double> pair_mu, pair_sigma, pair_log_mass;
    std::vector<uint32_t> pair_of_kernel;
    double low = 0, high = 0;                  // the distribution's bounds
    double adapted_low = 0, adapted_high = 0;  // transformed, widened by half a step
    double step = 0;                           // 0: continuous
    bool log = false;
    // categorical: n_kernels x n_choices probabilities, row-major
    size_t n_choices = 0;
    std::vector<double> log_probabilities;
  };
  Dimension numerical(const std::vector<double>& observed, const Distribution& distribution,
                      const ParzenOptions& options) const;
  Dimension categorical(const std::vector<double>& observed, size_t n_choices, const ParzenOptions& options) const;
  double sample_dimension(const Dimension& dim, size_t kernel, RandomStream& rng) const;

  std::vector<double> log_weights_;
  std::vector<double> cumulative_weights_;
  std::vector<Dimension> dims_;
};

}  // namespace trainscope::sweep::detail
