// checkpoint on a real Trainer: a probe listed before it writes a scripted metric at every
// validation_end and keeps a copy of the weights of that moment; after the fit exactly the k
// best epochs (ranked here, independently) have a file, and each file loads back into a fresh
// model (torch::load) equal to the weights of its epoch.

#include <torch/nn/module.h>
#include <torch/serialize.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

using RunSetup = Setup;  // inside a TEST body, Setup is googletest's
namespace fs = std::filesystem;
using Weights = std::map<std::string, at::Tensor>;

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

// The epochs (1-based) of the k best values, best first; ties to the earlier epoch.
std::vector<int64_t> best_epochs(const std::vector<double>& values, size_t k, bool max) {
  std::vector<int64_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return max ? values[a] > values[b] : values[a] < values[b];
  });
  order.resize(std::min(k, order.size()));
  for (auto& e : order) ++e;
  return order;
}

struct Files {
  std::map<int64_t, std::string> by_epoch;  // epochNNNN-<tag><value>.pt, parsed
  std::map<int64_t, double> value;
  std::vector<std::string> other;  // anything else in the directory
};
Files list(const fs::path& dir, const std::string& tag) {
  Files f;
  const std::regex name("epoch(\\d{4})-" + tag + "(-?[0-9.]+)\\.pt");
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string n = entry.path().filename().string();
    std::smatch m;
    if (std::regex_match(n, m, name)) {
      const int64_t epoch = std::stoll(m[1].str());
      f.by_epoch[epoch] = entry.path().string();
      f.value[epoch] = std::stod(m[2].str());
    } else {
      f.other.push_back(n);
    }
  }
  std::sort(f.other.begin(), f.other.end());
  return f;
}

// The weights a checkpoint file holds, read into a fresh simple_cnn of the run's shape.
Weights load(const PluginRun& run, const std::string& path) {
  Datasets data = load_datasets(run.config.data, static_cast<uint64_t>(run.config.run.seed));
  Model fresh = make_model(run.config.model, {data.train.sample_shape(), data.train.num_classes()});
  std::shared_ptr<torch::nn::Module> module = fresh.ptr();
  torch::load(module, path);
  return snapshot(*module);
}

// Puts script[epoch] into metrics()[name] and keeps the weights, at validation_end.
struct Scripted {
  std::vector<double> script;
  std::string name = "val/scripted";
  std::map<int64_t, Weights> weights;  // by 1-based epoch
  Probe probe;

  Setup setup(int64_t epochs) {
    probe.on_hook = [this](HookContext& c) {
      if (c.hook() != Hook::kValidationEnd) return;
      c.metrics()[name] = script.at(c.epoch());
      weights[c.epoch() + 1] = snapshot(c.model());
    };
    Setup s;
    s.add_before = [this](HookBus& bus) { add_probe(bus, probe); };
    s.overrides = {"trainer.epochs=" + std::to_string(epochs)};
    return s;
  }
};

TEST(Checkpoint, KeepsExactlyTheBestKFiles) {
  Scripted sc;
  sc.script = {0.9, 0.5, 0.7, 0.4, 0.8, 0.6};  // best 3 by min: epochs 4 (0.4), 2 (0.5), 6 (0.6)
  auto run = run_plugins("[[plugin]]\nname = \"checkpoint\"\nmonitor = \"val/scripted\"\n",
                         sc.setup(static_cast<int64_t>(sc.script.size())));
  ASSERT_EQ(run.fit.epochs_completed, 6);
  const auto expected = best_epochs(sc.script, 3, /*max=*/false);
  ASSERT_EQ(expected, (std::vector<int64_t>{4, 2, 6}));  // the hand-worked answer above

  const fs::path dir = fs::path(run.run_dir) / "checkpoints" / "best";
  Files f = list(dir, "val_scripted");
  std::vector<int64_t> kept;
  for (const auto& [epoch, path] : f.by_epoch) kept.push_back(epoch);
  std::vector<int64_t> sorted_expected = expected;
  std::sort(sorted_expected.begin(), sorted_expected.end());
  EXPECT_EQ(kept, sorted_expected);
  EXPECT_EQ(f.other, std::vector<std::string>{"last.pt"});  // no .tmp left behind
  for (const auto& [epoch, value] : f.value) EXPECT_NEAR(value, sc.script[epoch - 1], 5e-5) << epoch;

  // Each file holds the weights of its epoch (and not those of another epoch).
  for (const auto& [epoch, path] : f.by_epoch) {
    const Weights w = load(run, path);
    EXPECT_TRUE(same(w, sc.weights.at(epoch))) << path;
    EXPECT_FALSE(same(w, sc.weights.at(epoch == 1 ? 2 : epoch - 1))) << path;
  }
  EXPECT_TRUE(same(load(run, (dir / "last.pt").string()), sc.weights.at(6)));

  // checkpoint/best: the best value so far, at each epoch's end.
  std::vector<double> best_so_far, logged;
  for (size_t i = 0; i < sc.script.size(); ++i)
    best_so_far.push_back(*std::min_element(sc.script.begin(), sc.script.begin() + static_cast<long>(i) + 1));
  for (const auto& [step, v] : run.scalars("checkpoint/best")) logged.push_back(v);
  ASSERT_EQ(logged.size(), best_so_far.size());
  for (size_t i = 0; i < logged.size(); ++i) EXPECT_FLOAT_EQ(logged[i], best_so_far[i]);
  EXPECT_EQ(run.values("checkpoint/text_summary").size(), 1u);
}

