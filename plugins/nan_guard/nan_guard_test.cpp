// nan_guard on a real Trainer: a probe that runs before it injects a NaN into one gradient (or
// makes the loss NaN) at a chosen step; the tests check what the optimizer did with that step,
// what the fit did afterwards, and what nan_guard wrote.

#include <torch/nn/module.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

using Weights = std::map<std::string, at::Tensor>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kStepsPerEpoch = 4;  // 64 samples, batch 16 (plugin_harness.h)

Weights snapshot(const torch::nn::Module& m) {
  Weights w;
  for (const auto& p : m.named_parameters()) w[p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) w[b.key()] = b.value().detach().clone();
  return w;
}

bool same(const Weights& a, const Weights& b) {
  if (a.size() != b.size() || a.empty()) return false;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end() || !at::equal(t, it->second)) return false;
  }
  return true;
}

bool all_finite(const Weights& w) {
  for (const auto& [name, t] : w) {
    if (!at::isfinite(t).all().item<bool>()) return false;
  }
  return true;
}

// (step, raw event) of every event with a value tagged `tag`. A text summary's string is stored
// verbatim in the event, so the raw bytes show what the text says.
std::vector<std::pair<int64_t, std::string>> raw_events(const std::string& dir, const std::string& tag) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& path : list_event_files(dir)) {
    RecordReader reader(path);
    std::string payload;
    while (reader.next(payload)) {
      EventView ev;
      if (!decode_event(payload, ev)) continue;
      for (const auto& v : ev.values) {
        if (v.tag == tag) out.emplace_back(ev.step, payload);
      }
    }
  }
  return out;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// What the probe saw and did during a fit.
struct Observed {
  std::set<int64_t> poison_steps;  // steps whose gradient (or loss) is made non-finite
  std::string victim = "fc3.bias";
  bool poison_loss = false;  // poison the loss instead of a gradient
  bool poison_now = false;   // read by the loss function of the current batch
  std::map<int64_t, Weights> before;  // weights at after_backward of each poisoned step
  std::map<int64_t, Weights> after;   // weights at train_batch_end of every step
  std::set<int64_t> stepped;          // steps whose optimizer step ran
  int64_t last_batch_begun = 0;
  Weights final_weights;
  size_t parameters = 0;
};

Setup probe_setup(Probe& probe, Observed& o) {
  probe.on_hook = [&o](HookContext& c) {
    const int64_t s = c.step() + 1;  // the step of the current batch (before train_batch_end)
    switch (c.hook()) {
      case Hook::kTrainBatchBegin:
        o.last_batch_begun = s;
        o.poison_now = o.poison_loss && o.poison_steps.count(s) > 0;
        break;
      case Hook::kAfterBackward:
        if (o.poison_steps.count(s) > 0) {
          o.before[s] = snapshot(c.model());
          if (!o.poison_loss) c.model().named_parameters()[o.victim].grad().view(-1)[0].fill_(kNaN);
        }
        break;
      case Hook::kAfterOptimizerStep: o.stepped.insert(s); break;
      case Hook::kTrainBatchEnd: o.after[c.step()] = snapshot(c.model()); break;
      case Hook::kFitEnd:
        o.final_weights = snapshot(c.model());
        o.parameters = c.model().parameters().size();
        break;
      default: break;
    }
  };
  Setup setup;
  setup.add_before = [&probe](HookBus& bus) { add_probe(bus, probe); };  // runs before nan_guard
  setup.customize = [&o](Trainer& t) {
    t.set_loss([&o](const at::Tensor& out, const at::Tensor& target) {
      at::Tensor loss = softmax_cross_entropy(out, target);
      if (o.poison_now) {
        o.poison_now = false;
        return loss * kNaN;
      }
      return loss;
    });
  };
  return setup;
}

