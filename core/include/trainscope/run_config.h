// The run configuration: what a TOML file (or code) says about one training run. Parsing and
// validation live in config.h; this header is plain data so the trainer can be configured in code.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/custom_scalars.h"
#include "trainscope/hooks.h"
#include "trainscope/lr_schedule.h"
#include "trainscope/options.h"

namespace trainscope {

// When a plugin's hooks fire (decided by the HookBus; hook_bus.h has the details).
// Step hooks (train_batch_begin .. train_batch_end) fire for the batch that makes optimizer
// step S (counted from 1; S = ctx.step() at train_batch_end) when S % every_n_steps == 0 or
// S is in at_steps (every step when neither is set). Epoch hooks (epoch_*, validation_*) fire
// when (epoch + 1) % every_n_epochs == 0 (ctx.epoch() counts from 0). fit_begin, fit_end,
// exception and checkpoint hooks always fire. `phases` limits hooks to train and/or validation.
struct Cadence {
  int64_t every_n_steps = 0;  // 0: not set
  int64_t every_n_epochs = 1;
  std::vector<int64_t> at_steps;
  bool train = true;
  bool validation = true;
};

enum class ErrorPolicy { kDisable, kAbort };

struct PluginConfig {
  std::string name;           // plugin name (= library's descriptor name)
  bool enabled = true;
  Cadence cadence;
  ErrorPolicy on_error = ErrorPolicy::kDisable;
  Options options;            // validated against the plugin's schema, defaults filled in
  std::string source;         // "file.toml:12:1", for messages
};

struct RunSection {
  // The run writes to <log_dir>/<name>. Both may be templates: {timestamp}, {host},
  // {hparams.KEY}, and {name} in log_dir (run_dir.h, docs/runs.md).
  std::string name = "run";
  std::string log_dir = "runs";
  int64_t seed = 0;
  std::string device = "auto";    // auto | cpu | cuda | cuda:N
  // false: train without event files (every event goes to a NullSink; nothing is written
  // under log_dir except checkpoints, which follow trainer.checkpoint_dir). `trainscope run
  // --no-log` sets it.
  bool log = true;
  std::vector<std::string> plugin_path;  // extra directories searched for plugin libraries
  // The run folder holds another run's events: true moves that run aside to a sibling
  // <dir>.old-<timestamp> and starts afresh; false refuses (`trainscope run --overwrite`).
  bool overwrite = false;
};

struct TrainerSection {
  int64_t epochs = 3;
  int64_t batch_size = 64;
  std::string optimizer = "adam";  // adam | adamw | sgd
  double lr = 1e-3;
  double momentum = 0.9;           // sgd
  double weight_decay = 0.0;
  // The string form: none | step | exponential | cosine | one_cycle | plateau, per epoch, with
  // step_size and gamma below and every other key at its default. A [trainer.scheduler]
  // table fills `schedule` instead (and sets this to its name): see lr_schedule.h.
  std::string scheduler = "none";
  int64_t step_size = 1;           // step scheduler (string form): epochs per decay
  double gamma = 0.1;              // step / exponential scheduler (string form): decay factor
  LrScheduleConfig schedule;       // [trainer.scheduler]; used when schedule.name != "none" or it warms up
  double clip_grad_norm = 0.0;     // 0: off
  std::string precision = "fp32";  // fp32 | bf16 | fp16 (mixed precision on CUDA)
  int64_t log_every_n_steps = 50;  // console progress cadence (no GPU sync per step)
  std::string checkpoint_dir;      // empty: <run dir>/checkpoints
  int64_t checkpoint_every_n_epochs = 1;  // 0: off
  std::string resume;              // "" | "auto" | path of a checkpoint
  // A checkpoint or event file that cannot be written (a full disk): "stop" ends the run
  // cleanly after the failed checkpoint; "continue" goes on and retries at the next one.
  // Either way the run's result (and `trainscope run`'s exit status) reports the failure.
  std::string on_write_error = "stop";  // stop | continue
  int64_t max_steps = 0;           // 0: no limit
};

struct DataSection {
  std::string dataset = "fashion_mnist";  // fashion_mnist | mnist_idx | cifar10 | synthetic
  std::string path;                       // empty: the dataset's default location
  int64_t train_limit = 0;                // 0: all samples
  int64_t val_limit = 0;
  std::vector<double> normalize_mean;     // per channel; empty: dataset default
  std::vector<double> normalize_std;
  int64_t synthetic_samples = 2048;       // synthetic: samples per split (train; val gets a quarter)
  int64_t synthetic_classes = 10;
};

struct ModelSection {
  std::string name = "simple_cnn";  // simple_cnn | mlp | resnet
  std::map<std::string, OptionValue> options;  // model-specific (hidden sizes, width, ...)
};

struct RunConfig {
  std::string file;          // the TOML file, empty when built in code
  std::string text;          // its text
  RunSection run;
  TrainerSection trainer;
  DataSection data;
  ModelSection model;
  std::map<std::string, OptionValue> hparams;  // the [hparams] table
  std::vector<PluginConfig> plugins;           // enabled and disabled, in [[plugin]] file order
  // The [[custom_scalars]] tables: a custom-scalars layout the trainer writes into the run at
  // fit_begin, merged with the layout plugins wrote (docs/lr_schedules.md, last section).
  CustomScalarLayout custom_scalars;
  // Where each value came from, for messages: "trainer.lr" -> "run.toml:7:6" (or
  // "--set trainer.lr=0.1"). Filled by the TOML loader; empty when built in code.
  std::map<std::string, std::string> locations;
};

}  // namespace trainscope
