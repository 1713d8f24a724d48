// Writing a plugin: derive from trainscope::Plugin, override the hooks you need, and export it
// with TRAINSCOPE_PLUGIN(Type, "name", "version", trainscope::option<T>(...), ...).
//
// ABI: each .so exports one C-linkage function returning a PluginDescriptor. The loader checks
// ABI major/minor, then the build fingerprint (compiler, libstdc++ ABI, torch and SDK versions),
// then creates the plugin. No exception crosses the boundary: create and invoke catch inside
// the plugin's library and hand back the message.
#pragma once

#include <torch/version.h>

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/hook_context.h"
#include "trainscope/hooks.h"
#include "trainscope/options.h"
#include "trainscope/version.h"

namespace trainscope {

// 2.0: OptionSpec carries constraints (its layout changed). 1.1 added HookContext::forward.
inline constexpr uint32_t kPluginAbiMajor = 2;
inline constexpr uint32_t kPluginAbiMinor = 0;

class TRAINSCOPE_API Plugin {
 public:
  virtual ~Plugin();
  /// Called once when fit starts (after a resume too), before the first epoch.
  virtual void on_fit_begin(HookContext& ctx) {}
  /// Called at the start of every epoch.
  virtual void on_epoch_begin(HookContext& ctx) {}
  /// Called before the forward pass of a training batch: request activations here.
  virtual void on_train_batch_begin(HookContext& ctx) {}
  /// Called when outputs and loss of a training batch are ready.
  virtual void on_after_forward(HookContext& ctx) {}
  /// Called when gradients are ready, before clipping.
  virtual void on_after_backward(HookContext& ctx) {}
  /// Called after clipping, right before optimizer.step().
  virtual void on_before_optimizer_step(HookContext& ctx) {}
  /// Called right after optimizer.step().
  virtual void on_after_optimizer_step(HookContext& ctx) {}
  /// Called at the end of a training batch (step() already counts it).
  virtual void on_train_batch_end(HookContext& ctx) {}
  /// Called before the validation loop.
  virtual void on_validation_begin(HookContext& ctx) {}
  /// Called after each validation batch (inputs, targets, outputs, loss set).
  virtual void on_validation_batch_end(HookContext& ctx) {}
  /// Called when validation metrics are ready (ctx.metrics()).
  virtual void on_validation_end(HookContext& ctx) {}
  /// Called at the end of every epoch.
  virtual void on_epoch_end(HookContext& ctx) {}
  /// Called once when fit ends normally or on a stop request.
  virtual void on_fit_end(HookContext& ctx) {}
  /// Called when an exception escaped the training loop (ctx.exception_message()).
  virtual void on_exception(HookContext& ctx) {}
  /// Called while a checkpoint is written: put your state into ctx.state().
  virtual void on_save_checkpoint(HookContext& ctx) {}
  /// Called after a checkpoint was read: restore your state from ctx.state().
  virtual void on_load_checkpoint(HookContext& ctx) {}
};

// What a plugin library exports (built by TRAINSCOPE_PLUGIN). Field order is part of the ABI:
// abi_major/abi_minor stay first in every version.
struct PluginDescriptor {
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* name;
  const char* version;
  const char* fingerprint;
  const std::vector<OptionSpec>* options;
  HookMask hooks;  // the hooks the plugin overrides; the bus calls only those
  Plugin* (*create)(const Options& options, std::string* error) noexcept;
  void (*destroy)(Plugin* plugin) noexcept;
  int (*invoke)(Plugin* plugin, Hook hook, HookContext& ctx, std::string* error) noexcept;  // 0 = ok
};

#define TRAINSCOPE_STR2_(x) #x
#define TRAINSCOPE_STR_(x) TRAINSCOPE_STR2_(x)
// The build fingerprint: everything that must match between the core and a plugin.
#if defined(__clang__)
#define TRAINSCOPE_COMPILER_ID_ "clang-" TRAINSCOPE_STR_(__clang_major__) "." TRAINSCOPE_STR_(__clang_minor__)
#else
#define TRAINSCOPE_COMPILER_ID_ "gcc-" TRAINSCOPE_STR_(__GNUC__) "." TRAINSCOPE_STR_(__GNUC_MINOR__)
#endif
#define TRAINSCOPE_BUILD_FINGERPRINT                                                                 \
  TRAINSCOPE_COMPILER_ID_ ";cxx11abi=" TRAINSCOPE_STR_(_GLIBCXX_USE_CXX11_ABI) ";torch=" TORCH_VERSION \
                          ";sdk=" TRAINSCOPE_STR_(TRAINSCOPE_VERSION_MAJOR) "." TRAINSCOPE_STR_(TRAINSCOPE_VERSION_MINOR)

// Fingerprint the core (or any host) was built with.
TRAINSCOPE_API const char* host_build_fingerprint();

namespace detail {

// True when T overrides the hook (the member pointer's class is T, not Plugin).
#define TRAINSCOPE_OVERRIDES_(T, fn) (!std::is_same_v<decltype(&T::fn), void (Plugin::*)(HookContext&)>)

template <typename T>
constexpr HookMask hooks_of() {
  HookMask m = 0;
  if (TRAINSCOPE_OVERRIDES_(T, on_fit_begin)) m |= hook_bit(Hook::kFitBegin);
  if (TRAINSCOPE_OVERRIDES_(T, on_epoch_begin)) m |= hook_bit(Hook::kEpochBegin);
  if (TRAINSCOPE_OVERRIDES_(T, on_train_batch_begin)) m |= hook_bit(Hook::kTrainBatchBegin);
  if (TRAINSCOPE_OVERRIDES_(T, on_after_forward)) m |= hook_bit(Hook::kAfterForward);
  if (TRAINSCOPE_OVERRIDES_(T, on_after_backward)) m |= hook_bit(Hook::kAfterBackward);
  if (TRAINSCOPE_OVERRIDES_(T, on_before_optimizer_step)) m |= hook_bit(Hook::kBeforeOptimizerStep);
  if (TRAINSCOPE_OVERRIDES_(T, on_after_optimizer_step)) m |= hook_bit(Hook::kAfterOptimizerStep);
  if (TRAINSCOPE_OVERRIDES_(T, on_train_batch_end)) m |= hook_bit(Hook::kTrainBatchEnd);
  if (TRAINSCOPE_OVERRIDES_(T, on_validation_begin)) m |= hook_bit(Hook::kValidationBegin);
  if (TRAINSCOPE_OVERRIDES_(T, on_validation_batch_end)) m |= hook_bit(Hook::kValidationBatchEnd);
  if (TRAINSCOPE_OVERRIDES_(T, on_validation_end)) m |= hook_bit(Hook::kValidationEnd);
  if (TRAINSCOPE_OVERRIDES_(T, on_epoch_end)) m |= hook_bit(Hook::kEpochEnd);
  if (TRAINSCOPE_OVERRIDES_(T, on_fit_end)) m |= hook_bit(Hook::kFitEnd);
  if (TRAINSCOPE_OVERRIDES_(T, on_exception)) m |= hook_bit(Hook::kException);
  if (TRAINSCOPE_OVERRIDES_(T, on_save_checkpoint)) m |= hook_bit(Hook::kSaveCheckpoint);
  if (TRAINSCOPE_OVERRIDES_(T, on_load_checkpoint)) m |= hook_bit(Hook::kLoadCheckpoint);
  return m;
}

// Calls one hook on the concrete type (devirtualised when T is final) inside the plugin's own
// library, so exceptions are caught before they could cross the boundary.
template <typename T>
int invoke_hook(Plugin* plugin, Hook hook, HookContext& ctx, std::string* error) noexcept {
  T* p = static_cast<T*>(plugin);
  try {
    switch (hook) {
      case Hook::kFitBegin: p->on_fit_begin(ctx); break;
      case Hook::kEpochBegin: p->on_epoch_begin(ctx); break;
      case Hook::kTrainBatchBegin: p->on_train_batch_begin(ctx); break;
      case Hook::kAfterForward: p->on_after_forward(ctx); break;
      case Hook::kAfterBackward: p->on_after_backward(ctx); break;
      case Hook::kBeforeOptimizerStep: p->on_before_optimizer_step(ctx); break;
      case Hook::kAfterOptimizerStep: p->on_after_optimizer_step(ctx); break;
      case Hook::kTrainBatchEnd: p->on_train_batch_end(ctx); break;
      case Hook::kValidationBegin: p->on_validation_begin(ctx); break;
      case Hook::kValidationBatchEnd: p->on_validation_batch_end(ctx); break;
      case Hook::kValidationEnd: p->on_validation_end(ctx); break;
      case Hook::kEpochEnd: p->on_epoch_end(ctx); break;
      case Hook::kFitEnd: p->on_fit_end(ctx); break;
      case Hook::kException: p->on_exception(ctx); break;
      case Hook::kSaveCheckpoint: p->on_save_checkpoint(ctx); break;
      case Hook::kLoadCheckpoint: p->on_load_checkpoint(ctx); break;
      case Hook::kCount: break;
    }
    return 0;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
  } catch (...) {
    if (error) *error = "unknown exception";
  }
  return 1;
}

template <typename T>
Plugin* create_plugin(const Options& options, std::string* error) noexcept {
  try {
    return new T(options);
  } catch (const std::exception& e) {
    if (error) *error = e.what();
  } catch (...) {
    if (error) *error = "unknown exception";
  }
  return nullptr;
}

inline void destroy_plugin(Plugin* p) noexcept { delete p; }

}  // namespace detail
}  // namespace trainscope

#define TRAINSCOPE_PLUGIN_ENTRY_NAME "trainscope_plugin_descriptor"

// Exports plugin `Type` (constructible from `const trainscope::Options&`) under `name`.
#define TRAINSCOPE_PLUGIN(Type, name, version, ...)                                               \
  extern "C" __attribute__((visibility("default"))) const ::trainscope::PluginDescriptor*         \
  trainscope_plugin_descriptor() {                                                                \
    static const std::vector<::trainscope::OptionSpec> options{__VA_ARGS__};                      \
    static const ::trainscope::PluginDescriptor descriptor{                                       \
        ::trainscope::kPluginAbiMajor,          ::trainscope::kPluginAbiMinor,                    \
        name,                                   version,                                          \
        TRAINSCOPE_BUILD_FINGERPRINT,           &options,                                         \
        ::trainscope::detail::hooks_of<Type>(), &::trainscope::detail::create_plugin<Type>,       \
        &::trainscope::detail::destroy_plugin,  &::trainscope::detail::invoke_hook<Type>};        \
    return &descriptor;                                                                           \
  }
