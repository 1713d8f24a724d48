// The text dashboard, as PyTorch's add_text writes it: tag + "/text_summary", metadata
// plugin "text" with an empty TextPluginData, a one-element DT_STRING tensor.
#pragma once

#include <string_view>

#include "trainscope/summary_data.h"
#include "trainscope/wire/proto_fwd.h"

namespace trainscope::detail {

// plugins/text/metadata.py's PLUGIN_NAME.
inline constexpr std::string_view kTextPluginName = "text";

// What SummaryWriter::add_text appends to the caller's tag (PyTorch's summary.text).
inline constexpr std::string_view kTextTagSuffix = "/text_summary";

// Sets value.metadata{plugin "text"} and value.tensor{DT_STRING, shape [1], text}.
void fill_value(proto::Summary_Value* value, const TextData& text);

}  // namespace trainscope::detail
