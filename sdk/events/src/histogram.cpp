// Histogram binning that reproduces PyTorch's torch.utils.tensorboard output bucket for
// bucket: SummaryWriter.add_histogram -> summary.histogram (values.astype(float)) ->
// make_histogram -> numpy.histogram, then PyTorch's max_bins subsampling and trimming.
//
// Every value is promoted to double before it is compared or binned, because PyTorch's
// summary.histogram() converts the array to float64 before numpy sees it; numpy's float32
// arithmetic (float32 linspace edges) therefore never applies on that path.
#include "trainscope/histogram.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "parallel_chunks.h"
#include "trainscope/detail/histogram_counts.h"
#include "trainscope/detail/histogram_kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace trainscope {
namespace {

// ---------------------------------------------------------------------------------------
// Statistics over the finite values.
//
// PyTorch reports sum = values.sum() (numpy pairwise summation) and sum_squares =
// values.dot(values) (BLAS) on the float64 copy, and min/max/num over all values. We leave
// non-finite values out of every statistic and sum in double with several independent
// accumulators, so sum and sum_squares can differ from PyTorch's in the last bits of a
// double; callers that compare them use a relative tolerance.
struct Stats {
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0, sum_squares = 0;
  int64_t num = 0;
  int64_t nonfinite = 0;
};

// The statistics TensorBoard shows beside the buckets, from one pass's Stats.
HistogramData with_stats(HistogramData h, const Stats& st) {
  h.min = st.min;
  h.max = st.max;
  h.num = static_cast<double>(st.num);
  h.sum = st.sum;
  h.sum_squares = st.sum_squares;
  h.nonfinite = st.nonfinite;
  return h;
}

inline bool is_finite_bits(uint64_t bits) { return ((bits >> 52) & 0x7FF) != 0x7FF; }

// Accumulates the stats for the equal-width and explicit-edge paths (the default edges have
// their own kernels, histogram_kernels*.cpp). On x86-64 they use SSE2 (part of the baseline ABI, no -march needed) two
// doubles at a time, without branches: d = x - x is +0 for finite x and NaN otherwise, which both masks the sums and
// hides the value from minpd/maxpd (they return their second operand on NaN). Several lanes also keep the additions
// independent of each other.
class StatsAccumulator {
 public:
  void add(const float* v, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    // Local copies stay in registers; the members are SSE types, which may alias anything,
    // so working on them directly would store them back after every counter increment.
    Lanes a = lanes_[0], b = lanes_[1];
    for (; i + 4 <= n; i += 4) {
      const __m128 f = _mm_loadu_ps(v + i);
      add2(a, _mm_cvtps_pd(f));
      add2(b, _mm_cvtps_pd(_mm_movehl_ps(f, f)));
    }
    lanes_[0] = a;
    lanes_[1] = b;
#endif
    for (; i < n; ++i) add1(static_cast<double>(v[i]));
    seen_ += n;
  }
  void add(const double* v, size_t n) {
    size_t i = 0;
#if defined(__SSE2__)
    Lanes a = lanes_[0], b = lanes_[1];
    for (; i + 4 <= n; i += 4) {
      add2(a, _mm_loadu_pd(v + i));
      add2(b, _mm_loadu_pd(v + i + 2));
    }
    lanes_[0] = a;
    lanes_[1] = b;
#endif
    for (; i < n; ++i) add1(v[i]);
    seen_ += n;
  }

  Stats finish() const {
    Stats st;
    st.min = min_;
    st.max = max_;
    st.sum = sum_;
    st.sum_squares = sum_squares_;
    st.num = num_;
#if defined(__SSE2__)
    for (const Lanes& l : lanes_) {
      alignas(16) double mn[2], mx[2], s[2], q[2];
      alignas(16) int64_t c[2];
      _mm_store_pd(mn, l.min);
      _mm_store_pd(mx, l.max);
      _mm_store_pd(s, l.sum);
      _mm_store_pd(q, l.sum_squares);
      _mm_store_si128(reinterpret_cast<__m128i*>(c), l.num);
      for (int k = 0; k < 2; ++k) {
        st.min = std::min(st.min, mn[k]);
        st.max = std::max(st.max, mx[k]);
        st.sum += s[k];
        st.sum_squares += q[k];
        st.num += c[k];
      }
    }
#endif
    st.nonfinite = static_cast<int64_t>(seen_) - st.num;
    return st;
  }

