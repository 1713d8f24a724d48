// Checkpoints: model, optimizer and scheduler state, the step/epoch counters, the random
// generators, the fp16 grad scaler and every plugin's state, in one torch::serialize archive
// (<dir>/epoch_NNNN.pt, written to a temporary name and renamed, so a crash never leaves a
// half-written checkpoint under the final name).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "trainscope/export.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn
namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace trainscope {

inline constexpr int64_t kCheckpointFormat = 1;

// What a checkpoint holds besides the model's and the optimizer's own tensors.
struct TrainingState {
  int64_t step = 0;              // optimizer steps done
  int64_t epoch = 0;             // epochs completed = the (0-based) epoch a resumed run starts with
  std::vector<double> base_lrs;  // each param group's lr before the scheduler's factor
  std::string scheduler_state;   // LrScheduler::state() (plateau counters); empty: none
  at::Tensor grad_scale;         // fp16 grad scaler: scale and growth tracker (undefined: none)
  at::Tensor growth_tracker;
  at::Tensor cpu_rng;                                // the default CPU generator's state
  std::vector<at::Tensor> cuda_rng;                  // one per visible CUDA device (empty without CUDA)
  std::map<std::string, std::string> plugin_states;  // plugin name -> what it put in ctx.state()
  // The run's event files when the checkpoint was taken, all flushed and fsynced up to its
  // step (docs/reliability.md): the run directory's absolute path and, per event file under
  // it, its path relative to it and its size. A resume cuts the files back to these sizes
  // and removes newer ones, so what a killed run logged after the checkpoint never shows
  // twice. Empty in checkpoints written before this was recorded (and without event files).
  std::string event_run_dir;
  std::map<std::string, int64_t> event_files;
};

// The models and optimizers a checkpoint holds besides the primary ones (Trainer::set_models,
// set_optimizers: a GAN's discriminator, say), by name. Saved under their names; on load,
// each one named here is restored, and a name the checkpoint lacks is an error naming it.
struct CheckpointParts {
  std::map<std::string, torch::nn::Module*> models;
  std::map<std::string, torch::optim::Optimizer*> optimizers;
};

// Every event file (a name holding "tfevents") under `run_dir` (child runs included): path
// relative to `run_dir` -> size in bytes.
TRAINSCOPE_API std::map<std::string, int64_t> event_file_sizes(const std::string& run_dir);
// Cuts `run_dir`'s event files back to `state`'s (see TrainingState::event_files): a file it
// lists is truncated to its recorded size, an event file it does not list is removed. Does
// nothing when `state` lists none or was taken for another run directory. Returns what it did,
// one line per file, for the console.
TRAINSCOPE_API std::vector<std::string> cut_event_files(const std::string& run_dir, const TrainingState& state);

// Fills the generator states of `state` from the default generators.
TRAINSCOPE_API void capture_rng(TrainingState& state);
// Restores the default generators from `state` (those it holds).
TRAINSCOPE_API void restore_rng(const TrainingState& state);

// Writes `path` (parent directories are created). `optimizer` may be null. Never leaves a
// partial file: on failure (a full disk, say) the temporary file is removed and a
// std::runtime_error "cannot write checkpoint <path>: <reason>" is thrown.
TRAINSCOPE_API void save_checkpoint(const std::string& path, torch::nn::Module& model,
                                    torch::optim::Optimizer* optimizer, const TrainingState& state);
TRAINSCOPE_API void save_checkpoint(const std::string& path, torch::nn::Module& model,
                                    torch::optim::Optimizer* optimizer, const TrainingState& state,
                                    const CheckpointParts& parts);
// Writes what `produce` hands to its byte sink into <path>.tmp, fsyncs it, renames it to
// `path` and fsyncs the directory. On any failure <path>.tmp is removed and std::runtime_error
// "cannot write checkpoint <path>: <reason>" is thrown (what `produce` throws included).
TRAINSCOPE_API void write_durably(
    const std::string& path, const std::function<void(const std::function<size_t(const void*, size_t)>&)>& produce);
// Reads `path` into `model` and `optimizer` (tensors mapped to `device`) and returns the rest.
// Throws std::runtime_error naming the file when it is missing or not a trainscope checkpoint.
TRAINSCOPE_API TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model,
                                             torch::optim::Optimizer* optimizer, const c10::Device& device);
TRAINSCOPE_API TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model,
                                             torch::optim::Optimizer* optimizer, const c10::Device& device,
                                             const CheckpointParts& parts);

// <dir>/epoch_0003.pt for a checkpoint taken after 3 completed epochs.
TRAINSCOPE_API std::string checkpoint_path(const std::string& dir, int64_t epochs_completed);
// Removes the temporary files (epoch_NNNN.pt.tmp) a process killed while writing a checkpoint
// left in `dir`; returns their paths. Call it only while holding the run's lock (run_lock.h).
TRAINSCOPE_API std::vector<std::string> remove_partial_checkpoints(const std::string& dir);
// The checkpoint of the most epochs in `dir` (empty when there is none).
TRAINSCOPE_API std::string latest_checkpoint(const std::string& dir);

}  // namespace trainscope
