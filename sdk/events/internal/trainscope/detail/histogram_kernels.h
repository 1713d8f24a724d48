// The inner loop of add_histogram with PyTorch's default ("tensorflow") edges: bin slots and
// statistics of a run of values in one pass, one entry point per instruction set, picked at
// run time. Internal to trainscope::events (exported for the white-box test that runs every
// path the CPU supports against the portable one); not installed.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "trainscope/export.h"

namespace trainscope::detail {

// The default edges: 774 positive, their negatives and 0.
constexpr int kTfPositive = 774;
constexpr int kTfEdges = 2 * kTfPositive + 1;
constexpr int kTfBins = kTfEdges - 1;
// Slot = bin + 2. Slots 0, 1 and kTfEdges + 1, kTfEdges + 2 take values outside the edges,
// NaN and the infinities, so the counting loop needs no branch.
constexpr int kTfSlots = kTfEdges + 3;
// Lookup keys: sign, exponent and the top 4 mantissa bits.
constexpr int kTfKeyShiftDouble = 52 - 4;
constexpr int kTfKeyShiftFloat = 23 - 4;

// O(1) bin lookup for the default edges (see histogram_lookup.cpp for why it is exact).
struct TensorflowLookup {
  // A value whose guess is slot h goes to slot h + (x >= edge_above[h]).
  std::array<double, kTfEdges + 2> edge_above{};
  // The same edges rounded up to float (x >= e exactly when x >= that float, for float x).
  // One spare entry so that a 32-bit gather at the last index stays inside the array.
  std::array<float, kTfEdges + 3> edge_above_f{};
  // Slot guess for float keys (bits >> 19: sign, exponent, top 4 mantissa bits); padded by
  // one entry for the same reason.
  std::array<uint16_t, (1 << 13) + 2> float_guess{};
  int double_key_min = 0;
  int double_key_span = 0;
  std::vector<uint16_t> double_guess;  // [negative * span + clamped key]

  // For the vectorised kernels, which compute slots without table gathers (slow on many
  // x86 cores): k' = log_1.1(|x| / 1e-12) ~ e * k_exp + (T[i] + L * k_ln) in float, where
  // e is x's exponent, i the top mantissa bits, L = ln(m * inv[i]) by a short series (AVX2),
  // or e * k_exp + a straight line in m per cell (AVX-512, below). A value whose k' is
  // within kTfUncertain of an integer (or that is infinite, NaN or -0.0, and for AVX2 also
  // 0 or denormal) is looked up exactly instead; every other value is at least that far
  // from every edge, more than either approximation's error (< 3e-4 for AVX2, < 7e-4 for
  // AVX-512), so floor(k') is its bin. The kernel tests check every float bit pattern
  // against slot().
  static constexpr float kTfUncertain = 1e-3f;  // 2e-3 before: twice the exact lookups
  float k_exp = 0, k_ln = 0;
  // AVX-512: k' + kTfUncertain ~ e * k_exp + line_a[i] + line_b[i] * m (m in [1, 2), i its
  // top 5 mantissa bits): a straight line per cell, centred between the curve and its chord
  // (error < 7e-4 in k'), with the margin added so that floor() of it is the bin whenever
  // its fraction is at least 2 * kTfUncertain.
  alignas(64) float line_a32[32], line_b32[32];
  alignas(32) float inv8[8], log8[8];  // cells of 1/8 (AVX2)

  explicit TensorflowLookup(const std::vector<double>& edges);

  int slot(float x) const {
    const int h = float_guess[std::bit_cast<uint32_t>(x) >> kTfKeyShiftFloat];
    return h + static_cast<int>(x >= edge_above_f[h]);
  }
  int slot(double x) const {
    const uint64_t bits = std::bit_cast<uint64_t>(x);
    int key = static_cast<int>((bits >> kTfKeyShiftDouble) & 0x7FFF) - double_key_min;
    key = key < 0 ? 0 : key;
    key = key >= double_key_span ? double_key_span - 1 : key;
    const int h = double_guess[static_cast<size_t>(key) + (bits >> 63) * static_cast<size_t>(double_key_span)];
    return h + static_cast<int>(x >= edge_above[h]);
  }
};

TRAINSCOPE_API const TensorflowLookup& tensorflow_lookup();

// Statistics of the finite values, kept in 16 lanes: element i of a run goes to lane i % 16
// (runs start at multiples of 16), and the lanes are folded in a fixed order. Every
// instruction set keeps exactly these lanes, so all of them give bit-identical sums. The
// count of finite values is one total (integers need no lanes).
struct TRAINSCOPE_API StatLanes {
  static constexpr int kLanes = 16;
  alignas(64) double min[kLanes];
  alignas(64) double max[kLanes];
  alignas(64) double sum[kLanes];
  alignas(64) double sum_squares[kLanes];
  int64_t num = 0;
  StatLanes();
};

// Folded statistics: min/max/sum/sum_squares over the finite values, num of them.
struct TfStats {
  double min, max, sum, sum_squares;
  int64_t num;
};
TRAINSCOPE_API TfStats fold(const StatLanes& lanes);

// Per-slot counters of one run. Four arrays take the values in turn so that runs of equal
// slots do not wait on one counter (measured on the 2-core AMD EPYC this was tuned on, AVX-512
// kernel counting a batch behind: 1M normal values take ~0.34 ms with two arrays or four, but
// a ReLU output, half zeros, 0.50 ms with two and 0.35 ms with four; eight were slower before);
// 32 bits each (callers keep runs below 2^32 values).
struct TRAINSCOPE_API SlotCounts {
  static constexpr int kWays = 4;
  alignas(64) uint32_t c[kWays][kTfSlots];
  SlotCounts();
  void clear();
  uint64_t at(int slot) const {
    uint64_t total = 0;
    for (int w = 0; w < kWays; ++w) total += c[w][slot];
    return total;
  }
};

enum class Isa { kPortable, kAvx2, kAvx512 };
TRAINSCOPE_API const char* isa_name(Isa isa);
TRAINSCOPE_API bool isa_supported(Isa isa);
// The best supported instruction set (TRAINSCOPE_HISTOGRAM_ISA=portable|avx2|avx512 caps it).
TRAINSCOPE_API Isa best_isa();

// Adds n values to `counts` and `lanes`; `values` must start a run at a multiple of 16 (lane 0).
TRAINSCOPE_API void tf_count(Isa isa, const float* values, size_t n, SlotCounts& counts, StatLanes& lanes);
// Slots alone (for the tests): out[i] = the slot of values[i], as tf_count counts it.
TRAINSCOPE_API void tf_slots(Isa isa, const float* values, size_t n, uint32_t* out);
TRAINSCOPE_API void tf_count(Isa isa, const double* values, size_t n, SlotCounts& counts, StatLanes& lanes);

// Per-ISA kernels for whole blocks of 16 values (the callers above do the tail portably).
void tf_blocks_portable(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes);
void tf_blocks_portable(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes);
void tf_blocks_avx2(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes);
void tf_blocks_avx2(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes);
void tf_blocks_avx512(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes);
void tf_blocks_avx512(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes);
void tf_slots_avx2(const float* v, size_t blocks, uint32_t* out);
void tf_slots_avx512(const float* v, size_t blocks, uint32_t* out);

}  // namespace trainscope::detail