TEST(NanGuard, SkipLeavesTheBadStepOutAndTrainingGoesOn) {
  Probe probe;
  Observed o;
  o.poison_steps = {3};
  auto run = run_plugins("[[plugin]]\nname = \"nan_guard\"\naction = \"skip\"\n", probe_setup(probe, o));

  EXPECT_FALSE(run.fit.stopped) << run.fit.stop_reason;
  EXPECT_EQ(run.fit.epochs_completed, 2);
  ASSERT_EQ(run.fit.steps, 2 * kStepsPerEpoch);
  // Every step but the poisoned one reached the optimizer.
  std::set<int64_t> expected;
  for (int64_t s = 1; s <= run.fit.steps; ++s) {
    if (!o.poison_steps.count(s)) expected.insert(s);
  }
  EXPECT_EQ(o.stepped, expected);
  // Step 3 left the weights as they were before it; step 4 (clean) changed them.
  ASSERT_TRUE(o.before.count(3) && o.after.count(3) && o.after.count(4));
  EXPECT_TRUE(same(o.before[3], o.after[3]));
  EXPECT_FALSE(same(o.after[3], o.after[4]));
  EXPECT_TRUE(all_finite(o.final_weights));

  // The count: 1 at the detection's step, and at each epoch end.
  auto counts = run.scalars("nan_guard/nonfinite_steps");
  ASSERT_FALSE(counts.empty());
  EXPECT_EQ(counts.front(), std::make_pair(int64_t{3}, 1.0));
  EXPECT_EQ(counts.back(), std::make_pair(run.fit.steps, static_cast<double>(o.poison_steps.size())));
  // The detection's text names the step and the parameter, and not the clean ones.
  auto texts = raw_events(run.run_dir, "nan_guard/text_summary");
  ASSERT_EQ(texts.size(), 2u);  // the detection and the end-of-fit summary
  EXPECT_EQ(texts[0].first, 3);
  EXPECT_TRUE(contains(texts[0].second, "at step 3")) << texts[0].second;
  const std::string numel = std::to_string(o.final_weights["fc3.bias"].numel());
  EXPECT_TRUE(contains(texts[0].second, "`fc3.bias`: 1 of " + numel + " gradient values non-finite (1 NaN, 0 inf"))
      << texts[0].second;
  EXPECT_FALSE(contains(texts[0].second, "fc2.bias")) << texts[0].second;
  EXPECT_TRUE(contains(texts[0].second, "training goes on")) << texts[0].second;
  EXPECT_TRUE(contains(texts[1].second, "1 non-finite step(s) in " + std::to_string(run.fit.steps) + " checked"))
      << texts[1].second;
}

TEST(NanGuard, StopEndsTheFitWithoutApplyingTheBadStep) {
  Probe probe;
  Observed o;
  o.poison_steps = {6};  // epoch 2, batch 2
  o.victim = "conv2.weight";
  auto run = run_plugins("[[plugin]]\nname = \"nan_guard\"\naction = \"stop\"\n", probe_setup(probe, o));

  EXPECT_TRUE(run.fit.stopped);
  EXPECT_TRUE(contains(run.fit.stop_reason, "nan_guard: non-finite gradients at step 6")) << run.fit.stop_reason;
  EXPECT_TRUE(contains(run.fit.stop_reason, "conv2.weight")) << run.fit.stop_reason;
  // The poisoned batch is the last one: it counts as a step, none began after it, and the
  // second epoch never completed.
  EXPECT_EQ(run.fit.steps, 6);
  EXPECT_EQ(o.last_batch_begun, 6);
  EXPECT_EQ(run.fit.epochs_completed, 1);
  EXPECT_EQ(o.stepped.count(6), 0u);
  EXPECT_EQ(o.stepped.size(), 5u);
  // The model ends as it was before the bad step, and finite.
  ASSERT_TRUE(o.before.count(6));
  EXPECT_TRUE(same(o.before[6], o.final_weights));
  EXPECT_TRUE(all_finite(o.final_weights));
  auto texts = raw_events(run.run_dir, "nan_guard/text_summary");
  ASSERT_FALSE(texts.empty());
  EXPECT_EQ(texts[0].first, 6);
  const std::string numel = std::to_string(o.final_weights["conv2.weight"].numel());
  EXPECT_TRUE(contains(texts[0].second, "`conv2.weight`: 1 of " + numel + " gradient values")) << texts[0].second;
  EXPECT_TRUE(contains(texts[0].second, "training stopped")) << texts[0].second;
}

