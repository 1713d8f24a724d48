// One trial of a study (sweep_run.h): the run of the configuration with the trial's parameters,
// and the in-process plugin that reports the metric to the study after every validation and
// stops the run when the pruner says so.
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "trainscope/hook_bus.h"
#include "trainscope/plugin.h"
#include "trainscope/run.h"
#include "trainscope/summary_writer.h"
#include "trainscope/sweep_run.h"

namespace trainscope {

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// What the trial has reported; shared by the plugin (or the test objective) and run_trial.
struct Reporter {
  const SweepSetup* setup = nullptr;
  sweep::Storage* storage = nullptr;
  sweep::Pruner* pruner = nullptr;
  int64_t study_id = -1;
  sweep::Trial trial;
  int64_t epochs = 0;
  std::optional<double> last;
  bool pruned = false;
  std::string message;  // why it was pruned, or why it failed
  bool failed = false;

  // Reports `value` at `step`; true when the trial should stop (pruned or failed).
  bool report(int64_t step, double value) {
    if (!std::isfinite(value)) {
      failed = true;
      message = setup->sweep.metric + " is " + fmt(value) + " at epoch " + std::to_string(step);
      return true;
    }
    storage->set_intermediate_value(trial.trial_id, step, value);
    ++epochs;
    last = value;
    trial.intermediate_values[step] = value;
    std::vector<sweep::Trial> history = storage->trials(study_id);
    const sweep::Trial* self = &trial;
    for (const auto& t : history) {
      if (t.trial_id == trial.trial_id) self = &t;
    }
    sweep::PrunerAttrs attrs;
    const bool prune = pruner->prune(history, *self, setup->sweep.direction, &attrs);
    for (const auto& [key, json] : attrs) storage->set_trial_system_attr(trial.trial_id, key, json);
    if (prune) {
      pruned = true;
      message = "pruned by the " + setup->sweep.pruner.kind + " pruner after epoch " + std::to_string(step) + " (" +
                setup->sweep.metric + " = " + fmt(value) + ")";
    }
    return prune;
  }
};

// The in-process plugin: added last, so at validation_end it sees the metrics that the
// configured plugins add there too.
class SweepReporter final : public Plugin {
 public:
  explicit SweepReporter(const Options& o) : r_(reinterpret_cast<Reporter*>(o.get<int64_t>("reporter"))) {}
  void on_validation_end(HookContext& ctx) override {
    if (r_->failed || r_->pruned) return;
    const std::string& metric = r_->setup->sweep.metric;
    auto it = ctx.metrics().find(metric);
    if (it == ctx.metrics().end()) {
      std::string keys;
      for (const auto& [k, v] : ctx.metrics()) keys += (keys.empty() ? "" : ", ") + k;
      r_->failed = true;
      r_->message = "sweep.metric '" + metric + "' is not a metric of the validation (metrics: " + keys + ")";
      ctx.request_stop(r_->message);
      return;
    }
    try {
      if (std::isfinite(it->second)) ctx.writer().add_scalar(objective_tag(r_->setup->sweep), it->second, ctx.step());
      if (r_->report(ctx.epoch(), it->second)) ctx.request_stop(r_->message);
    } catch (const std::exception& e) {  // the storage failed: the trial cannot go on
      r_->failed = true;
      r_->message = std::string("reporting to the study failed: ") + e.what();
      ctx.request_stop(r_->message);
    }
  }

 private:
  Reporter* r_;
};

// A PluginLibrary that is this library itself (nothing is loaded).
class ReporterLibrary final : public PluginLibrary {
 public:
  ReporterLibrary() {
    descriptor_ = {kPluginAbiMajor,
                   kPluginAbiMinor,
                   "sweep",
                   "1.0.0",
                   TRAINSCOPE_BUILD_FINGERPRINT,
                   &options_,
                   detail::hooks_of<SweepReporter>(),
                   &detail::create_plugin<SweepReporter>,
                   &detail::destroy_plugin,
                   &detail::invoke_hook<SweepReporter>};
  }
  const PluginDescriptor& descriptor() const override { return descriptor_; }
  const std::string& path() const override { return path_; }

