// Loading a plugin library in a forked probe process first, so that a library whose static
// constructors or entry point crash (or hang) costs a refusal, never the process that
// discovers plugins.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "trainscope/plugin_loader.h"

namespace trainscope::detail {

// Stages the loader reports as it goes, so a crash can be placed.
enum class ProbeStage : char { kLoaded = 'L', kEntryReturned = 'E' };
using ProbeLoad = std::function<void(const std::function<void(ProbeStage)>& reached)>;

// Runs `load` (which throws PluginLoadError to refuse) in a child process. Returns nullopt when
// it returned normally; the error it threw; or a kCrashed error naming the signal (or the
// timeout) and the stage it died in. Nothing the child loaded reaches this process.
std::optional<PluginLoadError> probe_in_child(const std::string& path, const ProbeLoad& load,
                                              std::chrono::milliseconds timeout);

}  // namespace trainscope::detail
