// Wire encoders of the HParams and custom-scalars dashboards (private to the SDK; defined in
// the torch-free hparams_encode.cpp / custom_scalars_encode.cpp, where protobuf lives).
// Inputs are validated by the caller (SummaryWriter); these only serialize. Exported so that
// tests can call them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "trainscope/custom_scalars.h"
#include "trainscope/export.h"
#include "trainscope/hparams.h"

namespace trainscope::detail {

// Plugin "hparams" (TensorBoard's plugins/hparams/metadata.py).
inline constexpr std::string_view kHParamsPluginName = "hparams";
inline constexpr std::string_view kHParamsExperimentTag = "_hparams_/experiment";
inline constexpr std::string_view kHParamsSessionStartTag = "_hparams_/session_start_info";
inline constexpr std::string_view kHParamsSessionEndTag = "_hparams_/session_end_info";

// Plugin "custom_scalars" (TensorBoard's plugins/custom_scalar/metadata.py).
inline constexpr std::string_view kCustomScalarsPluginName = "custom_scalars";
inline constexpr std::string_view kCustomScalarsTag = "custom_scalars__config__";

// Serialized HParamsPluginData{version 0, experiment}: one HParamInfo per hparam (by name,
// typed from its value, with the domain from `options` if any), one MetricInfo per metric
// tag (in the given order), options.description, time_created_secs.
TRAINSCOPE_API std::string hparams_experiment_content(const HParams& hparams,
                                                      const std::vector<std::string>& metric_tags,
                                                      const HParamsOptions& options, double time_created_secs);

// Serialized HParamsPluginData{version 0, session_start_info{hparams, group_name, start_time_secs}}.
TRAINSCOPE_API std::string hparams_session_start_content(const HParams& hparams, std::string_view group_name,
                                                         double start_time_secs);

// Serialized HParamsPluginData{version 0, session_end_info{status, end_time_secs}}.
TRAINSCOPE_API std::string hparams_session_end_content(SessionStatus status, double end_time_secs);

// Serialized Summary{value{tag, metadata{plugin_data{"hparams", content}}}}: no tensor, as
// PyTorch and TensorBoard's own writers produce it (TensorBoard's loader adds an empty one).
TRAINSCOPE_API std::string hparams_summary(std::string_view tag, std::string_view content);

// Serialized Layout{version 0, categories in order}: the string held by the rank-0 DT_STRING
// tensor under kCustomScalarsTag.
TRAINSCOPE_API std::string custom_scalars_layout(const CustomScalarLayout& layout);

}  // namespace trainscope::detail
