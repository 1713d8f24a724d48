// Unit tests for trainscope/histogram.h: PyTorch's expected output, the fast default-edge
// lookup against a plain binary search, numpy's equal-width and explicit-edge paths,
// max_bins subsampling, trimming corner cases, non-finite handling and validation; and
// every vectorised kernel the CPU supports against the portable one, bit for bit.
#include "trainscope/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/detail/histogram_counts.h"
#include "trainscope/detail/histogram_kernels.h"

namespace trainscope {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Slow reference: numpy's explicit-edge semantics with std::upper_bound, then the
// support trimming written the obvious way (first/last non-empty bin), independent of the
// cumsum/searchsorted formulation in the library.
template <typename T>
HistogramData reference_histogram(const std::vector<T>& values, const std::vector<double>& edges) {
  std::vector<double> counts(edges.size() - 1, 0.0);
  for (T v : values) {
    const double x = static_cast<double>(v);
    if (!std::isfinite(x)) continue;
    if (x == edges.back()) {
      counts.back() += 1;
      continue;
    }
    const auto it = std::upper_bound(edges.begin(), edges.end(), x);
    if (it == edges.begin() || it == edges.end()) continue;
    counts[static_cast<size_t>(it - edges.begin()) - 1] += 1;
  }
  size_t first = counts.size(), last = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) {
      first = std::min(first, i);
      last = i;
    }
  }
  HistogramData h;
  if (first == counts.size()) return h;  // nothing inside the edges
  if (first == 0) {
    h.bucket.push_back(0);
    h.bucket.insert(h.bucket.end(), counts.begin(), counts.begin() + static_cast<long>(last) + 1);
    h.bucket_limit.assign(edges.begin(), edges.begin() + static_cast<long>(last) + 2);
  } else {
    h.bucket.assign(counts.begin() + static_cast<long>(first) - 1, counts.begin() + static_cast<long>(last) + 1);
    h.bucket_limit.assign(edges.begin() + static_cast<long>(first), edges.begin() + static_cast<long>(last) + 2);
  }
  return h;
}

void expect_same_buckets(const HistogramData& got, const HistogramData& want) {
  ASSERT_EQ(got.bucket_limit.size(), want.bucket_limit.size());
  ASSERT_EQ(got.bucket.size(), want.bucket.size());
  for (size_t i = 0; i < want.bucket.size(); ++i) {
    EXPECT_EQ(got.bucket_limit[i], want.bucket_limit[i]) << "limit " << i;
    EXPECT_EQ(got.bucket[i], want.bucket[i]) << "bucket " << i;
  }
}

// Values that stress the default edges: every edge, its neighbours one ulp either side
// (in double and, for float input, in float), zeros of both signs, denormals, values
// beyond the outermost edges, and normal data at several scales.
std::vector<double> stress_values_double() {
  const std::vector<double>& edges = tensorflow_edges();
  std::vector<double> v;
  for (double e : edges) {
    v.push_back(e);
    v.push_back(std::nextafter(e, kInf));
    v.push_back(std::nextafter(e, -kInf));
    v.push_back(e * 1.05);
  }
  for (double x : {0.0, -0.0, 1e-300, -1e-300, 4.9e-324, -4.9e-324, 1e-13, -1e-13, 1e20, -1e20, 1e25, -1e25, 1e300,
                   -1e300, std::numeric_limits<double>::max(), -std::numeric_limits<double>::max()}) {
    v.push_back(x);
  }
  std::mt19937_64 rng(1234);
  for (double scale : {1e-10, 1e-3, 1.0, 1e3, 1e12}) {
    std::normal_distribution<double> normal(0.0, scale);
    for (int i = 0; i < 20000; ++i) v.push_back(normal(rng));
  }
  std::uniform_real_distribution<double> exponent(-323, 308);  // stays finite
  for (int i = 0; i < 20000; ++i) v.push_back((i % 2 ? 1 : -1) * std::pow(10.0, exponent(rng)));
  return v;
}

std::vector<float> stress_values_float() {
  std::vector<float> v;
  for (double e : tensorflow_edges()) {
    const float f = static_cast<float>(e);
    v.push_back(f);
    v.push_back(std::nextafter(f, std::numeric_limits<float>::infinity()));
    v.push_back(std::nextafter(f, -std::numeric_limits<float>::infinity()));
  }
  for (float x : {0.0f, -0.0f, 1e-40f, -1e-40f, 1e-13f, 1e20f, -1e20f, 3e38f, -3e38f}) v.push_back(x);
  std::mt19937 rng(99);
  for (float scale : {1e-8f, 1.0f, 1e6f}) {
    std::normal_distribution<float> normal(0.0f, scale);
    for (int i = 0; i < 20000; ++i) v.push_back(normal(rng));
  }
  return v;
}

