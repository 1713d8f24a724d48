// The O(1) bin lookup for PyTorch's default ("tensorflow") edges, exactly as a binary search
// over the edges would find the bin.
//
// A value's key is its sign, exponent and top 4 mantissa bits. A key's cell [low, high)
// has high / low <= 17/16, narrower than the 1.1 spacing of the edges, so it holds at most
// one positive edge; and no edge lies exactly on a cell boundary (checked below). With
// t = the number of positive edges below the cell, every value of the cell falls in bin g
// or g + 1, where g = kTfPositive + t for positive cells and kTfPositive - 2 - t for
// negative ones, so one comparison with edge[g + 1] settles it. The one exception is -0.0,
// which sorts with +0.0: negative cells wholly inside (-1e-12, 0] use g = kTfPositive - 1
// and compare with the edge 0 instead.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "trainscope/detail/histogram_kernels.h"
#include "trainscope/histogram.h"

namespace trainscope::detail {
namespace {

constexpr int kKeyShift = kTfKeyShiftDouble;  // 4 mantissa bits: cells span <= 17/16 < 1.1

}  // namespace

TensorflowLookup::TensorflowLookup(const std::vector<double>& edges) {
  if (edges.size() != static_cast<size_t>(kTfEdges)) {
    throw std::logic_error("tensorflow_edges: unexpected edge count");
  }
  const double* positive = edges.data() + kTfPositive + 1;
  for (int i = 0; i < kTfPositive; ++i) {
    // A cell boundary has only the top 4 mantissa bits set (in double and in float).
    if ((std::bit_cast<uint64_t>(positive[i]) & ((uint64_t{1} << kKeyShift) - 1)) == 0) {
      throw std::logic_error("tensorflow_edges: an edge lies on a lookup cell boundary");
    }
  }
  auto count_below = [&](double low) {
    return static_cast<int>(std::upper_bound(positive, positive + kTfPositive, low) - positive);
  };
  // t must grow by at most one from cell to cell, or one comparison would not be enough.
  auto check_step = [](int prev, int next) {
    if (next - prev > 1) throw std::logic_error("tensorflow_edges: lookup cells hold several edges");
  };
  // Slot guess for a cell with t edges below it; t_next is the count below the next cell
  // (0 when the whole cell is below the smallest positive edge).
  auto guess = [](bool negative, int t, int t_next) {
    int g = kTfPositive + t;
    if (negative) g = t_next == 0 ? kTfPositive - 1 : kTfPositive - 2 - t;
    return static_cast<uint16_t>(g + 2);
  };

  // float keys: 8 exponent bits + 4 mantissa bits per sign. All-ones exponents (inf,
  // NaN) count as above every edge, which sends them to the outer slots.
  std::vector<int> t(1u << 12, kTfPositive);
  for (uint32_t m = 0; m < (0xFFu << 4); ++m) {
    t[m] = count_below(static_cast<double>(std::bit_cast<float>(m << 19)));
    if (m > 0) check_step(t[m - 1], t[m]);
  }
  for (uint32_t m = 0; m < (1u << 12); ++m) {
    const int t_next = m + 1 < (1u << 12) ? t[m + 1] : kTfPositive;
    float_guess[m] = guess(false, t[m], t_next);
    float_guess[m | (1u << 12)] = guess(true, t[m], t_next);
  }

  // double keys: 11 exponent bits + 4 mantissa bits, restricted to the span of the edges.
  // The spare cell below holds no edge and the spare cell above is past the last one, so
  // clamping every key beyond to them gives the same answer.
  auto key_of = [](double a) { return static_cast<int>(std::bit_cast<uint64_t>(a) >> kKeyShift); };
  double_key_min = key_of(positive[0]) - 1;
  double_key_span = key_of(positive[kTfPositive - 1]) + 2 - double_key_min;
  t.assign(static_cast<size_t>(double_key_span) + 1, kTfPositive);
  for (int k = 0; k < double_key_span; ++k) {
    t[k] = count_below(std::bit_cast<double>(static_cast<uint64_t>(k + double_key_min) << kKeyShift));
    if (k > 0) check_step(t[k - 1], t[k]);
  }
  if (t[0] != 0 || t[1] != 0 || t[double_key_span - 1] != kTfPositive) {
    throw std::logic_error("tensorflow_edges: lookup table does not cover the edges");
  }
  double_guess.resize(2 * static_cast<size_t>(double_key_span) + 2);  // + 2: gather padding
  for (int k = 0; k < double_key_span; ++k) {
    double_guess[k] = guess(false, t[k], t[k + 1]);
    double_guess[k + double_key_span] = guess(true, t[k], t[k + 1]);
  }

  // The last edge is nudged one ulp up, so a value equal to it stays in the last (closed)
  // bin and only larger values go past it.
  constexpr double kInf = std::numeric_limits<double>::infinity();
  edge_above[0] = -kInf;
  for (int i = 0; i < kTfEdges; ++i) edge_above[i + 1] = edges[i];
  edge_above[kTfEdges] = std::nextafter(edges.back(), kInf);
  edge_above[kTfEdges + 1] = kInf;
  for (size_t h = 0; h < edge_above.size(); ++h) {
    float f = static_cast<float>(edge_above[h]);  // +-inf when out of float range
    if (static_cast<double>(f) < edge_above[h]) f = std::nextafter(f, std::numeric_limits<float>::infinity());
    edge_above_f[h] = f;
  }
  edge_above_f[kTfEdges + 2] = std::numeric_limits<float>::infinity();

  // k' = (log2|x| - log2(1e-12)) / log2(1.1), split as e * k_exp + T[i] + ln(m * inv[i]) * k_ln
  // with T[i] = (log2(1 / inv[i]) - log2(1e-12)) * k_exp, all in double before rounding.
  const double per_log2 = 1.0 / std::log2(1.1);
  k_exp = static_cast<float>(per_log2);
  k_ln = static_cast<float>(per_log2 / std::log(2.0));
  auto fill = [&](float* inv, float* log, int cells) {
    for (int i = 0; i < cells; ++i) {
      const double mid = 1.0 + (i + 0.5) / cells;
      inv[i] = static_cast<float>(1.0 / mid);
      log[i] = static_cast<float>((-std::log2(static_cast<double>(inv[i])) - std::log2(1e-12)) * per_log2);
    }
  };
  // f(m) = (log2(m) - log2(1e-12)) * per_log2 is concave: on each cell the chord lies below
  // it by at most d (where f' equals the chord's slope), so chord + d / 2 is within d / 2.
  auto f = [&](double m) { return (std::log2(m) - std::log2(1e-12)) * per_log2; };
  for (int i = 0; i < 32; ++i) {
    const double m0 = 1.0 + i / 32.0, m1 = 1.0 + (i + 1) / 32.0;
    const double slope = (f(m1) - f(m0)) / (m1 - m0);
    const double touch = per_log2 / (slope * std::log(2.0));  // f'(touch) == slope
    const double d = f(touch) - (f(m0) + slope * (touch - m0));
    line_b32[i] = static_cast<float>(slope);
    line_a32[i] = static_cast<float>(f(m0) - slope * m0 + d / 2 + kTfUncertain);
  }
  fill(inv8, log8, 8);
}

const TensorflowLookup& tensorflow_lookup() {
  static const TensorflowLookup lookup(tensorflow_edges());
  return lookup;
}

}  // namespace trainscope::detail
