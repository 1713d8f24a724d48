// Checkpoints: model, optimizer and scheduler state, the step/epoch counters, the random
// generators, the fp16 grad scaler and every plugin's state, in one torch::serialize archive
// (<dir>/epoch_NNNN.pt, written to a temporary name and renamed, so a crash never leaves a
// half-written checkpoint under the final name).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
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
  at::Tensor grad_scale;         // fp16 grad scaler: scale and growth tracker (undefined: none)
  at::Tensor growth_tracker;
  at::Tensor cpu_rng;                                // the default CPU generator's state
  std::vector<at::Tensor> cuda_rng;                  // one per visible CUDA device (empty without CUDA)
  std::map<std::string, std::string> plugin_states;  // plugin name -> what it put in ctx.state()
};

// Fills the generator states of `state` from the default generators.
TRAINSCOPE_API void capture_rng(TrainingState& state);
// Restores the default generators from `state` (those it holds).
TRAINSCOPE_API void restore_rng(const TrainingState& state);

// Writes `path` (parent directories are created). `optimizer` may be null.
TRAINSCOPE_API void save_checkpoint(const std::string& path, torch::nn::Module& model,
                                    torch::optim::Optimizer* optimizer, const TrainingState& state);
// Reads `path` into `model` and `optimizer` (tensors mapped to `device`) and returns the rest.
// Throws std::runtime_error naming the file when it is missing or not a trainscope checkpoint.
TRAINSCOPE_API TrainingState load_checkpoint(const std::string& path, torch::nn::Module& model,
                                             torch::optim::Optimizer* optimizer, const c10::Device& device);

// <dir>/epoch_0003.pt for a checkpoint taken after 3 completed epochs.
TRAINSCOPE_API std::string checkpoint_path(const std::string& dir, int64_t epochs_completed);
// The checkpoint of the most epochs in `dir` (empty when there is none).
TRAINSCOPE_API std::string latest_checkpoint(const std::string& dir);

}  // namespace trainscope
