// pr_curves: one precision-recall curve per class on the validation set, one-vs-rest on the
// softmax probabilities, as PyTorch's writer.add_pr_curve(tag, target == c, prob[:, c]) would
// draw it over the whole validation set.
//
// Memory stays bounded whatever the size of the validation set: at validation_batch_end each
// (sample, class) probability p is put in threshold bucket floor(p * (T - 1)) (T =
// num_thresholds, the bucketing of PyTorch's compute_curve) and counted as a true or a false
// positive in a [C, 2, T + 1] int64 tensor on the device (scatter_add_, no host sync; the
// extra bucket takes NaN probabilities, which PyTorch drops too). At validation_end the
// counts become TP, FP, TN, FN, precision and recall per threshold on the device, and each
// class is written with add_pr_curve_raw, which copies its [6, T] rows asynchronously.
//
// Tags: pr_curves/<class name> (the class number when the dataset has no names).
// Options: num_thresholds (127). Cadence: the core's every_n_epochs key (default 1).
#include <ATen/ATen.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <stdexcept>
#include <string>

namespace {

constexpr int64_t kMaxThresholds = 127;  // PyTorch's (and the SDK's) cap
constexpr double kMinimumCount = 1e-7;   // compute_curve's _MINIMUM_COUNT

class PrCurves final : public trainscope::Plugin {
 public:
  explicit PrCurves(const trainscope::Options& opt) : n_(opt.get<int64_t>("num_thresholds")) {}

  void on_validation_begin(trainscope::HookContext&) override { counts_ = at::Tensor(); }

  void on_validation_batch_end(trainscope::HookContext& ctx) override {
    const at::Tensor& out = ctx.outputs();
    const at::Tensor& target = ctx.targets();
    if (!out.defined() || !target.defined() || out.size(0) == 0) return;
    if (out.dim() != 2 || out.size(1) < 2)
      throw std::runtime_error("pr_curves: needs class scores [N, C] with C >= 2 as the model's output, got shape " +
                               shape_text(out));
    if (target.dim() != 1 || target.size(0) != out.size(0) || target.is_floating_point())
      throw std::runtime_error("pr_curves: needs integer class labels [N] as targets, got shape " + shape_text(target));
    const int64_t classes = out.size(1);
    if (!counts_.defined()) {
      counts_ = at::zeros({classes * 2 * (n_ + 1)}, out.options().dtype(at::kLong));
      classes_ = classes;
    }
    if (classes != classes_)
      throw std::runtime_error("pr_curves: the model's output changed from " + std::to_string(classes_) + " to " +
                               std::to_string(classes) + " classes within one validation");

    const at::Tensor prob = at::softmax(out.detach().to(at::kFloat), 1);         // [B, C]
    const at::Tensor bucket = at::floor(prob.mul(static_cast<double>(n_ - 1)));  // float, like numpy
    const at::Tensor valid = bucket.ge(0).logical_and(bucket.le(n_ - 1));        // NaN -> false
    const at::Tensor idx = at::where(valid, bucket, at::full({}, static_cast<double>(n_), bucket.options()))
                               .to(at::kLong);                                            // [B, C] in 0..T
    const at::Tensor cls = at::arange(classes, idx.options()).unsqueeze(0);               // [1, C]
    const at::Tensor negative = target.to(at::kLong).unsqueeze(1).ne(cls).to(at::kLong);  // 0: TP row, 1: FP row
    const at::Tensor flat = cls.mul(2 * (n_ + 1)).add(negative.mul(n_ + 1)).add(idx).reshape({-1});
    counts_.scatter_add_(0, flat, at::ones_like(flat));
  }

  void on_validation_end(trainscope::HookContext& ctx) override {
    if (!counts_.defined()) return;
    // [C, 2, T]: bucket counts; the reverse cumulative sum gives the counts at or above each
    // threshold, exactly (integers) and then in float64 as compute_curve.
    const at::Tensor buckets = counts_.view({classes_, 2, n_ + 1}).narrow(2, 0, n_);
    const at::Tensor above = buckets.flip({2}).cumsum(2).flip({2}).to(at::kDouble);
    const at::Tensor tp = above.select(1, 0), fp = above.select(1, 1);  // [C, T]
    const at::Tensor tn = fp.narrow(1, 0, 1).sub(fp);
    const at::Tensor fn = tp.narrow(1, 0, 1).sub(tp);
    const at::Tensor precision = tp.div(tp.add(fp).clamp_min(kMinimumCount));
    const at::Tensor recall = tp.div(tp.add(fn).clamp_min(kMinimumCount));
    const auto& names = ctx.class_names();
    for (int64_t c = 0; c < classes_; ++c) {
      const std::string name =
          c < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
      ctx.writer().add_pr_curve_raw("pr_curves/" + name, tp[c], fp[c], tn[c], fn[c], precision[c], recall[c],
                                    ctx.step(), static_cast<int>(n_));
    }
    counts_ = at::Tensor();
  }

 private:
  static std::string shape_text(const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
  }

  int64_t n_;
  int64_t classes_ = 0;
  at::Tensor counts_;  // [C * 2 * (T + 1)] int64 on the device
};

}  // namespace

TRAINSCOPE_PLUGIN(PrCurves, "pr_curves", "1.0.0",
                  trainscope::option<int64_t>("num_thresholds", 127,
                                              "thresholds per curve (127: PyTorch's default and TensorBoard's limit)")
                      .range(2, kMaxThresholds))
