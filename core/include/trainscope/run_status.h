// The run-status file: <run dir>/.trainscope-run, a few "key=value" lines that the trainer
// writes when a run starts (state=running) and when it ends (finished, stopped or failed),
// each time to a temporary name renamed over the old one, so a reader never sees half a file.
// `trainscope runs` reads it for the state, times, steps and hparams of a run; a run killed
// before its end leaves state=running without a process holding the run's lock (run_lock.h).
//
//   state=finished           running | finished | stopped | failed
//   start_time=1765054000.5  unix seconds
//   end_time=1765054100.2    (empty while running)
//   pid=4242  host=box  name=baseline  steps=120  epochs=3
//   message=...              why it stopped or failed (one line)
//   hparam.lr=0.001          the run's hyperparameters ([hparams] and the trainer's lr, ...)
//   metric.val/accuracy=0.9  the last value of each metric at the end
// Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "trainscope/export.h"
#include "trainscope/options.h"

namespace trainscope {

struct RunStatus {
  std::string state;  // running | finished | stopped | failed
  double start_time = 0, end_time = 0;
  long long pid = 0;
  std::string host, name, message;
  int64_t steps = 0, epochs = 0;
  std::map<std::string, std::string> hparams;  // as written ("0.001", "adam", "true")
  std::map<std::string, double> metrics;
};

inline constexpr const char* kRunStatusFile = ".trainscope-run";

// The status file of `run_dir`, or nullopt when it has none (or it cannot be read).
TRAINSCOPE_API std::optional<RunStatus> read_run_status(const std::string& run_dir);
// Writes `status` to <run_dir>/.trainscope-run atomically. Returns false (best effort: a full
// disk must not stop a run) when it could not.
TRAINSCOPE_API bool write_run_status(const std::string& run_dir, const RunStatus& status);

// The trainer's side: the file says "running" from construction; finish() records the end.
// Destroyed without finish() (an exception left the fit), it records "failed".
class TRAINSCOPE_API RunStatusFile {
 public:
  // `resumed`: the run goes on from a checkpoint; its first start time is kept.
  RunStatusFile(std::string run_dir, std::string name, const std::map<std::string, OptionValue>& hparams,
                bool resumed = false);
  ~RunStatusFile();
  RunStatusFile(const RunStatusFile&) = delete;
  RunStatusFile& operator=(const RunStatusFile&) = delete;

  void finish(const std::string& state, int64_t steps, int64_t epochs, const std::map<std::string, double>& metrics,
              const std::string& message);

 private:
  std::string run_dir_;
  RunStatus status_;
  bool finished_ = false;
};

}  // namespace trainscope
