// trainscope run CONFIG.toml [--set section.key=value ...] [--path DIR ...] [--no-log]: loads the
// configuration, builds data, model, plugins and trainer, fits, and says where the logs are.
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "trainscope/config.h"
#include "trainscope/data.h"
#include "trainscope/distributed.h"
#include "trainscope/hook_bus.h"
#include "trainscope/models.h"
#include "trainscope/plugin_loader.h"
#include "trainscope/trainer.h"

namespace {

int64_t count_parameters(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

int cmd_run(const std::vector<std::string>& args) {
  // --no-log is run.log = false: the trainer's writer gets a NullSink (no event files).
  std::vector<std::string> rest;
  bool no_log = false;
  for (const auto& arg : args) {
    if (arg == "--no-log")
      no_log = true;
    else
      rest.push_back(arg);
  }
  CommonArgs a;
  std::string error;
  if (!parse_common_args(rest, a, &error)) return usage_error("run", error);
  if (no_log) a.overrides.push_back("run.log=false");
  if (a.positional.size() != 1) return usage_error("run", "expected one CONFIG.toml");
  const std::string& file = a.positional.front();

  std::vector<std::string> dirs = a.paths;
  for (auto& d : trainscope::config_plugin_path(file, a.overrides)) dirs.push_back(d);
  const auto catalog = trainscope::discover_plugins(trainscope::plugin_search_path(dirs));
  trainscope::RunConfig config;
  try {
    config = trainscope::load_config(file, catalog, a.overrides);
  } catch (const trainscope::ConfigError& e) {
    std::fprintf(stderr, "%s\n%s: %zu problem%s\n", e.what(), file.c_str(), e.problems().size(),
                 e.problems().size() == 1 ? "" : "s");
    return 1;
  }

  // Intra-op threads, unless OMP_NUM_THREADS says: half the cores. The models trained here
  // are small, so a step gains little from more threads, while OpenMP threads that compete
  // with the writer thread, the data and other processes for every core lose badly (on a
  // busy 2-core machine a SimpleCNN step took 31 ms with 2 threads, 8.7 ms with 1).
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2)));
  }

  const auto seed = static_cast<uint64_t>(config.run.seed);
  trainscope::Datasets data;
  try {
    data = trainscope::load_datasets(config.data, seed);
  } catch (const trainscope::DatasetError& e) {
    std::fprintf(stderr, "trainscope run: %s\n", e.what());
    return 1;
  }
  // torchrun-style environment (trainscope launch sets it): one rank of a data-parallel job.
  const trainscope::DistributedEnv dist = trainscope::DistributedEnv::from_environment();
  if (dist.distributed() && trainscope::resolve_device(config.run.device).is_cuda()) {
    config.run.device = "cuda:" + std::to_string(dist.local_rank);  // one GPU per local rank
  }
  trainscope::seed_everything(seed);  // the model's initial weights follow the seed
  trainscope::Model model = trainscope::make_model(config.model, {data.train.sample_shape(), data.train.num_classes()});

  // Declared before the trainer: plugins outlive the loop that calls them.
  trainscope::HookBus bus;
  bus.add_from_config(config.plugins, catalog);

  trainscope::Trainer trainer(model, config.run, config.trainer);
  trainer.set_train_data(data.train)
      .set_val_data(data.val)
      .set_hparams(config.hparams)
      .set_config_text(config.text)
      .set_bus(&bus);
  std::shared_ptr<trainscope::Communicator> comm;
  if (dist.distributed()) {
    comm = std::make_shared<trainscope::Communicator>(dist, trainer.device());
    trainer.set_distributed(comm, dist);
  }

  std::printf("trainscope run %s\n", file.c_str());
  std::printf("  data:    %s\n", data.description.c_str());
  std::printf("  model:   %s (%lld parameters) on %s, %d thread%s\n", config.model.name.c_str(),
              static_cast<long long>(count_parameters(model.module())), trainer.device().str().c_str(),
              at::get_num_threads(), at::get_num_threads() == 1 ? "" : "s");
  std::printf("  trainer: %lld epochs, batch %lld, %s lr %g, scheduler %s, precision %s\n",
              static_cast<long long>(config.trainer.epochs), static_cast<long long>(config.trainer.batch_size),
              config.trainer.optimizer.c_str(), config.trainer.lr, config.trainer.scheduler.c_str(),
              config.trainer.precision.c_str());
  const auto names = bus.plugin_names();
  std::printf("  plugins: %s\n", names.empty() ? "none" : join(names).c_str());
  std::printf("  run dir: %s\n", trainer.run_dir().c_str());
  if (comm) {
    std::printf("  ranks:   %d of %d (%s via %s:%d; per-rank batch %lld; %s)\n", dist.rank, dist.world_size,
                comm->backend().c_str(), dist.master_addr.c_str(), dist.master_port,
                static_cast<long long>(config.trainer.batch_size / dist.world_size),
                dist.rank_logs ? "every rank logs to <run>/rank<k>" : "rank 0 logs");
  }
  std::fflush(stdout);

  const trainscope::FitResult result = trainer.fit();

  std::printf("done: %lld steps, %lld epochs in %.1f s", static_cast<long long>(result.steps),
              static_cast<long long>(result.epochs_completed), result.seconds);
  for (const auto& [k, v] : result.metrics) std::printf(", %s %.4f", k.c_str(), v);
  std::printf("\n");
  if (!result.last_checkpoint.empty()) std::printf("checkpoint: %s\n", result.last_checkpoint.c_str());
  if (!config.run.log) {
    std::printf("logs: none (run.log = false, --no-log)\n");
    return 0;
  }
  const std::string log_dir = std::filesystem::absolute(config.run.log_dir).lexically_normal().string();
  std::printf("logs: %s\nview: .venv/bin/tensorboard --logdir %s\n",
              std::filesystem::absolute(result.run_dir).lexically_normal().string().c_str(), log_dir.c_str());
  return 0;
}
