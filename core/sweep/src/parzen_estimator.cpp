// The Parzen estimator of TPE: kernel placement (bandwidth from the distance to the
// neighbouring observations, "magic clip" lower bound, prior kernel over the whole range),
// sampling, and the mixture's log density.
#include "parzen_estimator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

#include "truncnorm.h"

namespace trainscope::sweep::detail {

namespace {

const double kLogSqrt2Pi = 0.5 * std::log(2.0 * M_PI);

double log_sum_exp(const std::vector<double>& v) {
  double m = -INFINITY;
  for (double x : v) m = std::max(m, x);
  if (m == -INFINITY) return -INFINITY;
  // Terms below e^-50 of the largest change the sum by less than 2e-22 each: skip their exp.
  double s = 0.0;
  for (double x : v) {
    if (x - m > -50.0) s += std::exp(x - m);
  }
  return m + std::log(s);
}

}  // namespace

std::vector<double> default_weights(size_t n) {
  if (n < 25) return std::vector<double>(n, 1.0);
  std::vector<double> w(n, 1.0);
  const size_t ramp = n - 25;
  const double start = 1.0 / static_cast<double>(n);
  for (size_t i = 0; i < ramp; ++i) {
    w[i] = ramp == 1 ? start : start + (1.0 - start) * static_cast<double>(i) / static_cast<double>(ramp - 1);
  }
  return w;
}

ParzenEstimator::ParzenEstimator(const std::vector<std::vector<double>>& observations,
                                 const std::vector<Distribution>& distributions, const ParzenOptions& options) {
  if (observations.size() != distributions.size()) throw std::logic_error("one observation list per parameter");
  const size_t n = observations.empty() ? 0 : observations.front().size();
  std::vector<double> weights;
  if (n == 0) {
    weights = {1.0};
  } else {
    weights = default_weights(n);
    weights.push_back(options.prior_weight);
  }
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  double running = 0.0;
  for (double w : weights) {
    log_weights_.push_back(std::log(w / total));
    running += w / total;
    cumulative_weights_.push_back(running);
  }
  cumulative_weights_.back() = 1.0;
  for (size_t d = 0; d < distributions.size(); ++d) {
    if (observations[d].size() != n) throw std::logic_error("every parameter needs the same observations");
    if (const auto* c = std::get_if<CategoricalDistribution>(&distributions[d])) {
      dims_.push_back(categorical(observations[d], c->choices.size(), options));
    } else {
      dims_.push_back(numerical(observations[d], distributions[d], options));
    }
  }
}

ParzenEstimator::Dimension ParzenEstimator::numerical(const std::vector<double>& observed,
                                                      const Distribution& distribution,
                                                      const ParzenOptions& options) const {
  Dimension dim;
  if (const auto* f = std::get_if<FloatDistribution>(&distribution)) {
    dim.low = f->low;
    dim.high = f->high;
    dim.log = f->log;
    dim.step = f->step.value_or(0.0);
  } else {
    const auto& i = std::get<IntDistribution>(distribution);
    dim.low = static_cast<double>(i.low);
    dim.high = static_cast<double>(i.high);
    dim.log = i.log;
    dim.step = static_cast<double>(i.step);
  }
  // A stepped range ends at its last grid point (Optuna shortens high the same way).
  if (dim.step > 0) dim.high = dim.low + std::floor((dim.high - dim.low) / dim.step + 1e-9) * dim.step;
  double low = dim.low - dim.step / 2;
  double high = dim.high + dim.step / 2;
  if (dim.log) {
    low = std::log(low);
    high = std::log(high);
  }
  dim.adapted_low = low;
  dim.adapted_high = high;

  const size_t n = observed.size();
  dim.mu.resize(n);
  for (size_t i = 0; i < n; ++i) dim.mu[i] = dim.log ? std::log(observed[i]) : observed[i];

  // Bandwidth: the larger gap to the neighbouring observations (the range's ends count as
  // neighbours), except that the outermost observations look inwards only unless endpoints are
  // considered; clipped to [range / min(100, 1 + kernels), range].
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return dim.mu[a] < dim.mu[b]; });
  std::vector<double> sorted(n + 2);
  sorted[0] = low;
  for (size_t i = 0; i < n; ++i) sorted[i + 1] = dim.mu[order[i]];
  sorted[n + 1] = high;
  std::vector<double> sorted_sigma(n);
  for (size_t i = 0; i < n; ++i) {
    sorted_sigma[i] = std::max(sorted[i + 1] - sorted[i], sorted[i + 2] - sorted[i + 1]);
  }
  if (!options.consider_endpoints && n >= 2) {
    sorted_sigma[0] = sorted[2] - sorted[1];
    sorted_sigma[n - 1] = sorted[n] - sorted[n - 1];
  }
  const double max_sigma = high - low;
  const double min_sigma =
      options.consider_magic_clip ? (high - low) / std::min(100.0, 1.0 + static_cast<double>(n + 1)) : 1e-12;
  dim.sigma.resize(n);
  for (size_t i = 0; i < n; ++i) dim.sigma[order[i]] = std::clamp(sorted_sigma[i], min_sigma, max_sigma);

  // The prior kernel: centred, as wide as the range.
  dim.mu.push_back(0.5 * (low + high));
  dim.sigma.push_back(high - low);
  if (dim.step > 0) {
    // Stepped: many kernels share (mu, sigma) since observations sit on the grid.
    std::map<std::pair<double, double>, uint32_t> pairs;
    for (size_t k = 0; k < dim.mu.size(); ++k) {
      const auto [it, added] = pairs.try_emplace({dim.mu[k], dim.sigma[k]}, static_cast<uint32_t>(pairs.size()));
      if (added) {
        dim.pair_mu.push_back(dim.mu[k]);
        dim.pair_sigma.push_back(dim.sigma[k]);
        dim.pair_log_mass.push_back(
            log_gauss_mass((low - dim.mu[k]) / dim.sigma[k], (high - dim.mu[k]) / dim.sigma[k]));
      }
      dim.pair_of_kernel.push_back(it->second);
    }
    return dim;
  }
  for (size_t k = 0; k < dim.mu.size(); ++k) {
    dim.log_sigma.push_back(std::log(dim.sigma[k]));
    dim.log_mass.push_back(log_gauss_mass((low - dim.mu[k]) / dim.sigma[k], (high - dim.mu[k]) / dim.sigma[k]));
  }
  return dim;
}

