// CRC-32C (Castagnoli) and the masked form that TFRecord framing uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "trainscope/export.h"

namespace trainscope {

// Extends `crc` (0 for a fresh checksum) over `n` bytes; uses SSE4.2 when the CPU has it.
TRAINSCOPE_API uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);
// Table-driven fallback, always available; exposed so tests can compare both paths.
TRAINSCOPE_API uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n);
// True when crc32c_extend runs on the CPU's CRC32 instruction.
TRAINSCOPE_API bool crc32c_hardware();

inline uint32_t crc32c(std::string_view bytes) {
  return crc32c_extend(0, bytes.data(), bytes.size());
}

// TensorFlow's mask: rotate right by 15 and add a constant, so a CRC of CRCs stays strong.
constexpr uint32_t mask_crc(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}
constexpr uint32_t unmask_crc(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}
inline uint32_t masked_crc32c(std::string_view bytes) { return mask_crc(crc32c(bytes)); }

}  // namespace trainscope
