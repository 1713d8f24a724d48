// The hparams plugin in a real Trainer run. The session records (each hparams value's
// SummaryMetadata.plugin_data.content, a serialized HParamsPluginData) are walked with the
// shared wire reader and compared with the configuration; the best / final metric scalars are
// compared with what a probe plugin saw in ctx.metrics() at every epoch end and with the
// FitResult.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"
#include "wire_reader.h"

namespace trainscope::testing {
namespace {

// HParamsPluginData contents of every hparams value of `events`, by tag
// (_hparams_/experiment, _hparams_/session_start_info, _hparams_/session_end_info).
std::multimap<std::string, std::string> hparams_records(const std::vector<EventView>& events) {
  std::multimap<std::string, std::string> out;
  for (const auto& ev : events) {
    for (const auto& v : ev.values) {
      if (v.plugin_name == "hparams") out.emplace(v.tag, v.plugin_content);
    }
  }
  return out;
}

// A google.protobuf.Value as text: "n:<number>", "s:<string>", "b:true|false".
std::string value_text(std::string_view v) {
  for (const auto& f : wire::fields(v)) {
    if (f.number == 2 && f.wire == wire::kFixed64) return "n:" + std::to_string(f.as_double());
    if (f.number == 3) return "s:" + std::string(f.bytes);
    if (f.number == 4) return std::string("b:") + (f.varint != 0 ? "true" : "false");
  }
  return "none";
}

// session_start_info.hparams as {name: value_text}.
std::map<std::string, std::string> session_hparams(std::string_view plugin_data) {
  std::map<std::string, std::string> out;
  // HParamsPluginData.session_start_info = 3; SessionStartInfo.hparams = 1 (map entries: key 1, value 2).
  for (auto entry : wire::all_bytes(wire::first_bytes(plugin_data, 3), 1)) {
    out[wire::first_string(entry, 1)] = value_text(wire::first_bytes(entry, 2));
  }
  return out;
}

// session_end_info.status (0 when absent = STATUS_UNKNOWN).
int64_t end_status(std::string_view plugin_data) {
  // HParamsPluginData.session_end_info = 4; SessionEndInfo.status = 1.
  return static_cast<int64_t>(wire::first_varint(wire::first_bytes(plugin_data, 4), 1).value_or(0));
}

std::string n(double d) { return "n:" + std::to_string(d); }

// The metrics the probe saw at every epoch end.
std::function<void(HookBus&)> record_metrics(Probe& probe, std::vector<std::map<std::string, double>>& out) {
  probe.on_hook = [&out](HookContext& ctx) {
    if (ctx.hook() == Hook::kEpochEnd) out.push_back(ctx.metrics());
  };
  return [&probe](HookBus& bus) { add_probe(bus, probe); };
}

constexpr const char* kPlugin = R"(
[hparams]
dataset = "synthetic"
dropout = 0.25
batch_norm = true
layers = 3

[[plugin]]
name = "hparams"
on_error = "abort"
)";

TEST(HParamsPlugin, SessionHoldsTheConfiguredHParamsAndEndsWithSuccess) {
  ::testing::internal::CaptureStderr();
  const PluginRun run = run_plugins(kPlugin);
  const std::string err = ::testing::internal::GetCapturedStderr();
  const auto records = hparams_records(run.events);
  ASSERT_EQ(records.count("_hparams_/experiment"), 1u);
  ASSERT_EQ(records.count("_hparams_/session_start_info"), 1u);
  ASSERT_EQ(records.count("_hparams_/session_end_info"), 1u) << err;

  // The [hparams] table as written above, and the trainer's from the base configuration.
  const auto got = session_hparams(records.find("_hparams_/session_start_info")->second);
  const TrainerSection& tr = run.config.trainer;
  const std::map<std::string, std::string> expected = {
      {"dataset", "s:synthetic"},
      {"dropout", n(0.25)},
      {"batch_norm", "b:true"},
      {"layers", n(3)},
      {"lr", n(tr.lr)},
      {"batch_size", n(static_cast<double>(tr.batch_size))},
      {"optimizer", "s:" + tr.optimizer},
      {"epochs", n(static_cast<double>(tr.epochs))},
  };
  EXPECT_EQ(got, expected);
  EXPECT_EQ(end_status(records.find("_hparams_/session_end_info")->second), 1);  // STATUS_SUCCESS
  EXPECT_EQ(err.find("hparams session still open"), std::string::npos) << err;
}

TEST(HParamsPlugin, BestAndFinalMetricsMatchAnIndependentRecord) {
  Probe probe;
  std::vector<std::map<std::string, double>> seen;
  trainscope::testing::Setup setup;
  setup.overrides = {"trainer.epochs=4", "trainer.lr=0.02"};
  setup.add_after = record_metrics(probe, seen);
  const PluginRun run = run_plugins(kPlugin, setup);
  ASSERT_EQ(seen.size(), 4u);

  // Running best (min for the loss, max for the accuracy) and latest value of each epoch.
  struct Expect {
    const char* key;
    bool minimize;
  };
  for (const Expect& e : {Expect{"val/loss", true}, Expect{"val/accuracy", false}}) {
    const std::string part = std::string(e.key).replace(3, 1, "_");  // val/loss -> val_loss
    const auto best = run.scalars("hparams/best_" + part);
    const auto last = run.scalars("hparams/final_" + part);
    ASSERT_EQ(best.size(), seen.size()) << e.key;
    ASSERT_EQ(last.size(), seen.size()) << e.key;
    double running = seen[0].at(e.key);
    for (size_t i = 0; i < seen.size(); ++i) {
      const double v = seen[i].at(e.key);
      running = e.minimize ? std::min(running, v) : std::max(running, v);
      EXPECT_FLOAT_EQ(best[i].second, running) << e.key << " epoch " << i;
      EXPECT_FLOAT_EQ(last[i].second, v) << e.key << " epoch " << i;
      EXPECT_EQ(best[i].first, last[i].first);
    }
    // What the dashboard shows (the last value of each tag).
    EXPECT_FLOAT_EQ(last.back().second, run.fit.metrics.at(e.key)) << e.key;
    EXPECT_EQ(last.back().first, run.fit.steps);
  }
}

TEST(HParamsPlugin, DirectionSuffixAndMissingMetrics) {
  Probe probe;
  std::vector<std::map<std::string, double>> seen;
  trainscope::testing::Setup setup;
  setup.overrides = {"trainer.epochs=3"};
  setup.add_after = record_metrics(probe, seen);
  const PluginRun run = run_plugins(R"(
[[plugin]]
name = "hparams"
on_error = "abort"
metrics = ["val/loss:max", "train/loss", "val/f1"]
)",
                                    setup);
  ASSERT_EQ(seen.size(), 3u);
  double worst = seen[0].at("val/loss"), best_train = seen[0].at("train/loss");
  for (const auto& m : seen) {
    worst = std::max(worst, m.at("val/loss"));
    best_train = std::min(best_train, m.at("train/loss"));
  }
  EXPECT_FLOAT_EQ(run.scalars("hparams/best_val_loss").back().second, worst);
  EXPECT_FLOAT_EQ(run.scalars("hparams/best_train_loss").back().second, best_train);
  EXPECT_FALSE(run.has("hparams/best_val_f1"));  // never in ctx.metrics(): nothing logged
  EXPECT_FALSE(run.has("hparams/best_val_accuracy"));
  const auto records = hparams_records(run.events);
  ASSERT_EQ(records.count("_hparams_/session_end_info"), 1u);
  EXPECT_EQ(end_status(records.find("_hparams_/session_end_info")->second), 1);
}