TEST(TensorflowEdges, MatchPyTorchDefaultBins) {
  const std::vector<double>& edges = tensorflow_edges();
  ASSERT_EQ(edges.size(), 1549u);
  EXPECT_EQ(edges[774], 0.0);
  EXPECT_EQ(edges[775], 1e-12);
  EXPECT_EQ(edges[776], 1e-12 * 1.1);
  EXPECT_LT(edges.back(), 1e20);
  EXPECT_GE(edges.back() * 1.1, 1e20);
  for (size_t i = 0; i < 774; ++i) EXPECT_EQ(edges[i], -edges[1548 - i]) << i;
  for (size_t i = 776; i < edges.size(); ++i) EXPECT_EQ(edges[i], edges[i - 1] * 1.1) << i;
  EXPECT_EQ(&edges, &tensorflow_edges());  // cached, not rebuilt
}

// PyTorch's test_tensorboard.py expect file for histogram('dummy', arange(1024),
// bins='auto', max_bins=5): numpy's 'auto' picks 11 equal-width bins over [0, 1023].
TEST(Histogram, PyTorchExpectCase) {
  std::vector<double> values(1024);
  for (int i = 0; i < 1024; ++i) values[i] = i;
  for (int as_float = 0; as_float < 2; ++as_float) {
    std::vector<float> fvalues(values.begin(), values.end());
    const HistogramData h = as_float ? compute_histogram(fvalues.data(), fvalues.size(), HistogramBins::uniform(11), 5)
                                     : compute_histogram(values.data(), values.size(), HistogramBins::uniform(11), 5);
    EXPECT_EQ(h.bucket_limit, (std::vector<double>{0, 186, 372, 558, 744, 930, 1023}));
    EXPECT_EQ(h.bucket, (std::vector<double>{0, 186, 186, 186, 186, 186, 94}));
    EXPECT_EQ(h.num, 1024);
    EXPECT_EQ(h.sum, 523776);
    EXPECT_EQ(h.sum_squares, 357389824);
    EXPECT_EQ(h.min, 0);
    EXPECT_EQ(h.max, 1023);
    EXPECT_EQ(h.nonfinite, 0);
  }
}

TEST(Histogram, TensorflowBinsMatchBinarySearchDouble) {
  const std::vector<double> values = stress_values_double();
  const HistogramData got = compute_histogram(values.data(), values.size(), HistogramBins::tensorflow());
  expect_same_buckets(got, reference_histogram(values, tensorflow_edges()));
  EXPECT_EQ(got.num, static_cast<double>(values.size()));
  // One value at a time too, so that a miscounted value cannot hide behind another
  // miscounted value that lands in the neighbouring bin.
  for (double x : {0.0, -0.0, 1e-12, -1e-12, tensorflow_edges().back(), -tensorflow_edges().back(),
                   std::nextafter(tensorflow_edges()[1000], -kInf), tensorflow_edges()[300]}) {
    const std::vector<double> one{x};
    expect_same_buckets(compute_histogram(one.data(), 1, HistogramBins::tensorflow()),
                        reference_histogram(one, tensorflow_edges()));
  }
}

TEST(Histogram, TensorflowBinsMatchBinarySearchEveryEdgeAlone) {
  // Each edge and its double neighbours, one histogram each: the bin must be exact.
  const std::vector<double>& edges = tensorflow_edges();
  for (double e : edges) {
    for (double x : {e, std::nextafter(e, kInf), std::nextafter(e, -kInf)}) {
      const std::vector<double> one{x};
      const HistogramData ref = reference_histogram(one, edges);
      if (ref.bucket.empty()) {
        EXPECT_THROW(compute_histogram(one.data(), 1, HistogramBins::tensorflow()), std::invalid_argument) << x;
        continue;
      }
      const HistogramData got = compute_histogram(one.data(), 1, HistogramBins::tensorflow());
      ASSERT_EQ(got.bucket_limit, ref.bucket_limit) << x;
      ASSERT_EQ(got.bucket, ref.bucket) << x;
    }
  }
}

TEST(Histogram, TensorflowBinsMatchBinarySearchFloat) {
  const std::vector<float> values = stress_values_float();
  const HistogramData got = compute_histogram(values.data(), values.size(), HistogramBins::tensorflow());
  expect_same_buckets(got, reference_histogram(values, tensorflow_edges()));
}

TEST(Histogram, ExplicitTensorflowEdgesTakeTheSameResult) {
  const std::vector<double> values = stress_values_double();
  const HistogramData a = compute_histogram(values.data(), values.size(), HistogramBins::tensorflow(), 100);
  const HistogramData b =
      compute_histogram(values.data(), values.size(), HistogramBins::explicit_edges(tensorflow_edges()), 100);
  EXPECT_EQ(a.bucket_limit, b.bucket_limit);
  EXPECT_EQ(a.bucket, b.bucket);
  EXPECT_EQ(a.bucket.size(), b.bucket.size());
  // 1548 bins in groups of 1548 / 100 = 15: 104 groups, plus at most one leading bucket.
  EXPECT_LE(a.bucket.size(), 105u);
  EXPECT_LT(a.bucket.size(), 1548u);
}

