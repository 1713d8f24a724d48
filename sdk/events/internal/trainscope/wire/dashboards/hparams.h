// The HParams dashboard (TensorBoard's plugins/hparams/metadata.py): the three records of a
// session (experiment, session start, session end), each a Summary whose value carries
// HParamsPluginData{version 0, ...} in its metadata and no tensor. Inputs are validated by
// the caller (SummaryWriter, hparams.cpp); these only serialize.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/hparams.h"

namespace trainscope::detail {

inline constexpr std::string_view kHParamsPluginName = "hparams";
inline constexpr std::string_view kHParamsExperimentTag = "_hparams_/experiment";
inline constexpr std::string_view kHParamsSessionStartTag = "_hparams_/session_start_info";
inline constexpr std::string_view kHParamsSessionEndTag = "_hparams_/session_end_info";

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

}  // namespace trainscope::detail
