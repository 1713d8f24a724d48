// Loading a plugin library in a forked probe process first, so that a library whose static
// constructors or entry point crash (or hang) costs a refusal, never the process that
// discovers plugins.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/plugin_loader.h"

namespace trainscope::detail {

// Stages the loader reports as it goes, so a crash can be placed.
enum class ProbeStage : char { kLoaded = 'L', kEntryReturned = 'E' };
using ProbeLoad = std::function<void(const std::function<void(ProbeStage)>& reached)>;

struct ProbeRequest {
  std::string path;
  ProbeLoad load;  // throws PluginLoadError to refuse
};

// Runs each request's `load` in a child process of its own, up to `parallel` at a time. Result
// i is for request i: nullopt when it returned normally; the error it threw; or a kCrashed
// error naming the signal (or the timeout, after which the child is killed) and the stage it
// died in. Nothing a child loaded reaches this process.
std::vector<std::optional<PluginLoadError>> probe_in_children(const std::vector<ProbeRequest>& requests,
                                                              std::chrono::milliseconds timeout, size_t parallel);

}  // namespace trainscope::detail
