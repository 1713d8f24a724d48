// nan_guard: catches a non-finite loss or gradient before the optimizer applies it, then skips
// that optimizer step or stops training cleanly.
//
// Tags: nan_guard (text: one summary per detection and one at the end of the fit),
//       nan_guard/nonfinite_steps (scalar: non-finite steps so far).
// Options: action ("skip" | "stop"), check_grads, check_every_n_steps, max_consecutive_skips.
//
// Cost: the decision to skip or stop is made on the host, so each checked step reads one float
// from the device: a flag set by at::_amp_foreach_non_finite_check_and_unscale_ (the kernel
// GradScaler uses: one fused pass over every gradient, exact isfinite per element; with an
// inverse scale of 1 it writes each value back unchanged) plus isfinite of the loss. On CPU the
// read is free; on CUDA it is one synchronisation per checked step. README.md says why no
// device-only alternative is sound. Per-parameter details are read only after a detection.
#include <ATen/core/Tensor.h>
#include <ATen/ops/_amp_foreach_non_finite_check_and_unscale.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/isnan.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>
#include <torch/nn/module.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

class NanGuard final : public trainscope::Plugin {
 public:
  explicit NanGuard(const trainscope::Options& opt)
      : check_grads_(opt.get<bool>("check_grads")),
        every_(opt.get<int64_t>("check_every_n_steps")),
        max_skips_(opt.get<int64_t>("max_consecutive_skips")) {
    stop_ = opt.get<std::string>("action") == "stop";  // the schema allows "skip" and "stop"
  }

  void on_fit_begin(trainscope::HookContext& ctx) override {
    checked_ = 0;
    nonfinite_ = 0;
    in_a_row_ = 0;
    logged_step_ = -1;
    params_.clear();
    for (const auto& item : ctx.model().named_parameters()) {
      if (item.value().requires_grad()) params_.emplace_back(item.key(), item.value());
    }
  }

  // After backward and before clipping: clipping would spread one NaN to every gradient, so
  // the names reported here are the parameters that really produced it.
  void on_after_backward(trainscope::HookContext& ctx) override {
    const int64_t step = ctx.step() + 1;  // the optimizer step this batch makes
    if (step % every_ != 0) return;

    const at::Tensor& loss = ctx.loss();
    grads_.clear();
    names_.clear();
    if (check_grads_) {
      for (const auto& [name, p] : params_) {
        const at::Tensor& g = p.grad();
        if (!g.defined() || g.numel() == 0 || g.is_sparse() || !g.is_floating_point()) continue;
        grads_.push_back(g);
        names_.push_back(name);
      }
    }
    if (grads_.empty() && !loss.defined()) return;
    ++checked_;

    const c10::Device device = grads_.empty() ? loss.device() : grads_.front().device();
    if (!found_.defined() || found_.device() != device) {
      const auto f = at::TensorOptions(at::kFloat).device(device);
      found_ = at::zeros({1}, f);
      one_ = at::ones({1}, f);
    }
    found_.zero_();
    // The kernel wants every tensor on found_'s device: a model split over devices is checked
    // one device at a time, each flag added into found_.
    const bool one_device =
        std::all_of(grads_.begin(), grads_.end(), [&](const at::Tensor& g) { return g.device() == device; });
    if (one_device) {
      if (!grads_.empty()) at::_amp_foreach_non_finite_check_and_unscale_(grads_, found_, one_);
    } else {
      for (const auto& g : grads_) {
        at::Tensor f = at::zeros({1}, at::TensorOptions(at::kFloat).device(g.device()));
        at::_amp_foreach_non_finite_check_and_unscale_({g}, f, at::ones({1}, f.options()));
        found_.add_(f.to(found_.options()));
      }
    }
    if (loss.defined()) found_.add_(at::isfinite(loss.detach()).all().logical_not().to(found_.options()));
    // The one host read of a checked step (a sync on CUDA; see the file comment).
    if (found_.item<float>() == 0.0f) {
      in_a_row_ = 0;
    } else {
      report(ctx, step);
    }
    grads_.clear();  // do not keep the gradients alive past the hook
  }

  void on_epoch_end(trainscope::HookContext& ctx) override { log_count(ctx, ctx.step()); }

  void on_fit_end(trainscope::HookContext& ctx) override {
    std::ostringstream text;
    text << "nan_guard: " << nonfinite_ << " non-finite step(s) in " << checked_ << " checked step(s) (action "
         << (stop_ ? "stop" : "skip") << ", check_grads " << (check_grads_ ? "true" : "false")
         << ", check_every_n_steps " << every_ << ")";
    ctx.writer().add_text("nan_guard", text.str(), ctx.step());
    params_.clear();  // do not keep the model's parameters alive after the fit
  }

