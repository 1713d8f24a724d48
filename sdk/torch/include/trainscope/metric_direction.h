// Which way a monitored metric improves, shared by the plugins that rank metrics
// (early_stopping, checkpoint, hparams) so that "auto" means the same everywhere, and when a
// monitoring plugin reads its metric (EvaluationClock).
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace trainscope {

// True when `name` looks like a score to maximise: accuracy, acc, top-k, precision, recall, f1,
// auc, iou, dice, map (case-insensitive, anywhere in the name). Everything else (loss, error,
// perplexity, ...) is minimised.
inline bool higher_is_better(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* word : {"acc", "top", "precision", "recall", "f1", "auc", "iou", "dice", "map"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

// The modes a monitoring plugin accepts; declare the option with .one_of(kMetricModes) so the
// core refuses any other before the plugin exists.
inline const std::vector<std::string> kMetricModes = {"min", "max", "auto"};

// mode "max" / "min" as given; "auto": higher_is_better(name).
inline bool maximise_metric(std::string_view mode, std::string_view name) {
  if (mode == "max") return true;
  if (mode == "min") return false;
  return higher_is_better(name);
}

// "a, b, c" (or "none"): the metric names a message offers when a monitored one is missing.
inline std::string metric_names(const std::map<std::string, double>& metrics) {
  std::string out;
  for (const auto& [name, value] : metrics) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

// When a monitoring plugin evaluates: at validation_end, or, in an epoch without validation,
// at the end of an epoch that trained all its batches and that nothing stopped. Feed it from
// the plugin's epoch_begin / validation_end hooks and ask it at epoch_end.
class EvaluationClock {
 public:
  void epoch_begin(int64_t step) {
    epoch_start_step_ = step;
    evaluated_ = false;
  }
  void validation_end() { evaluated_ = true; }
  bool evaluate_at_epoch_end(int64_t step, int64_t batches_per_epoch, bool stop_requested) const {
    return !evaluated_ && !stop_requested && step - epoch_start_step_ == batches_per_epoch;
  }

 private:
  int64_t epoch_start_step_ = 0;
  bool evaluated_ = false;
};

}  // namespace trainscope