TEST(NanGuard, NonFiniteLossIsCaughtWithoutLookingAtGradients) {
  Probe probe;
  Observed o;
  o.poison_loss = true;
  o.poison_steps = {2};
  auto run = run_plugins("[[plugin]]\nname = \"nan_guard\"\ncheck_grads = false\n", probe_setup(probe, o));

  EXPECT_FALSE(run.fit.stopped) << run.fit.stop_reason;
  EXPECT_EQ(run.fit.steps, 2 * kStepsPerEpoch);
  EXPECT_EQ(o.stepped.count(2), 0u);
  EXPECT_EQ(o.stepped.size(), static_cast<size_t>(run.fit.steps - 1));
  ASSERT_TRUE(o.before.count(2) && o.after.count(2));
  EXPECT_TRUE(same(o.before[2], o.after[2]));
  EXPECT_TRUE(all_finite(o.final_weights));
  auto texts = raw_events(run.run_dir, "nan_guard/text_summary");
  ASSERT_FALSE(texts.empty());
  EXPECT_EQ(texts[0].first, 2);
  EXPECT_TRUE(contains(texts[0].second, "non-finite loss at step 2")) << texts[0].second;
  EXPECT_FALSE(contains(texts[0].second, "`fc")) << texts[0].second;  // gradients were not read
}

TEST(NanGuard, LossAndGradientsTogetherAndTheCheckCadence) {
  Probe probe;
  Observed o;
  o.poison_loss = true;
  o.poison_steps = {4};  // a checked step for check_every_n_steps = 2
  auto run = run_plugins("[[plugin]]\nname = \"nan_guard\"\ncheck_every_n_steps = 2\n", probe_setup(probe, o));

  EXPECT_FALSE(run.fit.stopped) << run.fit.stop_reason;
  EXPECT_EQ(o.stepped.count(4), 0u);
  EXPECT_TRUE(same(o.before[4], o.after[4]));
  auto texts = raw_events(run.run_dir, "nan_guard/text_summary");
  ASSERT_EQ(texts.size(), 2u);
  // A NaN loss makes every gradient NaN: every parameter is listed.
  EXPECT_TRUE(contains(texts[0].second, "non-finite loss and gradients at step 4")) << texts[0].second;
  ASSERT_GT(o.parameters, 0u);
  EXPECT_TRUE(contains(texts[0].second, "(" + std::to_string(o.parameters) + "):")) << texts[0].second;
  EXPECT_TRUE(contains(texts[1].second, "in " + std::to_string(run.fit.steps / 2) + " checked step(s)"))
      << texts[1].second;
}

TEST(NanGuard, SkipTurnsIntoStopAfterTooManyInARow) {
  Probe probe;
  Observed o;
  o.poison_steps = {2, 3, 4, 5};
  auto run = run_plugins("[[plugin]]\nname = \"nan_guard\"\nmax_consecutive_skips = 3\n", probe_setup(probe, o));

  EXPECT_TRUE(run.fit.stopped);
  EXPECT_TRUE(contains(run.fit.stop_reason, "step 4")) << run.fit.stop_reason;
  EXPECT_TRUE(contains(run.fit.stop_reason, "3 non-finite checked steps in a row")) << run.fit.stop_reason;
  EXPECT_EQ(run.fit.steps, 4);
  EXPECT_EQ(o.stepped, std::set<int64_t>{1});
  EXPECT_TRUE(same(o.after[1], o.final_weights));
}

TEST(NanGuard, RejectsBadOptions) {
  for (const auto& [bad, message] : std::vector<std::pair<std::string, std::string>>{
           {"action = \"stpo\"",
            "'action' = \"stpo\" is not allowed: must be one of: \"skip\", \"stop\"; did you mean 'stop'?"},
           {"check_every_n_steps = 0", "'check_every_n_steps' = 0 is out of range: must be an integer >= 1"},
           {"max_consecutive_skips = -1", "'max_consecutive_skips' = -1 is out of range: must be an integer >= 0"}}) {
    const auto problems = config_problems("[[plugin]]\nname = \"nan_guard\"\n" + bad + "\n");
    ASSERT_EQ(problems.size(), 1u) << bad << ::testing::PrintToString(problems);
    EXPECT_TRUE(contains(problems[0], "plugin 'nan_guard' option " + message)) << problems[0];
  }
}

}  // namespace
}  // namespace trainscope::testing
