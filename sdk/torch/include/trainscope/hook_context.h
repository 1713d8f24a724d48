// HookContext: everything a plugin sees when one of its hooks runs. Filled by the core; plugins
// read it through the accessors and act through writer(), request_activation(), request_stop().
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/hooks.h"
#include "trainscope/options.h"
#include "trainscope/tap.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn
namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace trainscope {

class SummaryWriter;

enum class Phase : uint8_t { kTrain, kValidation };

class TRAINSCOPE_API HookContext {
 public:
  // Counters. step() counts optimizer steps since the run began (it survives resumes).
  Hook hook() const { return hook_; }
  Phase phase() const { return phase_; }
  int64_t step() const { return step_; }
  int64_t epoch() const { return epoch_; }
  int64_t epochs() const { return epochs_; }
  int64_t batch_index() const { return batch_index_; }
  int64_t batches_per_epoch() const { return batches_per_epoch_; }

  // The model, optimizer and current batch (undefined tensors where the hook has none).
  torch::nn::Module& model() const { return *model_; }
  torch::optim::Optimizer* optimizer() const { return optimizer_; }
  const at::Tensor& inputs() const { return inputs_; }
  const at::Tensor& targets() const { return targets_; }
  const at::Tensor& outputs() const { return outputs_; }
  const at::Tensor& loss() const { return loss_; }  // 0-d, on the device: read it without .item()
  int64_t batch_size() const { return inputs_.defined() && inputs_.dim() > 0 ? inputs_.size(0) : 0; }

  // Several models (a GAN's generator and discriminator, ...; Trainer::set_models). models()
  // maps each name to its module: {"model": &model()} for a trainer of one model. model(name)
  // and optimizer(name) are null for a name not there. model() / optimizer() stay the primary.
  const std::map<std::string, torch::nn::Module*>& models() const;
  const std::map<std::string, torch::optim::Optimizer*>& optimizers() const;
  torch::nn::Module* model(const std::string& name) const;
  torch::optim::Optimizer* optimizer(const std::string& name) const;
  // Named losses and outputs a user train step reported (Trainer::set_train_step) for this
  // batch, 0-d device tensors for the losses: read them without .item(). Empty in the default
  // loop, whose one loss is loss(). With a user step, loss() is the first loss it reported.
  const std::map<std::string, at::Tensor>& losses() const;
  const std::map<std::string, at::Tensor>& named_outputs() const;
  // Names of the classes, when the dataset has them (index = label).
  const std::vector<std::string>& class_names() const { return *class_names_; }

  // Metrics by name: at validation_end the core's validation metrics (loss, accuracy, ...);
  // plugins may add their own, which later plugins and the hparams plugin see.
  std::map<std::string, double>& metrics() { return *metrics_; }

  const c10::Device& device() const { return device_; }
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  const std::string& run_dir() const { return *run_dir_; }

  // The current plugin's name and validated options (defaults filled in).
  const std::string& plugin_name() const { return *plugin_name_; }
  const Options& options() const { return *options_; }
  // The run's writer, shared by every plugin (thread-safe). add_* only copies and enqueues:
  // encoding and I/O run on the writer thread. Under the default overflow policy (kBlock) a
  // call waits when the queue is full (65536 records or 256 MiB queued), i.e. only when
  // logging outpaces the writer thread for long; run.log = false or a non-zero rank use a
  // NullSink, and discards() is then true.
  SummaryWriter& writer() const { return *writer_; }
  // Hyperparameters: the TOML [hparams] table plus the trainer's (lr, batch_size, ...).
  const std::map<std::string, OptionValue>& hparams() const { return *hparams_; }
  // The configuration file's text (empty when the trainer was configured in code).
  const std::string& config_text() const { return *config_text_; }

  // Activation taps. Request in train_batch_begin (or before running the model yourself);
  // read in after_forward / after_backward / train_batch_end of the same step.
  void request_activation(const std::string& name, bool with_grad = false) { taps_->request(name, with_grad); }
  void request_all_activations() { taps_->request_all(true); }
  at::Tensor activation(const std::string& name) const;
  at::Tensor activation_grad(const std::string& name) const;
  const std::map<std::string, at::Tensor>& activations() const { return taps_->values(); }
  TapSet& taps() const { return *taps_; }
  // Runs the model on `x` exactly as training does (any model; a Sequential child by child),
  // with `taps` (when given and not empty) capturing the activations it requests. For looking
  // at fixed samples (feature maps, Grad-CAM, embeddings): wrap it in at::NoGradGuard and
  // model().eval() as you need, and restore train() after. Throws when the core set no model.
  at::Tensor forward(const at::Tensor& x, TapSet* taps = nullptr) const;

  // Control. A stop request is sticky: no later plugin can undo it.
  void request_stop(const std::string& reason);
  bool stop_requested() const { return *stop_requested_; }
  const std::string& stop_reason() const { return *stop_reason_; }
  // In after_backward / before_optimizer_step: skip this batch's optimizer step.
  void skip_optimizer_step() { *skip_step_ = true; }
  bool optimizer_step_skipped() const { return *skip_step_; }

  // kException: what was thrown.
  const std::string& exception_message() const { return exception_message_; }
  // kSaveCheckpoint: write your state here; kLoadCheckpoint: read it (empty if none saved).
  std::string& state() { return *state_; }

  // ---- Filled by the core. Plugins use the accessors above. ----
  Hook hook_ = Hook::kFitBegin;
  Phase phase_ = Phase::kTrain;
  int64_t step_ = 0, epoch_ = 0, epochs_ = 0, batch_index_ = 0, batches_per_epoch_ = 0;
  torch::nn::Module* model_ = nullptr;
  torch::optim::Optimizer* optimizer_ = nullptr;
  at::Tensor inputs_, targets_, outputs_, loss_;
  const std::vector<std::string>* class_names_ = nullptr;
  std::map<std::string, double>* metrics_ = nullptr;
  c10::Device device_{c10::kCPU};
  int rank_ = 0, world_size_ = 1;
  const std::string* run_dir_ = nullptr;
  const std::string* plugin_name_ = nullptr;
  const Options* options_ = nullptr;
  SummaryWriter* writer_ = nullptr;
  const std::map<std::string, OptionValue>* hparams_ = nullptr;
  const std::string* config_text_ = nullptr;
  TapSet* taps_ = nullptr;
  bool* stop_requested_ = nullptr;
  std::string* stop_reason_ = nullptr;
  bool* skip_step_ = nullptr;
  std::string exception_message_;
  std::string* state_ = nullptr;
  // Added in plugin ABI 1.1.
  const std::function<at::Tensor(const at::Tensor&, TapSet*)>* forward_ = nullptr;
  // Added in plugin ABI 2.1 (null: the accessors answer as for one model and no named losses).
  const std::map<std::string, torch::nn::Module*>* models_ = nullptr;
  const std::map<std::string, torch::optim::Optimizer*>* optimizers_ = nullptr;
  const std::map<std::string, at::Tensor>* losses_ = nullptr;
  const std::map<std::string, at::Tensor>* named_outputs_ = nullptr;
};

}  // namespace trainscope
