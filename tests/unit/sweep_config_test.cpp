// The [sweep] table: defaults, declaration order, and every kind of mistake refused before any
// trial starts with file:line:column (sweep_config.h), checked against the test plugins.
#include "trainscope/sweep_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainscope/config.h"
#include "trainscope/plugin_loader.h"

namespace trainscope {
namespace {

const PluginCatalog& catalog() {
  static const PluginCatalog c = discover_plugins({TRAINSCOPE_TEST_PLUGIN_DIR});
  return c;
}

// 12 lines: the [sweep] text starts on line 13.
const std::string kBase = R"([run]
name = "base"
log_dir = "runs/sweeps"
device = "cpu"
[trainer]
epochs = 2
lr = 0.01
[data]
dataset = "synthetic"
[[plugin]]
name = "noop"
level = 2
)";
constexpr int kFirstLine = 13;

std::string at(int sweep_line, int column) {
  return "job.toml:" + std::to_string(kFirstLine + sweep_line - 1) + ":" + std::to_string(column) + ": ";
}

struct Loaded {
  SweepConfig sweep;
  std::vector<std::string> problems;
};

// Reads base + `sweep_text` as `trainscope sweep` does: the run configuration, the [sweep]
// table, then the parameters against the configuration.
Loaded load(const std::string& sweep_text, const std::vector<std::string>& sets = {},
            const std::vector<std::string>& sweep_sets = {}) {
  Loaded out;
  try {
    const ConfigFile file = ConfigFile::from_text(kBase + sweep_text, "job.toml", sets);
    const RunConfig config = file.read(catalog());
    out.sweep = read_sweep(config, sweep_sets);
    out.problems = check_sweep_params(out.sweep, file, catalog(), config);
  } catch (const ConfigError& e) {
    out.problems = e.problems();
  }
  return out;
}

std::string problem(const std::string& sweep_text, const std::vector<std::string>& sweep_sets = {}) {
  auto p = load(sweep_text, {}, sweep_sets).problems;
  EXPECT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  return p.empty() ? "" : p.front();
}

const std::string kParams = R"([sweep.params]
"trainer.lr" = { type = "float", low = 1e-4, high = 1e-1, log = true }
)";

TEST(SweepConfig, ReadsEveryKeyAndKeepsFileOrder) {
  const auto l = load(R"([sweep]
study = "fmnist_tpe"
metric = "val/accuracy"
direction = "maximize"
n_trials = 16
timeout = 1800
seed = 7
sampler = "tpe"
pruner = "median"
storage = "runs/sweeps/x.journal"
[sweep.sampler_options]
n_startup_trials = 3
[sweep.pruner_options]
n_warmup_steps = 1
[sweep.params]
"trainer.optimizer" = { type = "categorical", choices = ["sgd", "adam"] }
"trainer.lr" = { type = "float", low = 1e-4, high = 1e-1, log = true }
"trainer.batch_size" = { type = "categorical", choices = [32, 64, 128] }
"plugin.noop.level" = { type = "int", low = 10, high = 100, step = 10 }
"plugin.noop.scale" = { type = "float", low = 0.0, high = 0.5, step = 0.1 }
)");
  ASSERT_TRUE(l.problems.empty()) << ::testing::PrintToString(l.problems);
  const SweepConfig& s = l.sweep;
  EXPECT_EQ(s.study, "fmnist_tpe");
  EXPECT_EQ(s.metric, "val/accuracy");
  EXPECT_EQ(s.direction, sweep::Direction::kMaximize);
  EXPECT_EQ(s.n_trials, 16);
  EXPECT_EQ(s.timeout, 1800.0);
  EXPECT_EQ(s.sampler.seed, 7u);
  EXPECT_EQ(s.sampler.kind, "tpe");
  EXPECT_EQ(s.sampler.n_startup_trials, 3);
  EXPECT_EQ(s.pruner.kind, "median");
  EXPECT_EQ(s.pruner.n_warmup_steps, 1);
  EXPECT_EQ(s.storage, "runs/sweeps/x.journal");
  // File order, not TOML++'s sorted order.
  ASSERT_EQ(s.params.size(), 5u);
  EXPECT_EQ(s.params[0].name, "trainer.optimizer");
  EXPECT_EQ(s.params[1].name, "trainer.lr");
  EXPECT_EQ(s.params[2].name, "trainer.batch_size");
  EXPECT_EQ(s.params[3].name, "plugin.noop.level");
  EXPECT_EQ(s.params[4].name, "plugin.noop.scale");
  const auto& lr = std::get<sweep::FloatDistribution>(s.params[1].distribution);
  EXPECT_EQ(lr, (sweep::FloatDistribution{1e-4, 1e-1, true, std::nullopt}));
  const auto& level = std::get<sweep::IntDistribution>(s.params[3].distribution);
  EXPECT_EQ(level, (sweep::IntDistribution{10, 100, false, 10}));
  const auto& bs = std::get<sweep::CategoricalDistribution>(s.params[2].distribution);
  EXPECT_EQ(bs.choices, (std::vector<sweep::Choice>{int64_t{32}, int64_t{64}, int64_t{128}}));
}