 private:
  std::string path_ = "<in-process sweep reporter>";
  std::vector<OptionSpec> options_{option<int64_t>("reporter", 0, "address of the trial's Reporter")};
  PluginDescriptor descriptor_{};
};

void add_reporter(HookBus& bus, Reporter& reporter) {
  Options options({{"reporter", static_cast<int64_t>(reinterpret_cast<intptr_t>(&reporter))}});
  PluginConfig config;
  config.name = "sweep";
  config.options = options;
  config.cadence.train = false;  // validation_end only
  bus.add(std::make_unique<PluginInstance>(std::make_shared<ReporterLibrary>(), options), config);
}

// Test only: a smooth function of the parameters in [0, 1] (each parameter's position in its
// range; a categorical's index), approached over trainer.epochs "epochs", no training.
void run_test_objective(const RunConfig& config, Reporter& r) {
  double base = 0;
  for (const auto& p : r.setup->sweep.params) {
    auto it = r.trial.params.find(p.name);
    if (it == r.trial.params.end()) continue;
    double u = 0;
    if (const auto* f = std::get_if<sweep::FloatDistribution>(&p.distribution)) {
      u = f->high > f->low ? (f->log ? std::log(it->second / f->low) / std::log(f->high / f->low)
                                     : (it->second - f->low) / (f->high - f->low))
                           : 0;
    } else if (const auto* i = std::get_if<sweep::IntDistribution>(&p.distribution)) {
      u = i->high > i->low ? (it->second - static_cast<double>(i->low)) / static_cast<double>(i->high - i->low) : 0;
    } else {
      const auto& c = std::get<sweep::CategoricalDistribution>(p.distribution);
      u = c.choices.size() > 1 ? it->second / static_cast<double>(c.choices.size() - 1) : 0;
    }
    base += (u - 0.3) * (u - 0.3);
  }
  const double sign = r.setup->sweep.direction == sweep::Direction::kMaximize ? -1 : 1;
  for (int64_t epoch = 0; epoch < config.trainer.epochs; ++epoch) {
    if (r.report(epoch, sign * (base + 1.0 / static_cast<double>(epoch + 1)))) return;
  }
}

}  // namespace

TrialOutcome run_trial(const SweepSetup& setup, sweep::Storage& storage, sweep::Pruner& pruner, int64_t study_id,
                       const sweep::Trial& trial) {
  const auto t0 = std::chrono::steady_clock::now();
  Reporter r;
  r.setup = &setup;
  r.storage = &storage;
  r.pruner = &pruner;
  r.study_id = study_id;
  r.trial = trial;
  TrialOutcome out;
  try {
    std::vector<std::string> overrides = trial_overrides(setup.sweep.params, trial.params);
    overrides.push_back("run.log_dir=" + sweep::to_config_text(sweep::Choice{setup.study_dir}));
    overrides.push_back("run.name=" + sweep::to_config_text(sweep::Choice{"trial-" + std::to_string(trial.number)}));
    RunSpec spec = load_run(setup.file.with_overrides(overrides), {{}, setup.catalog});
    if (setup.test_objective) {
      run_test_objective(spec.config, r);
    } else {
      RunParts parts;
      parts.after_plugins = [&](HookBus& bus) { add_reporter(bus, r); };
      parts.customize = [&](Trainer& t) { t.set_progress(setup.progress, 0); };
      Run run = assemble_run(std::move(spec), std::move(parts));
      (void)run.fit();
    }  // the run's files are closed here
    if (r.failed) {
      out.state = sweep::TrialState::kFail;
    } else if (r.pruned) {
      out.state = sweep::TrialState::kPruned;
    } else if (!r.last) {
      out.state = sweep::TrialState::kFail;
      r.message = "the trial never validated (no validation data, or it stopped before its first validation)";
    } else {
      out.state = sweep::TrialState::kComplete;
    }
    out.message = r.message;
  } catch (const sweep::StorageError&) {
    throw;
  } catch (const std::exception& e) {
    out.state = sweep::TrialState::kFail;
    out.message = e.what();
  }
  out.value = r.last;
  out.epochs = r.epochs;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (out.state == sweep::TrialState::kFail) {
    storage.set_trial_user_attr(trial.trial_id, "fail_reason", json_string(out.message));
    storage.finish_trial(trial.trial_id, sweep::TrialState::kFail, std::nullopt);
  } else {
    if (out.state == sweep::TrialState::kPruned)
      storage.set_trial_user_attr(trial.trial_id, "pruned_reason", json_string(out.message));
    storage.finish_trial(trial.trial_id, out.state, out.value);
  }
  try {
    write_trial_session(setup, trial, out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[sweep] trial %lld: the HParams session was not written: %s\n",
                 static_cast<long long>(trial.number), e.what());
  }
  return out;
}

}  // namespace trainscope