TEST(Histogram, ExplicitEdgesHandExample) {
  // Bins [0,1) [1,2) [2,3]; -1 and 3.5 fall outside and are dropped from the counts but
  // not from the stats.
  const std::vector<double> values{-1, 0, 0.5, 1, 2.999, 3, 3.5};
  const HistogramData h = compute_histogram(values.data(), values.size(), HistogramBins::explicit_edges({0, 1, 2, 3}));
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 2, 1, 2}));
  EXPECT_EQ(h.min, -1);
  EXPECT_EQ(h.max, 3.5);
  EXPECT_EQ(h.num, 7);
  EXPECT_DOUBLE_EQ(h.sum, 9.999);
}

TEST(Histogram, ExplicitEdgesMatchBinarySearch) {
  std::mt19937_64 rng(7);
  std::vector<std::vector<double>> edge_sets;
  {  // irregular gaps
    std::vector<double> e{-50};
    std::uniform_real_distribution<double> gap(1e-6, 3.0);
    while (e.back() < 60) e.push_back(e.back() + gap(rng));
    edge_sets.push_back(e);
  }
  {  // geometric on both sides of 0: most edges crowd into a tiny part of the range
    std::vector<double> e;
    for (double v = 1e6; v > 1e-6; v /= 1.3) e.push_back(-v);
    e.push_back(0);
    for (double v = 1e-6; v < 1e6; v *= 1.3) e.push_back(v);
    edge_sets.push_back(e);
  }
  {  // a dense cluster and two far outliers
    std::vector<double> e{-1e9};
    for (int i = 0; i < 500; ++i) e.push_back(1.0 + i * 1e-9);
    e.push_back(1e9);
    edge_sets.push_back(e);
  }
  {  // equal widths
    std::vector<double> e;
    for (int i = 0; i <= 64; ++i) e.push_back(-3.0 + i * 0.1);
    edge_sets.push_back(e);
  }
  edge_sets.push_back({-kInf, -1, 0, 1, kInf});
  edge_sets.push_back({-std::numeric_limits<double>::max(), 0, std::numeric_limits<double>::max()});

  std::normal_distribution<double> normal(0, 30);
  for (const std::vector<double>& edges : edge_sets) {
    std::vector<double> values;
    for (int i = 0; i < 20000; ++i) values.push_back(normal(rng));
    for (int i = 0; i < 2000; ++i) values.push_back(1.0 + normal(rng) * 1e-7);
    for (double e : edges) {
      values.push_back(e);
      values.push_back(std::nextafter(e, kInf));
      values.push_back(std::nextafter(e, -kInf));
    }
    const HistogramData got = compute_histogram(values.data(), values.size(), HistogramBins::explicit_edges(edges));
    SCOPED_TRACE(edges.size());
    expect_same_buckets(got, reference_histogram(values, edges));
    const std::vector<float> fvalues(values.begin(), values.end());
    expect_same_buckets(compute_histogram(fvalues.data(), fvalues.size(), HistogramBins::explicit_edges(edges)),
                        reference_histogram(fvalues, edges));
  }
}

TEST(Histogram, UniformHandExamples) {
  const std::vector<double> values{4, 1, 2, 3};
  HistogramData h = compute_histogram(values.data(), values.size(), HistogramBins::uniform(3));
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 1, 1, 2}));  // last bin closed

  // A flat input is widened by 0.5 either way.
  const std::vector<float> flat{5, 5, 5};
  h = compute_histogram(flat.data(), flat.size(), HistogramBins::uniform(1));
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{4.5, 5.5}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 3}));
  h = compute_histogram(flat.data(), flat.size(), HistogramBins::uniform(4));
  // Edges 4.5 4.75 5 5.25 5.5: 5 sits on an edge and goes to the bin on its right.
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{5.0, 5.25}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 3}));
}

