// The scalars plugin in a real Trainer run: every logged value is checked against what an
// in-process probe plugin saw in the same run (loss, outputs, targets, epoch of each step),
// against the cosine scheduler's formula and against the FitResult.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"
#include "wire_reader.h"

namespace trainscope::testing {
namespace {

// ---- What the probe saw ---------------------------------------------------------------------

struct Seen {
  std::map<int64_t, double> loss;    // optimizer step -> loss of its batch
  std::map<int64_t, int64_t> epoch;  // optimizer step -> epoch
  std::map<int64_t, int64_t> batch;  // optimizer step -> batch size
  std::map<int64_t, double> loss_sum;
  std::map<int64_t, int64_t> batches, samples, correct, topk_correct;
};

// Counts top-1 and top-k hits row by row on the host, by rank: a row is a top-k hit when
// fewer than k classes score strictly higher than the target's class.
void count_hits(const at::Tensor& outputs, const at::Tensor& targets, int64_t k, int64_t& top1, int64_t& topk) {
  const at::Tensor o = outputs.detach().to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor t = targets.to(at::kCPU).contiguous();
  const auto oa = o.accessor<double, 2>();
  const auto ta = t.accessor<int64_t, 1>();
  for (int64_t i = 0; i < o.size(0); ++i) {
    const double target_score = oa[i][ta[i]];
    int64_t higher = 0;
    for (int64_t c = 0; c < o.size(1); ++c) higher += oa[i][c] > target_score ? 1 : 0;
    top1 += higher == 0 ? 1 : 0;
    topk += higher < k ? 1 : 0;
  }
}

std::function<void(HookBus&)> probe_into(Probe& probe, Seen& seen, int64_t k) {
  probe.on_hook = [&seen, k](HookContext& ctx) {
    if (ctx.hook() != Hook::kAfterForward) return;
    const int64_t step = ctx.step() + 1;
    const double loss = ctx.loss().item<double>();
    seen.loss[step] = loss;
    seen.epoch[step] = ctx.epoch();
    seen.batch[step] = ctx.batch_size();
    seen.loss_sum[ctx.epoch()] += loss;
    seen.batches[ctx.epoch()] += 1;
    seen.samples[ctx.epoch()] += ctx.batch_size();
    count_hits(ctx.outputs(), ctx.targets(), k, seen.correct[ctx.epoch()], seen.topk_correct[ctx.epoch()]);
  };
  return [&probe](HookBus& bus) { add_probe(bus, probe); };
}

// ---- The custom-scalars layout (a serialized Layout, the string of custom_scalars__config__) --

// Layout -> {category title: {chart title: regexes}}. Layout.category = 2; Category.title = 1,
// .chart = 2; Chart.title = 1, .multiline = 2; MultilineChartContent.tag = 1.
std::map<std::string, std::map<std::string, std::vector<std::string>>> decode_layout(std::string_view layout) {
  std::map<std::string, std::map<std::string, std::vector<std::string>>> out;
  for (auto category : wire::all_bytes(layout, 2)) {
    auto& charts = out[wire::first_string(category, 1)];
    for (auto chart : wire::all_bytes(category, 2)) {
      auto& tags = charts[wire::first_string(chart, 1)];
      for (auto multiline : wire::all_bytes(chart, 2)) {
        for (auto t : wire::all_bytes(multiline, 1)) tags.emplace_back(t);
      }
    }
  }
  return out;
}

double rel(double expected) { return 1e-6 * std::max(1.0, std::abs(expected)); }

// ---- Tests -----------------------------------------------------------------------------------

constexpr const char* kDefault = R"(
[[plugin]]
name = "scalars"
on_error = "abort"
)";

TEST(ScalarsPlugin, LoggedValuesMatchAnIndependentRecord) {
  Probe probe;
  Seen seen;
  trainscope::testing::Setup setup;
  // 10 classes, so top-5 (train and the trainer's val/top5) exists; cosine schedule over 3 epochs.
  setup.overrides = {"trainer.epochs=3", "trainer.scheduler=cosine", "data.synthetic_classes=10"};
  setup.add_after = probe_into(probe, seen, 5);
  const PluginRun run = run_plugins(kDefault, setup);
  const int64_t epochs = 3;
  ASSERT_EQ(run.fit.epochs_completed, epochs);
  ASSERT_EQ(static_cast<int64_t>(seen.loss.size()), run.fit.steps);

  // Per-step loss: every step, equal to the loss the probe read.
  const auto loss_step = run.scalars("train/loss_step");
  ASSERT_EQ(static_cast<int64_t>(loss_step.size()), run.fit.steps);
  for (const auto& [step, value] : loss_step) {
    ASSERT_TRUE(seen.loss.count(step)) << step;
    EXPECT_FLOAT_EQ(value, seen.loss.at(step)) << "step " << step;
  }

  // Learning rate: base 0.01 times the cosine factor of the step's epoch.
  const auto lr = run.scalars("lr/group0");
  ASSERT_EQ(static_cast<int64_t>(lr.size()), run.fit.steps);
  for (const auto& [step, value] : lr) {
    const double e = static_cast<double>(seen.epoch.at(step));
    const double expected = 0.01 * (1.0 + std::cos(M_PI * e / static_cast<double>(epochs))) / 2.0;
    EXPECT_FLOAT_EQ(value, expected) << "step " << step;
  }
  EXPECT_TRUE(run.tags_with_prefix("lr/group1").empty());  // one parameter group

  // Epoch values, each logged once per epoch at the epoch's last step.
  const auto train_loss = run.scalars("train/loss");
  const auto train_acc = run.scalars("train/accuracy");
  const auto train_top5 = run.scalars("train/top5");
  ASSERT_EQ(train_loss.size(), 3u);
  ASSERT_EQ(train_acc.size(), 3u);
  ASSERT_EQ(train_top5.size(), 3u);
  int64_t last_step = 0;
  for (int64_t e = 0; e < epochs; ++e) {
    last_step += seen.batches.at(e);
    EXPECT_EQ(train_loss[e].first, last_step);
    const double mean = seen.loss_sum.at(e) / static_cast<double>(seen.batches.at(e));
    EXPECT_NEAR(train_loss[e].second, mean, rel(mean)) << "epoch " << e;
    const double acc = static_cast<double>(seen.correct.at(e)) / static_cast<double>(seen.samples.at(e));
    const double top5 = static_cast<double>(seen.topk_correct.at(e)) / static_cast<double>(seen.samples.at(e));
    EXPECT_NEAR(train_acc[e].second, acc, rel(acc)) << "epoch " << e;
    EXPECT_NEAR(train_top5[e].second, top5, rel(top5)) << "epoch " << e;
  }
  // The trainer's own epoch mean (FitResult) agrees, and train/loss is not logged twice.
  EXPECT_NEAR(train_loss.back().second, run.fit.metrics.at("train/loss"), rel(train_loss.back().second));

  // Validation metrics: once per epoch; the last ones equal FitResult.metrics.
  for (const char* tag : {"val/loss", "val/accuracy", "val/top5"}) {
    const auto v = run.scalars(tag);
    ASSERT_EQ(v.size(), 3u) << tag;
    EXPECT_EQ(v.back().first, run.fit.steps) << tag;
    EXPECT_NEAR(v.back().second, run.fit.metrics.at(tag), rel(run.fit.metrics.at(tag))) << tag;
  }

  // Throughput and step time come from the same interval: their product is the interval's
  // samples per step, which with one step per interval is that step's batch size.
  const auto sps = run.scalars("perf/samples_per_sec");
  const auto ms = run.scalars("perf/step_time_ms");
  ASSERT_EQ(static_cast<int64_t>(sps.size()), run.fit.steps);
  ASSERT_EQ(sps.size(), ms.size());
  for (size_t i = 0; i < sps.size(); ++i) {
    ASSERT_EQ(sps[i].first, ms[i].first);
    const double batch = static_cast<double>(seen.batch.at(sps[i].first));
    EXPECT_NEAR(sps[i].second * ms[i].second / 1000.0, batch, 1e-3 * batch) << "step " << sps[i].first;
  }

  // The custom-scalars layout pairs each training curve with its validation curve.
  const auto layout_values = run.values("custom_scalars__config__");
  ASSERT_EQ(layout_values.size(), 1u);
  EXPECT_EQ(layout_values[0].second->plugin_name, "custom_scalars");
  const auto layout_text = run.texts("custom_scalars__config__");
  ASSERT_EQ(layout_text.size(), 1u);
  const auto layout = decode_layout(layout_text[0].second);
  ASSERT_TRUE(layout.count("train vs validation")) << "categories: " << layout.size();
  const auto& pairs = layout.at("train vs validation");
  using V = std::vector<std::string>;
  EXPECT_EQ(pairs.at("loss"), (V{"^train/loss$", "^val/loss$"}));
  EXPECT_EQ(pairs.at("accuracy"), (V{"^train/accuracy$", "^val/accuracy$"}));
  EXPECT_EQ(pairs.at("top5 accuracy"), (V{"^train/top5$", "^val/top5$"}));
  // Every regex of the pairs names a tag the run really has.
  const auto tags = run.tags();
  for (const auto& [title, regexes] : pairs) {
    for (const auto& r : regexes) EXPECT_TRUE(tags.count(r.substr(1, r.size() - 2))) << r;
  }
}

TEST(ScalarsPlugin, CadenceAndTopKOptions) {
  Probe probe;
  Seen seen;
  trainscope::testing::Setup setup;
  setup.add_after = probe_into(probe, seen, 3);
  // The base problem has 4 classes: top-3 is logged, and with top_k = 5 it would not be.
  const PluginRun run = run_plugins(R"(
[[plugin]]
name = "scalars"
on_error = "abort"
log_every_n_steps = 3
top_k = 3
custom_scalars = false
)",
                                    setup);
  const auto loss_step = run.scalars("train/loss_step");
  ASSERT_EQ(static_cast<int64_t>(loss_step.size()), run.fit.steps / 3);
  for (const auto& [step, value] : loss_step) {
    EXPECT_EQ(step % 3, 0);
    EXPECT_FLOAT_EQ(value, seen.loss.at(step));
  }
  EXPECT_EQ(run.scalars("lr/group0").size(), loss_step.size());
  // Step time is averaged over the steps since the last point (or the epoch's start): the
  // product with throughput is the mean batch size of those steps, all 16 here.
  const auto sps = run.scalars("perf/samples_per_sec");
  const auto ms = run.scalars("perf/step_time_ms");
  ASSERT_EQ(sps.size(), loss_step.size());
  ASSERT_EQ(ms.size(), sps.size());
  for (size_t i = 0; i < sps.size(); ++i) {
    EXPECT_EQ(sps[i].first % 3, 0);
    EXPECT_NEAR(sps[i].second * ms[i].second / 1000.0, 16.0, 16e-3) << "step " << sps[i].first;
  }
  // Epoch values still cover every batch, whatever the per-step cadence.
  const auto top3 = run.scalars("train/top3");
  const auto acc = run.scalars("train/accuracy");
  ASSERT_EQ(top3.size(), 2u);
  ASSERT_EQ(acc.size(), 2u);
  for (int64_t e = 0; e < 2; ++e) {
    const double n = static_cast<double>(seen.samples.at(e));
    EXPECT_NEAR(acc[e].second, static_cast<double>(seen.correct.at(e)) / n, 1e-6);
    EXPECT_NEAR(top3[e].second, static_cast<double>(seen.topk_correct.at(e)) / n, 1e-6);
  }
  EXPECT_FALSE(run.has("custom_scalars__config__"));
  EXPECT_TRUE(run.tags_with_prefix("train/top5").empty());
}

TEST(ScalarsPlugin, NoTopKWhenClassesDoNotExceedK) {
  const PluginRun run = run_plugins(kDefault);  // 4 classes, top_k = 5
  EXPECT_TRUE(run.has("train/accuracy"));
  EXPECT_TRUE(run.tags_with_prefix("train/top").empty());
  EXPECT_FALSE(run.has("val/top5"));
}

TEST(ScalarsPlugin, RejectsBadOptions) {
  // Both reported at once, each where its value is written (the [[plugin]] table starts on
  // line 19 of the harness's test.toml).
  const auto problems = config_problems("[[plugin]]\nname = \"scalars\"\nlog_every_n_steps = 0\ntop_k = -1\n");
  ASSERT_EQ(problems.size(), 2u) << ::testing::PrintToString(problems);
  EXPECT_EQ(
      problems[0],
      "test.toml:21:21: plugin 'scalars' option 'log_every_n_steps' = 0 is out of range: must be an integer >= 1");
  EXPECT_EQ(problems[1],
            "test.toml:22:9: plugin 'scalars' option 'top_k' = -1 is out of range: must be an integer >= 0");
}

}  // namespace
}  // namespace trainscope::testing
