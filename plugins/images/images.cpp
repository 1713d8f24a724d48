// images: a grid of input samples, de-normalised, as TensorBoard sees what the model is fed.
//
// Tag: images/inputs. The samples are the first num_images of the first validation batch (the
// validation loader does not shuffle, so they are the same every epoch), or of the first
// training batch the plugin sees when the run has no validation data (kept, so the same
// samples every time). Logged at the end of every log_every_n_epochs-th epoch, at that step.
//
// De-normalisation: x * std + mean per channel (one value for all channels, or one per
// channel), clamped to [0, 1]. The grid is PyTorch's make_grid(nrow, padding, pad_value):
// images left to right, top to bottom, `padding` pixels around each and between them.
#include <torch/torch.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// The schema (.numeric()) guarantees every item is a finite decimal number.
std::vector<double> parse_numbers(const std::vector<std::string>& texts) {
  std::vector<double> out;
  for (const auto& t : texts) out.push_back(std::strtod(t.c_str(), nullptr));
  return out;
}

class Images final : public trainscope::Plugin {
 public:
  explicit Images(const trainscope::Options& opt)
      : count_(opt.get<int64_t>("num_images")),
        nrow_(opt.get<int64_t>("nrow")),
        padding_(opt.get<int64_t>("padding")),
        pad_value_(opt.get<double>("pad_value")),
        every_epochs_(opt.get<int64_t>("log_every_n_epochs")),
        mean_(parse_numbers(opt.get<std::vector<std::string>>("mean"))),
        std_(parse_numbers(opt.get<std::vector<std::string>>("std"))) {
    // A relation between two options (the schema checks each option on its own).
    if (mean_.size() != std_.size() && mean_.size() != 1 && std_.size() != 1)
      throw std::invalid_argument("images: mean has " + std::to_string(mean_.size()) + " values and std " +
                                  std::to_string(std_.size()) + ": give one value or one per channel for each");
  }

  void on_train_batch_begin(trainscope::HookContext& ctx) override {
    if (!train_samples_.defined() && ctx.inputs().defined()) train_samples_ = first_samples(ctx.inputs());
  }

  void on_validation_batch_end(trainscope::HookContext& ctx) override {
    if (!val_samples_.defined() && ctx.batch_index() == 0 && ctx.inputs().defined())
      val_samples_ = first_samples(ctx.inputs());
  }

  void on_epoch_end(trainscope::HookContext& ctx) override {
    if ((ctx.epoch() + 1) % every_epochs_ != 0) return;
    const at::Tensor& samples = val_samples_.defined() ? val_samples_ : train_samples_;
    if (!samples.defined()) return;
    ctx.writer().add_image("images/inputs", grid(denormalize(samples)), ctx.step(), "CHW");
  }

 private:
  // The first num_images samples as [N, C, H, W], copied on the device (the batch is reused).
  at::Tensor first_samples(const at::Tensor& inputs) const {
    at::Tensor x = inputs.detach();
    if (x.dim() == 3) x = x.unsqueeze(1);  // [N, H, W]: one channel
    if (x.dim() != 4 || (x.size(1) != 1 && x.size(1) != 3 && x.size(1) != 4))
      throw std::invalid_argument("images: inputs of shape " + c10::str(inputs.sizes()) +
                                  " are not images (expected [N, C, H, W] with C = 1, 3 or 4)");
    const int64_t c = x.size(1);
    for (const auto* v : {&mean_, &std_}) {
      if (v->size() != 1 && static_cast<int64_t>(v->size()) != c)
        throw std::invalid_argument("images: " + std::string(v == &mean_ ? "mean" : "std") + " has " +
                                    std::to_string(v->size()) + " values but the inputs have " + std::to_string(c) +
                                    " channels: give one value or " + std::to_string(c));
    }
    return x.narrow(0, 0, std::min<int64_t>(count_, x.size(0))).clone();
  }

  // x * std + mean per channel with scalar operands: no host-to-device copy (a blocking one
  // would wait for the GPU), and a fresh tensor so the kept samples stay as they are.
  at::Tensor denormalize(const at::Tensor& x) const {
    at::Tensor y = x.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true);
    for (int64_t c = 0; c < y.size(1); ++c) {
      const auto i = static_cast<size_t>(c);
      y.select(1, c).mul_(std_.size() == 1 ? std_[0] : std_[i]).add_(mean_.size() == 1 ? mean_[0] : mean_[i]);
    }
    return y.clamp_(0.0, 1.0);
  }

  // PyTorch's make_grid: ncols = min(nrow, n), each cell (H + p) x (W + p) with the image at
  // (p, p) of the cell, plus p on the bottom and right; one image is returned as it is.
  at::Tensor grid(const at::Tensor& x) const {
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), p = padding_;
    if (n == 1) return x[0];
    const int64_t ncols = std::min(nrow_, n);
    const int64_t nrows = (n + ncols - 1) / ncols;
    at::Tensor cells = x;
    if (nrows * ncols > n) cells = at::cat({cells, at::full({nrows * ncols - n, c, h, w}, pad_value_, x.options())});
    cells = at::constant_pad_nd(cells, {p, 0, p, 0}, pad_value_);  // top and left of each cell
    at::Tensor g = cells.reshape({nrows, ncols, c, h + p, w + p}).permute({2, 0, 3, 1, 4}).reshape(
        {c, nrows * (h + p), ncols * (w + p)});
    return at::constant_pad_nd(g, {0, p, 0, p}, pad_value_);  // bottom and right edge
  }

  int64_t count_, nrow_, padding_;
  double pad_value_;
  int64_t every_epochs_;
  std::vector<double> mean_, std_;
  at::Tensor train_samples_, val_samples_;
};

}  // namespace

TRAINSCOPE_PLUGIN(
    Images, "images", "1.0.0",
    trainscope::option<int64_t>("num_images", 16, "how many samples of the batch to show").min(1),
    trainscope::option<int64_t>("nrow", 8, "images per row of the grid (as make_grid)").min(1),
    trainscope::option<int64_t>("padding", 2, "pixels around and between the images (as make_grid)").min(0),
    trainscope::option<double>("pad_value", 0.0, "grey level of the padding, 0 (black) to 1 (white)").range(0, 1),
    trainscope::option<int64_t>("log_every_n_epochs", 1, "log at the end of every N-th epoch").min(1),
    trainscope::option<std::vector<std::string>>("mean", std::vector<std::string>{"0.2860"},
                                                 "normalisation mean: one value or one per channel "
                                                 "(default: Fashion-MNIST's)")
        .not_empty()
        .numeric(),
    trainscope::option<std::vector<std::string>>("std", std::vector<std::string>{"0.3530"},
                                                 "normalisation std: one value or one per channel "
                                                 "(default: Fashion-MNIST's)")
        .not_empty()
        .numeric()
        .greater_than(0))