TEST(Histogram, UniformEdgesAreFloat64AndCountsMatchThem) {
  // PyTorch converts values to float64 before numpy.histogram, so float32 input gets
  // float64 edges between the (promoted) min and max.
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.3f, 2.0f);
  std::vector<float> values(30001);
  for (float& v : values) v = normal(rng);
  const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  for (int n : {1, 5, 10, 30, 100, 1000}) {
    const HistogramData h = compute_histogram(values.data(), values.size(), HistogramBins::uniform(n));
    // min and max sit in the first and last bins, so nothing is trimmed but the empty
    // bucket in front.
    ASSERT_EQ(h.bucket_limit.size(), static_cast<size_t>(n) + 1) << n;
    EXPECT_EQ(h.bucket_limit.front(), static_cast<double>(*mn));
    EXPECT_EQ(h.bucket_limit.back(), static_cast<double>(*mx));
    const double step = (static_cast<double>(*mx) - static_cast<double>(*mn)) / n;
    for (int i = 0; i < n; ++i) {
      const double expect = static_cast<double>(i) * step + static_cast<double>(*mn);
      EXPECT_EQ(h.bucket_limit[static_cast<size_t>(i)], expect) << n << " edge " << i;
    }
    expect_same_buckets(h, reference_histogram(values, h.bucket_limit));
    EXPECT_EQ(h.bucket.front(), 0);
  }
}

TEST(Histogram, UniformValuesOnEdgesGoRight) {
  // 0..100 with 10 bins puts values exactly on every edge; numpy's correction step makes
  // each land in the bin to its right (the last edge in the last bin).
  std::vector<double> values;
  for (int i = 0; i <= 100; ++i) values.push_back(i * 0.1);
  for (int n : {3, 7, 10, 100}) {
    const HistogramData h = compute_histogram(values.data(), values.size(), HistogramBins::uniform(n));
    expect_same_buckets(h, reference_histogram(values, h.bucket_limit));
  }
}

TEST(Histogram, MaxBinsSubsamplesAndTrims) {
  // 10 bins [0,1) ... [9,10], max_bins 3: groups of 3, padded to 12 -> 4 groups with left
  // edges 0, 3, 6, 9 and the last edge 10.
  std::vector<double> edges;
  for (int i = 0; i <= 10; ++i) edges.push_back(i);
  const std::vector<double> values{0.5, 2.5, 3.5, 4.5, 5.5, 9.5, 10};
  HistogramData h = compute_histogram(values.data(), values.size(), HistogramBins::explicit_edges(edges), 3);
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{0, 3, 6, 9, 10}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 2, 3, 0, 2}));

  // No subsampling when max_bins >= the bin count or <= 0.
  for (int max_bins : {0, -1, 10, 11}) {
    h = compute_histogram(values.data(), values.size(), HistogramBins::explicit_edges(edges), max_bins);
    EXPECT_EQ(h.bucket.size(), 11u) << max_bins;
  }

  // Support in the middle: one empty bucket left of it carries the left edge.
  const std::vector<double> middle{3.5, 4.5, 4.6, 5.9};
  h = compute_histogram(middle.data(), middle.size(), HistogramBins::explicit_edges(edges));
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{3, 4, 5, 6}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 1, 2, 1}));
}

TEST(Histogram, TrimmingCornerCases) {
  const std::vector<double> edges{0, 1, 2, 3, 4};
  auto run = [&](std::vector<double> values) {
    return compute_histogram(values.data(), values.size(), HistogramBins::explicit_edges(edges));
  };
  HistogramData h = run({0.1, 0.2});  // all in the first bin: a made-up empty bucket first
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{0, 1}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 2}));
  h = run({4, 3.5});  // all in the last bin: the previous (empty) bin is kept
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{3, 4}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 2}));
  h = run({0, 4});  // both ends
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 1, 0, 0, 1}));
  // Nothing inside the edges: PyTorch raises "The histogram is empty".
  EXPECT_THROW(run({-1, 5}), std::invalid_argument);

  // A single bin with nothing in it is PyTorch's one non-raising empty case: [0] at e1.
  const std::vector<double> outside{7};
  h = compute_histogram(outside.data(), 1, HistogramBins::explicit_edges({0, 1}));
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{1}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0}));
}

TEST(Histogram, NonFiniteValuesAreLeftOutAndCounted) {
  const std::vector<double> values{1, kNaN, 2, kInf, -kInf, 3, kNaN};
  for (const HistogramBins& bins :
       {HistogramBins::tensorflow(), HistogramBins::uniform(4), HistogramBins::explicit_edges({-kInf, 0, 10, kInf})}) {
    const HistogramData h = compute_histogram(values.data(), values.size(), bins);
    EXPECT_EQ(h.nonfinite, 4);
    EXPECT_EQ(h.num, 3);
    EXPECT_EQ(h.min, 1);
    EXPECT_EQ(h.max, 3);
    EXPECT_EQ(h.sum, 6);
    EXPECT_EQ(h.sum_squares, 14);
    double total = 0;
    for (double c : h.bucket) total += c;
    EXPECT_EQ(total, 3);
  }
  const std::vector<float> fvalues{std::numeric_limits<float>::quiet_NaN(), 0.5f,
                                   std::numeric_limits<float>::infinity()};
  const HistogramData h = compute_histogram(fvalues.data(), fvalues.size(), HistogramBins::uniform(2));
  EXPECT_EQ(h.nonfinite, 2);
  // Flat range widened to [0, 1]; 0.5 sits on the middle edge.
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(h.bucket, (std::vector<double>{0, 1}));
}

