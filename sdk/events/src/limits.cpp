// Input limits and the UTF-8 check (limits.h).
#include "trainscope/limits.h"

#include <atomic>
#include <stdexcept>
#include <string>

namespace trainscope {

namespace {

// Read on every add_* call: atomics, no lock. A change is seen field by field.
std::atomic<size_t> g_tag_bytes{InputLimits{}.max_tag_bytes};
std::atomic<int64_t> g_histogram_bins{InputLimits{}.max_histogram_bins};
std::atomic<int64_t> g_image_pixels{InputLimits{}.max_image_pixels};
std::atomic<size_t> g_record_bytes{InputLimits{}.max_record_bytes};

// Length of the valid UTF-8 sequence starting at s[i], or 0 (RFC 3629 table of well-formed
// byte sequences: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

std::string prefix(std::string_view api, std::string_view tag) {
  std::string out(api);
  out += ": tag '" + printable(tag) + "': ";
  return out;
}

}  // namespace

InputLimits input_limits() {
  InputLimits l;
  l.max_tag_bytes = g_tag_bytes.load(std::memory_order_relaxed);
  l.max_histogram_bins = g_histogram_bins.load(std::memory_order_relaxed);
  l.max_image_pixels = g_image_pixels.load(std::memory_order_relaxed);
  l.max_record_bytes = g_record_bytes.load(std::memory_order_relaxed);
  return l;
}

void set_input_limits(const InputLimits& limits) {
  if (limits.max_tag_bytes == 0 || limits.max_histogram_bins <= 0 || limits.max_image_pixels <= 0 ||
      limits.max_record_bytes == 0) {
    throw std::invalid_argument("set_input_limits: every limit must be >= 1");
  }
  g_tag_bytes = limits.max_tag_bytes;
  g_histogram_bins = limits.max_histogram_bins;
  g_image_pixels = limits.max_image_pixels;
  g_record_bytes = limits.max_record_bytes;
}

std::optional<size_t> invalid_utf8_offset(std::string_view s) noexcept {
  size_t i = 0;
  while (i < s.size()) {
    // Fast path: 8 ASCII bytes at a time.
    while (i + 8 <= s.size()) {
      uint64_t word = 0;
      for (size_t k = 0; k < 8; ++k) word |= static_cast<uint64_t>(static_cast<unsigned char>(s[i + k])) << (8 * k);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const size_t n = sequence_length(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::nullopt;
}

std::string printable(std::string_view s, size_t max_bytes) {
  std::string out;
  const bool cut = s.size() > max_bytes;
  if (cut) s = s.substr(0, max_bytes);
  static const char* hex = "0123456789abcdef";
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : sequence_length(s, i);
    if (n > 1) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (n == 1 && b >= 0x20 && b != 0x7F && b != '\\') {
      out += static_cast<char>(b);
    } else {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 15];
    }
    ++i;
  }
  if (cut) out += "...";
  return out;
}

void check_utf8(std::string_view api, std::string_view tag, std::string_view what, std::string_view s) {
  if (auto at = invalid_utf8_offset(s)) {
    static const char* hex = "0123456789abcdef";
    const auto b = static_cast<unsigned char>(s[*at]);
    throw std::invalid_argument(prefix(api, tag) + std::string(what) + " is not valid UTF-8 (byte " +
                                std::to_string(*at) + " is 0x" + hex[b >> 4] + hex[b & 15] +
                                "); TensorBoard refuses to load a run with such a string: convert it to UTF-8");
  }
}

void check_tag(std::string_view api, std::string_view tag) {
  if (tag.empty()) throw std::invalid_argument(std::string(api) + ": tag is empty");
  check_utf8(api, tag, "the tag", tag);
  const size_t max = g_tag_bytes.load(std::memory_order_relaxed);
  if (tag.size() > max) {
    throw std::invalid_argument(prefix(api, tag) + "the tag is " + std::to_string(tag.size()) +
                                " bytes, more than max_tag_bytes = " + std::to_string(max) +
                                " (limits.h; raise it with set_input_limits)");
  }
}

void check_histogram_bins(std::string_view api, std::string_view tag, int64_t bins) {
  const int64_t max = g_histogram_bins.load(std::memory_order_relaxed);
  if (bins > max) {
    throw std::invalid_argument(prefix(api, tag) + std::to_string(bins) + " histogram bins, more than " +
                                "max_histogram_bins = " + std::to_string(max) +
                                " (limits.h; use fewer bins or raise it with set_input_limits)");
  }
}

void check_image_pixels(std::string_view api, std::string_view tag, int64_t height, int64_t width) {
  const int64_t max = g_image_pixels.load(std::memory_order_relaxed);
  const bool over = height > 0 && width > 0 && (height > max / width || height * width > max);
  if (over) {
    throw std::invalid_argument(prefix(api, tag) + "image of " + std::to_string(height) + "x" + std::to_string(width) +
                                " pixels, more than max_image_pixels = " + std::to_string(max) +
                                " (limits.h; downscale it or raise the limit with set_input_limits)");
  }
}

void check_record_bytes(std::string_view api, std::string_view tag, size_t bytes) {
  const size_t max = g_record_bytes.load(std::memory_order_relaxed);
  if (bytes > max) {
    throw std::invalid_argument(prefix(api, tag) + "record of " + std::to_string(bytes) + " bytes, more than " +
                                "max_record_bytes = " + std::to_string(max) +
                                " (limits.h; log less per call or raise it with set_input_limits)");
  }
}

}  // namespace trainscope
