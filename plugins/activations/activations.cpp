// activations: what each tapped layer outputs during training. For every activation the model
// offers (zoo models' trainscope::tap() names, or each child of a Sequential), filtered by
// include/exclude globs, it logs a histogram and three scalars every log_every_n_steps steps:
//
//   activations/<layer>                 histogram of all elements of the batch's activation
//   activations/<layer>/mean            mean
//   activations/<layer>/std             standard deviation (unbiased, as torch.std)
//   activations/<layer>/zero_fraction   fraction of elements exactly 0 (dead ReLU units)
//
// The activations are requested in train_batch_begin of a chosen step only (requests live one
// step, so every other step costs one modulo). Everything is reduced on the device and handed
// to the writer's tensor overloads: no host read on the training thread.
#include <torch/torch.h>
#include <trainscope/glob.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace {

class Activations final : public trainscope::Plugin {
 public:
  explicit Activations(const trainscope::Options& opt)
      : every_(opt.get<int64_t>("log_every_n_steps")),
        include_(opt.get<std::vector<std::string>>("include")),
        exclude_(opt.get<std::vector<std::string>>("exclude")) {}

  void on_train_batch_begin(trainscope::HookContext& ctx) override {
    const int64_t s = ctx.step() + 1;  // the optimizer step this batch makes
    if (s % every_ != 0) return;
    ctx.request_all_activations();  // one detach per tap; filtered in after_forward
    pending_step_ = s;
  }

  void on_after_forward(trainscope::HookContext& ctx) override {
    const int64_t s = ctx.step() + 1;
    if (pending_step_ != s) return;
    pending_step_ = -1;
    auto& w = ctx.writer();
    for (const auto& [name, value] : ctx.activations()) {
      if (!value.defined() || value.numel() == 0 || !at::isFloatingType(value.scalar_type())) continue;
      if (!trainscope::matches_any(include_, name) || trainscope::matches_any(exclude_, name)) continue;
      const at::Tensor a = value.detach().to(at::kFloat);
      const std::string tag = "activations/" + name;
      w.add_histogram(tag, a, s);
      w.add_scalar(tag + "/mean", a.mean(), s);
      w.add_scalar(tag + "/std", a.numel() > 1 ? a.std() : at::zeros({}, a.options()), s);
      w.add_scalar(tag + "/zero_fraction", a.eq(0).to(at::kFloat).mean(), s);
    }
  }

 private:
  int64_t every_;
  std::vector<std::string> include_, exclude_;
  int64_t pending_step_ = -1;
};

}  // namespace

TRAINSCOPE_PLUGIN(
    Activations, "activations", "1.0.0",
    trainscope::option<int64_t>("log_every_n_steps", 100, "log at optimizer steps that are multiples of this").min(1),
    trainscope::option<std::vector<std::string>>("include", {"*"}, "globs of activation names to log")
        .not_empty()
        .globs(),
    trainscope::option<std::vector<std::string>>("exclude", {}, "globs of activation names to skip").globs())
