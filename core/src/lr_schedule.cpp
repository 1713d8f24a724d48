// The schedules of lr_schedule.h. Each lr is computed in closed form from t, so a resumed
// run needs only t back (and the plateau's counters, which state() carries). The formulas are
// those of torch.optim.lr_scheduler (PyTorch 2.x), whose results the conformance test
// (tests/conformance/test_lr_schedules.py) compares step by step.
#include "trainscope/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace trainscope {

int64_t LrClock::total(LrInterval interval) const {
  if (interval == LrInterval::kEpoch) return std::max<int64_t>(1, epochs);
  int64_t steps = std::max<int64_t>(1, epochs) * std::max<int64_t>(1, batches_per_epoch);
  if (max_steps > 0) steps = std::min(steps, max_steps);
  return steps;
}

double LrScheduler::factor(int64_t, int64_t) const { return 1.0; }

double LrScheduler::lr(size_t, double base, int64_t t, const LrClock& clock) const {
  return base * factor(t, clock.epochs);
}

namespace {

constexpr double kPi = 3.14159265358979323846;

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class Schedule final : public LrScheduler {
 public:
  explicit Schedule(LrScheduleConfig c) : c_(std::move(c)) {
    interval_ = c_.interval == "step" ? LrInterval::kStep : LrInterval::kEpoch;
    best_ = c_.mode == "max" ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }

  LrInterval interval() const override { return interval_; }

  double lr(size_t group, double base, int64_t t, const LrClock& clock) const override {
    t = std::max<int64_t>(0, t);
    if (t < c_.warmup) {  // LinearLR(start_factor, 1.0, total_iters = warmup)
      const double s = c_.warmup_start_factor;
      return base * (s + (1.0 - s) * static_cast<double>(t) / static_cast<double>(c_.warmup));
    }
    return after_warmup(group, base, t - c_.warmup, clock);
  }

  void observe(int64_t epoch, const std::map<std::string, double>& metrics, bool validated,
               const std::vector<double>& lrs) override {
    if (c_.name != "plateau") return;
    const bool from_validation = c_.metric.rfind("train/", 0) != 0;
    if (from_validation && !validated) return;  // no fresh value this epoch
    auto it = metrics.find(c_.metric);
    if (it == metrics.end()) {
      std::string names;
      for (const auto& [k, v] : metrics) names += (names.empty() ? "" : ", ") + k;
      throw std::invalid_argument("[trainer.scheduler] metric = \"" + c_.metric +
                                  "\" is not a metric of this run (at the end of epoch " + std::to_string(epoch) +
                                  " it has: " + (names.empty() ? "none" : names) +
                                  "); name one of them, e.g. \"val/loss\"");
    }
    if (lrs_.empty()) lrs_ = lrs;
    step_plateau(it->second);
  }

  std::string state() const override {
    if (c_.name != "plateau") return {};
    std::ostringstream s;  // "plateau 1 <best> <bad epochs> <cooldown left> <groups> <lr>..."
    s << "plateau 1 " << num(best_) << ' ' << bad_ << ' ' << cooldown_left_ << ' ' << lrs_.size();
    for (double v : lrs_) s << ' ' << num(v);
    return s.str();
  }

  void load_state(const std::string& state) override {
    if (c_.name != "plateau" || state.empty()) return;
    std::istringstream in(state);
    std::string kind, best;
    int version = 0;
    size_t n = 0;
    in >> kind >> version >> best >> bad_ >> cooldown_left_ >> n;
    if (!in || kind != "plateau" || version != 1)
      throw std::runtime_error("checkpoint: the plateau schedule's state is not readable: '" + state + "'");
    best_ = std::strtod(best.c_str(), nullptr);  // "inf" / "-inf" included
    lrs_.assign(n, 0.0);
    for (auto& v : lrs_) {
      std::string x;
      in >> x;
      v = std::strtod(x.c_str(), nullptr);
    }
  }

 private:
  double after_warmup(size_t group, double base, int64_t t, const LrClock& clock) const {
    const auto td = static_cast<double>(t);
    if (c_.name == "step") return base * std::pow(c_.gamma, static_cast<double>(t / c_.step_size));
    if (c_.name == "exponential") return base * std::pow(c_.gamma, td);
    if (c_.name == "cosine") {
      const int64_t period = c_.t_max > 0 ? c_.t_max : std::max<int64_t>(1, clock.total(interval_) - c_.warmup);
      return c_.eta_min + (base - c_.eta_min) * (1.0 + std::cos(kPi * td / static_cast<double>(period))) / 2.0;
    }
    if (c_.name == "one_cycle") return one_cycle(base, t, clock);
    if (c_.name == "plateau") return group < lrs_.size() ? lrs_[group] : base;
    return base;  // none (after a warm-up)
  }

  // OneCycleLR.get_lr: phases end at fractional steps; pct runs from each phase's start.
  double one_cycle(double base, int64_t t, const LrClock& clock) const {
    const int64_t total = c_.total_steps > 0 ? c_.total_steps : clock.total(interval_);
    const double peak = c_.max_lr > 0 ? c_.max_lr : base;
    const double initial = peak / c_.div_factor;
    const double last = initial / c_.final_div_factor;
    struct Phase {
      double end;
      double from, to;
    };
    const double n = static_cast<double>(total);
    std::vector<Phase> phases;
    if (c_.three_phase) {
      phases = {
          {c_.pct_start * n - 1, initial, peak}, {2 * c_.pct_start * n - 2, peak, initial}, {n - 1, initial, last}};
    } else {
      phases = {{c_.pct_start * n - 1, initial, peak}, {n - 1, peak, last}};
    }
    const double step = static_cast<double>(std::min(t, total));  // PyTorch raises past the end: hold there
    double start = 0.0;
    for (size_t i = 0; i < phases.size(); ++i) {
      if (step <= phases[i].end || i + 1 == phases.size()) {
        const double pct = (step - start) / (phases[i].end - start);
        if (c_.anneal == "linear") return (phases[i].to - phases[i].from) * pct + phases[i].from;
        return phases[i].to + (phases[i].from - phases[i].to) / 2.0 * (std::cos(kPi * pct) + 1.0);
      }
      start = phases[i].end;
    }
    return base;
  }

  // ReduceLROnPlateau.step(metric).
  void step_plateau(double current) {
    bool better;
    if (c_.mode == "min")
      better = c_.threshold_mode == "rel" ? current < best_ * (1.0 - c_.threshold) : current < best_ - c_.threshold;
    else
      better = c_.threshold_mode == "rel" ? current > best_ * (c_.threshold + 1.0) : current > best_ + c_.threshold;
    if (better) {
      best_ = current;
      bad_ = 0;
    } else {
      ++bad_;
    }
    if (cooldown_left_ > 0) {
      --cooldown_left_;
      bad_ = 0;  // bad epochs in cooldown do not count
    }
    if (bad_ > c_.patience) {
      for (double& v : lrs_) {
        const double reduced = std::max(v * c_.factor, c_.min_lr);
        if (v - reduced > c_.eps) v = reduced;
      }
      cooldown_left_ = c_.cooldown;
      bad_ = 0;
    }
  }

  LrScheduleConfig c_;
  LrInterval interval_;
  // Plateau state.
  double best_;
  int64_t bad_ = 0;
  int64_t cooldown_left_ = 0;
  std::vector<double> lrs_;  // current lr per group (empty until the first observe)
};

// Which schedules read a key (empty: every schedule).
const std::map<std::string, std::vector<std::string>>& key_owners() {
  static const std::map<std::string, std::vector<std::string>> owners{
      {"name", {}},
      {"interval", {}},
      {"warmup", {}},
      {"warmup_start_factor", {}},
      {"step_size", {"step"}},
      {"gamma", {"step", "exponential"}},
      {"t_max", {"cosine"}},
      {"eta_min", {"cosine"}},
      {"max_lr", {"one_cycle"}},
      {"pct_start", {"one_cycle"}},
      {"anneal", {"one_cycle"}},
      {"div_factor", {"one_cycle"}},
      {"final_div_factor", {"one_cycle"}},
      {"three_phase", {"one_cycle"}},
      {"total_steps", {"one_cycle"}},
      {"metric", {"plateau"}},
      {"mode", {"plateau"}},
      {"factor", {"plateau"}},
      {"patience", {"plateau"}},
      {"threshold", {"plateau"}},
      {"threshold_mode", {"plateau"}},
      {"cooldown", {"plateau"}},
      {"min_lr", {"plateau"}},
      {"eps", {"plateau"}},
  };
  return owners;
}

}  // namespace

