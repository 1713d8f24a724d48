// The training loop (see trainer.h for the order of hooks).
//
// Hot path: without plugins a training step costs the model's own work plus a handful of
// branches and one device-side add (the epoch's loss sum). The host reads the device only
// once per log interval (the loss for the console) and once per epoch (the metrics), except
// for fp16's grad scaler, which reads its overflow flag every step as PyTorch's GradScaler does.
#include "trainscope/trainer.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <stdexcept>

#include "amp.h"
#include "step_ranges.h"
#include "trainscope/checkpoint.h"
#include "trainscope/custom_scalars_merge.h"
#include "trainscope/distributed.h"
#include "trainscope/hook_bus.h"
#include "trainscope/hook_context.h"
#include "trainscope/null_sink.h"
#include "trainscope/progress.h"
#include "trainscope/run_dir.h"
#include "trainscope/run_lock.h"
#include "trainscope/run_status.h"
#include "trainscope/summary_writer.h"
#include "trainscope/tap.h"

namespace trainscope {
namespace {

c10::ScalarType amp_dtype(const std::string& precision) {
  if (precision == "fp32" || precision.empty()) return c10::kFloat;
  if (precision == "bf16") return c10::kBFloat16;
  if (precision == "fp16") return c10::kHalf;
  throw std::invalid_argument("[trainer] precision = \"" + precision + "\" is not known (fp32, bf16, fp16)");
}

// Plugin checkpoint state goes through the bus, which knows which plugin is being called. A
// bus that keeps one state string per plugin (plugin_states / set_plugin_states) gives every
// plugin its own; without that, a bus of exactly one plugin still round-trips its state.
template <typename Bus>
std::map<std::string, std::string> save_plugin_states(Bus& bus, HookContext& ctx, std::string& scratch) {
  if constexpr (requires(Bus & b) { b.plugin_states(); }) {
    bus.emit(Hook::kSaveCheckpoint, ctx);
    return bus.plugin_states();
  } else {
    scratch.clear();
    ctx.state_ = &scratch;
    bus.emit(Hook::kSaveCheckpoint, ctx);
    if (bus.size() == 1) return {{bus.plugin_names().front(), scratch}};
    if (!scratch.empty()) {
      std::fprintf(
          stderr,
          "[trainscope] plugin checkpoint state of %zu plugins cannot be told apart by this HookBus; not saved\n",
          bus.size());
    }
    return {};
  }
}

template <typename Bus>
void load_plugin_states(Bus& bus, HookContext& ctx, const std::map<std::string, std::string>& states,
                        std::string& scratch) {
  if constexpr (requires(Bus & b) { b.set_plugin_states(states); }) {
    bus.set_plugin_states(states);
    bus.emit(Hook::kLoadCheckpoint, ctx);
  } else {
    scratch.clear();
    if (bus.size() == 1) {
      auto it = states.find(bus.plugin_names().front());
      if (it != states.end()) scratch = it->second;
    }
    ctx.state_ = &scratch;
    bus.emit(Hook::kLoadCheckpoint, ctx);
  }
}

// rm -rf with nftw: libtorch.so exports a std::filesystem::remove_all of its own that crashes
// when it wins symbol resolution over libstdc++'s.
std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace

struct Trainer::Impl {
  Model model;
  RunSection run;
  TrainerSection cfg;
  c10::Device device{c10::kCPU};
  TensorDataset train, val;
  std::shared_ptr<torch::optim::Optimizer> optimizer;  // shared: also one of named_optimizers
  bool optimizer_from_code = false;
  std::unique_ptr<LrScheduler> scheduler;
  bool scheduler_from_code = false;
  LossFn loss_fn = softmax_cross_entropy;
  HookBus* bus = nullptr;
  std::map<std::string, OptionValue> user_hparams;
  std::string config_text;
  CustomScalarLayout custom_scalars;  // [[custom_scalars]]
  std::FILE* progress_out = stdout;
  int progress_tty = -1;
  // Distributed (set_distributed); trainer_dist.cpp has the pieces.
  std::shared_ptr<Communicator> comm;
  DistributedEnv denv;
  at::Tensor shard;          // this rank's sample indices of the current epoch
  TensorDataset val_shard;   // this rank's validation samples (padded to equal length)
  int64_t val_real = 0;      // how many of them are real (the padding comes last)
  std::vector<at::Tensor> report_losses;  // TRAINSCOPE_DIST_REPORT: local per-step losses
  std::string report_epochs;              // and per-epoch local sums (JSON objects)
  // Several models and a user step (set_models, set_optimizers, set_train_step, callbacks);
  // the pieces are at the end of this file.
  NamedModules named_models;
  NamedOptimizers named_optimizers;
  TrainStepFn train_step;
  std::unique_ptr<HookBus> own_bus;
  std::map<std::string, torch::nn::Module*> model_map;  // ctx.models()
  std::map<std::string, torch::optim::Optimizer*> optimizer_map;
  std::map<std::string, at::Tensor> step_losses, step_outputs;  // of the current batch
  std::map<std::string, at::Tensor> loss_sums;                  // per named loss, of the epoch
  // The primary names and optimizer, the maps.
  void prepare_models();
  CheckpointParts extra_parts() const;
  void train_epoch_user(Progress& progress, at::Tensor& loss_sum, int64_t& loss_count, bool& completed);
  void named_loss_metrics(int64_t batches);

  // ---- State of one fit ----
  std::unique_ptr<BatchLoader> train_loader;
  std::unique_ptr<SummaryWriter> writer;
  HookContext ctx;
  TapSet taps;
  std::map<std::string, double> metrics;
  std::map<std::string, OptionValue> hparams;
  std::string run_dir_text;
  bool stop = false;
  std::string stop_reason;
  bool skip_step = false;
  std::string state_scratch;
  std::vector<at::Tensor> params;
  std::vector<std::string> child_names;  // Sequential models: the children's names
  std::function<at::Tensor(const at::Tensor&, TapSet*)> forward_fn;  // HookContext::forward
  std::vector<double> base_lrs;
  detail::GradScaler scaler;
  bool autocast = false;
  c10::ScalarType autocast_dtype = c10::kFloat;
  int64_t step = 0;
  int64_t epochs_done = 0;
  std::string write_error;                // the first failed write of this fit (FitResult::write_error)
  double barrier_seconds = 0;             // time spent waiting for the event files at checkpoints
  std::vector<std::string> cut_messages;  // what a resume did to the event files

