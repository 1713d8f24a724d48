// The one table of hook points. Everything else about a hook is generated from its row:
//   the Hook enum and kHookCount (hooks.h), hook_name()/hook_from_name() (plugin.cpp),
//   the Plugin virtual `on_<name>` (plugin.h), the overrider mask detail::hooks_of<T>() and
//   the dispatch detail::invoke_hook<T>() (plugin.h), and the cadence class the bus uses
//   (hook_cadence(), hooks.h).
// Row: X(Enum, name, cadence, "when it is called"), in the order a fit emits them.
// Cadence: kAlways (fires regardless of cadence keys), kStep (every_n_steps/at_steps, the
// train phase), kEpoch (every_n_epochs), kValidation (every_n_epochs, the validation phase).
// ABI: a row's position is its number on the wire. Add a new hook as a new LAST row and bump
// kPluginAbiMinor (older plugins never subscribe to it); reordering or removing rows breaks
// every built plugin and needs kPluginAbiMajor + 1 (docs/plugins.md, "ABI rules").
#pragma once

#define TRAINSCOPE_HOOK_TABLE(X)                                                                  \
  X(FitBegin, fit_begin, kAlways, "once, before the first epoch (or after a resume)")             \
  X(EpochBegin, epoch_begin, kEpoch, "at the start of every epoch")                               \
  X(TrainBatchBegin, train_batch_begin, kStep, "before the forward pass of a training batch")     \
  X(AfterForward, after_forward, kStep, "outputs and loss are ready")                             \
  X(AfterBackward, after_backward, kStep, "gradients are ready, before clipping")                 \
  X(BeforeOptimizerStep, before_optimizer_step, kStep, "after clipping, before optimizer.step()") \
  X(AfterOptimizerStep, after_optimizer_step, kStep, "parameters updated")                        \
  X(TrainBatchEnd, train_batch_end, kStep, "end of a training batch (step counter advanced)")     \
  X(ValidationBegin, validation_begin, kValidation, "before the validation loop")                 \
  X(ValidationBatchEnd, validation_batch_end, kValidation, "after each validation batch")         \
  X(ValidationEnd, validation_end, kValidation, "validation metrics are ready")                   \
  X(EpochEnd, epoch_end, kEpoch, "after training (and validation) of an epoch")                   \
  X(FitEnd, fit_end, kAlways, "once, after the last epoch or a stop request")                     \
  X(Exception, exception, kAlways, "an exception escaped the loop; files are closed afterwards")  \
  X(SaveCheckpoint, save_checkpoint, kAlways, "a checkpoint is being written (add your state)")   \
  X(LoadCheckpoint, load_checkpoint, kAlways, "a checkpoint was read (restore your state)")
