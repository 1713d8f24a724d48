// The custom-scalars dashboard (TensorBoard's plugins/custom_scalar/metadata.py): a Layout
// message as the one string of a rank-0 DT_STRING tensor, tag custom_scalars__config__, as
// PyTorch's add_custom_scalars writes it. The layout is validated by the caller
// (SummaryWriter, custom_scalars.cpp); this only serializes.
#pragma once

#include <string>
#include <string_view>

#include "trainscope/custom_scalars.h"
#include "trainscope/export.h"
#include "trainscope/summary_data.h"

namespace trainscope::detail {

inline constexpr std::string_view kCustomScalarsPluginName = "custom_scalars";
inline constexpr std::string_view kCustomScalarsTag = "custom_scalars__config__";

// Serialized Layout{version 0, categories in order}: the string held by the tensor.
TRAINSCOPE_API std::string custom_scalars_layout(const CustomScalarLayout& layout);

// The summary to write under kCustomScalarsTag: a rank-0 DT_STRING tensor holding
// custom_scalars_layout(layout), plugin "custom_scalars" with empty content.
TRAINSCOPE_API TensorData custom_scalars_tensor(const CustomScalarLayout& layout);

}  // namespace trainscope::detail