TEST(Histogram, NoFiniteValueThrows) {
  const std::vector<double> nans{kNaN, kInf, -kInf};
  for (const HistogramBins& bins : {HistogramBins::tensorflow(), HistogramBins::uniform(3)}) {
    try {
      compute_histogram(nans.data(), nans.size(), bins);
      ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).rfind("add_histogram: no finite values", 0), 0u) << e.what();
    }
  }
  const std::vector<float> fnans{std::numeric_limits<float>::quiet_NaN()};
  EXPECT_THROW(compute_histogram(fnans.data(), 1, HistogramBins::tensorflow()), std::invalid_argument);
  EXPECT_THROW(compute_histogram(nans.data(), 0, HistogramBins::tensorflow()), std::invalid_argument);
}

TEST(Histogram, BadBinsThrow) {
  const std::vector<double> values{1, 2, 3};
  auto throws = [&](const HistogramBins& bins) {
    EXPECT_THROW(compute_histogram(values.data(), values.size(), bins), std::invalid_argument);
  };
  throws(HistogramBins::uniform(0));
  throws(HistogramBins::uniform(-3));
  throws(HistogramBins::explicit_edges({}));
  throws(HistogramBins::explicit_edges({1}));
  throws(HistogramBins::explicit_edges({0, 0}));
  throws(HistogramBins::explicit_edges({0, 2, 1}));
  throws(HistogramBins::explicit_edges({0, kNaN, 1}));
  // More equal-width bins than the range has doubles (numpy: "Too many bins").
  const std::vector<double> narrow{1.0, std::nextafter(1.0, 2.0)};
  EXPECT_THROW(compute_histogram(narrow.data(), narrow.size(), HistogramBins::uniform(4)), std::invalid_argument);
  EXPECT_THROW(finish_histogram({0, 1, 2}, {1}, 0, 1, 1, 0, 0), std::invalid_argument);
  EXPECT_THROW(finish_histogram({0}, {}, 0, 1, 1, 0, 0), std::invalid_argument);
  EXPECT_THROW(finish_histogram({0, 2, 1}, {1, 1}, 0, 1, 1, 0, 0), std::invalid_argument);
}

TEST(Histogram, FinishHistogramEqualsCompute) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0, 5);
  std::vector<double> values(20000);
  for (double& v : values) v = normal(rng);
  const std::vector<double>& edges = tensorflow_edges();
  // Raw counts, as a GPU kernel would produce them.
  std::vector<double> counts(edges.size() - 1, 0.0);
  for (double x : values) {
    const auto it = std::upper_bound(edges.begin(), edges.end(), x);
    counts[static_cast<size_t>(it - edges.begin()) - 1] += 1;
  }
  for (int max_bins : {0, 30, 100}) {
    const HistogramData want = compute_histogram(values.data(), values.size(), HistogramBins::tensorflow(), max_bins);
    const HistogramData got =
        finish_histogram(edges, counts, want.min, want.max, want.num, want.sum, want.sum_squares, max_bins);
    EXPECT_EQ(got.bucket_limit, want.bucket_limit) << max_bins;
    EXPECT_EQ(got.bucket, want.bucket) << max_bins;
    EXPECT_EQ(got.min, want.min);
    EXPECT_EQ(got.max, want.max);
    EXPECT_EQ(got.num, want.num);
    EXPECT_EQ(got.sum, want.sum);
    EXPECT_EQ(got.sum_squares, want.sum_squares);
  }
}

TEST(Histogram, StatsAccumulateInDouble) {
  // 2^24 + 1 is not a float32 sum of these values; a double accumulator gets it exactly.
  std::vector<float> values(1 << 12, 4096.0f);
  values.push_back(1.0f);
  const HistogramData h = compute_histogram(values.data(), values.size(), HistogramBins::tensorflow());
  EXPECT_EQ(h.sum, 16777217.0);
  EXPECT_EQ(h.sum_squares, 4096.0 * 4096.0 * 4096.0 + 1.0);
  EXPECT_EQ(h.num, 4097);
}

// ---------------------------------------------------------------------------------------
// Vectorised kernels against the portable one.

using detail::Isa;

std::vector<Isa> vector_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (detail::isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

bool same_bits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }

