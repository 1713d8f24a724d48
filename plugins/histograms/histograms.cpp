// histograms: weight and gradient histograms per parameter, and optionally the update-to-weight
// ratio ||w_after - w_before|| / ||w_before|| of each optimizer step.
//
// Tags: weights/<param>, grads/<param> (histograms), update_ratio/<param> (scalars), where
// <param> is the name from model().named_parameters(), e.g. "conv1.weight"; with several models
// (ctx.models(): Trainer::set_models) every model's, as "<model>/<param>" ("generator/bn1.weight").
//
// When: per epoch (default): weights at the end of every log_every_n_epochs-th epoch, gradients
// and update ratios of that epoch's last training batch (same step number). Per step
// (log_every_n_steps = N > 0): at every optimizer step S with S % N == 0, gradients after
// backward, update ratios around optimizer.step() and weights at the end of the batch.
//
// Nothing here reads a device tensor on the host: histograms go through the writer's tensor
// overload (reduced on the device, copied asynchronously), ratios stay 0-d device tensors.
#include <torch/torch.h>
#include <trainscope/glob.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::string joined(const std::vector<std::string>& v, size_t limit = 12) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < limit; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > limit) out += ", ... (" + std::to_string(v.size()) + " in all)";
  return out;
}

class Histograms final : public trainscope::Plugin {
 public:
  explicit Histograms(const trainscope::Options& opt)
      : include_(opt.get<std::vector<std::string>>("include")),
        exclude_(opt.get<std::vector<std::string>>("exclude")),
        every_steps_(opt.get<int64_t>("log_every_n_steps")),
        every_epochs_(opt.get<int64_t>("log_every_n_epochs")),
        weights_(opt.get<bool>("weights")),
        grads_(opt.get<bool>("grads")),
        update_ratio_(opt.get<bool>("update_ratio")) {
    // A relation between three options (the schema checks each option on its own).
    if (!weights_ && !grads_ && !update_ratio_)
      throw std::invalid_argument("histograms: weights, grads and update_ratio are all false: enable at least one");
  }

  void on_fit_begin(trainscope::HookContext& ctx) override {
    params_.clear();
    std::vector<std::string> all;
    // Several models (ctx.models(), e.g. a GAN's): every one, its parameters named
    // "<model>/<param>"; one model: "<param>" as before.
    std::vector<std::pair<std::string, torch::nn::Module*>> models;
    if (ctx.models().size() > 1) {
      for (const auto& [name, module] : ctx.models()) models.emplace_back(name + "/", module);
    } else {
      models.emplace_back("", &ctx.model());
    }
    for (const auto& [prefix, module] : models) {
      for (const auto& item : module->named_parameters(/*recurse=*/true)) {
        const std::string name = prefix + item.key();
        all.push_back(name);
        if (item.value().numel() == 0) continue;
        if (trainscope::matches_any(include_, name) && !trainscope::matches_any(exclude_, name))
          params_.push_back({name, item.value()});
      }
    }
    if (params_.empty())
      throw std::invalid_argument("histograms: no parameter matches include [" + joined(include_) + "] minus exclude [" +
                                  joined(exclude_) + "] (the model's parameters: " + joined(all) + ")");
  }

  void on_after_backward(trainscope::HookContext& ctx) override {
    if (!grads_ || !logs_this_batch(ctx, ctx.step() + 1)) return;
    const int64_t s = ctx.step() + 1;
    for (const auto& p : params_) {
      const at::Tensor& g = p.tensor.grad();
      if (g.defined()) ctx.writer().add_histogram("grads/" + p.name, g.detach(), s);
    }
  }

  void on_before_optimizer_step(trainscope::HookContext& ctx) override {
    before_.clear();
    if (!update_ratio_ || !logs_this_batch(ctx, ctx.step() + 1)) return;
    at::NoGradGuard no_grad;
    before_.reserve(params_.size());
    for (const auto& p : params_) before_.push_back(p.tensor.detach().clone());  // device copy, no sync
  }

  void on_after_optimizer_step(trainscope::HookContext& ctx) override {
    if (before_.empty()) return;
    at::NoGradGuard no_grad;
    const int64_t s = ctx.step() + 1;
    for (size_t i = 0; i < params_.size(); ++i) {
      const at::Tensor& w0 = before_[i];
      const at::Tensor w1 = params_[i].tensor.detach();
      const at::Tensor delta = (w1 - w0).to(at::kFloat).norm();
      const at::Tensor base = w0.to(at::kFloat).norm().clamp_min(1e-12);
      ctx.writer().add_scalar("update_ratio/" + params_[i].name, delta / base, s);
    }
    before_.clear();
  }

  void on_train_batch_end(trainscope::HookContext& ctx) override {
    before_.clear();  // the step may have been skipped: after_optimizer_step did not run
    if (every_steps_ == 0 || !weights_ || ctx.step() % every_steps_ != 0) return;
    log_weights(ctx);
  }

  void on_epoch_end(trainscope::HookContext& ctx) override {
    if (every_steps_ != 0 || !weights_ || (ctx.epoch() + 1) % every_epochs_ != 0) return;
    log_weights(ctx);
  }

 private:
  struct Param {
    std::string name;
    at::Tensor tensor;
  };

  // Whether the training batch that makes optimizer step `s` is one we log.
  bool logs_this_batch(const trainscope::HookContext& ctx, int64_t s) const {
    if (every_steps_ > 0) return s % every_steps_ == 0;
    return ctx.batch_index() == ctx.batches_per_epoch() - 1 && (ctx.epoch() + 1) % every_epochs_ == 0;
  }

  void log_weights(trainscope::HookContext& ctx) {
    // The writer snapshots at the call (a host copy on CPU, a device reduction on CUDA), so
    // later in-place updates of the parameter do not change what is logged.
    for (const auto& p : params_) ctx.writer().add_histogram("weights/" + p.name, p.tensor.detach(), ctx.step());
  }

  std::vector<std::string> include_, exclude_;
  int64_t every_steps_, every_epochs_;
  bool weights_, grads_, update_ratio_;
  std::vector<Param> params_;
  std::vector<at::Tensor> before_;  // parameter copies taken before optimizer.step()
};

}  // namespace

TRAINSCOPE_PLUGIN(
    Histograms, "histograms", "1.0.0",
    trainscope::option<std::vector<std::string>>("include", std::vector<std::string>{"*"},
                                                 "parameter name globs to log (fnmatch, e.g. \"conv*.weight\")")
        .not_empty()
        .globs(),
    trainscope::option<std::vector<std::string>>("exclude", std::vector<std::string>{},
                                                 "parameter name globs to leave out (applied after include)")
        .globs(),
    trainscope::option<int64_t>("log_every_n_steps", 0,
                                "log at every N-th optimizer step; 0 = per epoch (see log_every_n_epochs)")
        .min(0),
    trainscope::option<int64_t>("log_every_n_epochs", 1,
                                "with log_every_n_steps = 0: log at the end of every N-th epoch")
        .min(1),
    trainscope::option<bool>("weights", true, "log weight histograms (weights/<param>)"),
    trainscope::option<bool>("grads", true, "log gradient histograms (grads/<param>)"),
    trainscope::option<bool>("update_ratio", false,
                             "log ||w_after - w_before|| / ||w_before|| per optimizer step (update_ratio/<param>)"))
