// Asynchronous successive halving (Optuna's SuccessiveHalvingPruner, bootstrap_count 0).
// Rung k is reached at step min_resource * reduction_factor^(min_early_stopping_rate + k).
// A trial reaching a rung records its value there as system attribute "completed_rung_<k>"
// and continues only if it is within the best 1/reduction_factor of the values recorded at
// that rung by every trial so far (itself included); the smallest group is one trial.
// min_resource "auto" (0): max(last step of the longest COMPLETE trial / 100, 1), estimated
// once the first trial completes and kept from then on, as Optuna does.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "pruners.h"

namespace trainscope::sweep::detail {

namespace {

std::string rung_key(int64_t rung) { return "completed_rung_" + std::to_string(rung); }

// Python's json writes infinities as Infinity / -Infinity (and NaN as NaN).
std::string json_text(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return nlohmann::json(v).dump();
}

std::optional<double> json_number(const std::string& text) {
  if (text == "Infinity") return INFINITY;
  if (text == "-Infinity") return -INFINITY;
  if (text == "NaN") return NAN;
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.is_number()) return j.get<double>();
  } catch (const nlohmann::json::exception&) {
  }
  return std::nullopt;
}

class SuccessiveHalvingPruner final : public Pruner {
 public:
  explicit SuccessiveHalvingPruner(const PrunerOptions& o) : options_(o) {
    if (o.min_resource < 0) throw std::invalid_argument("successive_halving: min_resource must be >= 1 (or 0: auto)");
    if (o.reduction_factor < 2) throw std::invalid_argument("successive_halving: reduction_factor must be >= 2");
    if (o.min_early_stopping_rate < 0) {
      throw std::invalid_argument("successive_halving: min_early_stopping_rate must be >= 0");
    }
    if (o.min_resource > 0) min_resource_ = o.min_resource;
  }

  bool prune(const std::vector<Trial>& history, const Trial& trial, Direction direction,
             PrunerAttrs* attrs_to_record) override {
    if (trial.intermediate_values.empty()) return false;
    const auto& [step, value] = *trial.intermediate_values.rbegin();
    int64_t rung = 0;
    while (trial.system_attrs.count(rung_key(rung))) ++rung;

    std::lock_guard<std::mutex> lock(mutex_);
    if (!min_resource_) {
      int64_t longest = -1;
      for (const Trial& t : history) {
        if (t.state == TrialState::kComplete && !t.intermediate_values.empty()) {
          longest = std::max(longest, t.intermediate_values.rbegin()->first);
        }
      }
      if (longest < 0) return false;
      min_resource_ = std::max<int64_t>(longest / 100, 1);
    }
    for (;; ++rung) {
      if (step < promotion_step(rung)) return false;
      if (std::isnan(value)) return true;
      const std::string key = rung_key(rung);
      if (attrs_to_record) attrs_to_record->emplace_back(key, json_text(value));

      std::vector<double> competing;
      for (const Trial& t : history) {
        if (t.number == trial.number) continue;
        const auto it = t.system_attrs.find(key);
        if (it == t.system_attrs.end()) continue;
        if (const auto v = json_number(it->second)) competing.push_back(*v);
      }
      competing.push_back(value);
      std::sort(competing.begin(), competing.end());
      auto promotable = static_cast<int64_t>(competing.size()) / options_.reduction_factor - 1;
      if (promotable < 0) promotable = 0;
      const bool promoted = direction == Direction::kMaximize
                                ? value >= competing[competing.size() - 1 - static_cast<size_t>(promotable)]
                                : value <= competing[static_cast<size_t>(promotable)];
      if (!promoted) return true;
    }
  }

 private:
  // min_resource * reduction_factor^(min_early_stopping_rate + rung), saturated.
  int64_t promotion_step(int64_t rung) const {
    int64_t s = *min_resource_;
    for (int64_t k = 0; k < options_.min_early_stopping_rate + rung; ++k) {
      if (s > INT64_MAX / options_.reduction_factor) return INT64_MAX;
      s *= options_.reduction_factor;
    }
    return s;
  }

  PrunerOptions options_;
  std::mutex mutex_;
  std::optional<int64_t> min_resource_;
};

}  // namespace

std::unique_ptr<Pruner> make_successive_halving_pruner(const PrunerOptions& options) {
  return std::make_unique<SuccessiveHalvingPruner>(options);
}

}  // namespace trainscope::sweep::detail
