// load_run and assemble_run: a configuration file -> a run ready to fit (see run.h).
#include "trainscope/run.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <utility>

#include "trainscope/run_dir.h"
#include "trainscope/scripted_module.h"

namespace trainscope {

std::shared_ptr<const PluginCatalog> find_plugins(const ConfigFile& file, const std::vector<std::string>& plugin_dirs) {
  std::vector<std::string> dirs = plugin_dirs;
  dirs.insert(dirs.end(), file.plugin_path().begin(), file.plugin_path().end());
  return std::make_shared<const PluginCatalog>(discover_plugins(plugin_search_path(dirs)));
}

RunSpec load_run(const ConfigFile& file, const LoadOptions& options) {
  RunSpec spec;
  spec.catalog = options.catalog ? options.catalog : find_plugins(file, options.plugin_dirs);
  spec.config = file.read(*spec.catalog);
  return spec;
}

RunSpec load_run(const std::string& path, const std::vector<std::string>& overrides, const LoadOptions& options) {
  return load_run(ConfigFile::load(path, overrides), options);
}

void use_default_threads() {
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2));
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
}

// Declaration order is destruction order reversed: the trainer goes first, then the
// communicator, the bus (its plugins), the model and data, and the catalog (the libraries) last.
struct Run::Impl {
  std::shared_ptr<const PluginCatalog> catalog;
  RunConfig config;
  Datasets data;
  Model model;
  DistributedEnv dist;
  HookBus bus;
  std::shared_ptr<Communicator> comm;
  std::unique_ptr<Trainer> trainer;
};

Run::Run(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Run::~Run() = default;
Run::Run(Run&&) noexcept = default;
Run& Run::operator=(Run&&) noexcept = default;

FitResult Run::fit() { return impl_->trainer->fit(); }
const RunConfig& Run::config() const { return impl_->config; }
const PluginCatalog& Run::catalog() const { return *impl_->catalog; }
const Datasets& Run::data() const { return impl_->data; }
const Model& Run::model() const { return impl_->model; }
HookBus& Run::bus() { return impl_->bus; }
Trainer& Run::trainer() { return *impl_->trainer; }
const std::shared_ptr<Communicator>& Run::communicator() const { return impl_->comm; }
const DistributedEnv& Run::distributed_env() const { return impl_->dist; }

Run assemble_run(RunSpec spec, RunParts parts) {
  auto r = std::make_unique<Run::Impl>();
  r->catalog = std::move(spec.catalog);
  r->config = std::move(spec.config);
  RunConfig& config = r->config;
  // A configuration built in code may still hold run.name / run.log_dir templates.
  try {
    expand_run_dir_templates(config);
  } catch (const std::invalid_argument& e) {
    throw ConfigError({e.what()});
  }
  if (r->catalog == nullptr) r->catalog = std::make_shared<const PluginCatalog>();
  if (parts.default_threads) use_default_threads();

  const auto seed = static_cast<uint64_t>(config.run.seed);
  r->data = parts.data ? std::move(*parts.data) : load_datasets(config.data, seed);
  // A batch larger than the training set makes no step: refuse it now that the size is known.
  if (config.trainer.batch_size > r->data.train.size()) {
    auto at = config.locations.find("trainer.batch_size");
    throw ConfigError({(at != config.locations.end() ? at->second
                        : config.file.empty()        ? "config"
                                                     : config.file) +
                       ": trainer.batch_size = " + std::to_string(config.trainer.batch_size) +
                       " is larger than the training set (" + std::to_string(r->data.train.size()) + " samples of " +
                       config.data.dataset + "): no batch would be made; use at most " +
                       std::to_string(r->data.train.size())});
  }
  if (parts.distributed) {
    // torchrun-style environment (trainscope launch sets it): one rank of a data-parallel job.
    r->dist = DistributedEnv::from_environment();
    if (r->dist.distributed() && resolve_device(config.run.device).is_cuda()) {
      config.run.device = "cuda:" + std::to_string(r->dist.local_rank);  // one GPU per local rank
    }
  }
  seed_everything(seed);  // the model's initial weights follow the seed
  try {
    r->model = parts.model ? parts.model(config, r->data)
                           : make_model(config.model, {r->data.train.sample_shape(), r->data.train.num_classes()});
  } catch (const ScriptedModuleError& e) {
    // A .pt named in the configuration: say where.
    auto where = config.locations.find("model.torchscript");
    if (where == config.locations.end()) throw;
    throw ConfigError({where->second + ": model.torchscript: " + e.what()});
  }
  check_layer_options(config, r->model);  // layer names the model cannot have, before any plugin runs

  if (parts.before_plugins) parts.before_plugins(r->bus);
  r->bus.add_from_config(config.plugins, *r->catalog);
  if (parts.after_plugins) parts.after_plugins(r->bus);

  r->trainer = std::make_unique<Trainer>(r->model, config.run, config.trainer);
  r->trainer->set_train_data(r->data.train)
      .set_val_data(r->data.val)
      .set_hparams(config.hparams)
      .set_config_text(config.text)
      .set_custom_scalars(config.custom_scalars)
      .set_bus(&r->bus);
  if (r->dist.distributed()) {
    r->comm = std::make_shared<Communicator>(r->dist, r->trainer->device());
    r->trainer->set_distributed(r->comm, r->dist);
  }
  if (parts.customize) parts.customize(*r->trainer);
  return Run(std::move(r));
}

}  // namespace trainscope
