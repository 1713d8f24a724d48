// Tests of the activations plugin: the logged statistics equal an independent computation on
// the very activation the training step produced (captured by a probe plugin at after_forward
// of the same step), activations are requested on the logged steps only, and the globs
// select layers (zoo taps and Sequential children).
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

using PluginSetup = trainscope::testing::Setup;  // inside TEST bodies, Setup is gtest's

struct Stats {
  double mean = 0, std = 0, zero_fraction = 0, min = 0, max = 0;
  int64_t count = 0;
};

// Plain loops in double: no torch reduction involved.
Stats stats_of(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous().reshape(-1);
  const double* p = c.data_ptr<double>();
  const int64_t n = c.numel();
  Stats s;
  s.count = n;
  s.min = s.max = p[0];
  double sum = 0;
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += p[i];
    zeros += p[i] == 0.0 ? 1 : 0;
    s.min = std::min(s.min, p[i]);
    s.max = std::max(s.max, p[i]);
  }
  s.mean = sum / static_cast<double>(n);
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += (p[i] - s.mean) * (p[i] - s.mean);
  s.std = std::sqrt(ss / static_cast<double>(n - 1));
  s.zero_fraction = static_cast<double>(zeros) / static_cast<double>(n);
  return s;
}

// The value logged under `tag` at `step` (fails when there is not exactly one).
double scalar_at(const PluginRun& run, const std::string& tag, int64_t step) {
  std::vector<double> found;
  for (const auto& [s, v] : run.scalars(tag)) {
    if (s == step) found.push_back(v);
  }
  EXPECT_EQ(found.size(), 1u) << tag << " at step " << step;
  return found.empty() ? std::nan("") : found.front();
}

void expect_close(double logged, double expected, const std::string& what) {
  // Scalars are stored as float32.
  EXPECT_NEAR(logged, expected, 1e-5 * std::max(1.0, std::abs(expected))) << what;
}

// Captures ctx.activations() at after_forward of every step, keyed by step S (from 1).
struct Capture {
  Probe probe;
  std::map<int64_t, std::map<std::string, at::Tensor>> by_step;
  std::set<int64_t> steps_seen;
  Capture() {
    probe.on_hook = [this](HookContext& c) {
      if (c.hook() != Hook::kAfterForward) return;
      const int64_t s = c.step() + 1;
      steps_seen.insert(s);
      for (const auto& [name, value] : c.activations()) by_step[s][name] = value.clone();
    };
  }
};

TEST(Activations, LoggedStatisticsEqualAnIndependentComputationOnTheSameActivation) {
  Capture cap;
  PluginSetup setup;
  setup.add_after = [&](HookBus& bus) { add_probe(bus, cap.probe); };
  const PluginRun run = run_plugins(R"([[plugin]]
name = "activations"
log_every_n_steps = 3
on_error = "abort"
)",
                                    setup);
  // 64 samples / batch 16 = 4 steps per epoch, 2 epochs: steps 1..8, logged at 3 and 6.
  ASSERT_EQ(cap.steps_seen.size(), 8u);
  std::set<int64_t> captured;
  for (const auto& [s, m] : cap.by_step) captured.insert(s);
  EXPECT_EQ(captured, (std::set<int64_t>{3, 6})) << "activations must be requested on the logged steps only";

  const std::vector<std::string> layers{"conv1", "conv2", "fc1", "features"};
  for (const auto& [step, acts] : cap.by_step) {
    for (const auto& layer : layers) {
      SCOPED_TRACE(layer + " at step " + std::to_string(step));
      ASSERT_TRUE(acts.count(layer));
      const Stats want = stats_of(acts.at(layer));
      const std::string tag = "activations/" + layer;
      expect_close(scalar_at(run, tag + "/mean", step), want.mean, "mean");
      expect_close(scalar_at(run, tag + "/std", step), want.std, "std");
      expect_close(scalar_at(run, tag + "/zero_fraction", step), want.zero_fraction, "zero_fraction");
      std::vector<const ValueView*> hist;
      for (const auto& [s, v] : run.values(tag)) {
        if (s == step) hist.push_back(v);
      }
      ASSERT_EQ(hist.size(), 1u);
      EXPECT_EQ(hist[0]->kind, "histo");
      EXPECT_EQ(hist[0]->histo_num, static_cast<double>(want.count));
      EXPECT_NEAR(hist[0]->histo_min, want.min, 1e-6);
      EXPECT_NEAR(hist[0]->histo_max, want.max, 1e-6 * std::max(1.0, std::abs(want.max)));
    }
  }
  // ReLU outputs of a fresh CNN have dead units: the statistic is not trivially 0.
  EXPECT_GT(stats_of(cap.by_step.at(3).at("conv1")).zero_fraction, 0.0);
  // Nothing on other steps.
  for (const auto& [s, v] : run.scalars("activations/conv1/mean")) EXPECT_TRUE(s == 3 || s == 6) << s;
}

