// Default-edge ("tensorflow") counts and statistics before PyTorch's max_bins and trimming:
// lets the torch half bin a large CPU tensor during the call (instead of copying it) and
// finish the histogram on the writer thread. Internal to the SDK; not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "trainscope/detail/histogram_kernels.h"
#include "trainscope/export.h"
#include "trainscope/summary_data.h"

namespace trainscope::detail {

struct TfCounts {
  std::vector<double> counts;  // kTfBins entries: values in [edge i, edge i+1), last bin closed
  TfStats stats{};             // over the finite values
  size_t n = 0;                // all values, non-finite included
};

// One pass over the values, vectorised, on this thread plus the chunk pool for big inputs.
TRAINSCOPE_API TfCounts count_tensorflow(const float* values, size_t n);
TRAINSCOPE_API TfCounts count_tensorflow(const double* values, size_t n);

// max_bins and trimming as compute_histogram does them; throws std::invalid_argument (the
// same messages) when no finite value remains.
TRAINSCOPE_API HistogramData finish_tensorflow(const TfCounts& counts, int max_bins);

// The caller-side copy of a histogram's input (a CPU tensor below the bin-at-call size):
// memcpy split between the calling thread and the histogram pool's helpers, which are idle
// while the caller copies; one thread for small copies or when the pool has no helper.
TRAINSCOPE_API void copy_histogram_input(void* dst, const void* src, size_t bytes);

// Whether any value is finite. Stops at the first block holding one (the first, as a rule),
// so add_histogram refuses an all-NaN tensor for the cost of a few loads instead of a pass
// over the data (a tensor isfinite().any() costs ~1 ms for 1M float32 values here).
TRAINSCOPE_API bool any_finite(const float* values, size_t n);
TRAINSCOPE_API bool any_finite(const double* values, size_t n);

}  // namespace trainscope::detail