// A model whose forward throws on its `fail_at`-th call.
Model failing_model(const Datasets& data, int fail_at) {
  auto linear = std::make_shared<torch::nn::LinearImpl>(28 * 28, data.train.num_classes());
  auto calls = std::make_shared<int>(0);
  return Model(linear, [linear, calls, fail_at](const at::Tensor& x) {
    if (++*calls == fail_at) throw std::runtime_error("forward failed on purpose");
    return linear->forward(x.flatten(1));
  });
}

TEST(HParamsPlugin, SessionEndsWithFailureWhenTrainingThrows) {
  trainscope::testing::Setup setup;
  setup.log_dir = fresh_dir();
  setup.model = [](const Datasets& data) { return failing_model(data, 3); };
  ::testing::internal::CaptureStderr();
  EXPECT_THROW(run_plugins(kPlugin, setup), std::runtime_error);
  const std::string err = ::testing::internal::GetCapturedStderr();
  const auto records = hparams_records(read_events(setup.log_dir + "/run"));
  ASSERT_EQ(records.count("_hparams_/session_start_info"), 1u);
  ASSERT_EQ(records.count("_hparams_/session_end_info"), 1u);
  EXPECT_EQ(end_status(records.find("_hparams_/session_end_info")->second), 2);  // STATUS_FAILURE
  // Ended by the plugin's on_exception, not by the writer's close-with-open-session fallback.
  EXPECT_EQ(err.find("hparams session still open"), std::string::npos) << err;
}

TEST(HParamsPlugin, RejectsBadOptions) {
  const auto problems = config_problems("[[plugin]]\nname = \"hparams\"\nmetrics = []\n");  // the schema's
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  EXPECT_NE(problems[0].find("plugin 'hparams' option 'metrics' = [] is not allowed: must be a non-empty list"),
            std::string::npos)
      << problems[0];
  // The constructor's: a plugin that cannot be created stops the run, whatever on_error says.
  for (const char* bad : {"metrics = [\"val/loss:avg\"]", "metrics = [\"val/loss:min\", \"val/loss:max\"]"}) {
    try {
      run_plugins(std::string("[[plugin]]\nname = \"hparams\"\non_error = \"disable\"\n") + bad + "\n");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const std::exception& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("hparams: metrics"), std::string::npos) << what;
    }
  }
  // The same entry twice is one metric, not an error.
  const PluginRun run = run_plugins("[[plugin]]\nname = \"hparams\"\nmetrics = [\"val/loss\", \"val/loss\"]\n");
  EXPECT_EQ(run.tags_with_prefix("hparams/best_").size(), 1u) << ::testing::PrintToString(run.tags());
}

}  // namespace
}  // namespace trainscope::testing
