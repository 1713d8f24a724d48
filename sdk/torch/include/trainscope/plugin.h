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

// 2.0: OptionSpec carries constraints (its layout changed). 1.1 added HookContext::forward;
// 2.1 HookContext::models / optimizers / losses / named_outputs (fields at its end).
inline constexpr uint32_t kPluginAbiMajor = 2;
inline constexpr uint32_t kPluginAbiMinor = 1;

// The base class: one no-op virtual `on_<name>(HookContext&)` per row of hook_table.h (which
// says when each is called). Override the ones you need; the bus calls only those.
class TRAINSCOPE_API Plugin {
 public:
  virtual ~Plugin();
#define TRAINSCOPE_HOOK_VIRTUAL_(E, n, c, doc) \
  virtual void on_##n(HookContext& ctx) {}
  TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_HOOK_VIRTUAL_)
#undef TRAINSCOPE_HOOK_VIRTUAL_
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
#define TRAINSCOPE_HOOK_MASK_(E, n, c, doc) \
  if (TRAINSCOPE_OVERRIDES_(T, on_##n)) m |= hook_bit(Hook::k##E);
  TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_HOOK_MASK_)
#undef TRAINSCOPE_HOOK_MASK_
  return m;
}

// Calls one hook on the concrete type (devirtualised when T is final) inside the plugin's own
// library, so exceptions are caught before they could cross the boundary.
template <typename T>
int invoke_hook(Plugin* plugin, Hook hook, HookContext& ctx, std::string* error) noexcept {
  T* p = static_cast<T*>(plugin);
  try {
    switch (hook) {
#define TRAINSCOPE_HOOK_CALL_(E, n, c, doc) \
  case Hook::k##E:                          \
    p->on_##n(ctx);                         \
    break;
      TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_HOOK_CALL_)
#undef TRAINSCOPE_HOOK_CALL_
      case Hook::kCount:
        break;
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
