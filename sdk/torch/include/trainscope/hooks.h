// The hook points a plugin can subscribe to, in the order a fit emits them. Generated from the
// one table in hook_table.h: edit that table, never this enum.
#pragma once

#include <cstdint>

#include "trainscope/export.h"
#include "trainscope/hook_table.h"

namespace trainscope {

enum class Hook : uint8_t {
#define TRAINSCOPE_HOOK_ENUM_(E, n, c, doc) k##E,
  TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_HOOK_ENUM_)
#undef TRAINSCOPE_HOOK_ENUM_
      kCount
};

inline constexpr int kHookCount = static_cast<int>(Hook::kCount);
using HookMask = uint32_t;
static_assert(kHookCount <= 32, "HookMask holds one bit per hook");
constexpr HookMask hook_bit(Hook h) { return HookMask{1} << static_cast<int>(h); }

// Which cadence keys decide whether a hook fires (see hook_table.h).
enum class HookCadence : uint8_t { kAlways, kStep, kEpoch, kValidation };

constexpr HookCadence hook_cadence(Hook hook) {
  switch (hook) {
#define TRAINSCOPE_HOOK_CADENCE_(E, n, c, doc) \
  case Hook::k##E:                             \
    return HookCadence::c;
    TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_HOOK_CADENCE_)
#undef TRAINSCOPE_HOOK_CADENCE_
    case Hook::kCount:
      break;
  }
  return HookCadence::kAlways;
}

// "fit_begin", "train_batch_end", ... (the names used in TOML `hooks = [...]` and in reports).
TRAINSCOPE_API const char* hook_name(Hook hook);
// Returns false when `name` is not a hook name.
TRAINSCOPE_API bool hook_from_name(const char* name, Hook* out);

}  // namespace trainscope
