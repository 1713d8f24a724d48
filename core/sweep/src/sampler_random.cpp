// Random search (Optuna's RandomSampler) and the distribution helpers every sampler uses.
#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "samplers.h"

namespace trainscope::sweep::detail {

namespace {

class RandomSampler final : public Sampler {
 public:
  explicit RandomSampler(const SamplerOptions& options) : seed_(options.seed) {}

  std::optional<NewTrial> sample(const std::vector<Trial>& /*history*/, const SearchSpace& space,
                                 Direction /*direction*/, int64_t number) override {
    check_space(space);
    RandomStream rng = RandomStream::for_trial(seed_, number, /*salt=*/1);
    NewTrial out;
    for (const Parameter& p : space) {
      out.params[p.name] = sample_uniformly(p.distribution, rng);
      out.distributions[p.name] = p.distribution;
    }
    return out;
  }

 private:
  std::optional<uint64_t> seed_;
};

[[noreturn]] void bad(const std::string& name, const std::string& why) {
  throw std::invalid_argument("search space parameter '" + name + "': " + why);
}

}  // namespace

void check_space(const SearchSpace& space) {
  std::set<std::string> names;
  for (const Parameter& p : space) {
    if (p.name.empty()) throw std::invalid_argument("search space parameter with an empty name");
    if (!names.insert(p.name).second) bad(p.name, "declared twice; give each parameter one entry");
    if (const auto* f = std::get_if<FloatDistribution>(&p.distribution)) {
      if (!std::isfinite(f->low) || !std::isfinite(f->high) || f->low > f->high) {
        bad(p.name, "low must be <= high (both finite)");
      }
      if (f->log && f->low <= 0) bad(p.name, "a log-scaled range needs low > 0");
      if (f->step && f->log) bad(p.name, "a float cannot be both log-scaled and stepped; drop one");
      if (f->step && !(*f->step > 0)) bad(p.name, "step must be > 0");
    } else if (const auto* i = std::get_if<IntDistribution>(&p.distribution)) {
      if (i->low > i->high) bad(p.name, "low must be <= high");
      if (i->step < 1) bad(p.name, "step must be >= 1");
      if (i->log && i->low < 1) bad(p.name, "a log-scaled int range needs low >= 1");
      if (i->log && i->step != 1) bad(p.name, "a log-scaled int takes no step (or step 1)");
    } else if (std::get<CategoricalDistribution>(p.distribution).choices.empty()) {
      bad(p.name, "choices must not be empty");
    }
  }
}

double float_grid_high(const FloatDistribution& d) {
  if (!d.step) return d.high;
  const double n = std::floor((d.high - d.low) / *d.step + 1e-9);
  return std::min(d.high, d.low + n * *d.step);
}

bool is_single(const Distribution& distribution) {
  if (const auto* f = std::get_if<FloatDistribution>(&distribution)) {
    return f->low == f->high || (f->step && float_grid_high(*f) == f->low);
  }
  if (const auto* i = std::get_if<IntDistribution>(&distribution)) return i->low + i->step > i->high;
  return std::get<CategoricalDistribution>(distribution).choices.size() == 1;
}

double sample_uniformly(const Distribution& distribution, RandomStream& rng) {
  if (const auto* c = std::get_if<CategoricalDistribution>(&distribution)) {
    return static_cast<double>(rng.below(c->choices.size()));
  }
  double low = 0, high = 0, step = 0;
  bool log = false;
  if (const auto* f = std::get_if<FloatDistribution>(&distribution)) {
    low = f->low;
    high = float_grid_high(*f);
    step = f->step.value_or(0.0);
    log = f->log;
  } else {
    const auto& i = std::get<IntDistribution>(distribution);
    low = static_cast<double>(i.low);
    step = static_cast<double>(i.step);
    high = low + std::floor((static_cast<double>(i.high) - low) / step) * step;
    log = i.log;
  }
  if (low == high) return low;
  // Stepped values: uniform over the cells [v - step/2, v + step/2] of the grid points v.
  double lo = low - step / 2;
  double hi = high + step / 2;
  double x = log ? std::exp(rng.uniform(std::log(lo), std::log(hi))) : rng.uniform(lo, hi);
  if (step > 0) x = low + std::nearbyint((x - low) / step) * step;
  return std::clamp(x, low, high);
}

std::optional<double> observed_value(const Trial& trial, const std::string& name, const Distribution& distribution) {
  const auto param = trial.params.find(name);
  if (param == trial.params.end()) return std::nullopt;
  const auto recorded = trial.distributions.find(name);
  if (recorded == trial.distributions.end() || recorded->second == distribution) {
    if (!contains(distribution, param->second)) return std::nullopt;
    return param->second;
  }
  try {
    return to_internal(distribution, to_external(recorded->second, param->second));
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

std::unique_ptr<Sampler> make_random_sampler(const SamplerOptions& options) {
  return std::make_unique<RandomSampler>(options);
}

}  // namespace trainscope::sweep::detail
