// feature_maps: the first `channels` channels of chosen convolutional activations for one fixed
// sample, as one grey grid image per layer, at the end of every epoch the core's cadence lets
// through (every_n_epochs in the [[plugin]] table):
//
//   feature_maps/<layer>   grid of min(channels, C) tiles of H x W, 8 per row, in channel order,
//                          row-major; tiles separated by `padding` white (1.0) pixels; each
//                          channel min-max normalised to [0, 1] on its own (constant: 0)
//
// The sample is chosen once: sample `sample_index` of the first training batch, taken at the
// first train_batch_begin the plugin sees. At epoch end the model runs on it in eval mode
// under NoGradGuard through HookContext::forward with the plugin's own TapSet (the training
// step's taps are untouched), and every submodule's train/eval mode is restored after.
// Everything stays on ctx.device(); the writer copies the grids asynchronously.
#include <torch/torch.h>
#include <trainscope/eval_mode.h>
#include <trainscope/glob.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "grid.h"

namespace {

class FeatureMaps final : public trainscope::Plugin {
 public:
  explicit FeatureMaps(const trainscope::Options& opt)
      : layers_(opt.get<std::vector<std::string>>("layers")),
        channels_(opt.get<int64_t>("channels")),
        sample_index_(opt.get<int64_t>("sample_index")),
        padding_(opt.get<int64_t>("padding")) {
    all_ = std::any_of(layers_.begin(), layers_.end(), trainscope::has_glob);
  }

  void on_train_batch_begin(trainscope::HookContext& ctx) override {
    if (sample_.defined() || !ctx.inputs().defined()) return;
    const at::Tensor& in = ctx.inputs();
    if (sample_index_ >= in.size(0)) {
      throw std::invalid_argument("feature_maps: sample_index " + std::to_string(sample_index_) +
                                  " is outside the first batch (" + std::to_string(in.size(0)) +
                                  " samples); use a smaller sample_index");
    }
    sample_ = in.narrow(0, sample_index_, 1).detach().clone();
  }

  void on_epoch_end(trainscope::HookContext& ctx) override {
    if (!sample_.defined()) return;  // no training batch seen yet
    trainscope::TapSet taps;
    if (all_) {
      taps.request_all(true);
    } else {
      for (const auto& l : layers_) taps.request(l, false);
    }
    {
      at::NoGradGuard no_grad;
      trainscope::EvalMode eval(ctx.model());
      ctx.forward(sample_, &taps);
    }
    int logged = 0;
    for (const auto& [name, value] : taps.values()) {
      if (!trainscope::matches_any(layers_, name)) continue;
      if (value.dim() != 4) {
        if (all_) continue;  // a glob picks the 4-D (convolutional) activations only
        throw std::invalid_argument("feature_maps: layer '" + name + "' has a " + std::to_string(value.dim()) +
                                    "-D activation; feature maps need [N, C, H, W] (remove it from layers)");
      }
      const at::Tensor grid = trainscope::feature_maps::channel_grid(value[0], channels_, padding_);
      ctx.writer().add_image("feature_maps/" + name, grid, ctx.step(), "HW");
      ++logged;
    }
    if (!all_) {
      for (const auto& l : layers_) {
        if (taps.values().count(l) == 0) throw std::invalid_argument(missing(l, ctx));
      }
    } else if (logged == 0) {
      throw std::invalid_argument("feature_maps: no 4-D activation matches layers; " + available(ctx));
    }
  }

 private:
  std::string missing(const std::string& layer, trainscope::HookContext& ctx) const {
    return "feature_maps: the model has no activation named '" + layer + "'; " + available(ctx);
  }
  // Names of every activation the model offers (one more forward of the sample).
  std::string available(trainscope::HookContext& ctx) const {
    trainscope::TapSet all;
    all.request_all(true);
    {
      at::NoGradGuard no_grad;
      trainscope::EvalMode eval(ctx.model());
      ctx.forward(sample_, &all);
    }
    std::string names;
    for (const auto& [name, value] : all.values()) {
      names += (names.empty() ? "" : ", ") + name + " (" + std::to_string(value.dim()) + "-D)";
    }
    return "the model offers: " + (names.empty() ? std::string("none") : names);
  }

  std::vector<std::string> layers_;
  int64_t channels_, sample_index_, padding_;
  bool all_ = false;
  at::Tensor sample_;
};

}  // namespace

TRAINSCOPE_PLUGIN(FeatureMaps, "feature_maps", "1.0.0",
                  trainscope::option<std::vector<std::string>>(
                      "layers", {"*"}, "activation names or globs; globs take the 4-D activations only")
                      .not_empty()
                      .globs(),
                  trainscope::option<int64_t>("channels", 8, "how many channels (the first ones) per layer").min(1),
                  trainscope::option<int64_t>("sample_index", 0, "which sample of the first training batch").min(0),
                  trainscope::option<int64_t>("padding", 1, "white pixels between tiles").min(0))
