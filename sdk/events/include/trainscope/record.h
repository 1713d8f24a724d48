// TFRecord framing: uint64 length, masked CRC of the length, payload, masked CRC of payload.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "trainscope/export.h"

namespace trainscope {

inline constexpr size_t kRecordHeaderBytes = 12;  // length + its CRC
inline constexpr size_t kRecordFooterBytes = 4;   // payload CRC
inline constexpr size_t kRecordOverheadBytes = kRecordHeaderBytes + kRecordFooterBytes;

// Appends one framed record holding `payload` to `out`.
TRAINSCOPE_API void append_record(std::string& out, std::string_view payload);

}  // namespace trainscope
