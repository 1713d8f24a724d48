// Tree-structured Parzen Estimator (Optuna's TPESampler with its defaults): after
// n_startup_trials random trials, split the finished trials into the best gamma(n) ("below")
// and the rest ("above"), fit a Parzen estimator to each, draw n_ei_candidates points from the
// "below" one and keep the point with the largest log l(x) - log g(x).
//   - gamma(n) = min(ceil(0.1 n), 25); n counts COMPLETE and PRUNED trials.
//   - COMPLETE trials rank by value; PRUNED ones fill the rest of "below" ranked by their last
//     reported step (later is better), then its value; one without reports ranks last.
//   - With constant_liar (Optuna 5's default) RUNNING trials of other workers join "above", so
//     parallel workers avoid each other's pending points. FAIL trials are ignored.
//   - Independent by default (one estimator per parameter); multivariate fits one joint
//     estimator over the trials that have every parameter.
#include <algorithm>
#include <cmath>
#include <utility>

#include "parzen_estimator.h"
#include "samplers.h"

namespace trainscope::sweep::detail {

namespace {

int64_t default_gamma(int64_t n) { return std::min<int64_t>((n + 9) / 10, 25); }

// Optuna's ranking key of a pruned trial (smaller is better).
std::pair<double, double> pruned_score(const Trial& t, Direction direction) {
  if (t.intermediate_values.empty()) return {1.0, 0.0};
  const auto& [step, value] = *t.intermediate_values.rbegin();
  if (std::isnan(value)) return {-static_cast<double>(step), INFINITY};
  return {-static_cast<double>(step), direction == Direction::kMaximize ? -value : value};
}

bool complete_with_value(const Trial& t) {
  return t.state == TrialState::kComplete && t.value && !std::isnan(*t.value);
}

struct Split {
  std::vector<const Trial*> below, above;  // each in trial-number order
};

Split split_trials(const std::vector<Trial>& history, int64_t number, Direction direction, bool constant_liar) {
  std::vector<const Trial*> complete, pruned, running;
  for (const Trial& t : history) {
    if (t.number == number) continue;
    if (complete_with_value(t)) {
      complete.push_back(&t);
    } else if (t.state == TrialState::kPruned) {
      pruned.push_back(&t);
    } else if (constant_liar && t.state == TrialState::kRunning) {
      running.push_back(&t);
    }
  }
  auto n_below = static_cast<size_t>(default_gamma(static_cast<int64_t>(complete.size() + pruned.size())));
  const bool maximize = direction == Direction::kMaximize;
  std::stable_sort(complete.begin(), complete.end(), [&](const Trial* a, const Trial* b) {
    return maximize ? *a->value > *b->value : *a->value < *b->value;
  });
  std::stable_sort(pruned.begin(), pruned.end(), [&](const Trial* a, const Trial* b) {
    return pruned_score(*a, direction) < pruned_score(*b, direction);
  });
  Split split;
  const size_t from_complete = std::min(n_below, complete.size());
  split.below.assign(complete.begin(), complete.begin() + static_cast<std::ptrdiff_t>(from_complete));
  split.above.assign(complete.begin() + static_cast<std::ptrdiff_t>(from_complete), complete.end());
  n_below -= from_complete;
  const size_t from_pruned = std::min(n_below, pruned.size());
  split.below.insert(split.below.end(), pruned.begin(), pruned.begin() + static_cast<std::ptrdiff_t>(from_pruned));
  split.above.insert(split.above.end(), pruned.begin() + static_cast<std::ptrdiff_t>(from_pruned), pruned.end());
  split.above.insert(split.above.end(), running.begin(), running.end());
  auto by_number = [](const Trial* a, const Trial* b) { return a->number < b->number; };
  std::sort(split.below.begin(), split.below.end(), by_number);
  std::sort(split.above.begin(), split.above.end(), by_number);
  return split;
}

// Observations of `params` (indices into `space`) from the trials that have all of them.
std::vector<std::vector<double>> observations(const std::vector<const Trial*>& trials, const SearchSpace& space,
                                              const std::vector<size_t>& params) {
  std::vector<std::vector<double>> out(params.size());
  std::vector<double> row(params.size());
  for (const Trial* t : trials) {
    bool complete = true;
    for (size_t d = 0; d < params.size() && complete; ++d) {
      const Parameter& p = space[params[d]];
      const auto v = observed_value(*t, p.name, p.distribution);
      if (v) {
        row[d] = *v;
      } else {
        complete = false;
      }
    }
    if (!complete) continue;
    for (size_t d = 0; d < params.size(); ++d) out[d].push_back(row[d]);
  }
  return out;
}

class TpeSampler final : public Sampler {
 public:
  explicit TpeSampler(const SamplerOptions& options) : options_(options) {}