const std::vector<std::string>& schedule_keys() {
  static const std::vector<std::string> keys{"name",
                                             "interval",
                                             "warmup",
                                             "warmup_start_factor",
                                             "step_size",
                                             "gamma",
                                             "t_max",
                                             "eta_min",
                                             "max_lr",
                                             "pct_start",
                                             "anneal",
                                             "div_factor",
                                             "final_div_factor",
                                             "three_phase",
                                             "total_steps",
                                             "metric",
                                             "mode",
                                             "factor",
                                             "patience",
                                             "threshold",
                                             "threshold_mode",
                                             "cooldown",
                                             "min_lr",
                                             "eps"};
  return keys;
}

std::vector<std::pair<std::string, std::string>> check_schedule(const LrScheduleConfig& c,
                                                                const std::set<std::string>& given) {
  std::vector<std::pair<std::string, std::string>> out;
  auto fail = [&](const std::string& key, const std::string& message) { out.emplace_back(key, message); };
  auto one_of = [&](const std::string& key, const std::string& v, const std::vector<std::string>& allowed) {
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return true;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
    fail(key, "= \"" + v + "\" is not known: use one of " + list);
    return false;
  };
  auto finite = [&](const std::string& key, double v) {
    if (std::isfinite(v)) return true;
    fail(key, "must be a finite number (got " + num(v) + ")");
    return false;
  };
  auto at_least = [&](const std::string& key, double v, double lo) {
    if (finite(key, v) && v < lo) fail(key, "must be >= " + num(lo) + " (got " + num(v) + ")");
  };
  auto above = [&](const std::string& key, double v, double lo) {
    if (finite(key, v) && !(v > lo)) fail(key, "must be > " + num(lo) + " (got " + num(v) + ")");
  };

  const bool known = one_of("name", c.name, {"none", "step", "exponential", "cosine", "one_cycle", "plateau"});
  one_of("interval", c.interval, {"epoch", "step"});
  if (c.warmup < 0) fail("warmup", "must be >= 0 (got " + std::to_string(c.warmup) + ")");
  if (finite("warmup_start_factor", c.warmup_start_factor) &&
      !(c.warmup_start_factor > 0 && c.warmup_start_factor <= 1)) {
    fail("warmup_start_factor", "must be in (0, 1] (got " + num(c.warmup_start_factor) + ")");
  }
  if (c.warmup > 0 && c.name == "one_cycle")
    fail("warmup",
         "= " + std::to_string(c.warmup) + ": one_cycle warms up by itself (pct_start, div_factor): remove warmup");
  if (c.warmup > 0 && c.name == "plateau")
    fail("warmup", "= " + std::to_string(c.warmup) +
                       ": a warm-up cannot precede plateau (PyTorch's SequentialLR refuses ReduceLROnPlateau too): "
                       "remove warmup");
  if (c.name == "plateau" && c.interval == "step")
    fail("interval",
         "= \"step\": plateau is stepped once per epoch, with that epoch's metric: use interval = \"epoch\"");
  if (c.step_size < 1) fail("step_size", "must be >= 1 (got " + std::to_string(c.step_size) + ")");
  above("gamma", c.gamma, 0.0);
  if (c.t_max < 0) fail("t_max", "must be >= 0, 0 for the rest of the run (got " + std::to_string(c.t_max) + ")");
  at_least("eta_min", c.eta_min, 0.0);
  at_least("max_lr", c.max_lr, 0.0);
  if (finite("pct_start", c.pct_start) && !(c.pct_start > 0 && c.pct_start < 1))
    fail("pct_start", "must be in (0, 1) (got " + num(c.pct_start) + ")");
  if (c.three_phase && c.pct_start >= 0.5)
    fail("pct_start", "must be < 0.5 with three_phase = true (the first two phases take 2 x pct_start of the run)");
  one_of("anneal", c.anneal, {"cos", "linear"});
  above("div_factor", c.div_factor, 0.0);
  above("final_div_factor", c.final_div_factor, 0.0);
  if (c.total_steps < 0)
    fail("total_steps", "must be >= 0, 0 for the run's length (got " + std::to_string(c.total_steps) + ")");
  if (c.name == "plateau" && c.metric.empty()) fail("metric", "must name a metric, e.g. \"val/loss\"");
  one_of("mode", c.mode, {"min", "max"});
  if (finite("factor", c.factor) && !(c.factor >= 0 && c.factor < 1))
    fail("factor", "must be in [0, 1): the lr is multiplied by it on a plateau (got " + num(c.factor) + ")");
  if (c.patience < 0) fail("patience", "must be >= 0 (got " + std::to_string(c.patience) + ")");
  at_least("threshold", c.threshold, 0.0);
  one_of("threshold_mode", c.threshold_mode, {"rel", "abs"});
  if (c.cooldown < 0) fail("cooldown", "must be >= 0 (got " + std::to_string(c.cooldown) + ")");
  at_least("min_lr", c.min_lr, 0.0);
  at_least("eps", c.eps, 0.0);

  if (known) {
    for (const auto& key : given) {
      auto it = key_owners().find(key);
      if (it == key_owners().end() || it->second.empty()) continue;
      if (std::find(it->second.begin(), it->second.end(), c.name) != it->second.end()) continue;
      std::string owners;
      for (const auto& o : it->second) owners += (owners.empty() ? "" : " and ") + o;
      fail(key, "is an option of " + owners + ", not of name = \"" + c.name + "\": remove it or change name");
    }
  }
  return out;
}

std::unique_ptr<LrScheduler> make_lr_schedule(const LrScheduleConfig& config) {
  if (const auto problems = check_schedule(config); !problems.empty()) {
    const auto& [key, message] = problems.front();
    throw std::invalid_argument("[trainer.scheduler] " + key + " " + message);
  }
  if (config.name == "none" && config.warmup == 0) return nullptr;
  return std::make_unique<Schedule>(config);
}

}  // namespace trainscope