TEST(Checkpoint, ModeMaxWithoutLastPt) {
  Scripted sc;
  sc.name = "val/top1";  // mode auto: "top" means max
  sc.script = {0.2, 0.6, 0.3, 0.6, 0.9};  // best 2 by max: epochs 5 (0.9), 2 (0.6; ties with 4, earlier wins)
  auto run = run_plugins("[[plugin]]\nname = \"checkpoint\"\nmonitor = \"val/top1\"\nkeep_best = 2\nsave_last = false\n",
                         sc.setup(static_cast<int64_t>(sc.script.size())));
  const auto expected = best_epochs(sc.script, 2, /*max=*/true);
  ASSERT_EQ(expected, (std::vector<int64_t>{5, 2}));
  Files f = list(fs::path(run.run_dir) / "checkpoints" / "best", "val_top1");
  EXPECT_TRUE(f.other.empty());
  ASSERT_EQ(f.by_epoch.size(), 2u);
  EXPECT_TRUE(f.by_epoch.count(5) && f.by_epoch.count(2));
  for (const auto& [epoch, path] : f.by_epoch) EXPECT_TRUE(same(load(run, path), sc.weights.at(epoch))) << path;
}

TEST(Checkpoint, ResumedFitManagesTheSameFiles) {
  // 3 epochs, then resumed to 6: the ranking comes back from the run's checkpoint, so the files
  // of the first part that fall out of the best 3 are deleted and exactly 3 remain.
  Scripted sc;
  sc.script = {0.3, 0.5, 0.4, 0.2, 0.1, 0.6};  // best 3: epochs 5, 4, 1
  const std::string toml = "[[plugin]]\nname = \"checkpoint\"\nmonitor = \"val/scripted\"\n";
  const std::string log_dir = fresh_dir();
  RunSetup first = sc.setup(3);
  first.overrides.push_back("trainer.checkpoint_every_n_epochs=1");
  first.log_dir = log_dir;
  auto run1 = run_plugins(toml, first);
  ASSERT_EQ(run1.fit.epochs_completed, 3);
  EXPECT_EQ(list(fs::path(run1.run_dir) / "checkpoints" / "best", "val_scripted").by_epoch.size(), 3u);

  RunSetup second = sc.setup(6);
  second.overrides.push_back("trainer.checkpoint_every_n_epochs=1");
  second.overrides.push_back("trainer.resume=auto");
  second.log_dir = log_dir;
  auto run2 = run_plugins(toml, second);
  ASSERT_FALSE(run2.fit.resumed_from.empty());
  ASSERT_EQ(run2.fit.epochs_completed, 6);
  auto expected = best_epochs(sc.script, 3, /*max=*/false);
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(expected, (std::vector<int64_t>{1, 4, 5}));
  Files f = list(fs::path(run2.run_dir) / "checkpoints" / "best", "val_scripted");
  std::vector<int64_t> kept;
  for (const auto& [epoch, path] : f.by_epoch) kept.push_back(epoch);
  EXPECT_EQ(kept, expected);
  for (const auto& [epoch, path] : f.by_epoch) EXPECT_TRUE(same(load(run2, path), sc.weights.at(epoch))) << path;
}

TEST(Checkpoint, MissingMetricNamesTheAvailableOnes) {
  try {
    run_plugins("[[plugin]]\nname = \"checkpoint\"\nmonitor = \"val/nope\"\non_error = \"abort\"\n");
    ADD_FAILURE() << "a missing metric was accepted";
  } catch (const PluginAbort& e) {
    EXPECT_EQ(e.plugin(), "checkpoint");
    EXPECT_NE(e.message().find("available: train/loss, val/accuracy, val/loss"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, RejectsBadOptions) {
  // One option at a time: the schema's constraints, reported when the configuration is read.
  for (const auto& [bad, message] : std::vector<std::pair<std::string, std::string>>{
           {"keep_best = -1", "'keep_best' = -1 is out of range: must be an integer >= 0"},
           {"mode = \"up\"", "'mode' = \"up\" is not allowed: must be one of: \"min\", \"max\", \"auto\""},
           {"dir = \"\"", "'dir' = \"\" is not allowed: must be a non-empty string"},
           {"monitor = \"\"", "'monitor' = \"\" is not allowed: must be a non-empty string"}}) {
    const auto problems = config_problems("[[plugin]]\nname = \"checkpoint\"\n" + bad + "\n");
    ASSERT_EQ(problems.size(), 1u) << bad << ::testing::PrintToString(problems);
    EXPECT_NE(problems[0].find("plugin 'checkpoint' option " + message), std::string::npos) << problems[0];
  }
  // Two options together: the constructor's check.
  try {
    run_plugins("[[plugin]]\nname = \"checkpoint\"\non_error = \"abort\"\nkeep_best = 0\nsave_last = false\n");
    ADD_FAILURE() << "keep_best = 0 with save_last = false was accepted";
  } catch (const PluginLoadError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint: keep_best = 0 and save_last = false"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace trainscope::testing
