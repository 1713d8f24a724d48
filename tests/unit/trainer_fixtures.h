// Shared by trainer_test and checkpoint_test: tiny synthetic data and models, the recorder
// plugin loaded as a real library, and in-process probe plugins (a Plugin subclass behind a
// PluginLibrary that lives in the test binary) for looking at the HookContext directly.
// add_recorder exists only where TRAINSCOPE_TEST_PLUGIN_DIR is defined (the unit tests); the
// rest needs nothing defined (the plugin tests use the probes).
#pragma once

#include <gtest/gtest.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_util.h"
#include "trainscope/data.h"
#include "trainscope/hook_bus.h"
#include "trainscope/models.h"
#include "trainscope/plugin.h"
#include "trainscope/plugin_loader.h"
#include "trainscope/trainer.h"

namespace trainscope::testing {

// 8x8 single-channel synthetic images of `classes` classes.
inline TensorDataset tiny_data(int64_t n, int64_t classes = 4, uint64_t stream = 0) {
  return make_synthetic(n, classes, /*seed=*/7, /*channels=*/1, /*size=*/8, /*noise=*/0.3, stream);
}

// A small Sequential; `seed` fixes its initial weights.
inline torch::nn::Sequential tiny_mlp(int64_t classes = 4, uint64_t seed = 1) {
  seed_everything(seed);
  torch::nn::Sequential seq;
  seq->push_back("flatten", torch::nn::Flatten());
  seq->push_back("hidden", torch::nn::Linear(64, 16));
  seq->push_back("relu", torch::nn::ReLU());
  seq->push_back("head", torch::nn::Linear(16, classes));
  return seq;
}

inline RunSection run_section(const std::string& log_dir, const std::string& name = "run") {
  RunSection r;
  r.log_dir = log_dir;
  r.name = name;
  r.seed = 3;
  r.device = "cpu";
  return r;
}

inline TrainerSection trainer_section(int64_t epochs, int64_t batch_size = 16) {
  TrainerSection t;
  t.epochs = epochs;
  t.batch_size = batch_size;
  t.lr = 0.01;
  t.log_every_n_steps = 2;
  return t;
}

#ifdef TRAINSCOPE_TEST_PLUGIN_DIR  // set by tests/plugins/CMakeLists.txt for the unit tests
// The recorder plugin of tests/plugins, loaded from its .so, appending to `out`.
inline void add_recorder(HookBus& bus, const std::string& out, const std::string& tag = "") {
  auto library = PluginLibrary::open(std::string(TRAINSCOPE_TEST_PLUGIN_DIR) + "/libtest_recorder.so");
  Options options({{"out", out}, {"tag", tag}});
  PluginConfig config;
  config.name = "recorder";
  config.options = options;
  bus.add(std::make_unique<PluginInstance>(library, options), config);
}
#endif

inline std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---- In-process plugins -------------------------------------------------------------------

// What a probe does at each hook; set by the test.
struct Probe {
  std::function<void(HookContext&)> on_hook;
};

// Forwards every hook to the Probe whose address is the option "probe".
class ProbePlugin final : public Plugin {
 public:
  explicit ProbePlugin(const Options& o) : probe_(reinterpret_cast<Probe*>(o.get<int64_t>("probe"))) {}
  void on_fit_begin(HookContext& c) override { call(c); }
  void on_epoch_begin(HookContext& c) override { call(c); }
  void on_train_batch_begin(HookContext& c) override { call(c); }
  void on_after_forward(HookContext& c) override { call(c); }
  void on_after_backward(HookContext& c) override { call(c); }
  void on_before_optimizer_step(HookContext& c) override { call(c); }
  void on_after_optimizer_step(HookContext& c) override { call(c); }
  void on_train_batch_end(HookContext& c) override { call(c); }
  void on_validation_begin(HookContext& c) override { call(c); }
  void on_validation_batch_end(HookContext& c) override { call(c); }
  void on_validation_end(HookContext& c) override { call(c); }
  void on_epoch_end(HookContext& c) override { call(c); }
  void on_fit_end(HookContext& c) override { call(c); }
  void on_exception(HookContext& c) override { call(c); }
  void on_save_checkpoint(HookContext& c) override { call(c); }
  void on_load_checkpoint(HookContext& c) override { call(c); }

 private:
  void call(HookContext& c) {
    if (probe_->on_hook) probe_->on_hook(c);
  }
  Probe* probe_;
};

// A PluginLibrary that is the test binary itself.
class InProcessLibrary final : public PluginLibrary {
 public:
  explicit InProcessLibrary(std::string name) : name_(std::move(name)), path_("<in-process " + name_ + ">") {
    descriptor_ = {kPluginAbiMajor,
                   kPluginAbiMinor,
                   name_.c_str(),
                   "0.0.0",
                   TRAINSCOPE_BUILD_FINGERPRINT,
                   &options_,
                   detail::hooks_of<ProbePlugin>(),
                   &detail::create_plugin<ProbePlugin>,
                   &detail::destroy_plugin,
                   &detail::invoke_hook<ProbePlugin>};
  }
  const PluginDescriptor& descriptor() const override { return descriptor_; }
  const std::string& path() const override { return path_; }

 private:
  std::string name_, path_;
  std::vector<OptionSpec> options_{option<int64_t>("probe", 0, "address of the Probe")};
  PluginDescriptor descriptor_{};
};

inline void add_probe(HookBus& bus, Probe& probe, const std::string& name = "probe", Cadence cadence = {}) {
  Options options({{"probe", static_cast<int64_t>(reinterpret_cast<intptr_t>(&probe))}});
  PluginConfig config;
  config.name = name;
  config.cadence = cadence;
  config.options = options;
  bus.add(std::make_unique<PluginInstance>(std::make_shared<InProcessLibrary>(name), options), config);
}

}  // namespace trainscope::testing