ParzenEstimator::Dimension ParzenEstimator::categorical(const std::vector<double>& observed, size_t n_choices,
                                                        const ParzenOptions& options) const {
  Dimension dim;
  dim.categorical = true;
  dim.n_choices = n_choices;
  if (observed.empty()) {
    dim.log_probabilities.assign(n_choices, -std::log(static_cast<double>(n_choices)));
    return dim;
  }
  // Kernel i puts its observation's choice above the prior's share; the last kernel is the
  // prior alone (uniform).
  const size_t kernels = observed.size() + 1;
  std::vector<double> p(kernels * n_choices, options.prior_weight / static_cast<double>(kernels));
  for (size_t i = 0; i < observed.size(); ++i) p[i * n_choices + static_cast<size_t>(observed[i])] += 1.0;
  dim.log_probabilities.resize(p.size());
  for (size_t k = 0; k < kernels; ++k) {
    const double* row = &p[k * n_choices];
    const double sum = std::accumulate(row, row + n_choices, 0.0);
    for (size_t c = 0; c < n_choices; ++c) {
      dim.log_probabilities[k * n_choices + c] = std::log(sum > 0 ? row[c] / sum : row[c]);
    }
  }
  return dim;
}

double ParzenEstimator::sample_dimension(const Dimension& dim, size_t kernel, RandomStream& rng) const {
  if (dim.categorical) {
    const double u = rng.uniform();
    const double* row = &dim.log_probabilities[kernel * dim.n_choices];
    double cumulative = 0.0;
    for (size_t c = 0; c + 1 < dim.n_choices; ++c) {
      cumulative += std::exp(row[c]);
      if (u < cumulative) return static_cast<double>(c);
    }
    return static_cast<double>(dim.n_choices - 1);
  }
  const double mu = dim.mu[kernel];
  const double sigma = dim.sigma[kernel];
  const double z = truncnorm_ppf(rng.uniform(), (dim.adapted_low - mu) / sigma, (dim.adapted_high - mu) / sigma);
  double x = z * sigma + mu;
  if (dim.log) x = std::exp(x);
  if (dim.step > 0) x = dim.low + std::nearbyint((x - dim.low) / dim.step) * dim.step;
  return std::clamp(x, dim.low, dim.high);
}

