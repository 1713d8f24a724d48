// trainscope run CONFIG.toml [--set section.key=value ...] [--path DIR ...] [--no-log] [--overwrite]: loads
// the configuration, assembles the run (run.h: data, model, plugins, trainer), fits, and says
// where the logs are.
#include <ATen/Parallel.h>

#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "trainscope/run.h"
#include "trainscope/sweep_config.h"

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
  bool no_log = false, overwrite = false;
  for (const auto& arg : args) {
    if (arg == "--no-log")
      no_log = true;
    else if (arg == "--overwrite")  // run.overwrite = true: move an earlier run in the folder aside
      overwrite = true;
    else
      rest.push_back(arg);
  }
  CommonArgs a;
  std::string error;
  if (!parse_common_args(rest, a, &error)) return usage_error("run", error);
  if (no_log) a.overrides.push_back("run.log=false");
  if (overwrite) a.overrides.push_back("run.overwrite=true");
  if (a.positional.size() != 1) return usage_error("run", "expected one CONFIG.toml");
  const std::string& file = a.positional.front();

  trainscope::RunSpec spec;
  try {
    spec = trainscope::load_run(file, a.overrides, {a.paths, nullptr});
  } catch (const trainscope::ConfigError& e) {
    std::fprintf(stderr, "%s\n%s: %zu problem%s\n", e.what(), file.c_str(), e.problems().size(),
                 e.problems().size() == 1 ? "" : "s");
    return 1;
  }
  // A missing dataset (DatasetError) or a plugin that may not fail (PluginLoadError) is
  // reported by main() as "trainscope run: <message>", exit 1.
  trainscope::RunParts parts;
  parts.distributed = true;
  trainscope::Run run = trainscope::assemble_run(std::move(spec), std::move(parts));
  const trainscope::RunConfig& config = run.config();
  const trainscope::Trainer& trainer = run.trainer();
  const trainscope::DistributedEnv& dist = run.distributed_env();

  std::printf("trainscope run %s\n", file.c_str());
  if (trainscope::has_sweep_table(config)) {
    std::printf(
        "  note:    the [sweep] table is ignored by run (one run of the configuration as it is); "
        "`trainscope sweep %s` runs the study\n",
        file.c_str());
  }
  std::printf("  data:    %s\n", run.data().description.c_str());
  auto torchscript = config.model.options.find("torchscript");
  const std::string model_name = torchscript == config.model.options.end()
                                     ? config.model.name
                                     : "TorchScript " + std::get<std::string>(torchscript->second);
  std::printf("  model:   %s (%lld parameters) on %s, %d thread%s\n", model_name.c_str(),
              static_cast<long long>(count_parameters(run.model().module())), trainer.device().str().c_str(),
              at::get_num_threads(), at::get_num_threads() == 1 ? "" : "s");
  std::printf("  trainer: %lld epochs, batch %lld, %s lr %g, scheduler %s, precision %s\n",
              static_cast<long long>(config.trainer.epochs), static_cast<long long>(config.trainer.batch_size),
              config.trainer.optimizer.c_str(), config.trainer.lr, config.trainer.scheduler.c_str(),
              config.trainer.precision.c_str());
  const auto names = run.bus().plugin_names();
  std::printf("  plugins: %s\n", names.empty() ? "none" : join(names).c_str());
  std::printf("  run dir: %s\n", trainer.run_dir().c_str());
  if (const auto& comm = run.communicator()) {
    std::printf("  ranks:   %d of %d (%s via %s:%d; per-rank batch %lld; %s)\n", dist.rank, dist.world_size,
                comm->backend().c_str(), dist.master_addr.c_str(), dist.master_port,
                static_cast<long long>(config.trainer.batch_size / dist.world_size),
                dist.rank_logs ? "every rank logs to <run>/rank<k>" : "rank 0 logs");
  }
  std::fflush(stdout);

  const trainscope::FitResult result = run.fit();

  std::printf("done: %lld steps, %lld epochs in %.1f s", static_cast<long long>(result.steps),
              static_cast<long long>(result.epochs_completed), result.seconds);
  for (const auto& [k, v] : result.metrics) std::printf(", %s %.4f", k.c_str(), v);
  std::printf("\n");
  if (!result.last_checkpoint.empty()) std::printf("checkpoint: %s\n", result.last_checkpoint.c_str());
  // A failed checkpoint or event write (a full disk): what was written before it is
  // readable, but the run is incomplete, which the exit status must say.
  const int status = result.write_error.empty() ? 0 : 1;
  if (status != 0) {
    std::fflush(stdout);
    std::fprintf(stderr, "trainscope run: incomplete: %s\n", result.write_error.c_str());
  }
  if (!config.run.log) {
    std::printf("logs: none (run.log = false, --no-log)\n");
    return status;
  }
  const std::string log_dir = std::filesystem::absolute(config.run.log_dir).lexically_normal().string();
  std::printf("logs: %s\nview: .venv/bin/tensorboard --logdir %s\n",
              std::filesystem::absolute(result.run_dir).lexically_normal().string().c_str(), log_dir.c_str());
  return status;
}
