// resume_run LOGDIR SCENARIO: two fits into LOGDIR/run, the second resuming from the first's
// last checkpoint, for tests/conformance/test_resume.py (which loads LOGDIR with TensorBoard).
//   stop:  the first run (4 epochs configured) is stopped by a plugin after epoch 2;
//   crash: the first run's model throws in epoch 3, after 2 of its 6 batches.
// A logging plugin (in this process) writes, per run:
//   train/loss, run/id        at train_batch_end   (step = optimizer steps done)
//   val/loss, val/accuracy    at validation_end
//   train/forward_loss        at after_forward     (stop scenario only: see test_resume.py)
//   epoch/begin               at epoch_begin       (stop scenario only)
// Prints one line per run: "run <id>: steps <n> epochs <e> resumed_from <path|->".

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <cstdio>
#include <memory>
#include <string>

#include "trainscope/hook_bus.h"
#include "trainscope/plugin.h"
#include "trainscope/plugin_loader.h"
#include "trainscope/summary_writer.h"
#include "trainscope/trainer.h"

namespace {

using namespace trainscope;

struct Settings {
  int run_id = 1;
  bool pre_step_tags = true;
  int64_t stop_after_epochs = 0;  // 0: never
};

class Logger final : public Plugin {
 public:
  explicit Logger(const Options& o) : s_(reinterpret_cast<const Settings*>(o.get<int64_t>("settings"))) {}
  void on_epoch_begin(HookContext& c) override {
    if (s_->pre_step_tags) c.writer().add_scalar("epoch/begin", static_cast<double>(c.epoch()), c.step());
  }
  void on_after_forward(HookContext& c) override {
    if (s_->pre_step_tags) c.writer().add_scalar("train/forward_loss", c.loss(), c.step());
  }
  void on_train_batch_end(HookContext& c) override {
    c.writer().add_scalar("train/loss", c.loss(), c.step());
    c.writer().add_scalar("run/id", s_->run_id, c.step());
  }
  void on_validation_end(HookContext& c) override {
    c.writer().add_scalar("val/loss", c.metrics().at("val/loss"), c.step());
    c.writer().add_scalar("val/accuracy", c.metrics().at("val/accuracy"), c.step());
  }
  void on_epoch_end(HookContext& c) override {
    if (s_->stop_after_epochs > 0 && c.epoch() + 1 == s_->stop_after_epochs) c.request_stop("scenario");
  }

 private:
  const Settings* s_;
};

class InProcess final : public PluginLibrary {
 public:
  InProcess() {
    descriptor_ = {kPluginAbiMajor,
                   kPluginAbiMinor,
                   "logger",
                   "1.0.0",
                   TRAINSCOPE_BUILD_FINGERPRINT,
                   &options_,
                   trainscope::detail::hooks_of<Logger>(),
                   &trainscope::detail::create_plugin<Logger>,
                   &trainscope::detail::destroy_plugin,
                   &trainscope::detail::invoke_hook<Logger>};
  }
  const PluginDescriptor& descriptor() const override { return descriptor_; }
  const std::string& path() const override { return path_; }

 private:
  std::vector<OptionSpec> options_{option<int64_t>("settings", 0, "address of the Settings")};
  std::string path_ = "<resume_run>";
  PluginDescriptor descriptor_{};
};

// A small MLP; with `throw_at` > 0 its forward throws on that call.
class NetImpl : public torch::nn::Module {
 public:
  explicit NetImpl(int throw_at) : throw_at_(throw_at) {
    seq_ = register_module("seq", torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(64, 16),
                                                        torch::nn::ReLU(), torch::nn::Linear(16, 4)));
  }
  at::Tensor forward(const at::Tensor& x) {
    if (++calls_ == throw_at_) throw std::runtime_error("simulated crash");
    return seq_->forward(x);
  }

 private:
  int throw_at_, calls_ = 0;
  torch::nn::Sequential seq_{nullptr};
};
TORCH_MODULE(Net);

FitResult run_once(const std::string& logdir, const Settings& settings, int throw_at, const std::string& resume) {
  HookBus bus;
  Options options({{"settings", static_cast<int64_t>(reinterpret_cast<intptr_t>(&settings))}});
  PluginConfig config;
  config.name = "logger";
  config.options = options;
  bus.add(std::make_unique<PluginInstance>(std::make_shared<InProcess>(), options), config);

  RunSection run;
  run.log_dir = logdir;
  run.name = "run";
  run.seed = 5;
  run.device = "cpu";
  TrainerSection t;
  t.epochs = 4;
  t.batch_size = 16;
  t.lr = 0.01;
  t.log_every_n_steps = 4;
  t.resume = resume;
  seed_everything(1);
  Trainer trainer(Net(throw_at), run, t);
  // 96 samples: 6 batches per epoch; 32 validation samples: 2 batches.
  trainer.set_train_data(make_synthetic(96, 4, 7, 1, 8, 0.3, 0))
      .set_val_data(make_synthetic(32, 4, 7, 1, 8, 0.3, 1))
      .set_bus(&bus)
      .set_progress(nullptr);
  return trainer.fit();
}

void report(int id, const FitResult& r) {
  std::printf("run %d: steps %lld epochs %lld resumed_from %s\n", id, static_cast<long long>(r.steps),
              static_cast<long long>(r.epochs_completed), r.resumed_from.empty() ? "-" : r.resumed_from.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[2]) != "stop" && std::string(argv[2]) != "crash")) {
    std::fprintf(stderr, "usage: resume_run LOGDIR stop|crash\n");
    return 2;
  }
  const std::string logdir = argv[1];
  const bool crash = std::string(argv[2]) == "crash";
  Settings first{1, !crash, crash ? 0 : 2};
  if (crash) {
    // Calls per epoch: 6 training + 2 validation batches; epoch 3's third batch is call 19.
    try {
      run_once(logdir, first, 19, "");
      std::fprintf(stderr, "resume_run: the first run did not crash\n");
      return 1;
    } catch (const std::runtime_error& e) {
      std::printf("run 1: crashed (%s)\n", e.what());
    }
  } else {
    report(1, run_once(logdir, first, 0, ""));
  }
  Settings second{2, !crash, 0};
  report(2, run_once(logdir, second, 0, "auto"));
  return 0;
}
