// The histograms dashboard: a HistogramProto in Summary.Value.histo, no plugin metadata
// (TensorBoard's data_compat assigns histo to this plugin). The bins are computed by
// histogram.cpp; this unit only serializes them.
#pragma once

#include <string_view>

#include "trainscope/summary_data.h"
#include "trainscope/wire/proto_fwd.h"

namespace trainscope::detail {

// TensorBoard's name of the dashboard (plugins/histogram/metadata.py); not written.
inline constexpr std::string_view kHistogramsPluginName = "histograms";

// Sets value.histo from the bins.
void fill_value(proto::Summary_Value* value, const HistogramData& histogram);

}  // namespace trainscope::detail
