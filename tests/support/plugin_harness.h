// Test harness for the bundled plugins: runs a real Trainer on a tiny synthetic problem with
// plugins configured from TOML (validated against their schemas, defaults filled in, exactly
// as `trainscope run` does), then hands back the run's event files decoded.
//
//   auto run = run_plugins(R"([[plugin]]
//   name = "scalars"
//   )");
//   auto loss = run.scalars("train/loss");   // (step, value) pairs in file order
//   run.values(tag)[i].second->tensor_values / tensor_strings / plugin_content: a tensor's data
//
// The base configuration (overridable with Setup::overrides, e.g. "trainer.epochs=3"):
//   [run]     log_dir = a fresh temp dir, name "run", seed 3, device "cpu"
//   [trainer] epochs 2, batch_size 16, adam lr 0.01, log_every_n_steps 2, no checkpoints
//   [data]    synthetic, 64 train / 16 val samples of 1x28x28, 4 classes
//   [model]   simple_cnn (taps conv1, conv2, fc1, features)
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"
#include "trainscope/run.h"

#ifndef TRAINSCOPE_PLUGIN_DIR
#error "TRAINSCOPE_PLUGIN_DIR is set by trainscope_plugin_test() in plugins/CMakeLists.txt"
#endif

namespace trainscope::testing {

// Every plugin library of the build tree's plugin directory.
inline const std::shared_ptr<const PluginCatalog>& bundled_plugins() {
  static const auto catalog = std::make_shared<const PluginCatalog>(discover_plugins({TRAINSCOPE_PLUGIN_DIR}));
  return catalog;
}
inline const PluginCatalog& bundled_catalog() { return *bundled_plugins(); }

struct PluginRun {
  RunConfig config;
  FitResult fit;
  std::string run_dir;
  std::vector<EventView> events;  // every event of <run_dir>'s event files, in file order

  // Every value logged under `tag` with its step, in file order.
  std::vector<std::pair<int64_t, const ValueView*>> values(const std::string& tag) const {
    std::vector<std::pair<int64_t, const ValueView*>> out;
    for (const auto& ev : events) {
      for (const auto& v : ev.values) {
        if (v.tag == tag) out.emplace_back(ev.step, &v);
      }
    }
    return out;
  }
  // (step, simple_value) of every scalar under `tag`.
  std::vector<std::pair<int64_t, double>> scalars(const std::string& tag) const {
    std::vector<std::pair<int64_t, double>> out;
    for (const auto& [step, v] : values(tag)) out.emplace_back(step, v->simple_value);
    return out;
  }
  // (step, first string) of every string tensor under `tag`: a text summary's markdown
  // ("<name>/text_summary"), a custom-scalars layout, ...
  std::vector<std::pair<int64_t, std::string>> texts(const std::string& tag) const {
    std::vector<std::pair<int64_t, std::string>> out;
    for (const auto& [step, v] : values(tag)) {
      if (!v->tensor_strings.empty()) out.emplace_back(step, v->tensor_strings.front());
    }
    return out;
  }
  std::set<std::string> tags() const {
    std::set<std::string> out;
    for (const auto& ev : events) {
      for (const auto& v : ev.values) out.insert(v.tag);
    }
    return out;
  }
  bool has(const std::string& tag) const { return !values(tag).empty(); }
  // Tags starting with `prefix`.
  std::vector<std::string> tags_with_prefix(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& t : tags()) {
      if (t.rfind(prefix, 0) == 0) out.push_back(t);
    }
    return out;
  }
};

struct Setup {
  // "section.key=value" overrides of the base configuration, e.g. "trainer.epochs=3".
  std::vector<std::string> overrides;
  // Replaces the model built from [model] (e.g. a Sequential, or a model with a known answer).
  std::function<Model(const Datasets&)> model;
  // Replaces the data built from [data].
  std::function<Datasets()> data;
  // Last changes to the trainer before fit (set_optimizer, set_scheduler, set_loss, ...).
  std::function<void(Trainer&)> customize;
  // Where the run goes (default: a fresh temp dir named after the test).
  std::string log_dir;
  // Extra plugins (e.g. trainer_fixtures.h's add_probe) before / after the TOML's ones.
  std::function<void(HookBus&)> add_before, add_after;
};

// The model and data of a run, kept for recomputing what a plugin logged from the final model.
struct Captured {
  Model model;
  Datasets data;
};

// A Setup that builds the default model (simple_cnn) and keeps it, and the run's data, in `c`.
inline Setup capture(Captured& c) {
  Setup s;
  s.model = [&c](const Datasets& d) {
    c.data = d;
    c.model = make_model(ModelSection{}, {d.train.sample_shape(), d.train.num_classes()});
    return c.model;
  };
  return s;
}

inline std::string base_config(const std::string& log_dir) {
  return "[run]\nname = \"run\"\nlog_dir = \"" + log_dir +
         "\"\nseed = 3\ndevice = \"cpu\"\n"
         "[trainer]\nepochs = 2\nbatch_size = 16\noptimizer = \"adam\"\nlr = 0.01\n"
         "log_every_n_steps = 2\ncheckpoint_every_n_epochs = 0\n"
         "[data]\ndataset = \"synthetic\"\nsynthetic_samples = 64\nsynthetic_classes = 4\n"
         "[model]\nname = \"simple_cnn\"\n";
}

// The problems reading the base configuration plus `plugin_toml` reports, as `trainscope
// validate` prints them ("test.toml:L:C: ..."); empty when the configuration is accepted.
inline std::vector<std::string> config_problems(const std::string& plugin_toml) {
  try {
    parse_config(base_config(fresh_dir()) + plugin_toml, "test.toml", bundled_catalog());
  } catch (const ConfigError& e) {
    return e.problems();
  }
  return {};
}

// Runs a fit with the plugins of `plugin_toml` (its [[plugin]] tables, and an [hparams] table
// if wanted) and reads back the events. Configuration errors fail the test with every problem.
inline PluginRun run_plugins(const std::string& plugin_toml, const Setup& setup = {}) {
  PluginRun run;
  const std::string log_dir = setup.log_dir.empty() ? fresh_dir() : setup.log_dir;
  const std::string text = base_config(log_dir) + plugin_toml;
  RunSpec spec;
  try {
    spec = load_run(ConfigFile::from_text(text, "test.toml", setup.overrides), {{}, bundled_plugins()});
  } catch (const ConfigError& e) {
    ADD_FAILURE() << "configuration rejected:\n" << e.what() << "\n--- test.toml:\n" << text;
    throw;
  }
  // Assembled as `trainscope run` assembles a run (run.h), with the Setup's parts.
  RunParts parts;
  if (setup.data) parts.data = setup.data();
  if (setup.model) parts.model = [&](const RunConfig&, const Datasets& data) { return setup.model(data); };
  parts.before_plugins = setup.add_before;
  parts.after_plugins = setup.add_after;
  parts.customize = [&](Trainer& trainer) {
    trainer.set_progress(nullptr);
    if (setup.customize) setup.customize(trainer);
  };
  parts.default_threads = false;  // the test's thread count (scripts/test.sh: one)
  Run assembled = assemble_run(std::move(spec), std::move(parts));
  run.config = assembled.config();
  run.fit = assembled.fit();
  run.run_dir = run.fit.run_dir;
  run.events = read_events(run.run_dir);
  return run;
}

}  // namespace trainscope::testing
