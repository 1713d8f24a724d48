// trainscope: command-line entry point. Dispatches to the subcommands in cmd_*.cpp.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "trainscope/plugin.h"
#include "trainscope/version.h"

namespace {

constexpr const char* kUsage =
    "usage: trainscope <command> [args]\n"
    "\n"
    "commands:\n"
    "  run CONFIG.toml [--set key=value ...] [--no-log]\n"
    "                                           train as the configuration says\n"
    "  validate CONFIG.toml [--set key=value ...] [--path DIR ...]\n"
    "                                           check a configuration (types, keys, plugins,\n"
    "                                           ranges) without running it\n"
    "  sweep CONFIG.toml [-j N] [--set key=value ...] [--path DIR ...]\n"
    "                                           hyperparameter search over the config's [sweep]\n"
    "                                           table with N worker processes (docs/sweeps.md)\n"
    "  plugins [--path DIR ...]                 list the plugins on the search path: version,\n"
    "                                           ABI, hooks, options; and refused libraries\n"
    "  inspect LOGDIR                           runs, tags, counts and last values of the event\n"
    "                                           files under LOGDIR; verifies every record's CRCs\n"
    "  runs LOGDIR [--metric TAG] [--sort COL] [--filter EXPR ...] [--json]\n"
    "                                           a table of the runs under LOGDIR: start, steps,\n"
    "                                           wall time, state, best/final metric, hparams\n"
    "  runs prune LOGDIR (--keep-best N [--by TAG] | --older-than 7d | --failed) [--yes]\n"
    "                                           delete runs (a dry run without --yes)\n"
    "  export RUN [--format csv|json] [--tag TAG] [-o FILE]\n"
    "                                           a run's scalars as TensorBoard's download gives\n"
    "  launch -n N [options] -- PROGRAM ...     start N ranks of PROGRAM (e.g. trainscope run\n"
    "                                           job.toml) for distributed data-parallel training\n"
    "\n"
    "options:\n"
    "  --set section.key=value   override a configuration value (TOML syntax; a bare word is a\n"
    "                            string): --set trainer.lr=0.01 --set plugin.grad_norm.max_norm=2\n"
    "  --path DIR                also search DIR for plugin libraries (before the default path)\n"
    "  --overwrite               run: the run folder holds an earlier run's events: move that\n"
    "                            run aside to <dir>.old-<timestamp> (never deleted) and start\n"
    "                            afresh (without it, run refuses; docs/runs.md)\n"
    "  --no-log                  run: train without event files (run.log = false): every\n"
    "                            summary goes to a null sink and nothing is written under\n"
    "                            run.log_dir except checkpoints, which still follow\n"
    "                            trainer.checkpoint_dir (default <run dir>/checkpoints; set\n"
    "                            trainer.checkpoint_every_n_epochs=0 for none)\n"
    "  -h, --help                this help;  trainscope <command> --help: the same\n"
    "  --version                 version, plugin ABI and build fingerprint\n"
    "\n"
    "plugin search path: run.plugin_path, $TRAINSCOPE_PLUGIN_PATH (':'-separated), the build\n"
    "tree's plugins/ (build-tree binaries only), <prefix>/lib/trainscope/plugins\n";

}  // namespace

int usage_error(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "trainscope %s: %s\n(see trainscope --help)\n", command.c_str(), message.c_str());
  return 2;
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "--version" || command == "version") {
    std::printf("trainscope %s (plugin ABI %u.%u; build %s)\n", TRAINSCOPE_VERSION_STRING, trainscope::kPluginAbiMajor,
                trainscope::kPluginAbiMinor, trainscope::host_build_fingerprint());
    return 0;
  }
  // launch passes everything after -- to the program it starts (including --help).
  if (command == "launch") return cmd_launch(args);
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  try {
    if (command == "run") return cmd_run(args);
    if (command == "validate") return cmd_validate(args);
    if (command == "plugins") return cmd_plugins(args);
    if (command == "inspect") return cmd_inspect(args);
    if (command == "sweep") return cmd_sweep(args);
    if (command == "runs") return cmd_runs(args);
    if (command == "export") return cmd_export(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trainscope %s: %s\n", command.c_str(), e.what());
    return 1;
  }
  return usage_error(command,
                     "unknown command (expected run, validate, plugins, inspect, runs, export, sweep or launch)");
}
