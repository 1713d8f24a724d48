// weight_norm: an out-of-tree trainscope plugin. After the optimizer step of every step its
// cadence selects (every_n_steps in the TOML), it logs the p-norm of every parameter tensor
// and of all of them together:
//   <prefix>/total            the norm of all parameters as one vector
//   <prefix>/<parameter>      one per parameter tensor (conv1.weight, ...), when per_parameter
// The norms are computed on the parameters' device and handed to the writer as tensors, which
// read them on the writer thread: the training thread never waits for the GPU.
#include <torch/torch.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

class WeightNorm final : public trainscope::Plugin {
 public:
  explicit WeightNorm(const trainscope::Options& opt)
      : p_(opt.get<double>("norm_type")),
        per_parameter_(opt.get<bool>("per_parameter")),
        prefix_(opt.get<std::string>("prefix")) {
    // The schema keeps norm_type finite and >= 1 and prefix non-empty; the form of the prefix
    // is this plugin's own rule.
    if (prefix_.back() == '/') {
      throw std::invalid_argument(
          "weight_norm: prefix must be a tag prefix without a trailing '/', e.g. "
          "prefix = \"weight_norm\"");
    }
  }

  void on_after_optimizer_step(trainscope::HookContext& ctx) override {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> norms;
    const int64_t step = ctx.step() + 1;  // the step this batch makes (ctx.step() advances after this hook)
    for (const auto& item : ctx.model().named_parameters()) {
      const at::Tensor norm = item.value().detach().norm(p_);
      norms.push_back(norm);
      if (per_parameter_) ctx.writer().add_scalar(prefix_ + "/" + item.key(), norm, step);
    }
    if (norms.empty()) return;
    // ||(x_1, ..., x_k)||_p = ||(||x_1||_p, ..., ||x_k||_p)||_p
    ctx.writer().add_scalar(prefix_ + "/total", at::stack(norms).norm(p_), step);
  }

 private:
  double p_;
  bool per_parameter_;
  std::string prefix_;
};

}  // namespace

TRAINSCOPE_PLUGIN(WeightNorm, "weight_norm", "1.0.0",
                  trainscope::option<double>("norm_type", 2.0, "p of the p-norm (2: Euclidean)").finite().min(1),
                  trainscope::option<bool>("per_parameter", true, "also one tag per parameter tensor"),
                  trainscope::option<std::string>("prefix", "weight_norm", "tag prefix").not_empty())
