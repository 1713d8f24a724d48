// Learning-rate schedules: what [trainer.scheduler] says (LrScheduleConfig), the scheduler
// interface the Trainer drives (LrScheduler) and the schedules of torch.optim.lr_scheduler
// that it offers: StepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR and ReduceLROnPlateau,
// each optionally after a linear warm-up (LinearLR chained with SequentialLR). Torch-free.
//
// Time t counts what the schedule steps on: with interval = "epoch" the epochs done before
// the current one, with interval = "step" the optimizer steps done before the current batch
// (as many scheduler.step() calls as PyTorch would have made). The Trainer sets each param
// group's lr to lr(group, base, t) at every epoch's start (interval "epoch") or before every
// batch (interval "step"), so the lr a plugin reads at train_batch_end is the one the
// optimizer step used. ReduceLROnPlateau is fed one metric per completed epoch (observe()).
// docs/lr_schedules.md has the TOML keys and their defaults.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

// The [trainer.scheduler] table (see docs/lr_schedules.md for each key).
struct LrScheduleConfig {
  std::string name = "none";       // none | step | exponential | cosine | one_cycle | plateau
  std::string interval = "epoch";  // epoch | step: what t counts
  // Linear warm-up over the first `warmup` intervals, from warmup_start_factor x lr to lr
  // (LinearLR(start_factor, end_factor = 1, total_iters = warmup)); the schedule then starts
  // at its own t = 0 (SequentialLR with milestones = [warmup]).
  int64_t warmup = 0;
  double warmup_start_factor = 1.0 / 3.0;
  int64_t step_size = 1;  // step: intervals per decay
  double gamma = 0.1;     // step, exponential: decay factor
  int64_t t_max = 0;      // cosine: intervals of the half period (0: the rest of the run after warm-up)
  double eta_min = 0.0;   // cosine: the lowest lr
  double max_lr = 0.0;    // one_cycle: peak lr (0: each group's base lr)
  double pct_start = 0.3;
  std::string anneal = "cos";     // one_cycle: cos | linear
  double div_factor = 25.0;       // one_cycle: initial lr = max_lr / div_factor
  double final_div_factor = 1e4;  // one_cycle: final lr = initial lr / final_div_factor
  bool three_phase = false;
  int64_t total_steps = 0;          // one_cycle: 0: the run's length in intervals
  std::string metric = "val/loss";  // plateau: a key of the run's metrics
  std::string mode = "min";         // plateau: min | max
  double factor = 0.1;              // plateau: lr *= factor on a plateau
  int64_t patience = 10;
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  // rel | abs
  int64_t cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;  // plateau: a reduction smaller than this is skipped
};

enum class LrInterval { kEpoch, kStep };

// The run's shape, for schedules whose length defaults to it.
struct LrClock {
  int64_t epochs = 1;
  int64_t batches_per_epoch = 1;  // optimizer steps per epoch
  int64_t max_steps = 0;          // trainer.max_steps (0: none)
  // Intervals in the whole run: epochs, or epochs x batches (capped by max_steps).
  int64_t total(LrInterval interval) const;
};

// Learning-rate scheduler driven by the Trainer. Override factor() for a per-epoch factor of
// the base lr (the original interface), or interval() / lr() / observe() for more.
class TRAINSCOPE_API LrScheduler {
 public:
  virtual ~LrScheduler() = default;
  // Per-epoch factor of the base lr (used by the default lr()).
  virtual double factor(int64_t epoch, int64_t epochs) const;
  virtual LrInterval interval() const { return LrInterval::kEpoch; }
  // The lr of param group `group`, whose lr was `base` when the fit began, at time t.
  virtual double lr(size_t group, double base, int64_t t, const LrClock& clock) const;
  // After every completed epoch, with the run's metrics (validation ones fresh when
  // `validated`). Throws std::invalid_argument for a metric the schedule needs and lacks.
  virtual void observe(int64_t /*epoch*/, const std::map<std::string, double>& /*metrics*/, bool /*validated*/,
                       const std::vector<double>& /*lrs*/) {}
  // Checkpoint state (plateau counters); empty when the schedule has none.
  virtual std::string state() const { return {}; }
  virtual void load_state(const std::string& /*state*/) {}
};

// A scheduler for `config` (null for name = "none" without warm-up). Throws
// std::invalid_argument for values check_schedule() refuses.
TRAINSCOPE_API std::unique_ptr<LrScheduler> make_lr_schedule(const LrScheduleConfig& config);

// Problems of `config` as (key, message) pairs: key is the table's key ("t_max"), message
// says what is wrong and how to fix it. `given` are the keys the TOML table set: a key of
// another schedule ("t_max" with name = "step") is refused as it would be ignored.
TRAINSCOPE_API std::vector<std::pair<std::string, std::string>> check_schedule(const LrScheduleConfig& config,
                                                                               const std::set<std::string>& given = {});

// The keys of [trainer.scheduler], in documentation order.
TRAINSCOPE_API const std::vector<std::string>& schedule_keys();

}  // namespace trainscope
