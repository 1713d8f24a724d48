// PR curves: SummaryWriter::add_pr_curve / add_pr_curve_raw, as PyTorch's summary.pr_curve,
// compute_curve and pr_curve_raw (torch/utils/tensorboard/summary.py). The thresholded
// counts are reduced where the tensors live: on a CUDA device the caller only launches the
// reduction and the [2, n + 1] result reaches the host through pinned memory on the writer
// thread; CPU inputs are snapshotted and reduced on the writer thread. The float64
// arithmetic follows numpy's so that the [6, n] float32 tensor equals PyTorch's (see
// bucket_counts for the one documented exception).
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "tensor_payloads.h"
#include "trainscope/summary_writer.h"
#include "trainscope/wire/dashboards/pr_curves.h"

namespace trainscope {
namespace {

constexpr int kMaxThresholds = 127;     // PyTorch's cap ("value > 127 breaks protobuf")
constexpr int64_t kNumpyBlock = 65536;  // numpy.histogram adds bincounts of blocks this long
constexpr double kMinimumCount = 1e-7;  // compute_curve's _MINIMUM_COUNT

void check_operand(const char* api, std::string_view tag, const char* name, const at::Tensor& t) {
  TORCH_CHECK_VALUE(t.defined(), api, ": tag '", tag, "': ", name, " is undefined");
  TORCH_CHECK_VALUE(!t.is_complex(), api, ": tag '", tag, "': ", name, " must be real, got ", t.scalar_type());
}

void check_same_device(const char* api, std::string_view tag, const char* name, const at::Tensor& t,
                       const at::Tensor& ref) {
  TORCH_CHECK_VALUE(t.device() == ref.device(), api, ": tag '", tag, "': ", name, " is on ", t.device(),
                    " but predictions are on ", ref.device(), "; put them on one device");
}

// make_np's conversion of bfloat16 (numpy has none), then numpy's float64 view.
at::Tensor as_numpy_float64(const at::Tensor& t) {
  at::Tensor x = t.detach().reshape(-1);
  if (x.scalar_type() == at::kBFloat16) x = x.to(at::kHalf);
  return x.to(at::kDouble);
}

// Weighted true / false positive counts per threshold bucket, [2, n + 1] float64: row 0
// sums label * weight, row 1 (1 - label) * weight, bucket floor(prediction * (n - 1))
// (computed in the predictions' own float type, as numpy does); predictions whose bucket
// falls outside [0, n - 1] (numpy.histogram drops them) land in bucket n, which is ignored.
//
// `numpy_order` (CPU) adds in numpy's order: a sequential bincount per block of 65536
// elements, the blocks' sums added in turn, so any weights give PyTorch's bits. On a device
// the buckets are summed with scatter_add (atomics, no host sync): exact for 0/1 labels
// without weights or with integer weights; other weights may differ from numpy's float64
// sums by summation-order rounding (<= n_elements * eps * sum|w|) before the float32 cast.
at::Tensor bucket_counts(const at::Tensor& labels, const at::Tensor& predictions, const at::Tensor& weights, int n,
                         bool numpy_order) {
  at::Tensor p = predictions.detach().reshape(-1);
  if (p.scalar_type() == at::kBFloat16) p = p.to(at::kHalf);
  if (!at::isFloatingType(p.scalar_type())) p = p.to(at::kDouble);
  const at::Tensor f = at::floor(p.mul(static_cast<int64_t>(n - 1)));
  const at::Tensor keep = f.ge(0).logical_and_(f.le(n - 1));
  const at::Tensor idx = at::where(keep, f, at::scalar_tensor(n, f.options())).to(at::kLong);

  const at::Tensor lab = as_numpy_float64(labels);
  at::Tensor tp_w = lab;
  at::Tensor fp_w = at::rsub(lab, 1.0);
  if (weights.defined()) {
    const at::Tensor w = as_numpy_float64(weights);
    tp_w = lab.mul(w);
    fp_w = fp_w.mul(w);
  }
  if (tp_w.numel() != idx.numel()) {  // a one-element weight broadcasts like numpy
    tp_w = tp_w.expand_as(idx).contiguous();
    fp_w = fp_w.expand_as(idx).contiguous();
  }

  at::Tensor tp = at::zeros({n + 1}, lab.options());
  at::Tensor fp = at::zeros({n + 1}, lab.options());
  if (numpy_order) {
    const int64_t total = idx.numel();
    for (int64_t start = 0; start < total; start += kNumpyBlock) {
      const int64_t end = std::min(total, start + kNumpyBlock);
      const at::Tensor ib = idx.slice(0, start, end);
      tp.add_(at::bincount(ib, tp_w.slice(0, start, end), n + 1));
      fp.add_(at::bincount(ib, fp_w.slice(0, start, end), n + 1));
    }
  } else {
    tp.scatter_add_(0, idx, tp_w);
    fp.scatter_add_(0, idx, fp_w);
  }
  return at::stack({tp, fp});
}

// numpy.maximum: NaN wins.
double maximum(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::nan("");
  return a < b ? b : a;
}

// compute_curve from the bucket counts on: reverse cumulative sums, TN, FN, precision and
// recall in float64, then float32 (protobuf's float_val conversion: round to nearest).
TensorData finish_curve(const at::Tensor& counts_any, int n) {
  const at::Tensor counts = counts_any.to(at::kDouble).contiguous();
  const double* tpb = counts.data_ptr<double>();
  const double* fpb = tpb + (n + 1);
  std::vector<double> tp(n), fp(n);
  tp[n - 1] = tpb[n - 1];
  fp[n - 1] = fpb[n - 1];
  for (int i = n - 2; i >= 0; --i) {  // np.cumsum(x[::-1])[::-1]: sequential from the end
    tp[i] = tp[i + 1] + tpb[i];
    fp[i] = fp[i + 1] + fpb[i];
  }
  std::vector<float> rows(static_cast<size_t>(6) * n);
  for (int i = 0; i < n; ++i) {
    const double tn = fp[0] - fp[i];
    const double fn = tp[0] - tp[i];
    rows[i] = static_cast<float>(tp[i]);
    rows[n + i] = static_cast<float>(fp[i]);
    rows[2 * n + i] = static_cast<float>(tn);
    rows[3 * n + i] = static_cast<float>(fn);
    rows[4 * n + i] = static_cast<float>(tp[i] / maximum(kMinimumCount, tp[i] + fp[i]));
    rows[5 * n + i] = static_cast<float>(tp[i] / maximum(kMinimumCount, tp[i] + fn));
  }
  return detail::pr_curve_tensor(rows, n, static_cast<uint32_t>(n));
}

// CUDA: the counts were reduced on the device; only the [2, n + 1] result is copied.
class DeferredDeviceCurve final : public DeferredPayload {
 public:
  DeferredDeviceCurve(detail::HostSnapshot counts, int n) : counts_(std::move(counts)), n_(n) {}
  SummaryPayload resolve() override { return finish_curve(counts_.wait(), n_); }
  size_t held_bytes() const override { return counts_.nbytes(); }