 private:
  void add1(double x) {
    if (!is_finite_bits(std::bit_cast<uint64_t>(x))) return;
    min_ = x < min_ ? x : min_;
    max_ = x > max_ ? x : max_;
    sum_ += x;
    sum_squares_ += x * x;
    ++num_;
  }

#if defined(__SSE2__)
  struct Lanes {
    __m128d min = _mm_set1_pd(std::numeric_limits<double>::infinity());
    __m128d max = _mm_set1_pd(-std::numeric_limits<double>::infinity());
    __m128d sum = _mm_setzero_pd();
    __m128d sum_squares = _mm_setzero_pd();
    __m128i num = _mm_setzero_si128();
  };
  static inline void add2(Lanes& l, __m128d x) {
    const __m128d d = _mm_sub_pd(x, x);         // +0 when finite, NaN otherwise
    const __m128d ok = _mm_cmpord_pd(d, d);     // all ones when finite
    const __m128d x_or_nan = _mm_sub_pd(x, d);  // x exactly (-0.0 stays -0.0), or NaN
    l.min = _mm_min_pd(x_or_nan, l.min);
    l.max = _mm_max_pd(x_or_nan, l.max);
    const __m128d x_or_zero = _mm_and_pd(x, ok);
    l.sum = _mm_add_pd(l.sum, x_or_zero);
    l.sum_squares = _mm_add_pd(l.sum_squares, _mm_mul_pd(x_or_zero, x_or_zero));
    l.num = _mm_sub_epi64(l.num, _mm_castpd_si128(ok));  // all ones == -1
  }
  Lanes lanes_[2];
#endif
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
  double sum_ = 0, sum_squares_ = 0;
  int64_t num_ = 0;
  size_t seen_ = 0;
};

template <typename T>
Stats compute_stats(const T* values, size_t n) {
  StatsAccumulator acc;
  acc.add(values, n);
  return acc.finish();
}

void require_finite_values(const Stats& st, size_t n) {
  if (st.num > 0) return;
  if (n == 0) throw std::invalid_argument("add_histogram: no finite values (the input is empty)");
  throw std::invalid_argument("add_histogram: no finite values (all " + std::to_string(n) +
                              " values are NaN or infinite)");
}

// ---------------------------------------------------------------------------------------
// Default ("tensorflow") edges: the vectorised kernels of histogram_kernels*.cpp over
// chunks of kChunk values, on the calling thread and the chunk pool's helpers. Each chunk's
// statistics are folded on their own and merged in chunk order, so the result does not
// depend on the number of threads or the instruction set; counts are integers.

using detail::kTfBins;
using detail::kTfSlots;

std::vector<double> make_tensorflow_edges() {
  // Same loop as SummaryWriter.__init__: repeated multiplication, so every edge carries the
  // same rounding as PyTorch's (1e-12 * pow(1.1, k) would not).
  std::vector<double> positive;
  double v = 1e-12;
  while (v < 1e20) {
    positive.push_back(v);
    v *= 1.1;
  }
  std::vector<double> edges;
  edges.reserve(2 * positive.size() + 1);
  for (auto it = positive.rbegin(); it != positive.rend(); ++it) edges.push_back(-*it);
  edges.push_back(0.0);
  edges.insert(edges.end(), positive.begin(), positive.end());
  return edges;
}

bool is_tensorflow_edges(const std::vector<double>& edges) {
  const std::vector<double>& tf = tensorflow_edges();
  return edges.size() == tf.size() && std::equal(edges.begin(), edges.end(), tf.begin());
}

constexpr size_t kChunk = size_t{1} << 16;  // a multiple of the kernels' 16 lanes
constexpr int kMinParallelChunks = 4;       // below ~256K values a helper costs more than it saves

// One participant's counters: 32-bit per run, folded into 64-bit totals well before a
// 32-bit counter could wrap.
struct Partial {
  detail::SlotCounts counts;
  std::array<uint64_t, kTfSlots> total{};
  size_t pending = 0;

