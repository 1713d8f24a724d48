// histograms plugin: a real fit on the harness's synthetic problem; an in-process probe that
// runs after the plugin at the same hooks takes its own copies of the parameters and
// gradients, and every logged histogram (count, min, max) and ratio is checked against them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

struct Snap {
  double numel = 0, min = 0, max = 0;
};

Snap snap_of(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU, at::kDouble);
  return {static_cast<double>(c.numel()), c.min().item<double>(), c.max().item<double>()};
}

// What the probe saw: per tag, step -> statistics of the tensor the plugin should have logged.
struct Seen {
  std::vector<std::string> names;                      // every parameter of the model
  std::map<std::string, std::map<int64_t, Snap>> weights_at_epoch_end, weights_at_batch_end, grads, last_grads;
  std::map<std::string, std::map<int64_t, double>> ratios;
  std::map<std::string, at::Tensor> before;
};

Probe make_probe(Seen& seen) {
  Probe probe;
  probe.on_hook = [&seen](HookContext& ctx) {
    const auto params = ctx.model().named_parameters(true);
    switch (ctx.hook()) {
      case Hook::kFitBegin:
        for (const auto& p : params) seen.names.push_back(p.key());
        break;
      case Hook::kAfterBackward:
        for (const auto& p : params) {
          if (!p.value().grad().defined()) continue;
          seen.grads[p.key()][ctx.step() + 1] = snap_of(p.value().grad());
          if (ctx.batch_index() == ctx.batches_per_epoch() - 1)
            seen.last_grads[p.key()][ctx.step() + 1] = snap_of(p.value().grad());
        }
        break;
      case Hook::kBeforeOptimizerStep:
        for (const auto& p : params) seen.before[p.key()] = p.value().detach().to(at::kCPU, at::kDouble);
        break;
      case Hook::kAfterOptimizerStep:
        for (const auto& p : params) {
          const at::Tensor w0 = seen.before.at(p.key());
          const at::Tensor w1 = p.value().detach().to(at::kCPU, at::kDouble);
          seen.ratios[p.key()][ctx.step() + 1] = ((w1 - w0).norm() / w0.norm()).item<double>();
        }
        break;
      case Hook::kTrainBatchEnd:
        for (const auto& p : params) seen.weights_at_batch_end[p.key()][ctx.step()] = snap_of(p.value());
        break;
      case Hook::kEpochEnd:
        for (const auto& p : params) seen.weights_at_epoch_end[p.key()][ctx.step()] = snap_of(p.value());
        break;
      default:
        break;
    }
  };
  return probe;
}

// Every histogram under `tag` matches the probe's statistics at its step; returns the steps.
std::vector<int64_t> check_histograms(const PluginRun& run, const std::string& tag,
                                      const std::map<int64_t, Snap>& expected) {
  std::vector<int64_t> steps;
  for (const auto& [step, v] : run.values(tag)) {
    steps.push_back(step);
    EXPECT_EQ(v->kind, "histo") << tag;
    auto it = expected.find(step);
    if (it == expected.end()) {
      ADD_FAILURE() << tag << ": logged at step " << step << " where the probe saw nothing";
      continue;
    }
    EXPECT_EQ(v->histo_num, it->second.numel) << tag << " step " << step;
    EXPECT_DOUBLE_EQ(v->histo_min, it->second.min) << tag << " step " << step;
    EXPECT_DOUBLE_EQ(v->histo_max, it->second.max) << tag << " step " << step;
  }
  return steps;
}

std::vector<int64_t> keys(const std::map<int64_t, Snap>& m) {
  std::vector<int64_t> out;
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}

TEST(HistogramsPlugin, PerEpochWeightsAndLastBatchGradients) {
  Seen seen;
  Probe probe = make_probe(seen);
  trainscope::testing::Setup setup;
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun run = run_plugins("[[plugin]]\nname = \"histograms\"\n", setup);

  ASSERT_FALSE(seen.names.empty());
  EXPECT_TRUE(run.tags_with_prefix("update_ratio/").empty()) << "update_ratio is off by default";
  for (const auto& name : seen.names) {
    // 64 samples / batch 16 = 4 steps per epoch, 2 epochs: the epoch ends are steps 4 and 8.
    const auto w_steps = check_histograms(run, "weights/" + name, seen.weights_at_epoch_end.at(name));
    EXPECT_EQ(w_steps, keys(seen.weights_at_epoch_end.at(name))) << name;
    EXPECT_EQ(w_steps.size(), 2u) << name;
    const auto g_steps = check_histograms(run, "grads/" + name, seen.last_grads.at(name));
    EXPECT_EQ(g_steps, w_steps) << name << ": gradients of each epoch's last batch, at the epoch's step";
  }
  EXPECT_EQ(run.tags_with_prefix("weights/").size(), seen.names.size());
  EXPECT_EQ(run.tags_with_prefix("grads/").size(), seen.names.size());
}

