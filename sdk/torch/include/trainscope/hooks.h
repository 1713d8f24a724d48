// The hook points a plugin can subscribe to, in the order a fit emits them.
#pragma once

#include <cstdint>

#include "trainscope/export.h"

namespace trainscope {

enum class Hook : uint8_t {
  kFitBegin,              // once, before the first epoch (or after a resume)
  kEpochBegin,            // at the start of every epoch
  kTrainBatchBegin,       // before the forward pass of a training batch
  kAfterForward,          // outputs and loss are ready
  kAfterBackward,         // gradients are ready, before clipping
  kBeforeOptimizerStep,   // after clipping, before optimizer.step()
  kAfterOptimizerStep,    // parameters updated
  kTrainBatchEnd,         // end of a training batch (step counter already advanced)
  kValidationBegin,       // before the validation loop
  kValidationBatchEnd,    // after each validation batch
  kValidationEnd,         // validation metrics are ready
  kEpochEnd,              // after training (and validation) of an epoch
  kFitEnd,                // once, after the last epoch or a stop request
  kException,             // an exception escaped the loop; files are closed afterwards
  kSaveCheckpoint,        // a checkpoint is being written (plugins add their state)
  kLoadCheckpoint,        // a checkpoint was read (plugins restore their state)
  kCount
};

inline constexpr int kHookCount = static_cast<int>(Hook::kCount);
using HookMask = uint32_t;
static_assert(kHookCount <= 32, "HookMask holds one bit per hook");
constexpr HookMask hook_bit(Hook h) { return HookMask{1} << static_cast<int>(h); }

// "fit_begin", "train_batch_end", ... (the names used in TOML `hooks = [...]` and in reports).
TRAINSCOPE_API const char* hook_name(Hook hook);
// Returns false when `name` is not a hook name.
TRAINSCOPE_API bool hook_from_name(const char* name, Hook* out);

}  // namespace trainscope