 private:
  detail::HostSnapshot counts_;
  int n_;
};

// CPU: copies taken at call time, reduced here on the writer thread in numpy's order.
class DeferredHostCurve final : public DeferredPayload {
 public:
  DeferredHostCurve(detail::HostSnapshot labels, detail::HostSnapshot predictions,
                    std::optional<detail::HostSnapshot> weights, int n)
      : labels_(std::move(labels)), predictions_(std::move(predictions)), weights_(std::move(weights)), n_(n) {}
  SummaryPayload resolve() override {
    const at::Tensor w = weights_ ? weights_->wait() : at::Tensor();
    return finish_curve(bucket_counts(labels_.wait(), predictions_.wait(), w, n_, /*numpy_order=*/true), n_);
  }
  size_t held_bytes() const override {
    return labels_.nbytes() + predictions_.nbytes() + (weights_ ? weights_->nbytes() : 0);
  }

 private:
  detail::HostSnapshot labels_, predictions_;
  std::optional<detail::HostSnapshot> weights_;
  int n_;
};

// add_pr_curve_raw: the six rows, already float32 (via float64, as Python's float_val).
class DeferredRawCurve final : public DeferredPayload {
 public:
  DeferredRawCurve(detail::HostSnapshot rows, int num_thresholds)
      : rows_(std::move(rows)), num_thresholds_(num_thresholds) {}
  SummaryPayload resolve() override {
    const at::Tensor r = rows_.wait().contiguous();
    const float* d = r.data_ptr<float>();
    return detail::pr_curve_tensor(std::vector<float>(d, d + r.numel()), r.size(1),
                                   static_cast<uint32_t>(num_thresholds_));
  }
  size_t held_bytes() const override { return rows_.nbytes(); }

