// Run folders (docs/runs.md): the templates run.name and run.log_dir may hold, and claiming a
// run directory for a new run without ever mixing its events with another run's.
//
//   [run]
//   name = "{timestamp}_lr{hparams.lr}"      # -> 2026-12-06_21-04-05_lr0.001
//   log_dir = "runs/{host}"                  # -> runs/gpu-box-3
//
// Placeholders: {name} (the expanded run.name; log_dir only), {timestamp} (one per process,
// "%Y-%m-%d_%H-%M-%S" local time, or $TRAINSCOPE_RUN_TIMESTAMP when set: `trainscope launch`
// and `trainscope sweep` set it so that every rank and worker agrees), {host}, and
// {hparams.KEY} for any key of the [hparams] table. Torch-free.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/run_config.h"

namespace trainscope {

// The problems of run.name's and run.log_dir's templates (an unknown placeholder, a brace
// without its partner, {name} inside run.name), each "file:line:column: message" pointing at
// the brace, with the fix. Empty when both are valid. validate() calls it.
TRAINSCOPE_API std::vector<std::string> check_run_dir_templates(const RunConfig& config);

// Replaces the placeholders of config.run.name, then of config.run.log_dir. A value is made
// safe for a file name ('/', '{', '}' and spaces become '_'). Does nothing to text without
// braces, so calling it twice is harmless. Throws std::invalid_argument (the problems of
// check_run_dir_templates) for a bad template.
TRAINSCOPE_API void expand_run_dir_templates(RunConfig& config);

// The {timestamp} of this process (see above): the same value for every run it starts.
TRAINSCOPE_API const std::string& run_timestamp();
// A timestamp in the {timestamp} format for `unix_seconds` (local time).
TRAINSCOPE_API std::string format_run_timestamp(long long unix_seconds);

// Thrown when a new run would write into a folder that holds another run's events.
class TRAINSCOPE_API RunDirTaken : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a new run does with a run directory that already holds event files.
struct RunDirPolicy {
  bool resuming = false;   // the run continues from a checkpoint of this folder: keep it
  bool overwrite = false;  // move the old run aside (run.overwrite, --overwrite)
  // resume = "auto" found no checkpoint. When the folder's run-status file says its run never
  // finished (running: killed; failed), its events are an earlier attempt of this same run
  // that never reached a checkpoint: they are removed, as a resume removes what was logged
  // after its checkpoint, and the run starts again. A finished or stopped run is refused.
  bool resume_auto_without_checkpoint = false;
};

struct RunDirClaim {
  std::string moved_to;               // where the old run went (overwrite), else ""
  std::vector<std::string> messages;  // what was done, one line each, for the console
};

// Called by the process that holds the directory's RunLock, before anything is written.
// Leaves the folder as it is when it holds no event files or the run resumes; with overwrite,
// moves the old run to a sibling "<dir>.old-<timestamp of its last write>" (never deleted;
// the caller then locks the fresh directory). Otherwise throws RunDirTaken naming the folder,
// what is in it and the three ways out.
TRAINSCOPE_API RunDirClaim claim_run_dir(const std::string& run_dir, const RunDirPolicy& policy);

// Event files (names holding "tfevents") under `dir`, recursively (child runs included).
TRAINSCOPE_API std::vector<std::string> event_files_under(const std::string& dir);

}  // namespace trainscope
