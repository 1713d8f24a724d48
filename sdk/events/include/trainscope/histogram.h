// Histogram binning that matches PyTorch's torch.utils.tensorboard bucket for bucket
// (numpy.histogram semantics, PyTorch's "tensorflow" default edges, max_bins, trimming).
// Torch-free; the tensor-facing SummaryWriter calls it on the writer thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/summary_data.h"

namespace trainscope {

// How values are binned.
struct HistogramBins {
  enum class Kind { kTensorflow, kCount, kEdges };
  Kind kind = Kind::kTensorflow;
  int count = 0;              // kCount: equal-width bins between min and max
  std::vector<double> edges;  // kEdges: increasing edges (n+1 edges for n bins)

  static HistogramBins tensorflow() { return {}; }
  static HistogramBins uniform(int n) { return {Kind::kCount, n, {}}; }
  static HistogramBins explicit_edges(std::vector<double> e) { return {Kind::kEdges, 0, std::move(e)}; }
};

// PyTorch's default edges: v = 1e-12 * 1.1^k (by repeated multiplication) while v < 1e20,
// mirrored, with 0 in the middle: 1549 edges.
TRAINSCOPE_API const std::vector<double>& tensorflow_edges();

// Bins `n` values. Non-finite values are left out and counted in `nonfinite`.
// max_bins <= 0 means no limit. Throws std::invalid_argument when no finite value remains
// or the bins are invalid (count < 1, edges not increasing or fewer than 2).
TRAINSCOPE_API HistogramData compute_histogram(const float* values, size_t n, const HistogramBins& bins,
                                               int max_bins = 0);
TRAINSCOPE_API HistogramData compute_histogram(const double* values, size_t n, const HistogramBins& bins,
                                               int max_bins = 0);

// Finishes a histogram whose counts were computed elsewhere (e.g. on a GPU):
// `counts[i]` is the number of values in [edges[i], edges[i+1]) (last bin closed).
// Applies max_bins and PyTorch's trimming; stats are copied through.
TRAINSCOPE_API HistogramData finish_histogram(const std::vector<double>& edges, const std::vector<double>& counts,
                                              double min, double max, double num, double sum,
                                              double sum_squares, int max_bins = 0);

}  // namespace trainscope
