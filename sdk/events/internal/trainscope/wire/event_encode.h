// Serializes Events (private to the SDK's wire half: this is where protobuf is used).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "trainscope/export.h"
#include "trainscope/summary_data.h"

namespace trainscope::detail {

// Appends the serialized Event{wall_time, step, summary{value{tag, simple_value}}} to `out`.
// Hand-encoded (the hot path); byte-identical to protobuf's serialization (tested).
TRAINSCOPE_API void encode_scalar_event(std::string& out, double wall_time, int64_t step, std::string_view tag,
                         float value);

// Serializes an Event holding `payload` under `tag`; encodes images, audio, video here.
// Throws std::exception on payloads that cannot be encoded.
TRAINSCOPE_API std::string encode_payload_event(double wall_time, int64_t step, std::string_view tag,
                                 const SummaryPayload& payload);

TRAINSCOPE_API std::string encode_file_version_event(double wall_time);
TRAINSCOPE_API std::string encode_session_start_event(double wall_time, int64_t step);

}  // namespace trainscope::detail