// Runs `values` through the portable kernel and `isa` from lane 0 and requires the same
// counters per slot and the same statistics per lane, bit for bit (-0.0 vs 0.0 included).
template <typename T>
void expect_same_as_portable(Isa isa, const std::vector<T>& values, const std::string& what) {
  detail::SlotCounts want_counts, got_counts;
  detail::StatLanes want_lanes, got_lanes;
  detail::tf_count(Isa::kPortable, values.data(), values.size(), want_counts, want_lanes);
  detail::tf_count(isa, values.data(), values.size(), got_counts, got_lanes);
  const std::string where = std::string(detail::isa_name(isa)) + ", " + what;
  for (int s = 0; s < detail::kTfSlots; ++s) {
    ASSERT_EQ(got_counts.at(s), want_counts.at(s)) << where << ": slot " << s;
  }
  for (int j = 0; j < detail::StatLanes::kLanes; ++j) {
    EXPECT_TRUE(same_bits(got_lanes.min[j], want_lanes.min[j])) << where << ": min of lane " << j;
    EXPECT_TRUE(same_bits(got_lanes.max[j], want_lanes.max[j])) << where << ": max of lane " << j;
    EXPECT_TRUE(same_bits(got_lanes.sum[j], want_lanes.sum[j])) << where << ": sum of lane " << j;
    EXPECT_TRUE(same_bits(got_lanes.sum_squares[j], want_lanes.sum_squares[j])) << where << ": sum_squares " << j;
  }
  EXPECT_EQ(got_lanes.num, want_lanes.num) << where << ": num";
}

// Values whose slot or statistics are easy to get wrong: NaN of both signs and payloads,
// the infinities, both zeros, the smallest and largest denormals and normals, and values
// beyond the outermost edges.
template <typename T>
std::vector<T> special_values() {
  using L = std::numeric_limits<T>;
  std::vector<T> v{L::quiet_NaN(),
                   -L::quiet_NaN(),
                   L::signaling_NaN(),
                   L::infinity(),
                   -L::infinity(),
                   T(0),
                   -T(0),
                   L::denorm_min(),
                   -L::denorm_min(),
                   L::min() - L::denorm_min(),
                   -(L::min() - L::denorm_min()),
                   L::min(),
                   -L::min(),
                   L::max(),
                   -L::max(),
                   L::lowest(),
                   T(1e-12),
                   T(-1e-12),
                   T(1e20),
                   T(-1e20),
                   T(1e30),
                   T(-1e30),
                   T(1),
                   T(-1)};
  T payload;
  const uint64_t bits = sizeof(T) == 4 ? 0x7FC12345u : 0x7FF8000000ABCDEFull;
  std::memcpy(&payload, &bits, sizeof(T));
  v.push_back(payload);
  v.push_back(-payload);
  return v;
}

TEST(HistogramKernels, PortableIsAlwaysSupportedAndUnsupportedOnesRefuse) {
  EXPECT_TRUE(detail::isa_supported(Isa::kPortable));
  EXPECT_TRUE(detail::isa_supported(detail::best_isa()));
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (detail::isa_supported(isa)) continue;
    std::vector<float> one{1.0f};
    detail::SlotCounts counts;
    detail::StatLanes lanes;
    EXPECT_THROW(detail::tf_count(isa, one.data(), 1, counts, lanes), std::invalid_argument) << detail::isa_name(isa);
  }
  std::printf("[ info ] histogram kernels on this CPU: portable");
  for (Isa isa : vector_isas()) std::printf(", %s", detail::isa_name(isa));
  std::printf(" (best: %s)\n", detail::isa_name(detail::best_isa()));
}

TEST(HistogramKernels, EveryFloatBitPatternGetsThePortableSlot) {
  // All 2^32 floats, in runs of 2^20: the approximation is exact where it is trusted and
  // hands everything else to the exact lookup. (~1 s per kernel plus ~2 s for the reference.)
  const std::vector<Isa> isas = vector_isas();
  if (isas.empty()) GTEST_SKIP() << "no vectorised kernel on this CPU";
  constexpr size_t kRun = size_t{1} << 20;
  std::vector<float> values(kRun);
  std::vector<uint32_t> want(kRun), got(kRun);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Instrumented builds (scripts/sanitize.sh) are many times slower: every 7th run of 2^20
  // (7 is coprime to the 8 runs of one exponent, so every exponent is still visited).
  constexpr uint64_t kStride = 7 * kRun;
#else
  constexpr uint64_t kStride = kRun;
#endif
  for (uint64_t base = 0; base < (uint64_t{1} << 32); base += kStride) {
    for (size_t i = 0; i < kRun; ++i) values[i] = std::bit_cast<float>(static_cast<uint32_t>(base + i));
    detail::tf_slots(Isa::kPortable, values.data(), kRun, want.data());
    for (Isa isa : isas) {
      detail::tf_slots(isa, values.data(), kRun, got.data());
      if (got == want) continue;
      for (size_t i = 0; i < kRun; ++i) {
        ASSERT_EQ(got[i], want[i]) << detail::isa_name(isa) << ": float bits 0x" << std::hex << (base + i) << std::dec
                                   << " (" << values[i] << ")";
      }
    }
  }
}