  bool dist() const { return comm != nullptr && denv.world_size > 1; }
  int64_t rank_batch() const { return dist() ? cfg.batch_size / denv.world_size : cfg.batch_size; }
  int64_t train_batches() const {
    return dist() ? (shard.size(0) + rank_batch() - 1) / rank_batch() : train_loader->batches();
  }
  Batch train_batch(int64_t b) const;
  void set_train_epoch(int64_t epoch);
  void dist_begin();              // checks, weight broadcast, validation shard
  void sync_stop();               // OR-reduce of stop requests
  void average_plugin_metrics();  // metrics that plugins added at validation_end
  void write_report(const std::string& run_dir);

  void emit(Hook hook) {
    if (bus != nullptr) bus->emit(hook, ctx);
  }
  // Every param group's lr from the scheduler, when it steps on `interval` (t: epochs or
  // optimizer steps done): at an epoch's start or before a batch (lr_schedule.h).
  void apply_schedule(LrInterval interval, int64_t t) {
    if (!scheduler || scheduler->interval() != interval) return;
    const LrClock clock{cfg.epochs, train_batches(), cfg.max_steps};
    auto& groups = optimizer->param_groups();
    for (size_t g = 0; g < groups.size() && g < base_lrs.size(); ++g)
      groups[g].options().set_lr(scheduler->lr(g, base_lrs[g], t, clock));
  }
  torch::optim::Optimizer& opt() {
    if (!optimizer) optimizer = make_optimizer(cfg, model.module().parameters());
    return *optimizer;
  }
  std::string run_dir() const { return (std::filesystem::path(run.log_dir) / run.name).string(); }
  std::string checkpoint_dir() const {
    return cfg.checkpoint_dir.empty() ? (std::filesystem::path(run.log_dir) / run.name / "checkpoints").string()
                                      : cfg.checkpoint_dir;
  }