TEST(SweepConfig, DefaultsComeFromTheFileAndTheRunSection) {
  const auto l = load("[sweep]\n" + kParams);
  ASSERT_TRUE(l.problems.empty()) << ::testing::PrintToString(l.problems);
  EXPECT_EQ(l.sweep.study, "job");  // the file's stem
  EXPECT_EQ(l.sweep.storage, "runs/sweeps/job.journal");
  EXPECT_EQ(l.sweep.metric, "val/loss");
  EXPECT_EQ(l.sweep.direction, sweep::Direction::kMinimize);
  EXPECT_EQ(l.sweep.sampler.kind, "tpe");
  EXPECT_EQ(l.sweep.pruner.kind, "none");
}

TEST(SweepConfig, SweepOverridesApplyAndAreLocated) {
  const auto l = load("[sweep]\nn_trials = 3\n" + kParams, {}, {"sweep.n_trials=200", "sweep.sampler=\"random\""});
  ASSERT_TRUE(l.problems.empty()) << ::testing::PrintToString(l.problems);
  EXPECT_EQ(l.sweep.n_trials, 200);
  EXPECT_EQ(l.sweep.sampler.kind, "random");
  EXPECT_EQ(problem("[sweep]\n" + kParams, {"sweep.n_trials=0"}),
            "--set sweep.n_trials=0: sweep.n_trials must be >= 1 (got 0)");
}

TEST(SweepConfig, RunAndValidateAcceptTheTable) {
  // The run configuration's reader knows [sweep] (and leaves it to read_sweep).
  EXPECT_NO_THROW(parse_config(kBase + "[sweep]\n" + kParams, "job.toml", catalog()));
  RunConfig config = parse_config(kBase + "[sweep]\n" + kParams, "job.toml", catalog());
  EXPECT_TRUE(has_sweep_table(config));
  EXPECT_FALSE(has_sweep_table(parse_config(kBase, "job.toml", catalog())));
}

TEST(SweepConfig, UnknownKeysAreLocatedWithTheNearestOne) {
  EXPECT_EQ(problem("[sweep]\nn_trial = 4\n" + kParams),
            at(2, 1) + "unknown key 'n_trial' in [sweep]; did you mean 'n_trials'?");
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"trainer.lr\" = { type = \"float\", low = 0.1, hihg = 0.2 }\n"),
            at(3, 45) +
                "unknown key 'hihg' in sweep.params.\"trainer.lr\" (a float takes low, high, step, log); "
                "did you mean 'high'?");
  EXPECT_EQ(problem("[sweep]\npruner = \"median\"\n[sweep.pruner_options]\nn_warmup_step = 2\n" + kParams),
            at(4, 1) +
                "unknown key 'n_warmup_step' in [sweep.pruner_options] for pruner 'median'; did you mean "
                "'n_warmup_steps'?");
  EXPECT_EQ(problem("[sweep]\nsampler = \"random\"\n[sweep.sampler_options]\nn_startup_trials = 2\n" + kParams),
            at(4, 1) +
                "unknown key 'n_startup_trials' in [sweep.sampler_options] for sampler 'random' (it takes no "
                "options)");
}