TEST(HistogramsPlugin, EveryNStepsAndEveryNEpochs) {
  Seen seen;
  Probe probe = make_probe(seen);
  trainscope::testing::Setup setup;
  setup.overrides = {"trainer.epochs=3"};
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun by_step = run_plugins("[[plugin]]\nname = \"histograms\"\nlog_every_n_steps = 3\n", setup);
  for (const auto& name : seen.names) {
    const auto w = check_histograms(by_step, "weights/" + name, seen.weights_at_batch_end.at(name));
    const auto g = check_histograms(by_step, "grads/" + name, seen.grads.at(name));
    EXPECT_EQ(w, (std::vector<int64_t>{3, 6, 9, 12})) << name;  // 12 steps in 3 epochs
    EXPECT_EQ(g, w) << name;
  }

  Seen seen2;
  Probe probe2 = make_probe(seen2);
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe2); };
  const PluginRun by_epoch = run_plugins("[[plugin]]\nname = \"histograms\"\nlog_every_n_epochs = 2\n", setup);
  for (const auto& name : seen2.names) {
    const auto w = check_histograms(by_epoch, "weights/" + name, seen2.weights_at_epoch_end.at(name));
    const auto g = check_histograms(by_epoch, "grads/" + name, seen2.last_grads.at(name));
    EXPECT_EQ(w, (std::vector<int64_t>{8})) << name << ": only the 2nd of 3 epochs";
    EXPECT_EQ(g, w) << name;
  }
}

TEST(HistogramsPlugin, IncludeExcludeGlobs) {
  Seen seen;
  Probe probe = make_probe(seen);
  trainscope::testing::Setup setup;
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun run = run_plugins(
      "[[plugin]]\nname = \"histograms\"\ninclude = [\"conv*\", \"fc1.*\"]\nexclude = [\"*.bias\"]\ngrads = false\n",
      setup);
  std::set<std::string> expected;
  for (const auto& n : seen.names) {
    const bool included = n.rfind("conv", 0) == 0 || n.rfind("fc1.", 0) == 0;
    const bool excluded = n.size() >= 5 && n.compare(n.size() - 5, 5, ".bias") == 0;
    if (included && !excluded) expected.insert("weights/" + n);
  }
  ASSERT_FALSE(expected.empty());
  ASSERT_LT(expected.size(), seen.names.size());
  const auto got = run.tags_with_prefix("weights/");
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), expected);
  EXPECT_TRUE(run.tags_with_prefix("grads/").empty()) << "grads = false";
}

TEST(HistogramsPlugin, UpdateRatioMatchesAnIndependentComputation) {
  Seen seen;
  Probe probe = make_probe(seen);
  trainscope::testing::Setup setup;
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun run = run_plugins(
      "[[plugin]]\nname = \"histograms\"\nupdate_ratio = true\nlog_every_n_steps = 2\nweights = false\n"
      "grads = false\n",
      setup);
  ASSERT_FALSE(seen.names.empty());
  for (const auto& name : seen.names) {
    const auto logged = run.scalars("update_ratio/" + name);
    std::vector<int64_t> steps;
    for (const auto& [step, value] : logged) {
      steps.push_back(step);
      const double expected = seen.ratios.at(name).at(step);
      EXPECT_GT(expected, 0) << name;
      EXPECT_NEAR(value, expected, 1e-4 * expected + 1e-7) << name << " step " << step;
    }
    EXPECT_EQ(steps, (std::vector<int64_t>{2, 4, 6, 8})) << name;
  }
  EXPECT_TRUE(run.tags_with_prefix("weights/").empty());
}

TEST(HistogramsPlugin, NoMatchingParameterDisablesThePluginWithAMessage) {
  std::vector<std::pair<std::string, std::string>> disabled;
  HookBus* bus_seen = nullptr;
  Probe probe;
  probe.on_hook = [&](HookContext& ctx) {
    if (ctx.hook() == Hook::kFitEnd) disabled = bus_seen->disabled();
  };
  trainscope::testing::Setup setup;
  setup.add_after = [&](HookBus& bus) {
    bus_seen = &bus;
    add_probe(bus, probe);
  };
  const PluginRun run = run_plugins("[[plugin]]\nname = \"histograms\"\ninclude = [\"nope*\"]\n", setup);
  EXPECT_TRUE(run.tags_with_prefix("weights/").empty());
  ASSERT_EQ(disabled.size(), 1u);
  EXPECT_EQ(disabled[0].first, "histograms");
  EXPECT_NE(disabled[0].second.find("no parameter matches"), std::string::npos) << disabled[0].second;
  EXPECT_NE(disabled[0].second.find("conv1.weight"), std::string::npos) << disabled[0].second;
}

}  // namespace
}  // namespace trainscope::testing