TEST(HistogramKernels, RandomEdgeAndSpecialValuesMatchPortable) {
  const std::vector<Isa> isas = vector_isas();
  if (isas.empty()) GTEST_SKIP() << "no vectorised kernel on this CPU";
  const std::vector<double> stress_d = stress_values_double();
  const std::vector<float> stress_f = stress_values_float();
  std::mt19937_64 rng(7);
  std::vector<double> random_d;
  std::vector<float> random_f;
  for (double scale : {1e-14, 1e-6, 1.0, 1e8, 1e25}) {
    std::normal_distribution<double> normal(0.0, scale);
    for (int i = 0; i < 50000; ++i) {
      random_d.push_back(normal(rng));
      random_f.push_back(static_cast<float>(normal(rng)));
    }
  }
  // Specials scattered through normal data, so that they share blocks with ordinary values
  // and land in every lane.
  std::vector<double> mixed_d = random_d;
  std::vector<float> mixed_f = random_f;
  const std::vector<double> sd = special_values<double>();
  const std::vector<float> sf = special_values<float>();
  for (size_t i = 0; i < mixed_d.size(); i += 7) mixed_d[i] = sd[(i / 7) % sd.size()];
  for (size_t i = 0; i < mixed_f.size(); i += 7) mixed_f[i] = sf[(i / 7) % sf.size()];
  for (Isa isa : isas) {
    expect_same_as_portable(isa, stress_d, "double edges and neighbours");
    expect_same_as_portable(isa, stress_f, "float edges and neighbours");
    expect_same_as_portable(isa, random_d, "double normal data");
    expect_same_as_portable(isa, random_f, "float normal data");
    expect_same_as_portable(isa, mixed_d, "double data with specials");
    expect_same_as_portable(isa, mixed_f, "float data with specials");
    expect_same_as_portable(isa, sd, "double specials alone");
    expect_same_as_portable(isa, sf, "float specials alone");
    // Every length up to three blocks, so that the tail code and each lane see each value.
    for (size_t len = 0; len <= 48; ++len) {
      std::vector<float> f(sf.begin(), sf.begin() + static_cast<long>(std::min(len, sf.size())));
      f.resize(len, -0.0f);
      expect_same_as_portable(isa, f, "float length " + std::to_string(len));
      std::vector<double> d(sd.begin(), sd.begin() + static_cast<long>(std::min(len, sd.size())));
      d.resize(len, 5e-13);
      expect_same_as_portable(isa, d, "double length " + std::to_string(len));
    }
  }
}

TEST(HistogramKernels, HugeRandomBitPatternsAndDenormalsMatchPortable) {
  // Millions of values per kernel: random bit patterns (every class: NaN payloads,
  // infinities, denormals, both zeros, values far outside the edges), denormals alone, and
  // doubles next to the float cell boundaries and edges that the double kernels round to
  // float. Counts and every statistics lane must equal the portable kernel's.
  const std::vector<Isa> isas = vector_isas();
  if (isas.empty()) GTEST_SKIP() << "no vectorised kernel on this CPU";
  constexpr size_t kN = (size_t{1} << 22) + 13;  // not a whole number of blocks
  std::mt19937_64 rng(2026);
  std::vector<float> bits_f(kN), denormal_f(kN / 4);
  for (float& x : bits_f) x = std::bit_cast<float>(static_cast<uint32_t>(rng()));
  for (float& x : denormal_f) {
    const uint32_t r = static_cast<uint32_t>(rng());
    x = std::bit_cast<float>((r & 0x807FFFFFu));  // exponent 0: denormals and zeros, both signs
  }
  std::vector<double> bits_d(kN / 2), denormal_d(kN / 4), near_cells_d;
  for (double& x : bits_d) x = std::bit_cast<double>(rng());
  for (double& x : denormal_d) x = std::bit_cast<double>(rng() & 0x800FFFFFFFFFFFFFull);
  // Float cell boundaries (top 5 mantissa bits) and float-rounded edges, as doubles one
  // double-ulp either side and exactly on them.
  for (uint32_t key = 0; key < (0xFEu << 5); ++key) {
    const double b = static_cast<double>(std::bit_cast<float>(key << 18));
    for (double x : {b, std::nextafter(b, kInf), std::nextafter(b, -kInf)}) {
      near_cells_d.push_back(x);
      near_cells_d.push_back(-x);
    }
  }
  for (double e : tensorflow_edges()) {
    const double f = static_cast<double>(static_cast<float>(e));
    for (double x : {f, std::nextafter(f, kInf), std::nextafter(f, -kInf), e}) near_cells_d.push_back(x);
  }
  for (Isa isa : isas) {
    expect_same_as_portable(isa, bits_f, "float random bit patterns");
    expect_same_as_portable(isa, denormal_f, "float denormals");
    expect_same_as_portable(isa, bits_d, "double random bit patterns");
    expect_same_as_portable(isa, denormal_d, "double denormals");
    expect_same_as_portable(isa, near_cells_d, "doubles at float cell boundaries and edges");
  }
}

