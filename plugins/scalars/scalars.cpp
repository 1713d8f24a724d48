// scalars: the training curves. Per step: the training loss, the learning rate of every
// parameter group, throughput and step time. Per epoch: the training loss mean, training
// accuracy and top-k (classification outputs), every metric of ctx.metrics() (validation loss
// and accuracy, other plugins' metrics) and, once, a custom-scalars layout that puts the
// training and validation curve of each metric on one chart. See README.md for the tags.
//
// Nothing here reads the device on the training thread: the loss goes to the writer as a
// tensor (copied asynchronously on CUDA), the epoch sums stay on the device and reach the
// writer as tensors too; step time and throughput come from the host clock.
#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <chrono>
#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

class Scalars final : public trainscope::Plugin {
 public:
  explicit Scalars(const trainscope::Options& opt)
      : every_(opt.get<int64_t>("log_every_n_steps")),
        top_k_(opt.get<int64_t>("top_k")),
        accuracy_(opt.get<bool>("accuracy")),
        lr_(opt.get<bool>("lr")),
        perf_(opt.get<bool>("perf")),
        metrics_(opt.get<bool>("metrics")),
        layout_(opt.get<bool>("custom_scalars")) {
    topk_tag_ = "train/top" + std::to_string(top_k_);
  }

  void on_fit_begin(trainscope::HookContext& ctx) override {
    saw_validation_ever_ = false;
    reset_epoch(ctx.epoch());
    restart_interval(ctx.epoch());
    if (layout_ && !resumed_) write_layout(ctx.writer());  // once per run: a resumed fit's run has it
  }

  // Only when the checkpoint's run had this plugin (enabled on resume, it writes the layout).
  void on_load_checkpoint(trainscope::HookContext& ctx) override { resumed_ = ctx.state() == kLayoutWritten; }
  void on_save_checkpoint(trainscope::HookContext& ctx) override { ctx.state() = layout_ ? kLayoutWritten : ""; }
  static constexpr const char* kLayoutWritten = "scalars 1: layout written";

  void on_epoch_begin(trainscope::HookContext& ctx) override {
    reset_epoch(ctx.epoch());
    restart_interval(ctx.epoch());
  }

  void on_after_forward(trainscope::HookContext& ctx) override {
    if (ctx.epoch() != acc_epoch_) reset_epoch(ctx.epoch());  // epoch hooks thinned by cadence
    const at::Tensor& loss = ctx.loss();
    if (!loss.defined()) return;
    at::NoGradGuard no_grad;
    const at::Tensor l = loss.detach().to(at::kFloat).reshape({});
    const int64_t step = ctx.step() + 1;  // the optimizer step this batch makes
    if (step % every_ == 0) ctx.writer().add_scalar("train/loss_step", l, step);
    if (!loss_sum_.defined()) loss_sum_ = at::zeros({}, l.options());
    loss_sum_.add_(l);
    ++batches_;
    if (accuracy_) count_correct(ctx);
  }

  void on_train_batch_end(trainscope::HookContext& ctx) override {
    const int64_t step = ctx.step();
    if (perf_) {
      const auto now = Clock::now();
      if (ctx.epoch() != interval_epoch_) {
        restart_interval(ctx.epoch(), now);  // no epoch_begin seen: start measuring here
      } else {
        interval_samples_ += ctx.batch_size();
        ++interval_steps_;
        if (step % every_ == 0 && interval_steps_ > 0) {
          const double seconds = std::chrono::duration<double>(now - interval_start_).count();
          if (seconds > 0) {
            ctx.writer().add_scalar("perf/samples_per_sec", static_cast<double>(interval_samples_) / seconds, step);
            ctx.writer().add_scalar("perf/step_time_ms", 1000.0 * seconds / static_cast<double>(interval_steps_), step);
          }
          restart_interval(ctx.epoch(), now);
        }
      }
    }
    // A user train step's named losses (Trainer::set_train_step): train/<name>_step.
    if (step % every_ == 0) {
      for (const auto& [name, value] : ctx.losses()) ctx.writer().add_scalar("train/" + name + "_step", value, step);
    }
    if (lr_ && step % every_ == 0 && ctx.optimizer() != nullptr) {
      auto& groups = ctx.optimizer()->param_groups();
      for (size_t g = 0; g < groups.size(); ++g) {
        while (lr_tags_.size() <= g) lr_tags_.push_back("lr/group" + std::to_string(lr_tags_.size()));
        ctx.writer().add_scalar(lr_tags_[g], groups[g].options().get_lr(), step);  // no string built per step
      }
    }
  }

  void on_validation_end(trainscope::HookContext& ctx) override {
    saw_validation_ever_ = true;
    validation_epoch_ = ctx.epoch();
  }

  void on_epoch_end(trainscope::HookContext& ctx) override {
    const int64_t step = ctx.step();
    auto& w = ctx.writer();
    std::set<std::string> own;
    if (ctx.epoch() == acc_epoch_ && batches_ > 0) {
      at::NoGradGuard no_grad;
      w.add_scalar("train/loss", loss_sum_ / static_cast<double>(batches_), step);  // stays a device tensor
      own.insert("train/loss");
      if (samples_ > 0) {
        w.add_scalar("train/accuracy", counts_[0].to(at::kDouble) / static_cast<double>(samples_), step);
        own.insert("train/accuracy");
        if (topk_samples_ > 0) {
          w.add_scalar(topk_tag_, counts_[1].to(at::kDouble) / static_cast<double>(topk_samples_), step);
          own.insert(topk_tag_);
        }
      }
    }
    if (metrics_) {
      // Validation metrics are fresh only in an epoch whose validation ran; when this plugin
      // never sees validation_end (phases = ["train"]), it cannot tell and logs them all.
      const bool val_fresh = !saw_validation_ever_ || validation_epoch_ == ctx.epoch();
      for (const auto& [name, value] : ctx.metrics()) {
        if (own.count(name) != 0 || name.empty()) continue;  // already logged from our own sums
        if (!val_fresh && name.rfind("val/", 0) == 0) continue;
        w.add_scalar(name, value, step);
      }
    }
    reset_epoch(ctx.epoch() + 1);
  }