 private:
  detail::HostSnapshot rows_;
  int num_thresholds_;
};

}  // namespace

void SummaryWriter::add_pr_curve(std::string_view tag, const at::Tensor& labels, const at::Tensor& predictions,
                                 int64_t step, int num_thresholds, const at::Tensor& weights) {
  constexpr const char* api = "add_pr_curve";
  TORCH_CHECK_VALUE(!tag.empty(), api, ": tag is empty");
  check_operand(api, tag, "labels", labels);
  check_operand(api, tag, "predictions", predictions);
  TORCH_CHECK_VALUE(labels.numel() == predictions.numel(), api, ": tag '", tag, "': labels has ", labels.numel(),
                    " elements (shape ", labels.sizes(), ") but predictions has ", predictions.numel(), " (shape ",
                    predictions.sizes(), ")");
  check_same_device(api, tag, "labels", labels, predictions);
  if (weights.defined()) {
    check_operand(api, tag, "weights", weights);
    TORCH_CHECK_VALUE(weights.numel() == predictions.numel() || weights.numel() == 1, api, ": tag '", tag,
                      "': weights has ", weights.numel(), " elements (shape ", weights.sizes(),
                      "); expected one per prediction (", predictions.numel(), ") or a single weight");
    check_same_device(api, tag, "weights", weights, predictions);
  }
  TORCH_CHECK_VALUE(num_thresholds >= 2, api, ": tag '", tag, "': num_thresholds must be >= 2, got ", num_thresholds);
  const int n = std::min(num_thresholds, kMaxThresholds);
  if (predictions.is_cuda()) {
    writer_->add_deferred(tag, step,
                          std::make_unique<DeferredDeviceCurve>(
                              detail::HostSnapshot::take(bucket_counts(labels, predictions, weights, n, false)), n));
    return;
  }
  std::optional<detail::HostSnapshot> w;
  if (weights.defined()) w = detail::HostSnapshot::take(weights);
  writer_->add_deferred(tag, step,
                        std::make_unique<DeferredHostCurve>(detail::HostSnapshot::take(labels),
                                                            detail::HostSnapshot::take(predictions), std::move(w), n));
}

void SummaryWriter::add_pr_curve_raw(std::string_view tag, const at::Tensor& true_positive_counts,
                                     const at::Tensor& false_positive_counts, const at::Tensor& true_negative_counts,
                                     const at::Tensor& false_negative_counts, const at::Tensor& precision,
                                     const at::Tensor& recall, int64_t step, int num_thresholds) {
  constexpr const char* api = "add_pr_curve_raw";
  TORCH_CHECK_VALUE(!tag.empty(), api, ": tag is empty");
  const std::pair<const char*, const at::Tensor*> rows[] = {{"true_positive_counts", &true_positive_counts},
                                                            {"false_positive_counts", &false_positive_counts},
                                                            {"true_negative_counts", &true_negative_counts},
                                                            {"false_negative_counts", &false_negative_counts},
                                                            {"precision", &precision},
                                                            {"recall", &recall}};
  for (const auto& [name, t] : rows) {
    check_operand(api, tag, name, *t);
    TORCH_CHECK_VALUE(t->numel() > 0, api, ": tag '", tag, "': ", name, " is empty");
    TORCH_CHECK_VALUE(t->numel() == true_positive_counts.numel(), api, ": tag '", tag, "': ", name, " has ", t->numel(),
                      " elements (shape ", t->sizes(), ") but true_positive_counts has ", true_positive_counts.numel(),
                      "; all six need one value per threshold");
    TORCH_CHECK_VALUE(t->device() == true_positive_counts.device(), api, ": tag '", tag, "': ", name, " is on ",
                      t->device(), " but true_positive_counts is on ", true_positive_counts.device());
  }
  TORCH_CHECK_VALUE(num_thresholds >= 2, api, ": tag '", tag, "': num_thresholds must be >= 2, got ", num_thresholds);
  std::vector<at::Tensor> parts;
  for (const auto& [name, t] : rows) parts.push_back(as_numpy_float64(*t));
  const at::Tensor stacked = at::stack(parts).to(at::kFloat);
  writer_->add_deferred(tag, step,
                        std::make_unique<DeferredRawCurve>(detail::HostSnapshot::take(stacked),
                                                           std::min(num_thresholds, kMaxThresholds)));
}

}  // namespace trainscope