std::vector<std::vector<double>> ParzenEstimator::sample(RandomStream& rng, size_t n) const {
  std::vector<std::vector<double>> points(n, std::vector<double>(dims_.size()));
  for (auto& point : points) {
    const double u = rng.uniform();
    const size_t kernel = std::min<size_t>(
        std::upper_bound(cumulative_weights_.begin(), cumulative_weights_.end(), u) - cumulative_weights_.begin(),
        cumulative_weights_.size() - 1);
    for (size_t d = 0; d < dims_.size(); ++d) point[d] = sample_dimension(dims_[d], kernel, rng);
  }
  return points;
}

std::vector<double> ParzenEstimator::log_pdf(const std::vector<std::vector<double>>& points) const {
  const size_t kernels = log_weights_.size();
  std::vector<double> out;
  out.reserve(points.size());
  std::vector<double> acc(kernels);
  // Stepped dimensions: per dimension and cell, the log mass of each distinct kernel.
  std::vector<std::map<double, std::vector<double>>> cells(dims_.size());
  for (const auto& point : points) {
    acc = log_weights_;
    for (size_t d = 0; d < dims_.size(); ++d) {
      const Dimension& dim = dims_[d];
      const double x = point[d];
      if (dim.categorical) {
        const size_t c = static_cast<size_t>(x);
        for (size_t k = 0; k < kernels; ++k) acc[k] += dim.log_probabilities[k * dim.n_choices + c];
      } else if (dim.step > 0) {
        auto [cell, added] = cells[d].try_emplace(x);
        if (added) {
          // Each distinct kernel's probability mass over the cell [x - step/2, x + step/2].
          double left = x - dim.step / 2;
          double right = x + dim.step / 2;
          if (dim.log) {
            left = std::log(left);
            right = std::log(right);
          }
          for (size_t j = 0; j < dim.pair_mu.size(); ++j) {
            const double mu = dim.pair_mu[j];
            const double sigma = dim.pair_sigma[j];
            cell->second.push_back(log_gauss_mass((left - mu) / sigma, (right - mu) / sigma) - dim.pair_log_mass[j]);
          }
        }
        const std::vector<double>& mass = cell->second;
        for (size_t k = 0; k < kernels; ++k) acc[k] += mass[dim.pair_of_kernel[k]];
      } else {
        const double t = dim.log ? std::log(x) : x;
        const bool inside = t >= dim.adapted_low && t <= dim.adapted_high;
        for (size_t k = 0; k < kernels; ++k) {
          if (!inside) {
            acc[k] = -INFINITY;
            continue;
          }
          const double z = (t - dim.mu[k]) / dim.sigma[k];
          acc[k] += -0.5 * z * z - kLogSqrt2Pi - dim.log_mass[k] - dim.log_sigma[k];
        }
      }
    }
    out.push_back(log_sum_exp(acc));
  }
  return out;
}

}  // namespace trainscope::sweep::detail
