// One home for assembling a training run, which `trainscope run`, the examples and the
// benchmarks all use:
//   1. load_run: the configuration file, read and parsed once with its overrides, and the
//      plugin catalog it is checked against (found through its run.plugin_path) -> RunSpec;
//   2. assemble_run: data, model (seeded), plugins on a HookBus and the Trainer -> Run, ready
//      to fit(). RunParts says what a caller supplies or changes itself (its own model, data
//      read once for several runs, extra plugins, the progress output, ...).
//
//   trainscope::RunSpec spec = trainscope::load_run("job.toml", {"trainer.epochs=1"});
//   trainscope::Run run = trainscope::assemble_run(std::move(spec));
//   trainscope::FitResult result = run.fit();
// (Inside a GoogleTest body a bare `Run` names testing::Test::Run: write trainscope::Run or auto.)
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/config.h"
#include "trainscope/data.h"
#include "trainscope/distributed.h"
#include "trainscope/export.h"
#include "trainscope/hook_bus.h"
#include "trainscope/models.h"
#include "trainscope/plugin_loader.h"
#include "trainscope/run_config.h"
#include "trainscope/trainer.h"

namespace trainscope {

// Where the plugins come from.
struct LoadOptions {
  // Searched first, before the file's run.plugin_path (the CLI's --path).
  std::vector<std::string> plugin_dirs;
  // When set, these plugins are used as they are and nothing is searched (a benchmark or a
  // search that runs many configurations against one catalog).
  std::shared_ptr<const PluginCatalog> catalog;
};

// A checked configuration and the plugins it was checked against (which the run's HookBus
// creates its plugins from).
struct RunSpec {
  RunConfig config;
  std::shared_ptr<const PluginCatalog> catalog;
};

// The plugins on the search path of `file`: `plugin_dirs`, its run.plugin_path, then
// plugin_search_path()'s defaults (TRAINSCOPE_PLUGIN_PATH, the build tree's or the installed
// plugin directory).
TRAINSCOPE_API std::shared_ptr<const PluginCatalog> find_plugins(const ConfigFile& file,
                                                                 const std::vector<std::string>& plugin_dirs = {});

// The configuration of `file` checked against options.catalog, else find_plugins(file,
// options.plugin_dirs). Throws ConfigError (every problem, each with file:line:column).
TRAINSCOPE_API RunSpec load_run(const ConfigFile& file, const LoadOptions& options = {});
// The same for the file at `path` with `overrides` ("section.key=value", as --set).
TRAINSCOPE_API RunSpec load_run(const std::string& path, const std::vector<std::string>& overrides = {},
                                const LoadOptions& options = {});

// What a caller supplies or changes; a member left empty takes the default.
struct RunParts {
  // The data; default: load_datasets(config.data, run.seed) (throws DatasetError).
  std::optional<Datasets> data;
  // The model, built right after seed_everything(run.seed) so that its initial weights follow
  // the seed; default: make_model(config.model, the data's sample shape and classes).
  std::function<Model(const RunConfig&, const Datasets&)> model;
  // Plugins added to the bus before / after the configured ones (e.g. a test's probe).
  std::function<void(HookBus&)> before_plugins, after_plugins;
  // Last changes to the trainer before fit (set_progress, set_loss, set_optimizer, ...).
  std::function<void(Trainer&)> customize;
  // Join the data-parallel job the environment describes (RANK, WORLD_SIZE, ...; see
  // DistributedEnv::from_environment): on CUDA one GPU per local rank. A single process when
  // WORLD_SIZE is unset or 1.
  bool distributed = false;
  // use_default_threads() first; false leaves the intra-op thread count as the caller set it.
  bool default_threads = true;
};

// A run's parts, owned together and destroyed in a safe order (the trainer before the bus,
// the plugins before their libraries).
class TRAINSCOPE_API Run {
 public:
  ~Run();
  Run(Run&&) noexcept;
  Run& operator=(Run&&) noexcept;

  // trainer().fit().
  FitResult fit();

  const RunConfig& config() const;
  const PluginCatalog& catalog() const;
  const Datasets& data() const;
  const Model& model() const;
  HookBus& bus();
  Trainer& trainer();
  // Set when this process is one rank of a distributed job (RunParts::distributed).
  const std::shared_ptr<Communicator>& communicator() const;
  const DistributedEnv& distributed_env() const;

 private:
  struct Impl;
  explicit Run(std::unique_ptr<Impl> impl);
  friend TRAINSCOPE_API Run assemble_run(RunSpec spec, RunParts parts);
  std::unique_ptr<Impl> impl_;
};

// Builds the run: threads, data, device (the local rank's GPU when distributed), seed, model,
// the bus with the enabled plugins of spec.config (in file order), the trainer with the data,
// hparams, config text and bus, then the communicator and parts.customize. Throws
// DatasetError for missing data, PluginLoadError for a plugin with on_error = "abort" that
// cannot be created, std::invalid_argument for a device that does not exist here.
TRAINSCOPE_API Run assemble_run(RunSpec spec, RunParts parts = {});

// Unless OMP_NUM_THREADS says otherwise: half the cores for intra-op parallelism. The models
// trained here are small, so a step gains little from more threads, while OpenMP threads that
// compete with the writer thread, the data and other processes for every core lose badly (on
// a busy 2-core machine a SimpleCNN step took 31 ms with 2 threads, 8.7 ms with 1).
TRAINSCOPE_API void use_default_threads();

}  // namespace trainscope
