// Grid search: every combination of the parameters' values exactly once, in a seeded
// shuffled order, over any number of workers. Like Optuna's GridSampler, each trial records
// its point as system attributes "grid_id" (an index into the product of the value lists,
// parameters sorted by name, the last one varying fastest) and "search_space" (the value lists,
// JSON); a point is taken once any trial of the same grid holds it, whatever its state (a
// failed point is not retried, as in Optuna). The storage calls sample() under its lock, so
// two workers never take the same point.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <stdexcept>
#include <unordered_set>

#include "samplers.h"

namespace trainscope::sweep::detail {

namespace {

constexpr int64_t kMaxGridPoints = 10'000'000;

struct Axis {
  std::string name;
  Distribution distribution;
  std::vector<double> internal;  // the values, internal representation
  nlohmann::json external;       // the same values as Optuna lists them
};

nlohmann::json choice_json(const Choice& c) {
  return std::visit(
      [](const auto& v) -> nlohmann::json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else {
          return v;
        }
      },
      c);
}

Axis make_axis(const Parameter& p) {
  Axis axis{p.name, p.distribution, {}, nlohmann::json::array()};
  if (const auto* c = std::get_if<CategoricalDistribution>(&p.distribution)) {
    for (size_t k = 0; k < c->choices.size(); ++k) {
      axis.internal.push_back(static_cast<double>(k));
      axis.external.push_back(choice_json(c->choices[k]));
    }
  } else if (const auto* i = std::get_if<IntDistribution>(&p.distribution)) {
    if ((i->high - i->low) / i->step + 1 > kMaxGridPoints) {
      throw std::invalid_argument("grid search: int parameter '" + p.name + "' has too many values; raise its step");
    }
    for (int64_t v = i->low; v <= i->high; v += i->step) {
      axis.internal.push_back(static_cast<double>(v));
      axis.external.push_back(v);
    }
  } else {
    const auto& f = std::get<FloatDistribution>(p.distribution);
    if (!f.step) {
      throw std::invalid_argument("grid search: float parameter '" + p.name +
                                  "' has no step, so its values cannot be enumerated; give it a `step` "
                                  "or list its values as `choices`");
    }
    const double n = std::floor((f.high - f.low) / *f.step + 1e-9) + 1;
    if (n > kMaxGridPoints) {
      throw std::invalid_argument("grid search: float parameter '" + p.name + "' has too many values; raise its step");
    }
    for (int64_t k = 0; k < static_cast<int64_t>(n); ++k) {
      const double v = std::min(f.low + static_cast<double>(k) * *f.step, f.high);
      axis.internal.push_back(v);
      axis.external.push_back(v);
    }
  }
  return axis;
}

std::vector<Axis> make_axes(const SearchSpace& space) {
  check_space(space);
  std::vector<Axis> axes;
  for (const Parameter& p : space) axes.push_back(make_axis(p));
  std::sort(axes.begin(), axes.end(), [](const Axis& a, const Axis& b) { return a.name < b.name; });
  return axes;
}

int64_t count_points(const std::vector<Axis>& axes) {
  int64_t total = 1;
  for (const Axis& a : axes) {
    total *= static_cast<int64_t>(a.internal.size());
    if (total > kMaxGridPoints) {
      throw std::invalid_argument(
          "grid search: more than 10,000,000 points; fewer values per parameter, or use "
          "the random or tpe sampler");
    }
  }
  return total;
}

class GridSampler final : public Sampler {
 public:
  explicit GridSampler(const SamplerOptions& options) : seed_(options.seed.value_or(0)) {}

  std::optional<NewTrial> sample(const std::vector<Trial>& history, const SearchSpace& space, Direction /*direction*/,
                                 int64_t /*number*/) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::vector<Axis> axes = make_axes(space);
    const int64_t total = count_points(axes);
    nlohmann::json lists = nlohmann::json::object();
    for (const Axis& a : axes) lists[a.name] = a.external;
    const std::string lists_text = lists.dump();

    std::unordered_set<int64_t> taken;
    for (const Trial& t : history) {
      const auto id = t.system_attrs.find("grid_id");
      const auto grid = t.system_attrs.find("search_space");
      if (id == t.system_attrs.end() || grid == t.system_attrs.end()) continue;
      try {
        if (grid->second != lists_text && nlohmann::json::parse(grid->second) != lists) continue;
        taken.insert(nlohmann::json::parse(id->second).get<int64_t>());
      } catch (const nlohmann::json::exception&) {
        continue;  // not a grid trial of ours
      }
    }
    const std::vector<int64_t>& order = permutation(total);
    for (int64_t id : order) {
      if (taken.count(id)) continue;
      NewTrial out;
      int64_t rest = id;
      for (size_t k = axes.size(); k-- > 0;) {
        const auto n = static_cast<int64_t>(axes[k].internal.size());
        out.params[axes[k].name] = axes[k].internal[static_cast<size_t>(rest % n)];
        out.distributions[axes[k].name] = axes[k].distribution;
        rest /= n;
      }
      out.system_attrs["grid_id"] = std::to_string(id);
      out.system_attrs["search_space"] = lists_text;
      return out;
    }
    return std::nullopt;
  }

  std::optional<int64_t> size(const SearchSpace& space) const override { return count_points(make_axes(space)); }

 private:
  // A seeded shuffle of the grid ids (Fisher-Yates), computed once per grid size (under
  // mutex_).
  const std::vector<int64_t>& permutation(int64_t total) {
    if (static_cast<int64_t>(order_.size()) != total) {
      order_.resize(static_cast<size_t>(total));
      std::iota(order_.begin(), order_.end(), 0);
      RandomStream rng(seed_);
      for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
    }
    return order_;
  }

  uint64_t seed_;
  std::mutex mutex_;
  std::vector<int64_t> order_;
};

}  // namespace

std::unique_ptr<Sampler> make_grid_sampler(const SamplerOptions& options) {
  return std::make_unique<GridSampler>(options);
}

}  // namespace trainscope::sweep::detail
