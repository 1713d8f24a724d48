// Trainer: the training loop. It trains a Model on a TensorDataset with the optimizer,
// scheduler, precision and clipping of a TrainerSection (or parts supplied in code), emits
// every hook of hooks.h through a HookBus, writes the run's TensorBoard files through one
// SummaryWriter, and saves / resumes checkpoints.
//
// Order of hooks in a fit (epochs 0-based, `step` = optimizer steps done so far):
//   [load_checkpoint]            when resuming (each plugin's saved state in ctx.state())
//   fit_begin
//   per epoch:  epoch_begin
//               per batch:  train_batch_begin, after_forward, after_backward,
//                           before_optimizer_step, after_optimizer_step, train_batch_end
//               validation_begin, validation_batch_end (per batch), validation_end
//                                                   (with validation data, unless stopped)
//               epoch_end
//               [save_checkpoint]                   (when a checkpoint is written)
//   fit_end
// An exception escaping the loop: exception, then the writer is closed and it is rethrown.
// A stop request (sticky) is checked after every batch and after every epoch: the rest of
// the epoch and its validation are skipped, epoch_end and fit_end still fire.
// Distributed (set_distributed): every rank runs every hook; gradients are averaged after
// backward (before after_backward); ctx.loss() is the cross-rank mean from after_forward on;
// metrics are cross-rank values; stop requests of any rank stop all of them.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "trainscope/data.h"
#include "trainscope/export.h"
#include "trainscope/lr_schedule.h"
#include "trainscope/models.h"
#include "trainscope/options.h"
#include "trainscope/run_config.h"
#include "trainscope/train_step.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn
namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace trainscope {

using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>>;
using NamedOptimizers = std::vector<std::pair<std::string, std::shared_ptr<torch::optim::Optimizer>>>;

class HookBus;
class Communicator;
struct DistributedEnv;

// LrScheduler (lr_schedule.h): each param group's lr = base lr * factor(epoch, epochs), or
// per step / per epoch from lr() for the schedules of [trainer.scheduler].

// gamma ^ (epoch / step_size), as torch.optim.lr_scheduler.StepLR.
class TRAINSCOPE_API StepLr final : public LrScheduler {
 public:
  StepLr(int64_t step_size, double gamma);
  double factor(int64_t epoch, int64_t epochs) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// (1 + cos(pi * epoch / epochs)) / 2, as CosineAnnealingLR with T_max = epochs, eta_min = 0.
class TRAINSCOPE_API CosineLr final : public LrScheduler {
 public:
  double factor(int64_t epoch, int64_t epochs) const override;
};

// outputs [N, classes] (any float dtype), targets [N] int64 -> 0-d mean loss.
using LossFn = std::function<at::Tensor(const at::Tensor& outputs, const at::Tensor& targets)>;
TRAINSCOPE_API at::Tensor softmax_cross_entropy(const at::Tensor& outputs, const at::Tensor& targets);

// "auto" (CUDA when present), "cpu", "cuda", "cuda:N". Throws std::invalid_argument when the
// device does not exist here.
TRAINSCOPE_API c10::Device resolve_device(const std::string& spec);
// Seeds torch's CPU and CUDA generators (call before building the model for reproducible init).
TRAINSCOPE_API void seed_everything(uint64_t seed);
// adam | adamw | sgd (with momentum) over `parameters`, from the section's lr, momentum,
// weight_decay. Throws std::invalid_argument for other names.
TRAINSCOPE_API std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainerSection& section,
                                                                       const std::vector<at::Tensor>& parameters);
// The section's schedule: its [trainer.scheduler] table (section.schedule) when that names
// one, else the string form (section.scheduler with section.step_size and section.gamma).
// Null for "none". Throws std::invalid_argument for values check_schedule() refuses.
TRAINSCOPE_API std::unique_ptr<LrScheduler> make_scheduler(const TrainerSection& section);
// The schedule make_scheduler() builds, as a table (the string form filled in).
TRAINSCOPE_API LrScheduleConfig effective_schedule(const TrainerSection& section);
// Scales the gradients of `parameters` so that their global L2 norm is at most `max_norm`, as
// torch::nn::utils::clip_grad_norm_, but on the device: no host read of the norm. Returns the
// norm before clipping as a 0-d device tensor (undefined when no parameter has a gradient).
TRAINSCOPE_API at::Tensor clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm);