 private:
  // A detection: name the offending tensors (extra reads are fine now), then skip or stop.
  void report(trainscope::HookContext& ctx, int64_t step) {
    ++nonfinite_;
    ++in_a_row_;
    const at::Tensor& loss = ctx.loss();
    const bool loss_bad = loss.defined() && !at::isfinite(loss.detach()).all().item<bool>();
    // Non-finite and NaN counts of every checked gradient (a read each: this is the rare path).
    std::vector<at::Tensor> counts;
    for (const auto& g : grads_) {
      counts.push_back(at::logical_not(at::isfinite(g)).sum().cpu());
      counts.push_back(at::isnan(g).sum().cpu());
    }
    const at::Tensor host = counts.empty() ? at::Tensor() : at::stack(counts);
    const int64_t* c = counts.empty() ? nullptr : host.data_ptr<int64_t>();
    std::ostringstream list;
    std::string names;
    int64_t listed = 0;
    for (size_t i = 0; i < grads_.size(); ++i) {
      const int64_t bad = c[2 * i], nans = c[2 * i + 1];
      if (bad == 0) continue;
      list << "\n- `" << names_[i] << "`: " << bad << " of " << grads_[i].numel() << " gradient values non-finite ("
           << nans << " NaN, " << bad - nans << " inf)";
      names += (listed++ == 0 ? "" : ", ") + names_[i];
    }

    const bool stopping = stop_ || (max_skips_ > 0 && in_a_row_ >= max_skips_);
    std::ostringstream what;
    what << "non-finite " << (loss_bad ? (listed > 0 ? "loss and gradients" : "loss") : "gradients") << " at step "
         << step << " (epoch " << ctx.epoch() + 1 << ", batch " << ctx.batch_index() + 1 << "/"
         << ctx.batches_per_epoch() << ")";
    std::ostringstream text;
    text << "**nan_guard: " << what.str() << "**\n\n";
    if (loss_bad) text << "- loss: non-finite\n";
    if (listed > 0) text << "Parameters with non-finite gradients (" << listed << "):" << list.str() << "\n";
    if (!check_grads_) text << "(gradients not checked: check_grads = false)\n";
    text << "\nAction: ";
    if (stop_) {
      text << "optimizer step skipped, training stopped (action = \"stop\").";
    } else if (stopping) {
      text << "optimizer step skipped; " << in_a_row_
           << " checked steps in a row were non-finite (max_consecutive_skips), so training stopped.";
    } else {
      text << "optimizer step skipped (action = \"skip\"); training goes on.";
    }
    ctx.writer().add_text("nan_guard", text.str(), step);
    log_count(ctx, step);

    // The step is skipped in both cases: a stop must not apply the non-finite update either.
    ctx.skip_optimizer_step();
    std::string line = "nan_guard: " + what.str();
    if (listed > 0) line += ": " + names;
    if (stopping) {
      ctx.request_stop(stop_ ? line : line + " (" + std::to_string(in_a_row_) + " non-finite checked steps in a row)");
    }
    std::fprintf(stderr, "[trainscope] %s; optimizer step skipped%s\n", line.c_str(),
                 stopping ? ", stopping" : "");
  }

  void log_count(trainscope::HookContext& ctx, int64_t step) {
    if (step == logged_step_) return;
    logged_step_ = step;
    ctx.writer().add_scalar("nan_guard/nonfinite_steps", static_cast<double>(nonfinite_), step);
  }

  bool stop_ = false;
  bool check_grads_;
  int64_t every_;
  int64_t max_skips_;
  int64_t checked_ = 0, nonfinite_ = 0, in_a_row_ = 0, logged_step_ = -1;
  std::vector<std::pair<std::string, at::Tensor>> params_;  // trainable parameters, by name
  std::vector<at::Tensor> grads_;   // the checked gradients of the current step
  std::vector<std::string> names_;  // their parameter names
  at::Tensor found_, one_;          // the step's flag (> 0: something non-finite) and 1.0
};

}  // namespace

TRAINSCOPE_PLUGIN(NanGuard, "nan_guard", "1.0.0",
                  trainscope::option<std::string>("action", "skip",
                                                  "on a non-finite loss or gradient: \"skip\" the optimizer step "
                                                  "and go on, or \"stop\" the fit (the step is skipped too)")
                      .one_of({"skip", "stop"}),
                  trainscope::option<bool>("check_grads", true,
                                           "check every parameter's gradient too (false: the loss only)"),
                  trainscope::option<int64_t>("check_every_n_steps", 1,
                                              "check every n-th optimizer step (each check is one device read)")
                      .min(1),
                  trainscope::option<int64_t>("max_consecutive_skips", 10,
                                              "with action = \"skip\": stop after this many non-finite checked "
                                              "steps in a row (0: never)")
                      .min(0))
