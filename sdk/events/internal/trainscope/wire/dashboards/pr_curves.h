// The pr_curves dashboard: a [6, n] float32 tensor (TP, FP, TN, FN, precision, recall per
// threshold) with PrCurvePluginData{version 0, num_thresholds}, as PyTorch's
// summary.pr_curve writes it. The curve itself is computed by the torch half (pr_curve.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/summary_data.h"

namespace trainscope::detail {

// plugins/pr_curve/metadata.py's PLUGIN_NAME.
inline constexpr std::string_view kPrCurvesPluginName = "pr_curves";

// PrCurvePluginData{version 0, num_thresholds}, what PyTorch and TensorBoard write.
TRAINSCOPE_API std::string encode_pr_curve_plugin_data(uint32_t num_thresholds);

// The summary of one curve: `rows` are the six rows of `columns` float32 values each, row
// after row; data class TENSOR (what TensorBoard's dataclass_compat assigns pr_curves).
TRAINSCOPE_API TensorData pr_curve_tensor(const std::vector<float>& rows, int64_t columns, uint32_t num_thresholds);

}  // namespace trainscope::detail
