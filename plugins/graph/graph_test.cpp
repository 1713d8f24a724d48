// The graph plugin in a real fit: one GraphDef per run (not again after a resume unless asked),
// and tracing leaves training untouched (modes, gradients, random stream, final metrics).
// TensorBoard's reading of the graph and its node names: tests/conformance/test_graph_plugin.py.
#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <mutex>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

using RunSetup = Setup;  // inside a TEST, `Setup` names gtest's misspelling guard

int64_t graph_events(const PluginRun& run) {
  int64_t n = 0;
  for (const auto& ev : run.events) n += ev.kind == "graph_def";
  return n;
}

constexpr const char* kGraph = R"([[plugin]]
name = "graph"
on_error = "abort"
)";

at::Tensor cpu_rng_state() {
  at::Generator gen = at::globalContext().defaultGenerator(c10::Device(c10::kCPU));
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

TEST(Graph, OneGraphAndTrainingAsWithout) {
  // An MLP with dropout draws from the random stream at every training step, so a trace that
  // consumed random numbers or ran in training mode would change the results below.
  const std::vector<std::string> mlp = {"model.name=\"mlp\"", "model.dropout=0.5"};
  RunSetup plain;
  plain.overrides = mlp;
  const auto without = run_plugins("", plain);

  at::Tensor rng_before, rng_after;
  bool checked = false;
  Probe first, last;
  first.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kTrainBatchBegin && c.step() == 0) rng_before = cpu_rng_state();
  };
  last.on_hook = [&](HookContext& c) {
    if (c.hook() != Hook::kTrainBatchBegin || c.step() != 0) return;
    rng_after = cpu_rng_state();
    for (const auto& m : c.model().modules()) EXPECT_TRUE(m->is_training()) << m->name();
    for (const auto& p : c.model().parameters()) EXPECT_FALSE(p.grad().defined());
    checked = true;
  };
  RunSetup setup;
  setup.overrides = mlp;
  setup.add_before = [&](HookBus& bus) { add_probe(bus, first, "first"); };
  setup.add_after = [&](HookBus& bus) { add_probe(bus, last, "last"); };
  const auto with = run_plugins(kGraph, setup);

  EXPECT_EQ(graph_events(without), 0);
  EXPECT_EQ(graph_events(with), 1);
  ASSERT_TRUE(checked);
  ASSERT_TRUE(rng_before.defined() && rng_after.defined());
  EXPECT_TRUE(rng_before.equal(rng_after));
  ASSERT_FALSE(without.fit.metrics.empty());
  EXPECT_EQ(with.fit.metrics, without.fit.metrics);
  EXPECT_EQ(with.fit.steps, without.fit.steps);
}

TEST(Graph, WrittenOnceAcrossAResumeUnlessAsked) {
  for (const bool again : {false, true}) {
    const std::string dir = fresh_dir(again ? "again" : "once");
    const std::string toml = std::string(kGraph) + (again ? "on_resume = true\n" : "");
    RunSetup first;
    first.log_dir = dir;
    first.overrides = {"trainer.epochs=1", "trainer.checkpoint_every_n_epochs=1"};
    const auto run1 = run_plugins(toml, first);
    EXPECT_EQ(graph_events(run1), 1);
    RunSetup second;
    second.log_dir = dir;
    second.overrides = {"trainer.epochs=2", "trainer.checkpoint_every_n_epochs=1", "trainer.resume=\"auto\""};
    const auto run2 = run_plugins(toml, second);
    ASSERT_FALSE(run2.fit.resumed_from.empty());
    EXPECT_EQ(run2.run_dir, run1.run_dir);
    EXPECT_EQ(graph_events(run2), again ? 2 : 1) << "on_resume = " << again;  // both runs' event files
  }
}

TEST(Graph, WholeBatchAndBadOption) {
  const auto run = run_plugins(std::string(kGraph) + "samples = 0\n");
  EXPECT_EQ(graph_events(run), 1);
  const auto problems = config_problems(std::string(kGraph) + "samples = -1\n");
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  EXPECT_NE(problems[0].find("plugin 'graph' option 'samples' = -1 is out of range: must be an integer >= 0"),
            std::string::npos)
      << problems[0];
}

}  // namespace
}  // namespace trainscope::testing