  void prepare();
  std::string resume_path() const;
  // Restores model, optimizer, counters and generators; returns the plugins' states.
  std::map<std::string, std::string> resume(const std::string& path);
  void open_writer(bool resumed);
  void fill_context();
  at::Tensor forward_train(const at::Tensor& x) { return forward_with(x, taps); }
  at::Tensor forward_with(const at::Tensor& x, TapSet& tap_set);
  void train_epoch(Progress& progress, at::Tensor& loss_sum, int64_t& loss_count, bool& completed);
  // The two ends of every training batch, shared by train_epoch and train_epoch_user.
  Batch begin_batch(int64_t b);
  bool end_batch(int64_t b, int64_t batches, Progress& progress, const at::Tensor& shown, bool& completed);
  struct Sums {
    at::Tensor loss, correct, top5;
    int64_t count = 0;
    bool has_top5 = false;
  };
  Sums validate(const TensorDataset& data, bool with_hooks);
  void save(FitResult& result, Progress& progress);
  WriteStatus events_durable();
  void on_exception(const std::string& message, Progress& progress);
};

Trainer::Trainer(Model model, RunSection run, TrainerSection trainer) : impl_(std::make_unique<Impl>()) {
  if (!model) throw std::invalid_argument("Trainer: the model is empty");
  impl_->model = std::move(model);
  impl_->run = std::move(run);
  impl_->cfg = std::move(trainer);
  impl_->device = resolve_device(impl_->run.device);
  impl_->model.module().to(impl_->device);
}

Trainer::~Trainer() = default;

Trainer& Trainer::set_train_data(TensorDataset data) {
  impl_->train = std::move(data);
  return *this;
}
Trainer& Trainer::set_val_data(TensorDataset data) {
  impl_->val = std::move(data);
  return *this;
}
Trainer& Trainer::set_optimizer(std::unique_ptr<torch::optim::Optimizer> optimizer) {
  impl_->optimizer = std::move(optimizer);
  impl_->optimizer_from_code = impl_->optimizer != nullptr;
  return *this;
}
Trainer& Trainer::set_scheduler(std::unique_ptr<LrScheduler> scheduler) {
  impl_->scheduler = std::move(scheduler);
  impl_->scheduler_from_code = true;
  return *this;
}
Trainer& Trainer::set_loss(LossFn loss) {
  impl_->loss_fn = loss ? std::move(loss) : LossFn(softmax_cross_entropy);
  return *this;
}
Trainer& Trainer::set_bus(HookBus* bus) {
  impl_->bus = bus;
  return *this;
}
Trainer& Trainer::set_hparams(std::map<std::string, OptionValue> hparams) {
  impl_->user_hparams = std::move(hparams);
  return *this;
}
Trainer& Trainer::set_config_text(std::string text) {
  impl_->config_text = std::move(text);
  return *this;
}
Trainer& Trainer::set_custom_scalars(CustomScalarLayout layout) {
  impl_->custom_scalars = std::move(layout);
  return *this;
}
Trainer& Trainer::set_distributed(std::shared_ptr<Communicator> comm, const DistributedEnv& env) {
  impl_->comm = std::move(comm);
  impl_->denv = env;
  if (impl_->comm) {
    impl_->denv.rank = impl_->comm->rank();
    impl_->denv.world_size = impl_->comm->world_size();
  }
  return *this;
}
Trainer& Trainer::set_models(NamedModules models) {
  for (const auto& [name, module] : models) {
    if (name.empty() || !module)
      throw std::invalid_argument("Trainer::set_models: every model needs a name and a module");
    module->to(impl_->device);
  }
  impl_->named_models = std::move(models);
  return *this;
}
Trainer& Trainer::set_optimizers(NamedOptimizers optimizers) {
  for (const auto& [name, optimizer] : optimizers) {
    if (name.empty() || !optimizer) {
      throw std::invalid_argument("Trainer::set_optimizers: every optimizer needs a name and an optimizer");
    }
  }
  impl_->named_optimizers = std::move(optimizers);
  return *this;
}
Trainer& Trainer::set_train_step(TrainStepFn step) {
  impl_->train_step = std::move(step);
  return *this;
}
HookBus& Trainer::callbacks() {
  if (impl_->bus == nullptr) {
    impl_->own_bus = std::make_unique<HookBus>();
    impl_->bus = impl_->own_bus.get();
  }
  return *impl_->bus;
}
Trainer& Trainer::set_progress(std::FILE* out, int tty) {
  impl_->progress_out = out;
  impl_->progress_tty = tty;
  return *this;
}

const c10::Device& Trainer::device() const { return impl_->device; }
const Model& Trainer::model() const { return impl_->model; }
torch::optim::Optimizer& Trainer::optimizer() { return impl_->opt(); }
std::string Trainer::run_dir() const { return (std::filesystem::path(impl_->run.log_dir) / impl_->run.name).string(); }
std::string Trainer::checkpoint_dir() const { return impl_->checkpoint_dir(); }
const TrainerSection& Trainer::config() const { return impl_->cfg; }

void Trainer::Impl::prepare() {
  if (!train.inputs.defined() || train.size() == 0)
    throw std::invalid_argument("Trainer::fit: no training data (set_train_data)");
  if (cfg.epochs < 1) throw std::invalid_argument("[trainer] epochs must be >= 1");
  if (cfg.batch_size < 1) throw std::invalid_argument("[trainer] batch_size must be >= 1");
  autocast_dtype = amp_dtype(cfg.precision);
  autocast = autocast_dtype != c10::kFloat;
  scaler = autocast_dtype == c10::kHalf ? detail::GradScaler(device) : detail::GradScaler();
  if (!scheduler_from_code) scheduler = make_scheduler(cfg);
  prepare_models();
  opt();
  params.clear();
  for (const auto& p : model.module().parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  base_lrs.clear();
  for (auto& group : optimizer->param_groups()) base_lrs.push_back(group.options().get_lr());
  child_names.clear();
  if (model.is_sequential()) {
    for (const auto& item : model.sequential()->named_children()) child_names.push_back(item.key());
  }
  step = 0;
  epochs_done = 0;
  write_error.clear();
  barrier_seconds = 0;
  cut_messages.clear();
  stop = false;
  stop_reason.clear();
  metrics.clear();
  taps.clear();

  hparams = user_hparams;
  hparams["lr"] = base_lrs.empty() ? cfg.lr : base_lrs.front();
  hparams["batch_size"] = cfg.batch_size;
  hparams["optimizer"] = optimizer_from_code ? std::string("custom") : cfg.optimizer;
  hparams["epochs"] = cfg.epochs;
}

std::string Trainer::Impl::resume_path() const {
  if (cfg.resume.empty()) return {};
  if (cfg.resume == "auto") return latest_checkpoint(checkpoint_dir());
  if (!std::filesystem::is_regular_file(cfg.resume)) {
    throw std::invalid_argument("[trainer] resume = \"" + cfg.resume + "\": no such checkpoint file");
  }
  return cfg.resume;
}

std::map<std::string, std::string> Trainer::Impl::resume(const std::string& path) {
  TrainingState state = load_checkpoint(path, model.module(), optimizer.get(), device, extra_parts());
  // What the run logged after this checkpoint is cut off: the resumed fit logs it again.
  if (run.log && !dist()) {
    for (auto& m : cut_event_files(run_dir(), state)) cut_messages.push_back(std::move(m));
  }
  restore_rng(state);
  step = state.step;
  epochs_done = state.epoch;
  if (state.base_lrs.size() == base_lrs.size()) base_lrs = state.base_lrs;
  if (scheduler) scheduler->load_state(state.scheduler_state);
  if (scaler.enabled() && state.grad_scale.defined()) {
    scaler.scale_tensor().copy_(state.grad_scale);
    scaler.growth_tracker().copy_(state.growth_tracker);
  }
  return std::move(state.plugin_states);
}

void Trainer::Impl::open_writer(bool resumed) {
  run_dir_text = (std::filesystem::path(run.log_dir) / run.name).string();
  SummaryWriterOptions options;
  // Every fit opens its file with a SessionLog START. TensorBoard takes a run's first START as
  // the session's beginning and every later one as a restart: it hides the events of earlier
  // files with step >= that START's step. A resumed fit starts at the checkpoint's step + 1,
  // so everything up to the checkpoint (its last batch, validation and epoch end) stays and
  // whatever a crashed run logged after it is replaced. A fresh fit starts at 0: rerun into
  // the same run directory, it replaces the earlier run's view instead of interleaving.
  options.writer.purge_step = resumed ? step + 1 : 0;
  if (!run.log) {
    options.writer.sink = null_sink();  // run.log = false (trainscope run --no-log): no event files
  } else if (dist() && denv.rank_logs) {
    run_dir_text = (std::filesystem::path(run_dir_text) / ("rank" + std::to_string(denv.rank))).string();
  } else if (dist() && denv.rank != 0) {
    // Only rank 0 writes: the others log into a sink that counts and keeps nothing (every
    // rank still runs every hook, so plugins behave the same on all of them).
    options.writer.sink = null_sink();
  }
  writer = std::make_unique<SummaryWriter>(run_dir_text, options);
}

void Trainer::Impl::fill_context() {
  ctx = HookContext();
  ctx.phase_ = Phase::kTrain;
  ctx.step_ = step;
  ctx.epoch_ = epochs_done;
  ctx.epochs_ = cfg.epochs;
  ctx.batches_per_epoch_ = train_batches();
  ctx.model_ = &model.module();
  ctx.rank_ = dist() ? denv.rank : 0;
  ctx.world_size_ = dist() ? denv.world_size : 1;
  ctx.optimizer_ = optimizer.get();
  ctx.class_names_ = &train.class_names;
  ctx.metrics_ = &metrics;
  ctx.device_ = device;
  ctx.run_dir_ = &run_dir_text;
  ctx.writer_ = writer.get();
  ctx.hparams_ = &hparams;
  ctx.config_text_ = &config_text;
  ctx.taps_ = &taps;
  ctx.stop_requested_ = &stop;
  ctx.stop_reason_ = &stop_reason;
  ctx.skip_step_ = &skip_step;
  ctx.state_ = &state_scratch;
  forward_fn = [this](const at::Tensor& x, TapSet* tap_set) {
    if (tap_set == nullptr) return model.forward(x);
    return forward_with(x, *tap_set);
  };
  ctx.forward_ = &forward_fn;
  ctx.models_ = &model_map;
  ctx.optimizers_ = &optimizer_map;
  ctx.losses_ = &step_losses;
  ctx.named_outputs_ = &step_outputs;
}

at::Tensor Trainer::Impl::forward_with(const at::Tensor& x, TapSet& tap_set) {
  if (tap_set.empty()) return model.forward(x);
  TapScope scope(&tap_set);
  if (!model.is_sequential()) return model.forward_tapped(x);
  // A Sequential runs child by child so that each child's output can be captured by name.
  at::Tensor y = x;
  size_t i = 0;
  for (auto& child : *model.sequential().ptr()) y = tap_set.capture(child_names[i++], child.forward(y));
  return y;
}

void Trainer::Impl::train_epoch(Progress& progress, at::Tensor& loss_sum, int64_t& loss_count, bool& completed) {
  const int64_t batches = train_batches();
  torch::optim::Optimizer& optim = *optimizer;
  const detail::OptimizerRanges optim_ranges(optim);  // profiler ranges: step_ranges.h
  completed = false;
  for (int64_t b = 0; b < batches; ++b) {
    const Batch batch = begin_batch(b);

    {
      detail::StepRange zero_grad_range(optim_ranges.zero_grad);
      optim.zero_grad();
    }
    at::Tensor outputs, loss;
    detail::StepRange forward_range(detail::kForwardRange);
    {
      detail::AutocastScope amp(device.type(), autocast_dtype, autocast);
      outputs = forward_train(batch.inputs);
      loss = loss_fn(outputs, batch.targets);
    }
    forward_range.end();
    ctx.outputs_ = outputs;
    ctx.loss_ = loss;
    at::Tensor shown = loss;  // what hooks, the console and the epoch's loss see
    if (dist()) {
      if (!denv.report_dir.empty()) report_losses.push_back(loss.detach().to(at::kFloat));
      shown = loss.detach().to(at::kFloat).clone();
      comm->allreduce_mean({shown});
      ctx.loss_ = shown;
    }
    emit(Hook::kAfterForward);

    detail::StepRange backward_range(detail::kBackwardRange);
    (scaler.enabled() ? scaler.scale(loss) : loss).backward();
    if (dist()) {
      // As DDP: averaged gradients before anyone looks at them (scaled ones under fp16, so
      // that an overflow on any rank skips the step on every rank).
      std::vector<at::Tensor> grads;
      grads.reserve(params.size());
      for (const auto& p : params) {
        if (p.grad().defined()) grads.push_back(p.grad());
      }
      comm->allreduce_mean(grads);
    }
    if (scaler.enabled()) scaler.unscale(params);
    backward_range.end();
    emit(Hook::kAfterBackward);
    if (cfg.clip_grad_norm > 0) clip_grad_norm(params, cfg.clip_grad_norm);
    emit(Hook::kBeforeOptimizerStep);

    bool stepped = false;
    if (!skip_step && (!scaler.enabled() || scaler.step_ok())) {
      detail::StepRange step_range(optim_ranges.step);
      optim.step();
      stepped = true;
    }
    if (scaler.enabled()) scaler.update();
    if (stepped) emit(Hook::kAfterOptimizerStep);
    // A skipped step still counts: every batch keeps its own step number in the logs.
    ctx.step_ = ++step;
    loss_sum.add_(shown.detach());
    ++loss_count;
    emit(Hook::kTrainBatchEnd);
    if (dist()) sync_stop();

    if (end_batch(b, batches, progress, shown, completed)) return;
  }
  completed = true;
}

Batch Trainer::Impl::begin_batch(int64_t b) {
  detail::StepRange data_range(detail::kDataLoaderRange);
  Batch batch = train_batch(b);
  data_range.end();
  ctx.batch_index_ = b;
  ctx.inputs_ = batch.inputs;
  ctx.targets_ = batch.targets;
  ctx.outputs_ = at::Tensor();
  ctx.loss_ = at::Tensor();
  skip_step = false;
  if (!taps.empty() || !taps.values().empty()) taps.clear();  // requests live for one step
  apply_schedule(LrInterval::kStep, step);
  emit(Hook::kTrainBatchBegin);
  return batch;
}

// After train_batch_end: the console interval (the interval's one host read of `shown`, when
// defined), overhead scalars, max_steps and stop requests. True: the epoch ends here.
bool Trainer::Impl::end_batch(int64_t b, int64_t batches, Progress& progress, const at::Tensor& shown,
                              bool& completed) {
  if (step % std::max<int64_t>(1, cfg.log_every_n_steps) == 0 || b + 1 == batches) {
    if (progress.enabled()) progress.update(b + 1, step, shown.defined() ? shown.item<double>() : std::nan(""));
    if (bus != nullptr && bus->size() > 0) {
      for (const auto& [name, seconds] : bus->take_overhead()) {
        writer->add_scalar("trainscope/overhead/" + name, seconds, step);
      }
    }
  }
  if (cfg.max_steps > 0 && step >= cfg.max_steps && !stop) {
    stop = true;
    stop_reason = "max_steps (" + std::to_string(cfg.max_steps) + ") reached";
  }
  if (!stop) return false;
  completed = b + 1 == batches;
  return true;
}

Trainer::Impl::Sums Trainer::Impl::validate(const TensorDataset& data_in, bool with_hooks) {
  // Distributed: this rank's padded shard, whose first val_real samples count.
  const bool sharded = dist() && with_hooks;
  const TensorDataset& data = sharded ? val_shard : data_in;
  const int64_t real = sharded ? val_real : data.size();
  BatchLoader loader(data, {sharded ? rank_batch() : cfg.batch_size, /*shuffle=*/false, /*drop_last=*/false, 0, device});
  const auto f = at::TensorOptions(at::kFloat).device(device);
  Sums sums;
  sums.loss = at::zeros({}, f);
  sums.correct = at::zeros({}, f.dtype(at::kLong));
  sums.top5 = at::zeros({}, f.dtype(at::kLong));
  sums.count = real;
  const bool was_training = model.module().is_training();
  model.module().eval();
  at::NoGradGuard no_grad;
  const int64_t train_batches = ctx.batches_per_epoch_;
  if (with_hooks) {
    ctx.phase_ = Phase::kValidation;
    ctx.batches_per_epoch_ = loader.batches();
    ctx.batch_index_ = 0;
    ctx.inputs_ = ctx.targets_ = ctx.outputs_ = ctx.loss_ = at::Tensor();
    emit(Hook::kValidationBegin);
  }
  for (int64_t b = 0; b < loader.batches(); ++b) {
    Batch batch = loader.batch(b);
    at::Tensor outputs, loss;
    {
      detail::AutocastScope amp(device.type(), autocast_dtype, autocast);
      outputs = model.forward(batch.inputs);
      loss = loss_fn(outputs, batch.targets);
    }
    const int64_t start = b * loader.options().batch_size;
    const int64_t n = std::min<int64_t>(batch.inputs.size(0), real - start);  // padding excluded
    const bool padded = n < batch.inputs.size(0);
    const at::Tensor out_n = padded ? outputs.narrow(0, 0, n) : outputs;
    const at::Tensor tgt_n = padded ? batch.targets.narrow(0, 0, n) : batch.targets;
    if (n > 0) {
      at::Tensor loss_n = loss;
      if (padded) {
        detail::AutocastScope amp(device.type(), autocast_dtype, autocast);
        loss_n = loss_fn(out_n, tgt_n);
      }
      sums.loss.add_(loss_n.detach().to(at::kFloat) * static_cast<double>(n));
      sums.correct.add_(out_n.argmax(1).eq(tgt_n).sum());
    }
    if (outputs.dim() == 2 && outputs.size(1) > 5) {
      sums.has_top5 = true;
      if (n > 0) sums.top5.add_(std::get<1>(out_n.topk(5, 1)).eq(tgt_n.unsqueeze(1)).any(1).sum());
    }
    if (with_hooks) {
      ctx.batch_index_ = b;
      ctx.inputs_ = batch.inputs;
      ctx.targets_ = batch.targets;
      ctx.outputs_ = outputs;
      ctx.loss_ = loss;
      emit(Hook::kValidationBatchEnd);
    }
  }
  if (with_hooks) ctx.batches_per_epoch_ = train_batches;
  if (was_training) model.module().train();
  return sums;
}

void Trainer::Impl::save(FitResult& result, Progress& progress) {
  TrainingState state;
  state.step = step;
  state.epoch = epochs_done;
  state.base_lrs = base_lrs;
  if (scheduler) state.scheduler_state = scheduler->state();
  if (scaler.enabled()) {
    state.grad_scale = scaler.scale_tensor();
    state.growth_tracker = scaler.growth_tracker();
  }
  capture_rng(state);
  if (bus != nullptr) state.plugin_states = save_plugin_states(*bus, ctx, state_scratch);
  ctx.state_ = &state_scratch;
  const std::string path = checkpoint_path(checkpoint_dir(), epochs_done);
  if (dist() && denv.rank != 0) {  // rank 0 writes (its state is every rank's)
    result.last_checkpoint = path;
    return;
  }
  // Durable order: every event up to this step is on disk before the checkpoint that a
  // resume would start after (docs/reliability.md). Otherwise a kill between the two loses
  // the checkpoint's own step for good: the resumed run starts at step + 1.
  std::string failure;
  const WriteStatus events = events_durable();
  if (!events.ok) {
    failure = "the event files could not be written up to step " + std::to_string(step) + " (" + events.message +
              "), so the checkpoint is not written either";
  } else {
    try {
      // The event files as they are now (whole records, on disk): a resume cuts them back to this.
      if (run.log && !dist()) {
        std::error_code ec;
        state.event_run_dir = std::filesystem::weakly_canonical(std::filesystem::absolute(run_dir()), ec).string();
        state.event_files = event_file_sizes(run_dir());
        if (ec) state.event_run_dir.clear();
      }
      save_checkpoint(path, model.module(), optimizer.get(), state, extra_parts());
      result.last_checkpoint = path;
      return;
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (write_error.empty()) write_error = failure;
  if (cfg.on_write_error == "continue") {
    progress.message("[trainscope] checkpoint " + path + " not written: " + failure +
                     "; training goes on (trainer.on_write_error = \"continue\") and the next checkpoint is tried");
  } else {
    progress.message("[trainscope] checkpoint " + path + " not written: " + failure +
                     "; stopping (trainer.on_write_error = \"stop\"; \"continue\" trains on)");
    stop = true;
    stop_reason = "a checkpoint could not be written";
  }
}

// Flushes every event file of the run (child runs too) and fsyncs them. Waits for the writer
// threads: at a checkpoint only, never in a training step. Returns !ok when records of the
// main run are still unwritten (a full disk) or a sync failed.
WriteStatus Trainer::Impl::events_durable() {
  if (!writer || writer->discards()) return {};
  const auto t0 = std::chrono::steady_clock::now();
  (void)writer->flush();  // drains child runs too; its errors are sticky: the sync below says what is left
  WriteStatus st = writer->event_writer().sync();
  // Child runs (add_scalars, hparams run_name): fsync their files by name.
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(run_dir_text, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    if (p.filename().string().find("tfevents") == std::string::npos || p == writer->event_writer().file_path())
      continue;
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (::fsync(fd) != 0 && st.ok) st = {false, "cannot sync " + p.string() + ": " + std::strerror(errno)};
    ::close(fd);
  }
  barrier_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

void Trainer::Impl::on_exception(const std::string& message, Progress& progress) {
  progress.message("[trainscope] training failed: " + message);
  ctx.exception_message_ = message;
  try {
    emit(Hook::kException);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[trainscope] the exception hook failed too: %s\n", e.what());
  } catch (...) {
  }
  if (writer) writer->close();
}

FitResult Trainer::fit() {
  const auto t0 = std::chrono::steady_clock::now();
  Impl& s = *impl_;
  s.prepare();
  FitResult result;
  result.run_dir = run_dir();
  // One process per run directory (run_lock.h); rank 0 holds it for a distributed job.
  std::unique_ptr<RunLock> lock;
  // With run.log = false nothing may appear under log_dir: the checkpoint folder is locked.
  if (!s.dist() || s.denv.rank == 0) {
    if (s.run.log) {
      lock = std::make_unique<RunLock>(run_dir());
      // Another run's events here: refuse, or move that run aside (run_dir.h, docs/runs.md).
      const bool checkpoint = s.cfg.resume == "auto" && !latest_checkpoint(checkpoint_dir()).empty();
      RunDirClaim claim = claim_run_dir(
          run_dir(), {(s.cfg.resume == "auto" && checkpoint) || (!s.cfg.resume.empty() && s.cfg.resume != "auto"),
                      s.run.overwrite, s.cfg.resume == "auto" && !checkpoint});
      for (auto& m : claim.messages) s.cut_messages.push_back(std::move(m));
      if (!claim.moved_to.empty()) lock = std::make_unique<RunLock>(run_dir());
    } else if (s.cfg.checkpoint_every_n_epochs > 0) {
      lock = std::make_unique<RunLock>(checkpoint_dir());
    }
  }
  // A checkpoint a killed process was writing (the lock says no process writes one now).
  if (lock) {
    for (const auto& tmp : remove_partial_checkpoints(checkpoint_dir()))
      s.cut_messages.push_back("removed " + tmp + " (a checkpoint left unfinished by a killed run)");
  }
  result.resumed_from = s.resume_path();
  const bool resumed = !result.resumed_from.empty();
  std::optional<RunStatusFile> run_status;  // <run dir>/.trainscope-run (run_status.h)
  if (lock && s.run.log) run_status.emplace(run_dir(), s.run.name, s.hparams, resumed);
  if (s.cfg.resume == "auto" && !resumed && s.progress_out) {
    std::fprintf(s.progress_out, "[trainscope] no checkpoint in %s: starting a new run\n", checkpoint_dir().c_str());
  }
  // Model, optimizer and counters come back before the writer opens (it needs the purge
  // step); the plugins get their states once the context is complete.
  std::map<std::string, std::string> plugin_states;
  if (resumed) {
    plugin_states = s.resume(result.resumed_from);
  } else {
    seed_everything(static_cast<uint64_t>(s.run.seed));
  }
  s.train_loader =
      std::make_unique<BatchLoader>(s.train, LoaderOptions{s.cfg.batch_size, /*shuffle=*/true, /*drop_last=*/false,
                                                           static_cast<uint64_t>(s.run.seed), s.device});
  if (s.dist()) s.dist_begin();
  s.set_train_epoch(s.epochs_done);
  s.open_writer(resumed);
  s.fill_context();
  HookContext& ctx = s.ctx;
  Progress progress(s.progress_out, s.progress_tty);
  if (resumed) {
    progress.message("[trainscope] resumed from " + result.resumed_from + " (epoch " + std::to_string(s.epochs_done) +
                     ", step " + std::to_string(s.step) + ")");
  }
  for (const auto& m : s.cut_messages) progress.message("[trainscope] " + m);
  const auto f = at::TensorOptions(at::kFloat).device(s.device);
  try {
    if (resumed && s.bus != nullptr) load_plugin_states(*s.bus, ctx, plugin_states, s.state_scratch);
    ctx.state_ = &s.state_scratch;
    s.emit(Hook::kFitBegin);
    // After the plugins' layouts (scalars writes one at fit_begin), merged with them.
    if (!resumed && !s.custom_scalars.categories.empty()) add_custom_scalars_merged(*s.writer, s.custom_scalars);
    for (int64_t epoch = s.epochs_done; epoch < s.cfg.epochs && !s.stop; ++epoch) {
      ctx.epoch_ = epoch;
      ctx.phase_ = Phase::kTrain;
      ctx.batch_index_ = 0;
      s.set_train_epoch(epoch);
      ctx.batches_per_epoch_ = s.train_batches();
      ctx.inputs_ = ctx.targets_ = ctx.outputs_ = ctx.loss_ = at::Tensor();
      s.apply_schedule(LrInterval::kEpoch, epoch);
      s.model.module().train();
      progress.begin_epoch(epoch, s.cfg.epochs, s.train_batches(), s.cfg.batch_size);
      s.emit(Hook::kEpochBegin);

      at::Tensor loss_sum = at::zeros({}, f);
      int64_t loss_count = 0;
      bool completed = false;
      if (s.train_step) {
        s.train_epoch_user(progress, loss_sum, loss_count, completed);
      } else {
        s.train_epoch(progress, loss_sum, loss_count, completed);
      }
      const at::Tensor train_loss = loss_sum / static_cast<double>(std::max<int64_t>(1, loss_count));

      bool validated = false;
      if (!s.stop && s.val.size() > 0) {
        validated = true;
        Impl::Sums sums = s.validate(s.val, /*with_hooks=*/true);
        at::Tensor local =
            at::stack({train_loss, sums.loss, sums.correct.to(at::kFloat), sums.top5.to(at::kFloat)});
        if (s.dist()) {
          if (!s.denv.report_dir.empty()) {
            const at::Tensor h = local.cpu();
            s.report_epochs += std::string(s.report_epochs.empty() ? "" : ",\n    ") + "{\"epoch\": " +
                               std::to_string(epoch) + ", \"val_loss_sum\": " + num(h[1].item<double>()) +
                               ", \"val_correct\": " + num(h[2].item<double>()) +
                               ", \"val_count\": " + std::to_string(sums.count) + "}";
          }
          // Sums over ranks (the train loss is already the same on every rank: keep it).
          at::Tensor reduced = local.narrow(0, 1, 3).clone();
          s.comm->allreduce_sum({reduced});
          local = at::cat({local.narrow(0, 0, 1), reduced});
          sums.count = s.val.size();
        }
        // The epoch's one read of the device: train loss and the validation sums together.
        const at::Tensor host = local.cpu();
        const float* v = host.data_ptr<float>();
        const double n = static_cast<double>(sums.count);
        s.metrics["train/loss"] = v[0];
        s.metrics["val/loss"] = v[1] / n;
        s.metrics["val/accuracy"] = v[2] / n;
        if (sums.has_top5) s.metrics["val/top5"] = v[3] / n;
        ctx.phase_ = Phase::kValidation;
        ctx.batch_index_ = 0;
        ctx.inputs_ = ctx.targets_ = ctx.outputs_ = ctx.loss_ = at::Tensor();
        s.emit(Hook::kValidationEnd);
        if (s.dist()) s.average_plugin_metrics();
        ctx.phase_ = Phase::kTrain;
      } else if (loss_count > 0) {
        s.metrics["train/loss"] = train_loss.item<double>();
      }
      if (s.train_step) s.named_loss_metrics(loss_count);
      ctx.batch_index_ = 0;
      ctx.batches_per_epoch_ = s.train_batches();
      ctx.inputs_ = ctx.targets_ = ctx.outputs_ = ctx.loss_ = at::Tensor();
      s.emit(Hook::kEpochEnd);
      if (s.dist()) s.sync_stop();
      progress.end_epoch(s.metrics);
      if (completed) {
        s.epochs_done = epoch + 1;
        if (s.scheduler) {  // ReduceLROnPlateau: this epoch's metric (before the checkpoint keeps its state)
          std::vector<double> lrs;
          for (auto& group : s.optimizer->param_groups()) lrs.push_back(group.options().get_lr());
          s.scheduler->observe(epoch, s.metrics, validated, lrs);
        }
        const int64_t every = s.cfg.checkpoint_every_n_epochs;
        const bool last = s.epochs_done == s.cfg.epochs || s.stop;
        if (every > 0 && (s.epochs_done % every == 0 || last)) s.save(result, progress);
      }
    }
    s.emit(Hook::kFitEnd);
    if (s.dist()) s.comm->barrier();  // nobody leaves (rank 0 hosts the store) before all are done
  } catch (const std::exception& e) {
    s.on_exception(e.what(), progress);
    throw;
  } catch (...) {
    s.on_exception("unknown exception", progress);
    throw;
  }
  const WriteStatus status = s.writer->close();
  if (!status.ok) {
    progress.message("[trainscope] writing the event files failed: " + status.message);
    if (s.write_error.empty()) s.write_error = "event files: " + status.message;
  }
  if (s.dist() && !s.denv.report_dir.empty()) s.write_report(result.run_dir);
  if (s.bus != nullptr && s.bus->size() > 0) progress.message("plugin cost:\n" + s.bus->timing_report());
  for (const auto& [name, why] : s.bus ? s.bus->disabled() : std::vector<std::pair<std::string, std::string>>{}) {
    progress.message("[trainscope] plugin '" + name + "' was disabled: " + why);
  }
  if (s.barrier_seconds > 0) {
    char line[160];
    std::snprintf(line, sizeof line,
                  "[trainscope] checkpoints waited %.1f ms in all for the event files to reach the disk",
                  s.barrier_seconds * 1e3);
    progress.message(line);
  }
  if (s.stop) progress.message("[trainscope] stopped: " + s.stop_reason);
  result.steps = s.step;
  result.epochs_completed = s.epochs_done;
  result.stopped = s.stop;
  result.stop_reason = s.stop_reason;
  result.metrics = s.metrics;
  result.write_error = s.write_error;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (run_status) {
    run_status->finish(!s.write_error.empty() ? "failed"
                       : s.stop               ? "stopped"
                                              : "finished",
                       s.step, s.epochs_done, s.metrics, !s.write_error.empty() ? s.write_error : s.stop_reason);
  }
  return result;
}

std::map<std::string, double> Trainer::evaluate(const TensorDataset& data) {
  Impl& s = *impl_;
  if (!data.inputs.defined() || data.size() == 0) throw std::invalid_argument("Trainer::evaluate: empty dataset");
  s.autocast_dtype = amp_dtype(s.cfg.precision);
  s.autocast = s.autocast_dtype != c10::kFloat;
  auto sums = s.validate(data, /*with_hooks=*/false);
  auto host = at::stack({sums.loss, sums.correct.to(at::kFloat), sums.top5.to(at::kFloat)}).cpu();
  auto* v = host.data_ptr<float>();
  const double n = static_cast<double>(sums.count);
  std::map<std::string, double> out{{"loss", v[0] / n}, {"accuracy", v[1] / n}};
  if (sums.has_top5) out["top5"] = v[2] / n;
  return out;
}

// ---- Distributed pieces (docs/distributed.md) --------------------------------------------

Batch Trainer::Impl::train_batch(int64_t b) const {
  if (!dist()) return train_loader->batch(b);
  const int64_t bs = rank_batch();
  const at::Tensor idx = shard.narrow(0, b * bs, std::min(bs, shard.size(0) - b * bs));
  const TensorDataset& data = train_loader->data();
  return {data.inputs.index_select(0, idx).to(device), data.targets.index_select(0, idx).to(device)};
}

void Trainer::Impl::set_train_epoch(int64_t epoch) {
  train_loader->set_epoch(epoch);
  // Every rank draws the same permutation (same seed and epoch) and takes its interleaved
  // share, so global batch b (all ranks' batch b) is the single-process run's batch b.
  if (dist()) shard = shard_indices(train_loader->order(), denv.rank, denv.world_size);
}

void Trainer::Impl::dist_begin() {
  const int w = denv.world_size;
  if (cfg.batch_size % w != 0) {
    throw std::invalid_argument("[trainer] batch_size = " + std::to_string(cfg.batch_size) +
                                " is the global batch and must be a multiple of the world size (" + std::to_string(w) + ")");
  }
  // Initial weights (and buffers) from rank 0, as DDP does at construction.
  {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> state;
    for (const auto& p : model.module().parameters()) state.push_back(p.detach());
    for (const auto& b : model.module().buffers()) state.push_back(b.detach());
    comm->broadcast(state, 0);
  }
  if (val.size() > 0) {
    const at::Tensor idx = shard_indices(at::arange(val.size(), at::TensorOptions(at::kLong)), denv.rank, w);
    val_shard = TensorDataset{val.inputs.index_select(0, idx.to(val.inputs.device())),
                              val.targets.index_select(0, idx.to(val.targets.device())), val.class_names};
    // Rank r holds positions r, r + w, ... of the padded order; those below N are real.
    val_real = std::max<int64_t>(0, (val.size() - denv.rank + w - 1) / w);
  }
  report_losses.clear();
  report_epochs.clear();
}

void Trainer::Impl::sync_stop() {
  const int w = denv.world_size;
  const int64_t first = comm->allreduce_min(stop ? denv.rank : w);
  if (first < w && !stop) {
    stop = true;
    stop_reason = "rank " + std::to_string(first) + " requested a stop";
  }
}

void Trainer::Impl::average_plugin_metrics() {
  static const std::set<std::string> core{"train/loss", "val/loss", "val/accuracy", "val/top5"};
  std::string names;
  std::vector<std::string> keys;
  for (const auto& [k, v] : metrics) {
    if (core.count(k) == 0) {
      keys.push_back(k);
      names += k + '\n';
    }
  }
  const auto h = static_cast<int64_t>(std::hash<std::string>{}(names) >> 1);
  if (comm->allreduce_min(h) != comm->allreduce_max(h)) {
    std::fprintf(stderr, "[trainscope] rank %d: plugins added different metrics on different ranks; not averaged\n",
                 denv.rank);
    return;
  }
  if (keys.empty()) return;
  at::Tensor values = at::empty({static_cast<int64_t>(keys.size())}, at::TensorOptions(at::kDouble));
  auto a = values.accessor<double, 1>();
  for (size_t i = 0; i < keys.size(); ++i) a[static_cast<int64_t>(i)] = metrics[keys[i]];
  at::Tensor on_device = device.is_cuda() ? values.to(device) : values;  // NCCL reduces device tensors
  comm->allreduce_mean({on_device});
  values = on_device.cpu();
  a = values.accessor<double, 1>();
  for (size_t i = 0; i < keys.size(); ++i) metrics[keys[i]] = a[static_cast<int64_t>(i)];
}

void Trainer::Impl::write_report(const std::string&) {
  std::filesystem::create_directories(denv.report_dir);
  std::string losses;
  if (!report_losses.empty()) {
    const at::Tensor h = at::stack(report_losses).to(at::kDouble).cpu();
    for (int64_t i = 0; i < h.size(0); ++i) losses += (i ? ", " : "") + num(h[i].item<double>());
  }
  std::ofstream out(std::filesystem::path(denv.report_dir) / ("rank" + std::to_string(denv.rank) + ".json"));
  out << "{\"rank\": " << denv.rank << ", \"world_size\": " << denv.world_size << ",\n  \"step_loss\": [" << losses
      << "],\n  \"epochs\": [\n    " << report_epochs << "]}\n";
}

}  // namespace trainscope

// ---- Several models and a user train step (docs/callbacks.md) ----------------------------

namespace trainscope {

void Trainer::Impl::prepare_models() {
  if (train_step) {
    if (dist()) throw std::invalid_argument("Trainer::set_train_step: a user train step does not run distributed");
    if (autocast) {
      throw std::invalid_argument(
          "Trainer::set_train_step: [trainer] precision = \"" + cfg.precision +
          "\" is not applied to a user train step: set it to \"fp32\" and autocast in the step");
    }
    if (cfg.clip_grad_norm > 0) {
      throw std::invalid_argument(
          "Trainer::set_train_step: [trainer] clip_grad_norm is not applied to a user train step: set it to 0 and "
          "call trainscope::clip_grad_norm in the step");
    }
  }
  std::string primary = "model";
  model_map.clear();
  for (const auto& [name, module] : named_models) {
    if (model_map.count(name) != 0) throw std::invalid_argument("Trainer::set_models: two models named '" + name + "'");
    model_map[name] = module.get();
    if (module.get() == &model.module()) primary = name;
  }
  if (model_map.count(primary) == 0) {
    if (model_map.count("model") != 0) {
      throw std::invalid_argument(
          "Trainer::set_models: the constructor's model is not among them and the name \"model\" is taken");
    }
    model_map["model"] = &model.module();
  }
  optimizer_map.clear();
  for (const auto& [name, opt_ptr] : named_optimizers) {
    if (optimizer_map.count(name) != 0) {
      throw std::invalid_argument("Trainer::set_optimizers: two optimizers named '" + name + "'");
    }
    optimizer_map[name] = opt_ptr.get();
  }
  if (!named_optimizers.empty()) {
    auto it = std::find_if(named_optimizers.begin(), named_optimizers.end(),
                           [&](const auto& item) { return item.first == primary; });
    optimizer = it != named_optimizers.end() ? it->second : named_optimizers.front().second;
    optimizer_from_code = true;
  }
  opt();
  bool listed = false;
  for (const auto& [name, p] : optimizer_map) listed = listed || p == optimizer.get();
  if (!listed) {
    if (optimizer_map.count(primary) != 0) {
      throw std::invalid_argument("Trainer::set_optimizers: the name '" + primary + "' is taken");
    }
    optimizer_map[primary] = optimizer.get();
  }
}

CheckpointParts Trainer::Impl::extra_parts() const {
  CheckpointParts parts;
  for (const auto& [name, module] : model_map) {
    if (module != &model.module()) parts.models[name] = module;
  }
  for (const auto& [name, p] : optimizer_map) {
    if (p != optimizer.get()) parts.optimizers[name] = p;
  }
  return parts;
}

// The epoch loop around a user step: the same batch order, counters, hooks at the batch's
// ends, per-step lr schedule, console interval, overhead scalars, max_steps and stop checks
// as train_epoch (begin_batch / end_batch).
void Trainer::Impl::train_epoch_user(Progress& progress, at::Tensor& loss_sum, int64_t& loss_count, bool& completed) {
  const int64_t batches = train_batches();
  completed = false;
  for (auto& [name, sum] : loss_sums) sum.zero_();
  for (int64_t b = 0; b < batches; ++b) {
    step_losses.clear();
    step_outputs.clear();
    const Batch batch = begin_batch(b);

    at::Tensor first_loss;
    TrainStep ts;
    ts.inputs_ = batch.inputs;
    ts.targets_ = batch.targets;
    ts.step_ = step + 1;
    ts.epoch_ = ctx.epoch_;
    ts.batch_index_ = b;
    ts.device_ = device;
    ts.models_ = &model_map;
    ts.optimizers_ = &optimizer_map;
    ts.losses_ = &step_losses;
    ts.outputs_ = &step_outputs;
    ts.first_loss_ = &first_loss;
    ts.ctx_ = &ctx;
    ts.bus_ = bus;
    train_step(ts);

    ctx.loss_ = first_loss;
    ctx.outputs_ = step_outputs.empty() ? at::Tensor() : step_outputs.begin()->second;
    ctx.step_ = ++step;
    for (const auto& [name, value] : step_losses) {
      at::Tensor& sum = loss_sums[name];
      if (!sum.defined()) sum = at::zeros({}, value.options().dtype(at::kFloat));
      sum.add_(value.to(at::kFloat));
    }
    if (first_loss.defined()) {
      loss_sum.add_(first_loss.to(at::kFloat));
      ++loss_count;
    }
    emit(Hook::kTrainBatchEnd);
    if (end_batch(b, batches, progress, first_loss, completed)) return;
  }
  completed = true;
}

// train/<name>: each reported loss's mean over the epoch's batches (one read of the device).
void Trainer::Impl::named_loss_metrics(int64_t batches) {
  if (loss_sums.empty() || batches <= 0) return;
  std::vector<at::Tensor> sums;
  for (const auto& [name, sum] : loss_sums) sums.push_back(sum);
  const at::Tensor host = at::stack(sums).to(at::kDouble).cpu();
  int64_t i = 0;
  for (const auto& [name, sum] : loss_sums) {
    metrics["train/" + name] = host[i++].item<double>() / static_cast<double>(batches);
  }
}

}  // namespace trainscope