  void flush() {
    for (int s = 0; s < kTfSlots; ++s) total[s] += counts.at(s);
    counts.clear();
    pending = 0;
  }
};

template <typename T>
struct TfJob {
  const T* values;
  size_t n;
  detail::Isa isa;
  std::vector<std::unique_ptr<Partial>> partials;  // one per participant, made on first use
  std::vector<detail::TfStats> chunk_stats;

  static void run(void* ctx, unsigned participant, size_t chunk) {
    auto& job = *static_cast<TfJob*>(ctx);
    auto& partial = job.partials[participant];
    if (!partial) partial = std::make_unique<Partial>();
    const size_t begin = chunk * kChunk;
    const size_t len = std::min(kChunk, job.n - begin);
    detail::StatLanes lanes;
    detail::tf_count(job.isa, job.values + begin, len, partial->counts, lanes);
    job.chunk_stats[chunk] = detail::fold(lanes);
    partial->pending += len;
    if (partial->pending >= (size_t{1} << 31)) partial->flush();
  }
};

template <typename T>
detail::TfCounts count_tensorflow_impl(const T* values, size_t n) {
  TfJob<T> job{values, n, detail::best_isa(), {}, {}};
  const size_t chunks = (n + kChunk - 1) / kChunk;
  job.chunk_stats.resize(chunks);
  job.partials.resize(chunks >= kMinParallelChunks ? detail::max_participants() : 1);
  if (chunks >= kMinParallelChunks) {
    detail::run_chunks(chunks, &TfJob<T>::run, &job);
  } else {
    for (size_t c = 0; c < chunks; ++c) TfJob<T>::run(&job, 0, c);
  }

  detail::TfCounts out;
  out.n = n;
  std::array<uint64_t, kTfSlots> total{};
  for (auto& partial : job.partials) {
    if (!partial) continue;
    partial->flush();
    for (int s = 0; s < kTfSlots; ++s) total[s] += partial->total[s];
  }
  out.counts.assign(total.begin() + 2, total.begin() + 2 + kTfBins);
  detail::TfStats st{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(), 0, 0, 0};
  for (const detail::TfStats& c : job.chunk_stats) {
    st.min = c.min < st.min ? c.min : st.min;
    st.max = c.max > st.max ? c.max : st.max;
    st.sum += c.sum;
    st.sum_squares += c.sum_squares;
    st.num += c.num;
  }
  out.stats = st;
  return out;
}

// ---------------------------------------------------------------------------------------
// Explicit edges: numpy's cumulative (non-uniform) path. Bin i holds [e_i, e_{i+1}), the
// last bin is closed, values outside [e_0, e_last] are dropped.

void validate_edges(const std::vector<double>& edges, const char* what) {
  if (edges.size() < 2) {
    throw std::invalid_argument(std::string(what) + ": bin edges need at least 2 values, got " +
                                std::to_string(edges.size()));
  }
  if (edges.size() > std::numeric_limits<uint32_t>::max()) {  // EdgeCells indexes with 32 bits
    throw std::invalid_argument(std::string(what) + ": too many bin edges");
  }
  for (size_t i = 0; i + 1 < edges.size(); ++i) {
    if (!(edges[i] < edges[i + 1])) {  // also rejects NaN
      throw std::invalid_argument(std::string(what) + ": bin edges must be strictly increasing (edge " +
                                  std::to_string(i + 1) + " is not above edge " + std::to_string(i) + ")");
    }
  }
}

// Narrows the binary search for explicit edges. The range [e_0, e_last] is cut into equal
// cells by a formula that is monotone in x (subtract, scale, truncate); no table entry
// depends on the formula being exact. With first_edge[c] = the first edge whose own cell is
// >= c, an edge in an earlier cell is below every value of cell c and an edge in a later
// cell above it, so the bin of a value in cell c lies in
// [first_edge[c] - 1, first_edge[c + 1] - 1]: usually one or two candidates, whatever the
// spacing of the edges.
class EdgeCells {
 public:
  explicit EdgeCells(const std::vector<double>& edges) : edges_(edges.data()) {
    const size_t n_edges = edges.size();
    origin_ = edges.front();
    const double width = edges.back() - edges.front();
    cells_ = std::min<int64_t>(std::max<int64_t>(4 * static_cast<int64_t>(n_edges), 16), int64_t{1} << 20);
    scale_ = static_cast<double>(cells_) / width;
    // Infinite edges or a range too wide for a double: one cell, a plain binary search.
    if (!std::isfinite(width) || !std::isfinite(scale_) || !(scale_ > 0)) {
      cells_ = 1;
      scale_ = 0;
    }
    first_edge_.assign(static_cast<size_t>(cells_) + 1, static_cast<uint32_t>(n_edges));
    size_t j = 0;
    for (int64_t c = 0; c < cells_; ++c) {
      while (j < n_edges && cell(edges[j]) < c) ++j;
      first_edge_[static_cast<size_t>(c)] = static_cast<uint32_t>(j);
    }
  }

  // Bin of x, for e_0 <= x < e_last: the last edge <= x.
  inline size_t bin(double x) const {
    const size_t c = static_cast<size_t>(cell(x));
    const size_t lo = first_edge_[c];
    size_t base = lo > 0 ? lo - 1 : 0;
    const size_t hi = first_edge_[c + 1] - 1;  // the answer is in [base, hi]
    // The common case, one or two candidates, without a data-dependent branch (a loop
    // whose trip count varies from value to value mispredicts about every other time).
    if (hi - base <= 1) return base + static_cast<size_t>((hi > base) & (edges_[hi] <= x));
    size_t len = hi - base + 1;
    while (len > 1) {  // branch-free upper_bound over the candidates
      const size_t half = len / 2;
      base = edges_[base + half] <= x ? base + half : base;
      len -= half;
    }
    return base;
  }

 private:
  inline int64_t cell(double x) const {
    if (scale_ == 0) return 0;
    // x is within [e_0, e_last], so this is in [0, cells_] give or take rounding.
    const int64_t c = static_cast<int64_t>((x - origin_) * scale_);
    return c < 0 ? 0 : (c >= cells_ ? cells_ - 1 : c);
  }

  const double* edges_;
  double origin_ = 0, scale_ = 0;
  int64_t cells_ = 1;
  std::vector<uint32_t> first_edge_;  // cells_ + 1 entries, the last one = edge count
};

template <typename T>
std::vector<double> explicit_counts(const T* values, size_t n, const std::vector<double>& edges) {
  const size_t n_bins = edges.size() - 1;
  std::vector<int64_t> counts(n_bins, 0);
  const EdgeCells cells(edges);
  const double first = edges.front(), last = edges.back();
  for (size_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(values[i]);
    // Non-finite values are left out of the counts as well as the stats, even when the
    // edges are infinite (where numpy would count an infinity).
    if (!is_finite_bits(std::bit_cast<uint64_t>(x)) || !(x >= first && x <= last)) continue;
    ++counts[x == last ? n_bins - 1 : cells.bin(x)];
  }
  return {counts.begin(), counts.end()};
}

// ---------------------------------------------------------------------------------------
// Integer bin count: numpy's uniform fast path, in float64.

// numpy.linspace(first, last, n_bins + 1): y = arange * step (or arange / div * delta when
// the step underflows), then y += first, then the last point set to `last`. Each step is a
// separately rounded float64 operation; the volatile keeps a compiler from fusing the
// multiply and add into one FMA, which would round differently.
std::vector<double> numpy_linspace(double first, double last, int n_bins) {
  const double delta = last - first;
  const double div = static_cast<double>(n_bins);
  const double step = delta / div;
  std::vector<double> y(static_cast<size_t>(n_bins) + 1);
  for (int i = 0; i <= n_bins; ++i) {
    volatile double scaled = step == 0 ? (static_cast<double>(i) / div) * delta : static_cast<double>(i) * step;
    y[i] = scaled + first;
  }
  y[n_bins] = last;
  return y;
}

template <typename T>
std::vector<double> uniform_counts(const T* values, size_t n, const std::vector<double>& edges, double first,
                                   double last) {
  const int64_t n_bins = static_cast<int64_t>(edges.size()) - 1;
  const double norm_numerator = static_cast<double>(n_bins);
  const double norm_denom = last - first;
  std::vector<int64_t> counts(static_cast<size_t>(n_bins), 0);
  const double* e = edges.data();
  for (size_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(values[i]);
    if (!(x >= first && x <= last)) continue;  // only non-finite values fail here
    // numpy: ((a - first) / denom) * n, truncated, then corrected against the edges since
    // the formula can be one ulp off near an edge.
    int64_t idx = static_cast<int64_t>(((x - first) / norm_denom) * norm_numerator);
    if (idx == n_bins) --idx;
    if (x < e[idx]) --idx;
    if (x >= e[idx + 1] && idx != n_bins - 1) ++idx;
    ++counts[static_cast<size_t>(idx)];
  }
  return {counts.begin(), counts.end()};
}

// ---------------------------------------------------------------------------------------
// PyTorch's make_histogram post-processing.

// max_bins: sum groups of num_bins // max_bins bins (zero-padded to a whole group) and keep
// every group's left edge plus the last edge.
void subsample(std::vector<double>& limits, std::vector<double>& counts, int max_bins) {
  const size_t num_bins = counts.size();
  if (max_bins <= 0 || num_bins <= static_cast<size_t>(max_bins)) return;
  const size_t sub = num_bins / static_cast<size_t>(max_bins);
  const size_t groups = (num_bins + sub - 1) / sub;
  std::vector<double> new_counts(groups, 0.0), new_limits(groups + 1);
  for (size_t i = 0; i < num_bins; ++i) new_counts[i / sub] += counts[i];
  for (size_t g = 0; g < groups; ++g) new_limits[g] = limits[g * sub];
  new_limits[groups] = limits.back();
  counts = std::move(new_counts);
  limits = std::move(new_limits);
}

// Python slice a[lo:hi] for non-negative lo, hi (clamped like Python does).
std::vector<double> py_slice(const std::vector<double>& a, size_t lo, size_t hi) {
  lo = std::min(lo, a.size());
  hi = std::min(hi, a.size());
  if (lo >= hi) return {};
  return {a.begin() + static_cast<std::ptrdiff_t>(lo), a.begin() + static_cast<std::ptrdiff_t>(hi)};
}

// Keeps the support of the histogram, written as PyTorch's cumsum/searchsorted so that the
// corner cases (no non-empty bin, a single bin, support touching either end) come out the
// same. TensorBoard stores right limits only, so one bucket left of the support is kept
// (or an empty one is made up) to carry the left edge.
void trim(std::vector<double>& limits, std::vector<double>& counts) {
  const size_t len = counts.size();
  std::vector<int64_t> cum(len);
  int64_t running = 0;
  for (size_t i = 0; i < len; ++i) {
    running += counts[i] > 0 ? 1 : 0;
    cum[i] = running;
  }
  // searchsorted(cum, v, side="right") == number of entries <= v (cum is sorted).
  auto right = [&](int64_t v) {
    return static_cast<size_t>(std::upper_bound(cum.begin(), cum.end(), v) - cum.begin());
  };
  const size_t start = right(0);
  const size_t end = right(cum.back() - 1) + 1;
  std::vector<double> new_counts;
  if (start > 0) {
    new_counts = py_slice(counts, start - 1, end);
  } else {
    new_counts.push_back(0.0);
    std::vector<double> head = py_slice(counts, 0, end);
    new_counts.insert(new_counts.end(), head.begin(), head.end());
  }
  std::vector<double> new_limits = py_slice(limits, start, end + 1);
  if (new_counts.empty() || new_limits.empty()) {
    // PyTorch raises here ("The histogram is empty"): no value fell inside the edges.
    throw std::invalid_argument("add_histogram: no value falls inside the bin edges");
  }
  counts = std::move(new_counts);
  limits = std::move(new_limits);
}

HistogramData finish(std::vector<double> limits, std::vector<double> counts, int max_bins) {
  subsample(limits, counts, max_bins);
  trim(limits, counts);
  HistogramData h;
  h.bucket_limit = std::move(limits);
  h.bucket = std::move(counts);
  return h;
}

template <typename T>
HistogramData compute(const T* values, size_t n, const HistogramBins& bins, int max_bins) {
  // Validate the bins before looking at the data, so a bad argument is reported as such.
  if (bins.kind == HistogramBins::Kind::kCount && bins.count < 1) {
    throw std::invalid_argument("add_histogram: bin count must be at least 1, got " + std::to_string(bins.count));
  }
  if (bins.kind == HistogramBins::Kind::kEdges) validate_edges(bins.edges, "add_histogram");

  const bool tensorflow = bins.kind == HistogramBins::Kind::kTensorflow ||
                          (bins.kind == HistogramBins::Kind::kEdges && is_tensorflow_edges(bins.edges));
  if (tensorflow) return detail::finish_tensorflow(count_tensorflow_impl(values, n), max_bins);

  const Stats st = compute_stats(values, n);
  require_finite_values(st, n);
  std::vector<double> limits, counts;
  if (bins.kind == HistogramBins::Kind::kEdges) {
    limits = bins.edges;
    counts = explicit_counts(values, n, limits);
  } else {
    // numpy's _get_outer_edges: the data range, widened by 0.5 each way when flat.
    double first = st.min, last = st.max;
    if (first == last) {
      first -= 0.5;
      last += 0.5;
    }
    if (!std::isfinite(last - first)) {
      throw std::invalid_argument("add_histogram: the value range is too wide for equal-width bins");
    }
    limits = numpy_linspace(first, last, bins.count);
    for (size_t i = 0; i + 1 < limits.size(); ++i) {
      if (!(limits[i] < limits[i + 1])) {
        throw std::invalid_argument("add_histogram: too many bins for the data range; cannot make " +
                                    std::to_string(bins.count) + " finite-sized bins");
      }
    }
    counts = uniform_counts(values, n, limits, first, last);
  }
  return with_stats(finish(std::move(limits), std::move(counts), max_bins), st);
}

}  // namespace