TEST(SweepConfig, RangesAreChecked) {
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"trainer.lr\" = { type = \"float\", low = 0.5, high = 0.1 }\n"),
            at(3, 40) + "sweep.params.\"trainer.lr\": empty range: low = 0.5 > high = 0.1; swap them");
  EXPECT_EQ(
      problem("[sweep]\n[sweep.params]\n\"trainer.lr\" = { type = \"float\", low = 0.0, high = 0.1, log = true }\n"),
      at(3, 40) + "sweep.params.\"trainer.lr\": log = true needs low > 0 (got 0)");
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"trainer.lr\" = { type = \"float\", low = 0.01, high = 0.1, log = true, "
                    "step = 0.01 }\n"),
            at(3, 77) +
                "sweep.params.\"trainer.lr\": log = true cannot go with a step (a log-scaled range has no even step); "
                "remove one of them");
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"trainer.epochs\" = { type = \"int\", low = 1, high = 10, step = 4 }\n"),
            at(3, 52) + "sweep.params.\"trainer.epochs\": high - low = 9 is not a multiple of step = 4; use high = 9");
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"trainer.optimizer\" = { type = \"categorical\", choices = [] }\n"),
            at(3, 57) +
                "sweep.params.\"trainer.optimizer\".choices: expected a non-empty array of bools, ints, "
                "floats or strings");
  EXPECT_EQ(problem("[sweep]\nsampler = \"grid\"\n" + kParams),
            at(4, 16) +
                "sweep.params.\"trainer.lr\": sampler = \"grid\" needs a step for a float range (or use "
                "choices)");
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"trainer.lr\" = { type = \"double\", low = 0.1, high = 0.2 }\n"),
            at(3, 25) + "sweep.params.\"trainer.lr\": unknown type 'double' (valid: float, int, categorical)");
}

TEST(SweepConfig, TheTableItselfIsChecked) {
  EXPECT_EQ(problem("[sweep]\nmetric = \"\"\n" + kParams),
            at(2, 10) + "sweep.metric is empty: name a metric of the validation, e.g. \"val/accuracy\"");
  EXPECT_EQ(problem("[sweep]\nsampler = \"tpee\"\n" + kParams),
            at(2, 11) + "sweep.sampler: unknown sampler 'tpee'; did you mean 'tpe'?");
  EXPECT_EQ(problem("[sweep]\npruner = \"medain\"\n" + kParams),
            at(2, 10) + "sweep.pruner: unknown pruner 'medain'; did you mean 'median'?");
  EXPECT_EQ(problem("[sweep]\nn_trials = 0\n" + kParams), at(2, 12) + "sweep.n_trials must be >= 1 (got 0)");
  EXPECT_EQ(problem("[sweep]\ndirection = \"up\"\n" + kParams),
            at(2, 13) + "sweep.direction: unknown direction 'up' (valid: minimize, maximize)");
  EXPECT_EQ(problem("[sweep]\nmetric = \"val/accuracy\"\n"),
            at(1, 1) + "[sweep] needs a [sweep.params] table: the parameters to search (see docs/sweeps.md)");
}

