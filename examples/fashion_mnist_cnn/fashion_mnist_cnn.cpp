// fashion_mnist_cnn: PyTorch's TensorBoard tutorial (SimpleCNN on Fashion-MNIST) in C++, with
// every bundled plugin on. The model is defined here, as a user would; the run's settings and
// plugins come from fashion_mnist_cnn.toml (the same format as `trainscope run`).
//
//   build/examples/fashion_mnist_cnn/fashion_mnist_cnn [CONFIG.toml] [--set key=value]...
//
// Data: the Debian package dataset-fashion-mnist (read from /usr/share/datasets/fashion-mnist,
// no download). Device: CUDA when present (run.device = "auto"), else the CPU.
#include <ATen/Parallel.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "trainscope/run.h"
#include "trainscope/tap.h"

namespace {

// The tutorial's network: conv(1->6, 5) pool conv(6->16, 5) pool fc 120 fc 84 fc 10. The
// tap() calls name the activations the activation, feature-map, Grad-CAM and embedding
// plugins ask for (C++ modules have no forward hooks).
struct SimpleCnnImpl : torch::nn::Module {
  SimpleCnnImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(1, 6, 5))),
        conv2(register_module("conv2", torch::nn::Conv2d(6, 16, 5))),
        fc1(register_module("fc1", torch::nn::Linear(16 * 4 * 4, 120))),
        fc2(register_module("fc2", torch::nn::Linear(120, 84))),
        fc3(register_module("fc3", torch::nn::Linear(84, 10))) {}

  at::Tensor forward(at::Tensor x) {
    namespace F = torch::nn::functional;
    x = F::max_pool2d(trainscope::tap("conv1", conv1(x).relu()), F::MaxPool2dFuncOptions(2));
    x = F::max_pool2d(trainscope::tap("conv2", conv2(x).relu()), F::MaxPool2dFuncOptions(2));
    x = trainscope::tap("fc1", fc1(x.flatten(1)).relu());
    x = trainscope::tap("features", fc2(x).relu());
    return fc3(x);
  }

  torch::nn::Conv2d conv1, conv2;
  torch::nn::Linear fc1, fc2, fc3;
};
TORCH_MODULE(SimpleCnn);

std::string default_config() {
  // Next to the sources when run from the build tree; else the working directory's copy.
  const std::filesystem::path here = std::filesystem::path(__FILE__).parent_path() / "fashion_mnist_cnn.toml";
  return std::filesystem::exists(here) ? here.string() : "fashion_mnist_cnn.toml";
}

int usage(const char* why) {
  std::fprintf(
      stderr,
      "fashion_mnist_cnn: %s\nusage: fashion_mnist_cnn [CONFIG.toml] [--set section.key=value]... [--overwrite]\n"
      "  e.g. --set trainer.epochs=1 --set data.train_limit=2000 --set run.device=cpu\n",
      why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--set") {
      if (i + 1 >= argc) return usage("--set needs section.key=value");
      overrides.emplace_back(argv[++i]);
    } else if (a.rfind("--set=", 0) == 0) {
      overrides.push_back(a.substr(6));
    } else if (a == "--overwrite") {  // the run folder holds an earlier run: move it aside (docs/runs.md)
      overrides.emplace_back("run.overwrite=true");
    } else if (a == "-h" || a == "--help") {
      return usage("help");
    } else if (!a.empty() && a[0] != '-' && config_path.empty()) {
      config_path = a;
    } else {
      return usage(("unexpected argument " + a).c_str());
    }
  }
  if (config_path.empty()) config_path = default_config();

  // 1. Configuration: [run], [trainer], [data], [hparams] and the [[plugin]] tables, checked
  //    against the plugins found on the search path (the build tree's plugins/ by default).
  trainscope::RunSpec spec;
  try {
    spec = trainscope::load_run(config_path, overrides);
  } catch (const trainscope::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }

  // 2. Data: Fashion-MNIST from the Debian package, normalised (mean 0.2860, std 0.3530).
  // 3. Model (ours, not the zoo's), plugins, trainer.
  trainscope::RunParts parts;
  parts.model = [](const trainscope::RunConfig&, const trainscope::Datasets&) { return SimpleCnn(); };
  std::optional<trainscope::Run> run;
  try {
    run.emplace(trainscope::assemble_run(std::move(spec), std::move(parts)));
  } catch (const trainscope::DatasetError& e) {
    std::fprintf(stderr, "fashion_mnist_cnn: %s\n", e.what());
    return 1;
  }
  std::printf("fashion_mnist_cnn: %s\n  device %s, %d thread(s), plugins:", run->data().description.c_str(),
              run->trainer().device().str().c_str(), at::get_num_threads());
  for (const auto& name : run->bus().plugin_names()) std::printf(" %s", name.c_str());
  std::printf("\n");
  std::fflush(stdout);

  // 4. Train. Progress, per-epoch metrics and the plugins' cost table go to stdout.
  trainscope::FitResult result;
  try {
    result = run->fit();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist_cnn: training failed: %s\n", e.what());
    return 1;
  }
  std::printf("done: %lld epochs, %lld steps in %.1f s", static_cast<long long>(result.epochs_completed),
              static_cast<long long>(result.steps), result.seconds);
  for (const auto& [k, v] : result.metrics) std::printf(", %s %.4f", k.c_str(), v);
  const std::string logs = std::filesystem::absolute(run->config().run.log_dir).lexically_normal().string();
  std::printf("\nlogs: %s\nopen them: .venv/bin/tensorboard --logdir %s  (then browse http://localhost:6006)\n",
              std::filesystem::absolute(result.run_dir).lexically_normal().string().c_str(), logs.c_str());
  return 0;
}