const std::vector<double>& tensorflow_edges() {
  static const std::vector<double> edges = make_tensorflow_edges();
  return edges;
}

namespace detail {

template <typename T>
bool any_finite_impl(const T* values, size_t n) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  constexpr Bits kExp = static_cast<Bits>(sizeof(T) == 4 ? 0x7F800000ull : 0x7FF0000000000000ull);
  // Blocks of 64 without a branch inside (vectorised), so an all-NaN tensor is scanned at
  // memory speed; the first block decides for any usual tensor.
  constexpr size_t kBlock = 64;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    bool any = false;
    for (size_t j = 0; j < kBlock; ++j) any |= (std::bit_cast<Bits>(values[i + j]) & kExp) != kExp;
    if (any) return true;
  }
  for (; i < n; ++i) {
    if ((std::bit_cast<Bits>(values[i]) & kExp) != kExp) return true;
  }
  return false;
}

void copy_histogram_input(void* dst, const void* src, size_t bytes) { parallel_copy(dst, src, bytes); }

bool any_finite(const float* values, size_t n) { return any_finite_impl(values, n); }
bool any_finite(const double* values, size_t n) { return any_finite_impl(values, n); }

TfCounts count_tensorflow(const float* values, size_t n) { return count_tensorflow_impl(values, n); }
TfCounts count_tensorflow(const double* values, size_t n) { return count_tensorflow_impl(values, n); }