 private:
  void reset_epoch(int64_t epoch) {
    acc_epoch_ = epoch;
    batches_ = samples_ = topk_samples_ = 0;
    // Zeroed in place (no new allocation) once they exist.
    if (loss_sum_.defined()) loss_sum_.zero_();
    if (counts_.defined()) counts_.zero_();
  }

  void restart_interval(int64_t epoch, Clock::time_point now = Clock::now()) {
    interval_epoch_ = epoch;
    interval_start_ = now;
    interval_samples_ = 0;
    interval_steps_ = 0;
  }

  // Correct predictions of a classification batch (outputs [N, C], int64 targets [N]),
  // counted on the device.
  void count_correct(trainscope::HookContext& ctx) {
    const at::Tensor& out = ctx.outputs();
    const at::Tensor& t = ctx.targets();
    if (!out.defined() || !t.defined() || out.dim() != 2 || t.dim() != 1 || t.scalar_type() != at::kLong ||
        out.size(0) != t.size(0) || out.size(0) == 0) {
      return;
    }
    // One pass for both: a sample's rank is the number of classes scoring strictly higher than
    // its target (top-1 correct: rank 0; top-k: rank < k). Fewer kernels than argmax + topk,
    // which matters at every step; ties (equal logits) count in the sample's favour.
    const at::Tensor o = out.detach();
    const at::Tensor rank = o.gt(o.gather(1, t.unsqueeze(1))).sum(1);
    const bool with_topk = top_k_ > 0 && o.size(1) > top_k_;
    if (!counts_.defined()) counts_ = at::zeros({2}, t.options());
    if (with_topk) {
      counts_.add_(at::stack({rank.eq(0), rank.lt(top_k_)}).sum(1));
      topk_samples_ += o.size(0);
    } else {
      counts_.narrow(0, 0, 1).add_(rank.eq(0).sum());
    }
    samples_ += o.size(0);
  }

  void write_layout(trainscope::SummaryWriter& w) const {
    using trainscope::CustomChart;
    std::vector<CustomChart> pairs{CustomChart::multiline("loss", {"^train/loss$", "^val/loss$"})};
    if (accuracy_) {
      pairs.push_back(CustomChart::multiline("accuracy", {"^train/accuracy$", "^val/accuracy$"}));
      if (top_k_ > 0) {
        const std::string k = "top" + std::to_string(top_k_);
        pairs.push_back(CustomChart::multiline(k + " accuracy", {"^train/" + k + "$", "^val/" + k + "$"}));
      }
    }
    std::vector<CustomChart> steps{CustomChart::multiline("loss per step", {"^train/loss_step$"})};
    if (lr_) steps.push_back(CustomChart::multiline("learning rate", {"^lr/"}));
    if (perf_) steps.push_back(CustomChart::multiline("throughput (samples/s)", {"^perf/samples_per_sec$"}));
    trainscope::CustomScalarLayout layout;
    layout.categories.push_back({"train vs validation", std::move(pairs)});
    layout.categories.push_back({"training steps", std::move(steps)});
    w.add_custom_scalars(layout);
  }

  const int64_t every_;
  const int64_t top_k_;
  const bool accuracy_, lr_, perf_, metrics_, layout_;
  std::string topk_tag_;

  // The current epoch's sums (device tensors) and host counters.
  int64_t acc_epoch_ = -1;
  std::vector<std::string> lr_tags_;  // "lr/group<g>", made once
  at::Tensor loss_sum_, counts_;      // counts_: [top-1 correct, top-k correct] of the epoch
  int64_t batches_ = 0, samples_ = 0, topk_samples_ = 0;

  // Validation freshness.
  bool saw_validation_ever_ = false;
  bool resumed_ = false;  // on_load_checkpoint ran: the run already holds the layout
  int64_t validation_epoch_ = -1;

  // Throughput interval.
  int64_t interval_epoch_ = -1;
  Clock::time_point interval_start_{};
  int64_t interval_samples_ = 0, interval_steps_ = 0;
};

}  // namespace

TRAINSCOPE_PLUGIN(
    Scalars, "scalars", "1.0.0",
    trainscope::option<int64_t>("log_every_n_steps", 1,
                                "per-step tags (train/loss_step, lr/*, perf/*) every N optimizer steps")
        .min(1),
    trainscope::option<int64_t>("top_k", 5, "k of train/top<k> (logged when outputs have more than k classes; 0: off)")
        .min(0),
    trainscope::option<bool>("accuracy", true, "training accuracy and top-k of classification outputs, per epoch"),
    trainscope::option<bool>("lr", true, "learning rate of every parameter group (lr/group<g>)"),
    trainscope::option<bool>("perf", true, "throughput and step time from the host clock (perf/*)"),
    trainscope::option<bool>("metrics", true, "every key of ctx.metrics() (val/loss, val/accuracy, ...) at epoch end"),
    trainscope::option<bool>("custom_scalars", true,
                             "a custom-scalars layout: train and validation of each metric on one chart"))
