// Console progress of a fit: on a terminal a per-epoch bar redrawn in place (step, loss,
// throughput, ETA); otherwise plain lines. The Trainer feeds it the loss only every
// log_every_n_steps (one device read per interval), never per step.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "trainscope/export.h"

namespace trainscope {

class TRAINSCOPE_API Progress {
 public:
  // `tty` < 0: decide with isatty(out). `out` null: print nothing.
  explicit Progress(std::FILE* out = stdout, int tty = -1);

  void begin_epoch(int64_t epoch, int64_t epochs, int64_t batches, int64_t batch_size);
  // `batches_done` of this epoch are finished; the run's step counter is `step`; `loss` is the
  // training loss of the latest batch.
  void update(int64_t batches_done, int64_t step, double loss);
  // Finishes the epoch's line with its wall time and the metrics (validation, ...).
  void end_epoch(const std::map<std::string, double>& metrics);
  // A line of its own (finishes a bar in progress first).
  void message(const std::string& text);

  bool enabled() const { return out_ != nullptr; }
  bool tty() const { return tty_; }
  // "1:05", "12:30:07".
  static std::string format_duration(double seconds);
  // The bar line (without carriage return); loss NaN: not shown.
  std::string bar_line(int64_t batches_done, int64_t step, double loss, double seconds) const;

 private:
  void finish_bar();

  std::FILE* out_;
  bool tty_;
  bool bar_open_ = false;
  int64_t epoch_ = 0, epochs_ = 0, batches_ = 0, batch_size_ = 0;
  std::chrono::steady_clock::time_point epoch_start_;
};

}  // namespace trainscope
