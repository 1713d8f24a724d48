// Input limits of the writer SDK: what add_* refuses at the call, before anything is queued.
// TensorBoard loads a run only if every record of it decodes, and cannot use huge records:
//   - tags, text and metadata strings must be valid UTF-8 (TensorBoard's protobuf decoder
//     refuses a run whose Summary.Value.tag is not, records written after it included);
//   - a tag is at most max_tag_bytes (tags travel in dashboard URLs);
//   - a histogram has at most max_histogram_bins buckets;
//   - an image (or the grid of add_images, or one video frame) has at most max_image_pixels
//     pixels (height * width);
//   - one record is at most max_record_bytes (checked on the size known at the call and again
//     on the encoded record, which the writer thread then drops and reports with its tag).
// The limits are process-wide (one setting for every writer); set_input_limits() changes them,
// e.g. at the start of main(). A refusal throws std::invalid_argument naming the call, the tag
// and the limit (and for bad UTF-8 the byte offset), and writes nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "trainscope/export.h"

namespace trainscope {

struct InputLimits {
  size_t max_tag_bytes = 1024;                 // keeps a URL-encoded tag under common 8 KiB URL limits
  int64_t max_histogram_bins = 1 << 16;        // PyTorch's default edges give 1549; 64 Ki is far beyond use
  int64_t max_image_pixels = 1 << 24;          // 4096 x 4096 (16 Mi pixels) per image / grid / frame
  size_t max_record_bytes = size_t{64} << 20;  // 64 MiB per event record
};

// The limits in force now (thread-safe).
TRAINSCOPE_API InputLimits input_limits();
// Replaces them; throws std::invalid_argument when a limit is 0.
TRAINSCOPE_API void set_input_limits(const InputLimits& limits);

// Byte offset of the first byte that does not start a valid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or nullopt when `s` is valid.
TRAINSCOPE_API std::optional<size_t> invalid_utf8_offset(std::string_view s) noexcept;

// Throws std::invalid_argument "<api>: tag '<tag>': <what> is not valid UTF-8 (byte 7 is
// 0xff)" when `s` is not UTF-8. The tag is printed with invalid bytes escaped (\xff).
TRAINSCOPE_API void check_utf8(std::string_view api, std::string_view tag, std::string_view what, std::string_view s);
// A tag: not empty, valid UTF-8, at most max_tag_bytes.
TRAINSCOPE_API void check_tag(std::string_view api, std::string_view tag);
// `bins` buckets (or edges - 1) against max_histogram_bins.
TRAINSCOPE_API void check_histogram_bins(std::string_view api, std::string_view tag, int64_t bins);
// height * width (without overflow) against max_image_pixels.
TRAINSCOPE_API void check_image_pixels(std::string_view api, std::string_view tag, int64_t height, int64_t width);
// Bytes of one record (known or estimated) against max_record_bytes.
TRAINSCOPE_API void check_record_bytes(std::string_view api, std::string_view tag, size_t bytes);

// `s` with bytes that are not printable ASCII or valid UTF-8 escaped as \xNN, cut to
// `max_bytes` (with "..." appended): safe to put in a message.
TRAINSCOPE_API std::string printable(std::string_view s, size_t max_bytes = 80);

}  // namespace trainscope
