// The scalars dashboard: a float32 in Summary.Value.simple_value, no plugin metadata
// (TensorBoard's data_compat assigns simple_value to this plugin when it loads the file).
// Holds the hand-written fast path that add_scalar takes on every step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "trainscope/export.h"
#include "trainscope/summary_data.h"
#include "trainscope/wire/proto_fwd.h"

namespace trainscope::detail {

// TensorBoard's name of the dashboard (plugins/scalar/metadata.py); not written.
inline constexpr std::string_view kScalarsPluginName = "scalars";

// Appends the serialized Event{wall_time, step, summary{value{tag, simple_value}}} to `out`.
// Hand-encoded (the hot path); byte-identical to protobuf's serialization (tested).
TRAINSCOPE_API void encode_scalar_event(std::string& out, double wall_time, int64_t step, std::string_view tag,
                                        float value);

// Sets value.simple_value (the same record through protobuf, for deferred scalars).
void fill_value(proto::Summary_Value* value, const ScalarData& scalar);

}  // namespace trainscope::detail