std::set<std::string> activation_tags(const PluginRun& run) {
  const auto t = run.tags_with_prefix("activations/");
  return {t.begin(), t.end()};
}

std::set<std::string> tags_for(const std::vector<std::string>& layers) {
  std::set<std::string> out;
  for (const auto& l : layers) {
    for (const char* suffix : {"", "/mean", "/std", "/zero_fraction"}) out.insert("activations/" + l + suffix);
  }
  return out;
}

PluginSetup one_epoch() {
  PluginSetup s;
  s.overrides = {"trainer.epochs=1"};
  return s;
}

TEST(Activations, GlobsSelectZooTaps) {
  const PluginRun run = run_plugins(R"([[plugin]]
name = "activations"
log_every_n_steps = 4
include = ["conv*", "f?1"]
exclude = ["conv2"]
on_error = "abort"
)",
                                    one_epoch());
  EXPECT_EQ(activation_tags(run), tags_for({"conv1", "fc1"}));
  EXPECT_EQ(run.scalars("activations/conv1/mean").size(), 1u);  // step 4 of 4
}

TEST(Activations, SequentialChildrenAreLayersByName) {
  Capture cap;
  PluginSetup setup;
  setup.overrides = {"trainer.epochs=1"};
  setup.model = [](const Datasets&) {
    seed_everything(1);
    torch::nn::Sequential seq;
    seq->push_back("flatten", torch::nn::Flatten());
    seq->push_back("hidden", torch::nn::Linear(28 * 28, 16));
    seq->push_back("relu", torch::nn::ReLU());
    seq->push_back("head", torch::nn::Linear(16, 4));
    return Model(seq);
  };
  setup.add_after = [&](HookBus& bus) { add_probe(bus, cap.probe); };
  const PluginRun run = run_plugins(R"([[plugin]]
name = "activations"
log_every_n_steps = 2
exclude = ["flatten", "head"]
on_error = "abort"
)",
                                    setup);
  EXPECT_EQ(activation_tags(run), tags_for({"hidden", "relu"}));
  ASSERT_TRUE(cap.by_step.count(2) && cap.by_step.at(2).count("relu"));
  const Stats relu = stats_of(cap.by_step.at(2).at("relu"));
  expect_close(scalar_at(run, "activations/relu/zero_fraction", 2), relu.zero_fraction, "relu zero_fraction");
  expect_close(scalar_at(run, "activations/hidden/std", 4), stats_of(cap.by_step.at(4).at("hidden")).std,
               "hidden std");
}

Options defaults_of(const PluginLibrary& lib) {
  Options o;
  for (const auto& spec : lib.options()) o.set(spec.name, spec.default_value);
  return o;
}

TEST(Activations, BadOptionsAreRefusedNamingTheOption) {
  // The schema's constraints: the configuration is refused before the plugin exists.
  const auto problems =
      config_problems("[[plugin]]\nname = \"activations\"\nlog_every_n_steps = 0\ninclude = []\nexclude = [\"a[\"]\n");
  // Every one at once, where its value (or list item) is written; the table starts on line 19
  // of the harness's test.toml and its keys are read in sorted order.
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "test.toml:23:12: plugin 'activations' option 'exclude' item \"a[\" is not allowed: must be "
                          "a list of glob patterns (*, ?, [...])",
                          "test.toml:22:11: plugin 'activations' option 'include' = [] is not allowed: must be a "
                          "non-empty list of glob patterns (*, ?, [...])",
                          "test.toml:21:21: plugin 'activations' option 'log_every_n_steps' = 0 is out of range: must "
                          "be an integer >= 1"}));
  auto lib = bundled_catalog().find("activations");
  ASSERT_TRUE(lib);
  PluginInstance ok(lib, defaults_of(*lib));  // the defaults just work
  EXPECT_NE(ok.get(), nullptr);
}

}  // namespace
}  // namespace trainscope::testing