struct FitResult {
  std::string run_dir;
  int64_t steps = 0;             // optimizer steps since the run began (resumes included)
  int64_t epochs_completed = 0;  // likewise
  bool stopped = false;          // a stop request (or max_steps) ended the fit early
  std::string stop_reason;
  std::string resumed_from;               // the checkpoint the fit started from ("" for a fresh run)
  std::string last_checkpoint;            // the newest checkpoint written by this fit ("" if none)
  std::map<std::string, double> metrics;  // at the end: train/loss and the last validation's
  double seconds = 0;                     // wall time of fit()
  // The first failed write of a checkpoint or of the event files (a full disk): the run's
  // files are incomplete. Empty when everything was written. `trainscope run` exits 1 then.
  std::string write_error;
};

class TRAINSCOPE_API Trainer {
 public:
  // `run`: name, log_dir, seed, device; `trainer`: everything else of the loop.
  explicit Trainer(Model model, RunSection run = {}, TrainerSection trainer = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  Trainer& set_train_data(TensorDataset data);
  Trainer& set_val_data(TensorDataset data);  // optional: no validation without it
  // Supplied in code instead of the section's (the optimizer must hold the model's parameters,
  // already on the trainer's device(); the scheduler may be null for a constant lr).
  Trainer& set_optimizer(std::unique_ptr<torch::optim::Optimizer> optimizer);
  Trainer& set_scheduler(std::unique_ptr<LrScheduler> scheduler);
  Trainer& set_loss(LossFn loss);  // default: cross entropy
  // The plugins' bus (not owned; must outlive fit()). None: no hooks.
  Trainer& set_bus(HookBus* bus);
  // [hparams] table; the trainer adds lr, batch_size, optimizer and epochs.
  Trainer& set_hparams(std::map<std::string, OptionValue> hparams);
  Trainer& set_config_text(std::string text);
  // A custom-scalars layout written at the start of a fresh fit (not on resume: the run holds
  // it), after the plugins' fit_begin and merged with the layout they wrote there.
  Trainer& set_custom_scalars(CustomScalarLayout layout);
  // Data-parallel training over `comm` (distributed.h; null or world size 1: one process).
  // trainer.batch_size stays the global batch: each rank takes batch_size / world_size
  // samples of its shard per step. `env` gives rank_logs, report_dir. See docs/distributed.md.
  Trainer& set_distributed(std::shared_ptr<Communicator> comm, const DistributedEnv& env);
  // Where progress goes (default stdout; null: silent). tty < 0: isatty decides.
  Trainer& set_progress(std::FILE* out, int tty = -1);

  // ---- Several models and a user train step (docs/callbacks.md) ----
  // Named models (moved to device()): hooks see them as ctx.models(), checkpoints save and
  // resume all of them. The constructor's model stays the primary one (ctx.model()); when it
  // is not among these it is added as "model".
  Trainer& set_models(NamedModules models);
  // Named optimizers, saved and resumed with them. The primary one (ctx.optimizer(); the one
  // the trainer's lr schedule scales) is the one named like the primary model, else the first.
  Trainer& set_optimizers(NamedOptimizers optimizers);
  // Replaces the built-in step (forward, loss, backward, clipping, optimizer step) with `step`,
  // called once per batch between train_batch_begin and train_batch_end; it reports its
  // losses and outputs through TrainStep (train_step.h). trainer.precision must be fp32 and
  // clip_grad_norm 0 (the step does its own), and it is not for set_distributed. Validation
  // (set_val_data) still runs the primary model with set_loss's loss.
  Trainer& set_train_step(TrainStepFn step);
  // The bus the hooks go to: the one of set_bus, else one the trainer owns (made on first
  // call), for inline callbacks: trainer.callbacks().on(Hook::kEpochEnd, fn, {...}).
  HookBus& callbacks();

  // Trains for trainer.epochs (resuming first when trainer.resume says so). Rethrows what
  // escapes the loop after the exception hook and closing the writer.
  FitResult fit();

  // Loss, accuracy (and top5 with more than 5 classes) of the model on `data`, computed on
  // the device and read once: {"loss", "accuracy", "top5"}.
  std::map<std::string, double> evaluate(const TensorDataset& data);

  const c10::Device& device() const;
  const Model& model() const;
  torch::optim::Optimizer& optimizer();  // the section's one is made on first use
  std::string run_dir() const;           // <log_dir>/<name>
  std::string checkpoint_dir() const;    // trainer.checkpoint_dir, or <run_dir>/checkpoints
  const TrainerSection& config() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainscope
