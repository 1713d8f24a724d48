// early_stopping on a real Trainer: a probe listed before it writes a scripted value into the
// metrics at every validation_end; the stop epoch, the stop reason and the logged best/wait
// are checked against a plain re-computation of the patience rule (and the hand-worked
// numbers in the comments).

#include <cmath>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

using RunSetup = Setup;  // inside a TEST body, Setup is googletest's
// The patience rule, written out independently of the plugin: which evaluation (1-based) stops
// the fit (0: none), and best/wait after each evaluation up to then.
struct Expected {
  int64_t stop_epoch = 0;
  std::vector<double> best, wait;
};
Expected patience_rule(const std::vector<double>& values, bool max, int64_t patience, double min_delta) {
  Expected e;
  double best = 0;
  int64_t wait = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const bool better = i == 0 || (max ? values[i] - best > min_delta : best - values[i] > min_delta);
    if (better) {
      best = values[i];
      wait = 0;
    } else {
      ++wait;
    }
    e.best.push_back(best);
    e.wait.push_back(static_cast<double>(wait));
    if (wait >= patience) {
      e.stop_epoch = static_cast<int64_t>(i) + 1;
      break;
    }
  }
  return e;
}

// Logged scalars are float32: compare with the expected values rounded the same way.
std::vector<float> values_of(const std::vector<std::pair<int64_t, double>>& scalars) {
  std::vector<float> out;
  for (const auto& [step, v] : scalars) out.push_back(static_cast<float>(v));
  return out;
}
std::vector<float> as_float(const std::vector<double>& values) { return {values.begin(), values.end()}; }

// A probe that puts script[epoch] into metrics()[name] at validation_end.
Setup scripted(Probe& probe, const std::vector<double>& script, const std::string& name,
               std::vector<std::string> overrides = {}) {
  probe.on_hook = [script, name](HookContext& c) {
    if (c.hook() == Hook::kValidationEnd && c.epoch() < static_cast<int64_t>(script.size())) {
      c.metrics()[name] = script[c.epoch()];
    }
  };
  Setup setup;
  setup.add_before = [&probe](HookBus& bus) { add_probe(bus, probe); };
  overrides.push_back("trainer.epochs=" + std::to_string(script.size()));
  setup.overrides = std::move(overrides);
  return setup;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST(EarlyStopping, StopsAtTheRightEpochOnAScriptedMetric) {
  // min, patience 2: best 1.0, 0.8 (epoch 2); 0.9 wait 1; 0.85 wait 2 -> stops after epoch 4.
  const std::vector<double> script{1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.6, 0.5};
  Probe probe;
  auto run = run_plugins("[[plugin]]\nname = \"early_stopping\"\nmonitor = \"val/scripted\"\npatience = 2\n",
                         scripted(probe, script, "val/scripted"));
  const Expected e = patience_rule(script, /*max=*/false, 2, 0.0);
  ASSERT_EQ(e.stop_epoch, 4);  // the hand-worked answer above
  EXPECT_TRUE(run.fit.stopped);
  EXPECT_EQ(run.fit.epochs_completed, e.stop_epoch);
  EXPECT_EQ(run.fit.steps, e.stop_epoch * 4);  // 4 batches per epoch: no batch after the stop
  EXPECT_TRUE(contains(run.fit.stop_reason, "early_stopping: val/scripted did not improve for 2 epoch(s)"))
      << run.fit.stop_reason;
  EXPECT_TRUE(contains(run.fit.stop_reason, "best 0.8 at epoch 2")) << run.fit.stop_reason;
  EXPECT_EQ(values_of(run.scalars("early_stopping/best")), as_float(e.best));
  EXPECT_EQ(values_of(run.scalars("early_stopping/wait")), as_float(e.wait));
  // One scalar per epoch, at the epoch's last step.
  auto waits = run.scalars("early_stopping/wait");
  ASSERT_EQ(waits.size(), 4u);
  for (size_t i = 0; i < waits.size(); ++i) EXPECT_EQ(waits[i].first, static_cast<int64_t>(i + 1) * 4);
  auto text = run.values("early_stopping/text_summary");
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0].first, run.fit.steps);
}

TEST(EarlyStoppingModes, MaxWithMinDelta) {
  // max, patience 3, min_delta 0.02 (hand-worked): 0.5 best; 0.6 best; 0.65 best; 0.64 wait 1;
  // 0.66 (< 0.65 + 0.02) wait 2; 0.68 best; 0.6 wait 1; 0.69 wait 2; 0.695 wait 3 -> stop after
  // epoch 9. Without min_delta 0.66 and 0.69 would be improvements and it would not stop.
  const std::vector<double> script{0.5, 0.6, 0.65, 0.64, 0.66, 0.68, 0.6, 0.69, 0.695, 0.3, 0.3};
  Probe probe;
  // mode = "auto" on a name containing "acc" means max.
  auto run = run_plugins(
      "[[plugin]]\nname = \"early_stopping\"\nmonitor = \"val/acc_scripted\"\npatience = 3\nmin_delta = 0.02\n",
      scripted(probe, script, "val/acc_scripted"));
  const Expected e = patience_rule(script, /*max=*/true, 3, 0.02);
  ASSERT_EQ(e.stop_epoch, 9);
  EXPECT_EQ(patience_rule(script, true, 3, 0.0).stop_epoch, 0);
  EXPECT_TRUE(run.fit.stopped);
  EXPECT_EQ(run.fit.epochs_completed, e.stop_epoch);
  EXPECT_TRUE(contains(run.fit.stop_reason, "by more than 0.02")) << run.fit.stop_reason;
  EXPECT_TRUE(contains(run.fit.stop_reason, "mode max")) << run.fit.stop_reason;
  EXPECT_EQ(values_of(run.scalars("early_stopping/best")), as_float(e.best));
  EXPECT_EQ(values_of(run.scalars("early_stopping/wait")), as_float(e.wait));
}

TEST(EarlyStoppingModes, ExplicitMinOnAnAccuracyNameAndNoStop) {
  // mode = "min" overrides auto's max for an "acc" name; the script keeps improving as a
  // minimum within patience, so the fit runs to its end.
  const std::vector<double> script{0.9, 0.95, 0.8, 0.85, 0.7};
  Probe probe;
  auto run = run_plugins(
      "[[plugin]]\nname = \"early_stopping\"\nmonitor = \"val/acc_scripted\"\nmode = \"min\"\npatience = 2\n",
      scripted(probe, script, "val/acc_scripted"));
  const Expected e = patience_rule(script, /*max=*/false, 2, 0.0);
  ASSERT_EQ(e.stop_epoch, 0);
  EXPECT_FALSE(run.fit.stopped) << run.fit.stop_reason;
  EXPECT_EQ(run.fit.epochs_completed, static_cast<int64_t>(script.size()));
  EXPECT_EQ(values_of(run.scalars("early_stopping/best")), as_float(e.best));
  EXPECT_EQ(values_of(run.scalars("early_stopping/wait")), as_float(e.wait));
  EXPECT_TRUE(run.values("early_stopping/text_summary").empty());
}

TEST(EarlyStopping, ResumedFitStopsWhereAnUninterruptedOneWould) {
  // As the first test: stops after epoch 4. Interrupted after epoch 3 (best 0.8, wait 1) and
  // resumed: without its saved state it would take 0.85 as a new best and run on.
  const std::vector<double> script{1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.6, 0.5};
  const std::string toml = "[[plugin]]\nname = \"early_stopping\"\nmonitor = \"val/scripted\"\npatience = 2\n";
  const std::string dir = fresh_dir();
  Probe probe;
  RunSetup first = scripted(probe, script, "val/scripted", {"trainer.checkpoint_every_n_epochs=1"});
  first.overrides.back() = "trainer.epochs=3";
  first.log_dir = dir;
  auto run1 = run_plugins(toml, first);
  ASSERT_FALSE(run1.fit.stopped);
  ASSERT_EQ(run1.fit.epochs_completed, 3);

  RunSetup second = scripted(probe, script, "val/scripted", {"trainer.checkpoint_every_n_epochs=1", "trainer.resume=auto"});
  second.log_dir = dir;
  auto run2 = run_plugins(toml, second);
  EXPECT_FALSE(run2.fit.resumed_from.empty());
  EXPECT_TRUE(run2.fit.stopped);
  EXPECT_EQ(run2.fit.epochs_completed, patience_rule(script, false, 2, 0.0).stop_epoch);
  EXPECT_TRUE(contains(run2.fit.stop_reason, "best 0.8 at epoch 2")) << run2.fit.stop_reason;
}

TEST(EarlyStopping, MissingMetricNamesTheAvailableOnes) {
  try {
    run_plugins("[[plugin]]\nname = \"early_stopping\"\nmonitor = \"val/nope\"\non_error = \"abort\"\n");
    ADD_FAILURE() << "a missing metric was accepted";
  } catch (const PluginAbort& e) {
    EXPECT_EQ(e.plugin(), "early_stopping");
    EXPECT_TRUE(contains(e.message(), "monitor = \"val/nope\" is not among the metrics at validation_end"))
        << e.what();
    EXPECT_TRUE(contains(e.message(), "available: train/loss, val/accuracy, val/loss")) << e.what();
  }
}

TEST(EarlyStopping, WithoutValidationItWatchesTheEpochEnd) {
  // No validation data: the metric is read at epoch_end (here a scripted one a probe listed
  // before it writes there). Same script and answer as the first test: stops after epoch 4.
  const std::vector<double> script{1.0, 0.8, 0.9, 0.85, 0.95, 0.7};
  Probe probe;
  probe.on_hook = [&script](HookContext& c) {
    if (c.hook() == Hook::kValidationEnd) ADD_FAILURE() << "validation ran";
    if (c.hook() == Hook::kEpochEnd) c.metrics()["train/scripted"] = script.at(c.epoch());
  };
  RunSetup setup;
  setup.add_before = [&probe](HookBus& bus) { add_probe(bus, probe); };
  setup.customize = [](Trainer& t) { t.set_val_data(TensorDataset{}); };
  setup.overrides = {"trainer.epochs=" + std::to_string(script.size())};
  auto run = run_plugins("[[plugin]]\nname = \"early_stopping\"\nmonitor = \"train/scripted\"\npatience = 2\n", setup);
  const Expected e = patience_rule(script, /*max=*/false, 2, 0.0);
  ASSERT_EQ(e.stop_epoch, 4);
  EXPECT_TRUE(run.fit.stopped);
  EXPECT_EQ(run.fit.epochs_completed, e.stop_epoch);
  EXPECT_EQ(run.fit.metrics.count("val/loss"), 0u);
  EXPECT_EQ(values_of(run.scalars("early_stopping/wait")), as_float(e.wait));
  EXPECT_EQ(values_of(run.scalars("early_stopping/best")), as_float(e.best));
}

TEST(EarlyStopping, RejectsBadOptions) {
  for (const auto& [bad, message] : std::vector<std::pair<std::string, std::string>>{
           {"patience = 0", "'patience' = 0 is out of range: must be an integer >= 1"},
           {"mode = \"up\"", "'mode' = \"up\" is not allowed: must be one of: \"min\", \"max\", \"auto\""},
           {"min_delta = -0.1", "'min_delta' = -0.1 is out of range: must be a finite number >= 0"},
           {"min_delta = inf", "'min_delta' = inf is out of range: must be a finite number >= 0"},
           {"monitor = \"\"", "'monitor' = \"\" is not allowed: must be a non-empty string"}}) {
    const auto problems = config_problems("[[plugin]]\nname = \"early_stopping\"\n" + bad + "\n");
    ASSERT_EQ(problems.size(), 1u) << bad << ::testing::PrintToString(problems);
    EXPECT_TRUE(contains(problems[0], "plugin 'early_stopping' option " + message)) << problems[0];
  }
}

}  // namespace
}  // namespace trainscope::testing