TEST(HistogramKernels, HugeInputsBinExactlyInChunksOnThePool) {
  // 9M values: chunks on the pool's helpers, 32-bit run counters folded into 64-bit totals;
  // the buckets must equal a binary search and the statistics a plain double loop's.
  constexpr size_t kN = 9'000'017;
  std::vector<float> values(kN);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (float& x : values) x = normal(rng);
  for (size_t i = 0; i < kN; i += 1001) values[i] = std::numeric_limits<float>::quiet_NaN();
  for (size_t i = 500; i < kN; i += 100003) values[i] = 3e38f;
  const HistogramData got = compute_histogram(values.data(), kN, HistogramBins::tensorflow());
  expect_same_buckets(got, reference_histogram(values, tensorflow_edges()));
  double mn = kInf, mx = -kInf, sum = 0;
  int64_t num = 0;
  for (float x : values) {
    if (!std::isfinite(x)) continue;
    mn = std::min<double>(mn, x);
    mx = std::max<double>(mx, x);
    sum += x;
    ++num;
  }
  EXPECT_EQ(got.min, mn);
  EXPECT_EQ(got.max, mx);
  EXPECT_EQ(got.num, static_cast<double>(num));
  EXPECT_EQ(got.nonfinite, static_cast<int64_t>(kN) - num);
  EXPECT_NEAR(got.sum, sum, std::abs(sum) * 1e-9);

  // The deferred form the torch half uses gives the same histogram.
  const HistogramData split = detail::finish_tensorflow(detail::count_tensorflow(values.data(), kN), 0);
  EXPECT_EQ(split.bucket, got.bucket);
  EXPECT_EQ(split.bucket_limit, got.bucket_limit);
  EXPECT_TRUE(same_bits(split.sum, got.sum));
  EXPECT_TRUE(same_bits(split.sum_squares, got.sum_squares));
}

// any_finite against a plain loop: every length up to 3 blocks of 64 plus a tail, with
// no finite value, or one (a denormal, -0.0, or the largest finite) at every position.
template <typename T>
void check_any_finite() {
  using L = std::numeric_limits<T>;
  const T fill[] = {L::quiet_NaN(), L::infinity(), -L::infinity(), -L::quiet_NaN()};
  const T finite[] = {L::denorm_min(), -T(0), L::max(), T(1)};
  for (size_t len = 0; len <= 200; ++len) {
    std::vector<T> v(len);
    for (size_t i = 0; i < len; ++i) v[i] = fill[i % 4];
    EXPECT_FALSE(detail::any_finite(v.data(), len)) << "length " << len;
    for (size_t at = 0; at < len; ++at) {
      std::vector<T> w = v;
      w[at] = finite[at % 4];
      const bool want = std::any_of(w.begin(), w.end(), [](T x) { return std::isfinite(x); });
      ASSERT_TRUE(want);
      EXPECT_EQ(detail::any_finite(w.data(), len), want) << "length " << len << ", finite at " << at;
    }
  }
}

TEST(HistogramKernels, AnyFiniteFindsTheOneFiniteValueAnywhere) {
  check_any_finite<float>();
  check_any_finite<double>();
}

TEST(HistogramKernels, SplitCopyCopiesEveryByteAndNoMore) {
  // Sizes around the one-thread limit (1 MiB) and the 512 KiB shares, odd tails included;
  // the bytes after the end must stay as they were.
  std::mt19937 rng(5);
  for (size_t bytes : {size_t{0}, size_t{1}, (size_t{1} << 20) - 1, size_t{1} << 20, (size_t{1} << 20) + 1,
                       (size_t{512} << 10) * 5 + 3, size_t{4'000'007}}) {
    std::vector<unsigned char> src(bytes), dst(bytes + 64, 0xA5);
    for (unsigned char& b : src) b = static_cast<unsigned char>(rng());
    detail::copy_histogram_input(dst.data(), src.data(), bytes);
    EXPECT_TRUE(std::equal(src.begin(), src.end(), dst.begin())) << bytes << " bytes";
    EXPECT_TRUE(
        std::all_of(dst.begin() + static_cast<long>(bytes), dst.end(), [](unsigned char b) { return b == 0xA5; }))
        << bytes << " bytes: written past the end";
  }
}

TEST(HistogramKernels, DeferredFormThrowsLikeCompute) {
  const std::vector<float> nan(40, std::numeric_limits<float>::quiet_NaN());
  try {
    detail::finish_tensorflow(detail::count_tensorflow(nan.data(), nan.size()), 0);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "add_histogram: no finite values (all 40 values are NaN or infinite)");
  }
}

}  // namespace
}  // namespace trainscope
