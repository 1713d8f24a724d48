// early_stopping: stops the fit when a monitored metric has not improved for `patience`
// evaluations (epochs), as Lightning's EarlyStopping callback does.
//
// Tags: early_stopping/best, early_stopping/wait (scalars at each evaluation), early_stopping
// (text, when it stops). Options: monitor, mode, patience, min_delta.
//
// The metric is read at validation_end, or at epoch_end of an epoch without validation (a
// complete training epoch only: a stopped epoch's metrics are partial or stale). It reads
// host doubles the trainer already has: no device access at all. best/wait/best_epoch go into
// the run's checkpoints (on_save_checkpoint) so a resumed fit stops where an uninterrupted one
// would.
#include <trainscope/metric_direction.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

class EarlyStopping final : public trainscope::Plugin {
 public:
  explicit EarlyStopping(const trainscope::Options& opt)
      : monitor_(opt.get<std::string>("monitor")),
        mode_(opt.get<std::string>("mode")),
        patience_(opt.get<int64_t>("patience")),
        min_delta_(opt.get<double>("min_delta")) {
    max_ = trainscope::maximise_metric(mode_, monitor_);
  }

  void on_load_checkpoint(trainscope::HookContext& ctx) override {
    reset();
    restored_ = true;
    const std::string& s = ctx.state();
    if (s.empty()) return;  // a checkpoint written without this plugin: start afresh
    std::istringstream in(s);
    std::string magic, best;
    int version = 0;
    in >> magic >> version >> best >> wait_ >> best_epoch_ >> evaluations_;
    if (!in || magic != "early_stopping" || version != 1) {
      throw std::runtime_error("early_stopping: the checkpoint's state \"" + s + "\" is not readable by this version");
    }
    best_ = std::strtod(best.c_str(), nullptr);  // hex float: exact
  }

  void on_save_checkpoint(trainscope::HookContext& ctx) override {
    char best[64];
    std::snprintf(best, sizeof best, "%a", best_);
    ctx.state() = "early_stopping 1 " + std::string(best) + " " + std::to_string(wait_) + " " +
                  std::to_string(best_epoch_) + " " + std::to_string(evaluations_);
  }

  void on_fit_begin(trainscope::HookContext&) override {
    if (!restored_) reset();  // a resumed fit keeps what on_load_checkpoint restored
    restored_ = false;
  }

  void on_epoch_begin(trainscope::HookContext& ctx) override { clock_.epoch_begin(ctx.step()); }

  void on_validation_end(trainscope::HookContext& ctx) override {
    clock_.validation_end();
    evaluate(ctx, "validation_end");
  }

  void on_epoch_end(trainscope::HookContext& ctx) override {
    // Epochs without validation: the epoch's own metrics (train/loss, or a plugin's), if the
    // whole epoch trained and nothing stopped it before its end.
    if (!clock_.evaluate_at_epoch_end(ctx.step(), ctx.batches_per_epoch(), ctx.stop_requested())) return;
    evaluate(ctx, "epoch_end (no validation ran)");
  }

 private:
  void reset() {
    best_ = max_ ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    wait_ = 0;
    best_epoch_ = -1;
    evaluations_ = 0;
  }

  void evaluate(trainscope::HookContext& ctx, const char* where) {
    const auto& metrics = ctx.metrics();
    auto it = metrics.find(monitor_);
    if (it == metrics.end()) {
      // Thrown: the bus reports it once and disables this plugin (on_error = "abort": the run stops).
      throw std::runtime_error("early_stopping: monitor = \"" + monitor_ + "\" is not among the metrics at " + where +
                               " (available: " + trainscope::metric_names(metrics) +
                               "); set monitor to one of them. A metric added by another plugin must come from a "
                               "[[plugin]] table listed before early_stopping.");
    }
    const double value = it->second;
    ++evaluations_;
    // best_ starts at -inf (max) / +inf (min), so the first finite value improves. NaN never
    // improves (both comparisons are false): a diverged run runs out of patience.
    const bool improved = max_ ? value > best_ + min_delta_ : value < best_ - min_delta_;
    if (improved) {
      best_ = value;
      best_epoch_ = ctx.epoch();
      wait_ = 0;
    } else {
      ++wait_;
    }
    const int64_t step = ctx.step();
    if (best_epoch_ >= 0) ctx.writer().add_scalar("early_stopping/best", best_, step);
    ctx.writer().add_scalar("early_stopping/wait", static_cast<double>(wait_), step);
    if (wait_ < patience_) return;

    std::ostringstream reason;
    reason.precision(6);
    reason << "early_stopping: " << monitor_ << " did not improve";
    if (min_delta_ > 0) reason << " by more than " << min_delta_;
    reason << " for " << wait_ << " epoch(s) (patience " << patience_ << ", mode " << (max_ ? "max" : "min") << ")";
    if (best_epoch_ >= 0) {
      reason << "; best " << best_ << " at epoch " << best_epoch_ + 1;
    } else {
      reason << "; no finite value seen";
    }
    reason << ", last " << value << " at epoch " << ctx.epoch() + 1;
    ctx.writer().add_text("early_stopping", reason.str(), step);
    ctx.request_stop(reason.str());
  }

  std::string monitor_, mode_;
  int64_t patience_;
  double min_delta_;
  bool max_ = false;
  double best_ = 0;
  int64_t wait_ = 0, best_epoch_ = -1, evaluations_ = 0;
  bool restored_ = false;
  trainscope::EvaluationClock clock_;
};

}  // namespace

TRAINSCOPE_PLUGIN(
    EarlyStopping, "early_stopping", "1.0.0",
    trainscope::option<std::string>("monitor", "val/loss", "the metric to watch (a key of the epoch's metrics)")
        .not_empty(),
    trainscope::option<std::string>("mode", "auto",
                                    "\"min\", \"max\", or \"auto\" (max for names containing "
                                    "acc, top, precision, recall, f1, auc, iou, dice or map; min otherwise)")
        .one_of(trainscope::kMetricModes),
    trainscope::option<int64_t>("patience", 3, "evaluations without improvement before stopping").min(1),
    trainscope::option<double>("min_delta", 0.0, "an improvement must beat the best by more than this").finite().min(0))
