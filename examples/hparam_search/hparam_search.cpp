// hparam_search: a grid search over learning rate x batch size x optimizer with the Trainer.
// Each grid point is one run, <run.log_dir>/lr<lr>_bs<batch>_<optimizer>, configured from one
// TOML file (search.toml) plus per-point overrides, exactly as `trainscope run FILE --set ...`
// would (trainscope/run.h assembles each run): the file's [[plugin]] tables, among them the
// bundled `hparams` plugin, are found through the plugin search path and loaded for every run,
// so the HParams dashboard lists one session per grid point with its hyperparameters and metrics.
// Usage: hparam_search [--config search.toml] [--lr 0.001,0.01] [--batch-size 32,128]
//                      [--optimizer adam,sgd] [--set section.key=value ...] [--path DIR ...] [--overwrite]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "example_cli.h"
#include "trainscope/run.h"

#ifndef HPARAM_SEARCH_CONFIG
#define HPARAM_SEARCH_CONFIG "examples/hparam_search/search.toml"
#endif

namespace {

struct Point {
  std::string lr, batch_size, optimizer;
  std::string name() const { return "lr" + lr + "_bs" + batch_size + "_" + optimizer; }
};

struct Outcome {
  Point point;
  trainscope::FitResult result;
};

}  // namespace

int main(int argc, char** argv) {
  examples::Cli cli("hparam_search", "a grid search (lr x batch size x optimizer) with the Trainer and the "
                                     "hparams plugin");
  cli.flag("config", HPARAM_SEARCH_CONFIG, "the run configuration shared by every grid point");
  cli.flag("lr", "0.001,0.01", "learning rates, comma-separated");
  cli.flag("batch-size", "32,128", "batch sizes, comma-separated");
  cli.flag("optimizer", "adam,sgd", "optimizers (adam | adamw | sgd), comma-separated");
  cli.repeated("set", "section.key=value override for every run, as `trainscope run --set`");
  cli.switch_flag("overwrite", "a grid point's folder holds an earlier run: move it aside (docs/runs.md)");
  cli.repeated("path", "another directory searched for plugin libraries, as `trainscope run --path`");
  if (!cli.parse(argc, argv)) return cli.exit_code();

  try {
    const std::string file = cli.text("config");
    const auto lrs = examples::Cli::split(cli.text("lr"));
    const auto batch_sizes = examples::Cli::split(cli.text("batch-size"));
    const auto optimizers = examples::Cli::split(cli.text("optimizer"));
    if (lrs.empty() || batch_sizes.empty() || optimizers.empty()) {
      std::fprintf(stderr, "hparam_search: --lr, --batch-size and --optimizer each need at least one value\n");
      return 2;
    }
    for (const auto& lr : lrs) examples::Cli::to_number("--lr", lr);  // the config checks the range
    std::vector<Point> grid;
    for (const auto& lr : lrs)
      for (const auto& bs : batch_sizes)
        for (const auto& opt : optimizers) grid.push_back({lr, bs, opt});

    // The file is read and parsed once with the common overrides; its plugin catalog is found
    // as `trainscope run` finds it: --path, then the file's run.plugin_path, then
    // TRAINSCOPE_PLUGIN_PATH, the build tree's or the installed plugin directory.
    std::vector<std::string> common = cli.list("set");
    if (cli.on("overwrite")) common.push_back("run.overwrite=true");
    const trainscope::ConfigFile base = trainscope::ConfigFile::load(file, common);
    trainscope::LoadOptions load;
    load.catalog = trainscope::find_plugins(base, cli.list("path"));

    // Every configuration first, so that a typo fails before the first run.
    std::vector<trainscope::RunSpec> specs;
    for (const auto& p : grid) {
      const std::vector<std::string> overrides = {"trainer.lr=" + p.lr, "trainer.batch_size=" + p.batch_size,
                                                  "trainer.optimizer=\"" + p.optimizer + "\"",
                                                  "run.name=\"" + p.name() + "\""};
      try {
        specs.push_back(trainscope::load_run(base.with_overrides(overrides), load));
      } catch (const trainscope::ConfigError& e) {
        std::fprintf(stderr, "%s\n%s: %zu problem%s (grid point %s)\n", e.what(), file.c_str(), e.problems().size(),
                     e.problems().size() == 1 ? "" : "s", p.name().c_str());
        if (!load.catalog->find("hparams")) {
          std::fprintf(stderr, "hparam_search: the `hparams` plugin was not found on the plugin search path: build it "
                               "(ninja -C build hparams) or point --path / TRAINSCOPE_PLUGIN_PATH at its folder\n");
        }
        return 1;
      }
    }

    // The grid varies only the trainer: the data are read once and shared by every run.
    trainscope::use_default_threads();
    const trainscope::RunConfig& first = specs.front().config;
    trainscope::Datasets data;
    try {
      data = trainscope::load_datasets(first.data, static_cast<uint64_t>(first.run.seed));
    } catch (const trainscope::DatasetError& e) {
      std::fprintf(stderr, "hparam_search: %s\n", e.what());
      return 1;
    }
    const std::string log_dir = std::filesystem::absolute(first.run.log_dir).lexically_normal().string();
    std::printf("hparam_search: %zu runs (%zu lr x %zu batch sizes x %zu optimizers) from %s\n  data: %s\n", grid.size(),
                lrs.size(), batch_sizes.size(), optimizers.size(), file.c_str(), data.description.c_str());
    std::fflush(stdout);

    std::vector<Outcome> outcomes;
    for (size_t i = 0; i < grid.size(); ++i) {
      trainscope::RunParts parts;
      parts.data = data;  // every run is seeded alike (run.seed): same initial weights, same batches
      trainscope::Run run = trainscope::assemble_run(std::move(specs[i]), std::move(parts));
      std::printf("\n[%zu/%zu] %s on %s -> %s\n", i + 1, grid.size(), grid[i].name().c_str(),
                  run.trainer().device().str().c_str(), run.trainer().run_dir().c_str());
      std::fflush(stdout);
      outcomes.push_back({grid[i], run.fit()});
    }

    std::printf("\n%-28s %10s %10s %10s\n", "run", "train/loss", "val loss", "accuracy");
    const auto metric = [](const trainscope::FitResult& r, const char* key) {
      const auto it = r.metrics.find(key);
      return it == r.metrics.end() ? std::nan("") : it->second;
    };
    for (const auto& o : outcomes) {
      std::printf("%-28s %10.4f %10.4f %10.4f\n", o.point.name().c_str(), metric(o.result, "train/loss"),
                  metric(o.result, "val/loss"), metric(o.result, "val/accuracy"));
    }
    std::printf("logs: %s (one run per grid point)\nview: .venv/bin/tensorboard --logdir %s   (HParams: table, "
                "parallel coordinates, scatter plot; Scalars)\n", log_dir.c_str(), log_dir.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hparam_search: %s\n", e.what());
    return 1;
  }
}
