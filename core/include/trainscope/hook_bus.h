// HookBus: dispatches hook events to the plugins that override them and whose cadence fires
// now, times each call, and applies each plugin's error policy.
//
// Cadence (see Cadence in run_config.h) is decided here, from the HookContext:
//   - step hooks (train_batch_begin .. train_batch_end): on the batch's step number S, the
//     optimizer step this batch makes, counted from 1. The trainer advances ctx.step() after
//     after_optimizer_step, so S = ctx.step() + 1 up to after_optimizer_step and
//     S = ctx.step() at train_batch_end: every step hook of one batch is decided on the same
//     S (a plugin that requests activations at train_batch_begin sees them at after_forward).
//   - epoch hooks (epoch_begin, epoch_end, validation_*): on ctx.epoch() (0-based): they fire
//     when (epoch + 1) % every_n_epochs == 0, i.e. after the n-th, 2n-th, ... epoch.
//   - phases: train gates the step hooks, validation gates validation_* (and a step hook
//     emitted with ctx.phase() == kValidation, which then follows the epoch cadence).
//   - fit_begin, fit_end, exception, save/load_checkpoint always fire.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/hook_context.h"
#include "trainscope/hooks.h"
#include "trainscope/plugin.h"
#include "trainscope/plugin_loader.h"
#include "trainscope/run_config.h"

namespace trainscope {

// Thrown by emit() when a plugin with on_error = "abort" fails.
class PluginAbort : public std::runtime_error {
 public:
  PluginAbort(std::string plugin, Hook hook, std::string message)
      : std::runtime_error("plugin '" + plugin + "' failed in " + hook_name(hook) + ": " + message),
        plugin_(std::move(plugin)),
        hook_(hook),
        message_(std::move(message)) {}
  const std::string& plugin() const { return plugin_; }
  Hook hook() const { return hook_; }
  const std::string& message() const { return message_; }

 private:
  std::string plugin_;
  Hook hook_;
  std::string message_;
};

// Cadence, error policy and name of an inline callback (HookBus::on, HookBus::add_plugin):
// the fields of a [[plugin]] table (docs/callbacks.md), with the same defaults.
struct CallbackOptions {
  std::string name;            // in messages, the cost table and checkpoints; "" = "callback<N>"
  int64_t every_n_steps = 0;   // step hooks: every N-th optimizer step (0: every step)
  int64_t every_n_epochs = 1;  // epoch and validation hooks: after every N-th epoch
  std::vector<int64_t> at_steps;
  bool train = true;       // step hooks of the training phase
  bool validation = true;  // validation_* hooks
  ErrorPolicy on_error = ErrorPolicy::kDisable;
};

using Callback = std::function<void(HookContext&)>;

class TRAINSCOPE_API HookBus {
 public:
  HookBus();
  ~HookBus();  // destroys the plugins in reverse order of add()
  HookBus(const HookBus&) = delete;
  HookBus& operator=(const HookBus&) = delete;

  // Adds a plugin instance; plugins are called in the order they were added. A config with
  // enabled = false is ignored (the instance is destroyed).
  void add(std::unique_ptr<PluginInstance> instance, const PluginConfig& config);

  // Creates and adds every enabled plugin of `plugins` (in order) from `catalog`. A plugin
  // whose constructor throws stops it, whatever its on_error (which is about hooks): it throws
  // PluginLoadError(kCreateFailed) naming the [[plugin]] table and the plugin's message, before
  // any training. A name missing from the catalog throws PluginLoadError(kNotFound)
  // (load_config already refuses those).
  void add_from_config(const std::vector<PluginConfig>& plugins, const PluginCatalog& catalog);

  // In-process callbacks, no shared library: they share the plugins' hooks, cadence, error
  // isolation (an exception is caught, reported and disables the callback, or aborts the fit
  // under on_error = kAbort), timing table and checkpoint state (ctx.state()), and are called
  // in the order added, among the plugins. ctx.plugin_name() is the callback's name and
  // ctx.options() is empty. Returns the name given (unique: a clash gets a "#2" suffix).
  //   bus.on(Hook::kEpochEnd, [](HookContext& ctx) { ... }, {.every_n_epochs = 2});
  std::string on(Hook hook, Callback fn, CallbackOptions options = {});
  //   bus.add_plugin(std::make_unique<MyPlugin>(), {.name = "mine"});   (MyPlugin : Plugin)
  // Only the hooks T overrides are subscribed, as for a plugin library.
  template <typename T>
  std::string add_plugin(std::unique_ptr<T> plugin, CallbackOptions options = {}) {
    static_assert(std::is_base_of_v<Plugin, T>, "add_plugin: T must derive from trainscope::Plugin");
    return add_in_process(std::unique_ptr<Plugin>(std::move(plugin)), detail::hooks_of<T>(), std::move(options));
  }
  std::string add_in_process(std::unique_ptr<Plugin> plugin, HookMask hooks, CallbackOptions options);

  // Emits `hook` to subscribed, enabled plugins whose cadence fires for ctx's step/epoch.
  // Sets ctx.hook_, ctx.plugin_name_ and ctx.options_ for each call.
  // No subscriber: one load and one branch.
  void emit(Hook hook, HookContext& ctx) {
    if ((mask_ & hook_bit(hook)) == 0) return;
    dispatch(hook, ctx);
  }
  bool has_subscribers(Hook hook) const { return (mask_ & hook_bit(hook)) != 0; }
  // True when some plugin would receive `hook` with ctx.step() == step and ctx.epoch() == epoch
  // in the train phase (validation_* hooks: the validation phase), for work only done when
  // someone listens, e.g. installing taps.
  bool fires(Hook hook, int64_t step, int64_t epoch) const;

  // Per plugin and hook: calls and total seconds (only pairs with calls > 0).
  struct Timing {
    std::string plugin;
    Hook hook;
    uint64_t calls = 0;
    double seconds = 0;
  };
  std::vector<Timing> timings() const;
  // Total seconds spent in each plugin since the last call (for trainscope/overhead/<plugin>).
  std::vector<std::pair<std::string, double>> take_overhead();
  // A table of per-plugin cost (plugin, calls, total ms, mean us per call), printed at the
  // end of fit.
  std::string timing_report() const;

  // Checkpoint state per plugin: what each wrote to ctx.state() in its last save_checkpoint
  // hook; set_plugin_states() gives each its own before load_checkpoint is emitted.
  std::map<std::string, std::string> plugin_states() const;
  void set_plugin_states(const std::map<std::string, std::string>& states);

  size_t size() const;
  std::vector<std::string> plugin_names() const;
  // Names of plugins disabled after an error, with the message.
  std::vector<std::pair<std::string, std::string>> disabled() const;

 private:
  struct Entry;
  void dispatch(Hook hook, HookContext& ctx);
  void fail(Entry& entry, Hook hook, const std::string& message);
  void rebuild_subscribers();
  double seconds_per_tick() const;

  HookMask mask_ = 0;  // hooks with at least one subscriber
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<Entry*> subscribers_[kHookCount];
  std::vector<std::pair<std::string, std::string>> disabled_;
  uint64_t start_ticks_ = 0;  // clock calibration: ticks and steady_clock at construction
  int64_t start_ns_ = 0;
};

}  // namespace trainscope
