// gradcam: Grad-CAM heat maps of a convolutional layer for a few fixed samples, at the end of
// every epoch the core's cadence lets through (every_n_epochs in the [[plugin]] table).
//
// The samples are the first `samples` of the first validation batch the plugin sees (the
// validation loader does not shuffle, so they are the same samples every epoch); a run without
// validation hooks uses the first training batch instead. For each sample it logs one RGB image
// of three panels side by side, separated by 2 white columns:
//
//   gradcam/sample_<i>         original (min-max scaled) | heat map (jet) | overlay (50/50)
//   gradcam/sample_<i>/class   the class the map explains (predicted, or the option class)
//
// The model runs in eval mode (its mode is restored after), the gradient is taken with
// torch::autograd::grad w.r.t. a copy of the input, so parameters' .grad are never touched and
// training goes on exactly as without the plugin. All on ctx.device(); no host read.
#include <torch/torch.h>
#include <trainscope/eval_mode.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cam.h"

namespace {

class GradCam final : public trainscope::Plugin {
 public:
  explicit GradCam(const trainscope::Options& opt)
      : layer_(opt.get<std::string>("layer")),
        samples_(opt.get<int64_t>("samples")),
        class_(opt.get<int64_t>("class")) {}

  // Fallback samples, for runs without validation hooks.
  void on_train_batch_begin(trainscope::HookContext& ctx) override {
    if (!train_x_.defined() && ctx.inputs().defined()) train_x_ = take(ctx.inputs());
  }

  void on_validation_batch_end(trainscope::HookContext& ctx) override {
    if (!val_x_.defined() && ctx.batch_index() == 0 && ctx.inputs().defined()) val_x_ = take(ctx.inputs());
  }

  void on_epoch_end(trainscope::HookContext& ctx) override {
    const at::Tensor& x = val_x_.defined() ? val_x_ : train_x_;
    if (!x.defined()) return;  // no batch seen yet
    if (x.dim() != 4) {
      throw std::invalid_argument("gradcam: the inputs are not images [N, C, H, W] (got " + std::to_string(x.dim()) +
                                  "-D batches)");
    }
    trainscope::gradcam::CamResult r;
    {
      trainscope::EvalMode eval(ctx.model());
      r = trainscope::gradcam::grad_cam(
          [&ctx](const at::Tensor& in, trainscope::TapSet* taps) { return ctx.forward(in, taps); }, x, layer_, class_);
    }
    const at::Tensor panels = trainscope::gradcam::panels(x, r.cam);
    const int64_t step = ctx.step();
    auto& w = ctx.writer();
    for (int64_t i = 0; i < panels.size(0); ++i) {
      const std::string tag = "gradcam/sample_" + std::to_string(i);
      w.add_image(tag, panels[i], step, "HWC");
      w.add_scalar(tag + "/class", r.classes[i].to(at::kFloat), step);
    }
  }

 private:
  at::Tensor take(const at::Tensor& inputs) const {
    return inputs.narrow(0, 0, std::min<int64_t>(samples_, inputs.size(0))).detach().clone();
  }

  std::string layer_;
  int64_t samples_;
  int64_t class_;
  at::Tensor val_x_, train_x_;
};

}  // namespace

TRAINSCOPE_PLUGIN(
    GradCam, "gradcam", "1.0.0",
    trainscope::option<std::string>("layer", "conv2", "the 4-D activation (tap) the map is computed on").not_empty(),
    trainscope::option<int64_t>("samples", 4, "how many samples of the first validation batch").min(1),
    trainscope::option<int64_t>("class", -1, "class index to explain; -1: each sample's predicted class").min(-1))
