// The portable default-edge kernel (the reference every vectorised one must match bit for
// bit), the lane bookkeeping and the run-time choice of instruction set.
#include "trainscope/detail/histogram_kernels.h"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace trainscope::detail {
namespace {

inline bool is_finite(double x) { return ((std::bit_cast<uint64_t>(x) >> 52) & 0x7FF) != 0x7FF; }

// One value into lane j: the same operations, in the same order, as every SIMD kernel does
// for its lane (min/max keep the old value on ties, so -0.0 vs 0.0 resolves the same way).
template <typename T>
inline void add_value(const TensorflowLookup& lookup, T x, int j, SlotCounts& counts, StatLanes& lanes) {
  ++counts.c[j & (SlotCounts::kWays - 1)][lookup.slot(x)];
  const double d = static_cast<double>(x);
  if (!is_finite(d)) return;
  lanes.min[j] = d < lanes.min[j] ? d : lanes.min[j];
  lanes.max[j] = d > lanes.max[j] ? d : lanes.max[j];
  lanes.sum[j] += d;
  lanes.sum_squares[j] += d * d;
  ++lanes.num;
}

template <typename T>
void portable_blocks(const T* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  const TensorflowLookup& lookup = tensorflow_lookup();
  for (size_t b = 0; b < blocks; ++b, v += StatLanes::kLanes) {
    for (int j = 0; j < StatLanes::kLanes; ++j) add_value(lookup, v[j], j, counts, lanes);
  }
}

template <typename T>
void count_run(Isa isa, const T* v, size_t n, SlotCounts& counts, StatLanes& lanes) {
  if (!isa_supported(isa)) {
    throw std::invalid_argument(std::string("tf_count: this CPU does not support ") + isa_name(isa));
  }
  const size_t blocks = n / StatLanes::kLanes;
  switch (isa) {
    case Isa::kAvx512:
      tf_blocks_avx512(v, blocks, counts, lanes);
      break;
    case Isa::kAvx2:
      tf_blocks_avx2(v, blocks, counts, lanes);
      break;
    case Isa::kPortable:
      portable_blocks(v, blocks, counts, lanes);
      break;
  }
  const TensorflowLookup& lookup = tensorflow_lookup();
  for (size_t i = blocks * StatLanes::kLanes; i < n; ++i) {
    add_value(lookup, v[i], static_cast<int>(i % StatLanes::kLanes), counts, lanes);
  }
}

bool cpu_has(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx2");
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2");
    case Isa::kPortable:
      return true;
  }
  return false;
#else
  return isa == Isa::kPortable;
#endif
}

Isa pick_isa() {
  Isa best = cpu_has(Isa::kAvx512) ? Isa::kAvx512 : cpu_has(Isa::kAvx2) ? Isa::kAvx2 : Isa::kPortable;
  // A cap for measuring the paths against each other; unknown values are ignored.
  if (const char* env = std::getenv("TRAINSCOPE_HISTOGRAM_ISA")) {
    const std::string_view want(env);
    if (want == "portable") best = Isa::kPortable;
    if (want == "avx2" && best == Isa::kAvx512) best = Isa::kAvx2;
  }
  return best;
}

}  // namespace

StatLanes::StatLanes() {
  for (int j = 0; j < kLanes; ++j) {
    min[j] = std::numeric_limits<double>::infinity();
    max[j] = -std::numeric_limits<double>::infinity();
    sum[j] = 0;
    sum_squares[j] = 0;
  }
}

TfStats fold(const StatLanes& lanes) {
  TfStats st{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 0, 0, lanes.num};
  for (int j = 0; j < StatLanes::kLanes; ++j) {
    st.min = lanes.min[j] < st.min ? lanes.min[j] : st.min;
    st.max = lanes.max[j] > st.max ? lanes.max[j] : st.max;
    st.sum += lanes.sum[j];
    st.sum_squares += lanes.sum_squares[j];
  }
  return st;
}

SlotCounts::SlotCounts() { clear(); }
void SlotCounts::clear() { std::memset(c, 0, sizeof c); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kPortable:
      return "portable";
  }
  return "?";
}

bool isa_supported(Isa isa) {
  static const bool avx2 = cpu_has(Isa::kAvx2);
  static const bool avx512 = cpu_has(Isa::kAvx512);
  return isa == Isa::kPortable || (isa == Isa::kAvx2 && avx2) || (isa == Isa::kAvx512 && avx512);
}

Isa best_isa() {
  static const Isa isa = pick_isa();
  return isa;
}

void tf_blocks_portable(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  portable_blocks(v, blocks, counts, lanes);
}
void tf_blocks_portable(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  portable_blocks(v, blocks, counts, lanes);
}

void tf_count(Isa isa, const float* values, size_t n, SlotCounts& counts, StatLanes& lanes) {
  count_run(isa, values, n, counts, lanes);
}
void tf_count(Isa isa, const double* values, size_t n, SlotCounts& counts, StatLanes& lanes) {
  count_run(isa, values, n, counts, lanes);
}

void tf_slots(Isa isa, const float* values, size_t n, uint32_t* out) {
  if (!isa_supported(isa)) {
    throw std::invalid_argument(std::string("tf_slots: this CPU does not support ") + isa_name(isa));
  }
  const size_t blocks = n / StatLanes::kLanes;
  if (isa == Isa::kAvx512) tf_slots_avx512(values, blocks, out);
  if (isa == Isa::kAvx2) tf_slots_avx2(values, blocks, out);
  const size_t done = isa == Isa::kPortable ? 0 : blocks * StatLanes::kLanes;
  const TensorflowLookup& lookup = tensorflow_lookup();
  for (size_t i = done; i < n; ++i) out[i] = static_cast<uint32_t>(lookup.slot(values[i]));
}

}  // namespace trainscope::detail