  std::optional<NewTrial> sample(const std::vector<Trial>& history, const SearchSpace& space, Direction direction,
                                 int64_t number) override {
    check_space(space);
    RandomStream rng = RandomStream::for_trial(options_.seed, number, /*salt=*/2);
    NewTrial out;
    std::vector<size_t> free;  // parameters left to the sampler
    for (size_t i = 0; i < space.size(); ++i) {
      const Parameter& p = space[i];
      out.distributions[p.name] = p.distribution;
      if (is_single(p.distribution)) {
        out.params[p.name] = sample_uniformly(p.distribution, rng);
      } else {
        free.push_back(i);
      }
    }
    int64_t finished = 0;
    for (const Trial& t : history) {
      if (t.number != number && (complete_with_value(t) || t.state == TrialState::kPruned)) ++finished;
    }
    if (finished < options_.n_startup_trials) {
      for (size_t i : free) out.params[space[i].name] = sample_uniformly(space[i].distribution, rng);
      return out;
    }
    const Split split = split_trials(history, number, direction, options_.constant_liar);
    if (options_.multivariate) {
      sample_jointly(split, space, free, rng, out);
    } else {
      for (size_t i : free) sample_jointly(split, space, {i}, rng, out);
    }
    return out;
  }

 private:
  void sample_jointly(const Split& split, const SearchSpace& space, const std::vector<size_t>& params,
                      RandomStream& rng, NewTrial& out) const {
    if (params.empty()) return;
    std::vector<Distribution> distributions;
    for (size_t i : params) distributions.push_back(space[i].distribution);
    ParzenOptions parzen;
    parzen.consider_endpoints = options_.consider_endpoints;
    const ParzenEstimator below(observations(split.below, space, params), distributions, parzen);
    const ParzenEstimator above(observations(split.above, space, params), distributions, parzen);
    const auto candidates = below.sample(rng, static_cast<size_t>(std::max(1, options_.n_ei_candidates)));
    const auto log_l = below.log_pdf(candidates);
    const auto log_g = above.log_pdf(candidates);
    size_t best = 0;  // the first of the best, as numpy's argmax
    double best_score = log_l[0] - log_g[0];
    for (size_t c = 1; c < candidates.size(); ++c) {
      if (log_l[c] - log_g[c] > best_score) {
        best = c;
        best_score = log_l[c] - log_g[c];
      }
    }
    for (size_t d = 0; d < params.size(); ++d) out.params[space[params[d]].name] = candidates[best][d];
  }

  SamplerOptions options_;
};

}  // namespace

std::vector<double> tpe_acquisition(const std::vector<Trial>& history, const SearchSpace& space, Direction direction,
                                    int64_t number, const SamplerOptions& options,
                                    const std::vector<std::vector<double>>& points) {
  const Split split = split_trials(history, number, direction, options.constant_liar);
  std::vector<size_t> params(space.size());
  std::vector<Distribution> distributions;
  for (size_t i = 0; i < space.size(); ++i) {
    params[i] = i;
    distributions.push_back(space[i].distribution);
  }
  ParzenOptions parzen;
  parzen.consider_endpoints = options.consider_endpoints;
  const ParzenEstimator below(observations(split.below, space, params), distributions, parzen);
  const ParzenEstimator above(observations(split.above, space, params), distributions, parzen);
  const auto log_l = below.log_pdf(points);
  const auto log_g = above.log_pdf(points);
  std::vector<double> out(points.size());
  for (size_t c = 0; c < points.size(); ++c) out[c] = log_l[c] - log_g[c];
  return out;
}

std::unique_ptr<Sampler> make_tpe_sampler(const SamplerOptions& options) {
  return std::make_unique<TpeSampler>(options);
}

}  // namespace trainscope::sweep::detail
