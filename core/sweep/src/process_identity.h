// Private to trainscope::sweep: who runs a trial, recorded with it so that a later
// `fail_stale_trials` can tell whether that worker is gone.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "trainscope/sweep/types.h"

namespace trainscope::sweep::detail {

// System attribute keys we record with each trial we create.
inline constexpr const char* kWorkerAttr = "trainscope:worker";
inline constexpr const char* kHeartbeatAttr = "trainscope:heartbeat";
// A trial run on another host is taken as abandoned when neither its start nor its latest
// heartbeat is younger than this (recorded with the trial as "lease_s").
inline constexpr int64_t kLeaseSeconds = 3600;
// The owner refreshes its heartbeat (on its writes to the trial) at most this often.
inline constexpr auto kHeartbeatInterval = std::chrono::seconds(60);

// JSON text of {"host", "machine_id", "boot_id", "pid", "start_ticks", "lease_s"} for this process.
std::string this_worker_json();

// Why the RUNNING `trial` is provably abandoned, or std::nullopt when its worker may be alive
// (or the trial carries no trainscope worker attribute, e.g. it was made by Python Optuna).
std::optional<std::string> abandoned_because(const Trial& trial, std::chrono::system_clock::time_point now);

}  // namespace trainscope::sweep::detail
