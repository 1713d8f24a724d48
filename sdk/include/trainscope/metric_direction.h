// Which way a monitored metric improves, shared by the plugins that rank metrics
// (early_stopping, checkpoint, hparams) so that "auto" means the same everywhere.
#pragma once

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <string_view>

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

// mode "max" / "min" as given; "auto": higher_is_better(name). Other modes: false, so check the
// mode with valid_metric_mode() first.
inline bool maximise_metric(std::string_view mode, std::string_view name) {
  if (mode == "max") return true;
  if (mode == "min") return false;
  return higher_is_better(name);
}

inline bool valid_metric_mode(std::string_view mode) { return mode == "min" || mode == "max" || mode == "auto"; }

// "a, b, c" (or "none"): the metric names a message offers when a monitored one is missing.
inline std::string metric_names(const std::map<std::string, double>& metrics) {
  std::string out;
  for (const auto& [name, value] : metrics) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

}  // namespace trainscope
