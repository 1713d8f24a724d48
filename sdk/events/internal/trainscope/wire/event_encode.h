// Serializes Events (private to the SDK's wire half: this is where protobuf is used). The
// dashboards' own encoders are in trainscope/wire/dashboards/, one unit per dashboard;
// encode_payload_event hands each payload to its dashboard's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "trainscope/export.h"
#include "trainscope/summary_data.h"
#include "trainscope/wire/dashboards/scalars.h"  // encode_scalar_event, the fast path

namespace trainscope::detail {

// Serializes an Event holding `payload` under `tag`; encodes images, audio, video here.
// Throws std::exception on payloads that cannot be encoded.
TRAINSCOPE_API std::string encode_payload_event(double wall_time, int64_t step, std::string_view tag,
                                                const SummaryPayload& payload);

TRAINSCOPE_API std::string encode_file_version_event(double wall_time);
TRAINSCOPE_API std::string encode_session_start_event(double wall_time, int64_t step);

}  // namespace trainscope::detail
