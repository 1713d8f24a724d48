// TrainStep: what a user train step (Trainer::set_train_step) gets for one batch. The step
// does the whole batch its own way (a GAN's two losses and two optimizer steps, say) and
// reports named losses and outputs; the Trainer keeps everything around it: epochs, the
// batch order, hooks and their cadence, checkpoints of every named model and optimizer,
// progress and the writer. See docs/callbacks.md.
//
//   trainer.set_models({{"generator", g.ptr()}, {"discriminator", d.ptr()}})
//       .set_optimizers({{"generator", opt_g}, {"discriminator", opt_d}})
//       .set_train_step([&](trainscope::TrainStep& s) {
//         auto& opt_d = s.optimizer("discriminator");
//         ...
//         s.report_loss("discriminator", loss_d);
//         s.report_loss("generator", loss_g);
//       });
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <string>

#include "trainscope/export.h"
#include "trainscope/hooks.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn
namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace trainscope {

class HookBus;
class HookContext;

class TRAINSCOPE_API TrainStep {
 public:
  // The batch, already on the trainer's device.
  const at::Tensor& inputs() const { return inputs_; }
  const at::Tensor& targets() const { return targets_; }
  // The optimizer step this batch makes, counted from 1 (ctx.step() + 1), its epoch (0-based)
  // and index in the epoch.
  int64_t step() const { return step_; }
  int64_t epoch() const { return epoch_; }
  int64_t batch_index() const { return batch_index_; }
  const c10::Device& device() const { return device_; }

  // The named models and optimizers (Trainer::set_models / set_optimizers). Throws
  // std::out_of_range naming the names there are for a name that is not one of them.
  torch::nn::Module& model(const std::string& name) const;
  torch::optim::Optimizer& optimizer(const std::string& name) const;

  // Reports a loss (a 0-d tensor; kept detached, on the device) or an output under `name`:
  // hooks see them as ctx.losses() / ctx.named_outputs() from the next emit() and at
  // train_batch_end; the first loss reported is also ctx.loss(), the console's loss and the
  // epoch's train/loss; each loss's epoch mean is the metric train/<name>.
  void report_loss(const std::string& name, const at::Tensor& loss);
  void report_output(const std::string& name, const at::Tensor& output);
  const std::map<std::string, at::Tensor>& losses() const { return *losses_; }

  // Emits one of the hooks inside a batch (after_forward, after_backward,
  // before_optimizer_step, after_optimizer_step) to the plugins and callbacks, when the step
  // wants them to look at a point of its own work; set `model` / `optimizer` to the name of
  // the one ctx.model() / ctx.optimizer() should be meanwhile ("" keeps the primary ones).
  // train_batch_begin and train_batch_end fire around the step without asking. Throws
  // std::invalid_argument for other hooks.
  void emit(Hook hook, const std::string& model = "", const std::string& optimizer = "");

  // ---- Filled by the core. ----
  at::Tensor inputs_, targets_;
  int64_t step_ = 0, epoch_ = 0, batch_index_ = 0;
  c10::Device device_{c10::kCPU};
  const std::map<std::string, torch::nn::Module*>* models_ = nullptr;
  const std::map<std::string, torch::optim::Optimizer*>* optimizers_ = nullptr;
  std::map<std::string, at::Tensor>* losses_ = nullptr;
  std::map<std::string, at::Tensor>* outputs_ = nullptr;
  at::Tensor* first_loss_ = nullptr;  // the first loss reported in this batch
  HookContext* ctx_ = nullptr;
  HookBus* bus_ = nullptr;
};

using TrainStepFn = std::function<void(TrainStep& step)>;

}  // namespace trainscope