HistogramData finish_tensorflow(const TfCounts& c, int max_bins) {
  Stats st;
  st.min = c.stats.min;
  st.max = c.stats.max;
  st.sum = c.stats.sum;
  st.sum_squares = c.stats.sum_squares;
  st.num = c.stats.num;
  st.nonfinite = static_cast<int64_t>(c.n) - c.stats.num;
  require_finite_values(st, c.n);
  return with_stats(finish(tensorflow_edges(), c.counts, max_bins), st);
}

}  // namespace detail

HistogramData compute_histogram(const float* values, size_t n, const HistogramBins& bins, int max_bins) {
  return compute(values, n, bins, max_bins);
}

HistogramData compute_histogram(const double* values, size_t n, const HistogramBins& bins, int max_bins) {
  return compute(values, n, bins, max_bins);
}

HistogramData finish_histogram(const std::vector<double>& edges, const std::vector<double>& counts, double min,
                               double max, double num, double sum, double sum_squares, int max_bins) {
  validate_edges(edges, "finish_histogram");
  if (counts.size() + 1 != edges.size()) {
    throw std::invalid_argument("finish_histogram: expected " + std::to_string(edges.size() - 1) + " counts for " +
                                std::to_string(edges.size()) + " edges, got " + std::to_string(counts.size()));
  }
  HistogramData h = finish(edges, counts, max_bins);
  h.min = min;
  h.max = max;
  h.num = num;
  h.sum = sum;
  h.sum_squares = sum_squares;
  return h;
}

}  // namespace trainscope
