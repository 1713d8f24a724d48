// Median (percentile) pruning, Optuna's PercentilePruner: once n_startup_trials trials are
// COMPLETE, at the first report of each interval_steps window after n_warmup_steps, prune a
// trial whose best value so far is worse than the percentile of the completed trials' values
// at the same step (when at least n_min_trials of them reported that step).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "pruners.h"

namespace trainscope::sweep::detail {

namespace {

// numpy.nanpercentile with linear interpolation; NaN when there is no number.
double nan_percentile(std::vector<double> values, double percentile) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const double rank = percentile / 100.0 * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

class PercentilePruner final : public Pruner {
 public:
  PercentilePruner(double percentile, const PrunerOptions& o) : percentile_(percentile), options_(o) {
    if (o.n_startup_trials < 0) throw std::invalid_argument("median pruner: n_startup_trials must be >= 0");
    if (o.n_warmup_steps < 0) throw std::invalid_argument("median pruner: n_warmup_steps must be >= 0");
    if (o.interval_steps < 1) throw std::invalid_argument("median pruner: interval_steps must be >= 1");
    if (o.n_min_trials < 1) throw std::invalid_argument("median pruner: n_min_trials must be >= 1");
  }

  bool prune(const std::vector<Trial>& history, const Trial& trial, Direction direction,
             PrunerAttrs* /*attrs_to_record*/) override {
    std::vector<const Trial*> completed;
    for (const Trial& t : history) {
      if (t.state == TrialState::kComplete) completed.push_back(&t);
    }
    if (completed.empty() || static_cast<int64_t>(completed.size()) < options_.n_startup_trials) return false;
    if (trial.intermediate_values.empty()) return false;
    const int64_t step = trial.intermediate_values.rbegin()->first;
    if (step < options_.n_warmup_steps) return false;
    // Only the first report at or after each pruning step (warmup + k * interval) is judged.
    const int64_t pruning_step =
        floor_div(step - options_.n_warmup_steps, options_.interval_steps) * options_.interval_steps +
        options_.n_warmup_steps;
    int64_t previous_step = -1;
    for (const auto& [s, v] : trial.intermediate_values) {
      if (s != step && s > previous_step) previous_step = s;
    }
    if (previous_step >= pruning_step) return false;

    const bool maximize = direction == Direction::kMaximize;
    double best = NAN;
    for (const auto& [s, v] : trial.intermediate_values) {
      if (std::isnan(v)) continue;
      if (std::isnan(best) || (maximize ? v > best : v < best)) best = v;
    }
    if (std::isnan(best)) return true;  // nothing but NaN so far

    std::vector<double> at_step;
    for (const Trial* t : completed) {
      const auto it = t->intermediate_values.find(step);
      if (it != t->intermediate_values.end()) at_step.push_back(it->second);
    }
    if (static_cast<int64_t>(at_step.size()) < options_.n_min_trials) return false;
    const double p = nan_percentile(std::move(at_step), maximize ? 100.0 - percentile_ : percentile_);
    if (std::isnan(p)) return false;
    return maximize ? best < p : best > p;
  }

 private:
  double percentile_;
  PrunerOptions options_;
};

}  // namespace

std::unique_ptr<Pruner> make_percentile_pruner(double percentile, const PrunerOptions& options) {
  return std::make_unique<PercentilePruner>(percentile, options);
}

}  // namespace trainscope::sweep::detail
