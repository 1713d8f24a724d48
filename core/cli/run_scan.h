// Finding the runs under a log directory and reading their scalars as TensorBoard does, for
// `trainscope runs` and `trainscope export` (docs/runs.md). Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/run_status.h"

namespace runs {

struct ScalarPoint {
  double wall_time = 0;
  int64_t step = 0;
  double value = 0;
};

// Every scalar series of one TensorBoard run (the event files directly in `dir`, in name
// order), as TensorBoard's loader (EventAccumulator) keeps them: a tag is a scalar when its
// first value is a simple_value or a rank-0 tensor of the "scalars" plugin; in files of
// version 2 the run's first SessionLog START opens it and each later START (a restart) drops
// the points of every tag with step >= its step; in files without a version, a summary whose
// step is below the previous summary's drops its own tags' points at or after that step.
// Throws std::runtime_error for a corrupt record (naming the file and offset); a truncated
// last record (a crash mid-write) ends the file quietly, as in TensorBoard.
std::map<std::string, std::vector<ScalarPoint>> read_scalars(const std::string& dir);

struct RunInfo {
  std::string dir;   // the run's folder
  std::string name;  // relative to the log dir ("." for the log dir itself)
  std::optional<trainscope::RunStatus> status;
  std::string state;           // running | finished | stopped | failed | unknown
  std::string note;            // why (a killed run, a status message)
  double start = 0, last = 0;  // unix seconds: start, last activity
  int64_t steps = 0;
  std::map<std::string, std::vector<ScalarPoint>> scalars;
  uint64_t bytes = 0;       // files under its folder, other runs' folders excepted
  bool holds_runs = false;  // other runs live inside its folder
  double wall_seconds() const { return last > start ? last - start : 0; }
};

// The runs under `logdir`: every folder with a run-status file, and every folder that holds
// event files and is not inside such a run (a run's child folders, e.g. add_scalars runs,
// belong to it). Symbolic links are not followed. Sorted by start time.
std::vector<RunInfo> scan_runs(const std::string& logdir);

// "running" when a live process holds the run's lock (run_lock.h).
bool lock_held(const std::string& run_dir);

// Shortest text that reads back as `v` ("0.1", "1e-05", "nan", "inf").
std::string format_number(double v);
// `s` as a JSON string literal: quotes, backslashes and control characters escaped.
std::string json_string(const std::string& s);

}  // namespace runs