TEST(SweepConfig, ParametersMustSetARealKeyWithValuesOfItsType) {
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"trainer.lrr\" = { type = \"float\", low = 0.1, high = 0.2 }\n"),
            at(3, 1) +
                "sweep.params.\"trainer.lrr\": value 0.1 is refused: unknown key 'lrr' in "
                "[trainer]; did you mean 'lr'?");
  // A string choice for a float key.
  EXPECT_EQ(
      problem("[sweep]\n[sweep.params]\n\"trainer.lr\" = { type = \"categorical\", choices = [0.1, \"fast\"] }\n"),
      at(3, 1) + "sweep.params.\"trainer.lr\": value \"fast\" is refused: trainer.lr: expected float, got string");
  // A float range for an int key.
  EXPECT_EQ(
      problem("[sweep]\n[sweep.params]\n\"trainer.epochs\" = { type = \"float\", low = 1, high = 3 }\n"),
      at(3, 1) + "sweep.params.\"trainer.epochs\": value 1.0 is refused: trainer.epochs: expected int, got float");
  // A value the key's range refuses.
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"trainer.lr\" = { type = \"float\", low = 0, high = 0.1 }\n"),
            at(3, 1) + "sweep.params.\"trainer.lr\": value 0.0 is refused: trainer.lr must be > 0 (got 0)");
  // Plugin options: only of a configured plugin, checked against its schema.
  EXPECT_EQ(
      problem("[sweep]\n[sweep.params]\n\"plugin.recorder.tag\" = { type = \"categorical\", choices = [\"a\"] }\n"),
      at(3, 1) +
          "sweep.params.\"plugin.recorder.tag\": plugin 'recorder' is not configured: add a [[plugin]] "
          "table for it");
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"plugin.noop.levle\" = { type = \"int\", low = 1, high = 3 }\n"),
            at(3, 1) +
                "sweep.params.\"plugin.noop.levle\": value 1 is refused: unknown option 'levle' for plugin "
                "'noop'; did you mean 'level'?");
  EXPECT_EQ(
      problem("[sweep]\n[sweep.params]\n\"plugin.noop.mode\" = { type = \"int\", low = 1, high = 3 }\n"),
      at(3, 1) + "sweep.params.\"plugin.noop.mode\": value 1 is refused: plugin.noop.mode: expected string, got int");
  // Model options are the model's.
  EXPECT_TRUE(
      load("[sweep]\n[sweep.params]\n\"model.dropout\" = { type = \"float\", low = 0.0, high = 0.5, step = 0.1 }\n")
          .problems.empty());
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"model.dropuot\" = { type = \"float\", low = 0.0, high = 0.5 }\n"),
            at(3, 1) +
                "sweep.params.\"model.dropuot\": model 'simple_cnn' has no option 'dropuot' (options: conv1, "
                "conv2, dropout, fc1, fc2); did you mean 'model.dropout'?");
  // Keys the sweep owns.
  EXPECT_EQ(problem("[sweep]\n[sweep.params]\n\"run.name\" = { type = \"categorical\", choices = [\"a\"] }\n"),
            at(3, 1) +
                "sweep.params.\"run.name\": the sweep sets this key itself (each trial runs in "
                "<run.log_dir>/<study>/trial-<n>)");
}

TEST(SweepConfig, EveryProblemIsReportedAtOnce) {
  const auto p = load(R"([sweep]
n_trials = 0
sampler = "nope"
[sweep.params]
"trainer.lr" = { type = "float", low = 2, high = 1 }
"trainer.momentum" = { type = "float", low = 0.1, high = 0.9, lgo = true }
)")
                     .problems;
  EXPECT_EQ(p.size(), 4u) << ::testing::PrintToString(p);
}

TEST(SweepConfig, TrialOverridesAreTheParametersAsSetTakesThem) {
  const auto l = load(R"([sweep]
[sweep.params]
"trainer.optimizer" = { type = "categorical", choices = ["sgd", "adam"] }
"trainer.batch_size" = { type = "int", low = 16, high = 64, step = 16 }
"trainer.lr" = { type = "float", low = 0.001, high = 0.1, log = true }
)");
  ASSERT_TRUE(l.problems.empty()) << ::testing::PrintToString(l.problems);
  const auto sets =
      trial_overrides(l.sweep.params, {{"trainer.optimizer", 1}, {"trainer.batch_size", 48}, {"trainer.lr", 0.5e-2}});
  EXPECT_EQ(sets, (std::vector<std::string>{"trainer.optimizer=\"adam\"", "trainer.batch_size=48",
                                            "trainer.lr=0.005"}));
  // And the configuration takes them.
  const RunConfig c = ConfigFile::from_text(kBase, "job.toml", sets).read(catalog());
  EXPECT_EQ(c.trainer.optimizer, "adam");
  EXPECT_EQ(c.trainer.batch_size, 48);
  EXPECT_DOUBLE_EQ(c.trainer.lr, 0.005);
}

}  // namespace
}  // namespace trainscope
