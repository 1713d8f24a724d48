// bench_trainer: the cost of the Trainer's loop. One epoch of SimpleCNN training steps through
// Trainer::fit (no plugins, no validation, no checkpoint) against a plain hand-written
// libtorch loop doing the same work on the same data: shuffle, index_select batches, forward,
// cross entropy, backward, Adam step, the last loss read at the end. Runs are interleaved
// (plain, trainer, plain, ...) so that load from other processes hits both alike; the ratio is
// the median of the per-pair ratios.
//
//   bench_trainer [--steps N] [--runs R] [--batch B] [--threads T] [--device cpu|cuda]
//   (--runs 0: run each loop once, untimed, for scripts/bench_trainer_callgrind.sh)
// Prints a table and a last line "ratio trainer/plain: X" (target: within 2%, X <= 1.02).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "trainscope/data.h"
#include "trainscope/models.h"
#include "trainscope/trainer.h"

namespace {

using trainscope::Model;

struct Setup {
  int64_t steps = 200;
  int runs = 5;
  int64_t batch = 64;
  int threads = 0;  // 0: libtorch's default
  std::string device = "cpu";
};

Model fresh_model(const trainscope::TensorDataset& data) {
  trainscope::seed_everything(1);
  return trainscope::make_model(trainscope::ModelSection{}, {data.sample_shape(), data.num_classes()});
}

void sync(const c10::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize(d.index());
}

// The loop a user writes by hand.
double plain_seconds(const trainscope::TensorDataset& data, const Setup& s, const c10::Device& device) {
  Model model = fresh_model(data);
  model.module().to(device);
  model.module().train();
  torch::optim::Adam opt(model.module().parameters(), torch::optim::AdamOptions(1e-3));
  sync(device);
  const auto t0 = std::chrono::steady_clock::now();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const at::Tensor perm = at::randperm(data.size(), gen, at::TensorOptions(at::kLong));
  at::Tensor loss;
  for (int64_t b = 0; b < s.steps; ++b) {
    const at::Tensor idx = perm.narrow(0, b * s.batch, s.batch);
    const at::Tensor x = data.inputs.index_select(0, idx).to(device);
    const at::Tensor y = data.targets.index_select(0, idx).to(device);
    opt.zero_grad();
    loss = trainscope::softmax_cross_entropy(model.forward(x), y);
    loss.backward();
    opt.step();
  }
  const double last = loss.item<double>();
  static_cast<void>(last);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The same epoch through Trainer::fit.
double trainer_seconds(const trainscope::TensorDataset& data, const Setup& s, const c10::Device& device) {
  trainscope::bench::TempDir dir;
  trainscope::RunSection run;
  run.log_dir = dir.path();
  run.seed = 3;
  run.device = device.str();
  trainscope::TrainerSection t;
  t.epochs = 1;
  t.batch_size = s.batch;
  t.optimizer = "adam";
  t.lr = 1e-3;
  t.checkpoint_every_n_epochs = 0;
  trainscope::Trainer trainer(fresh_model(data), run, t);
  trainer.set_train_data(data).set_progress(nullptr);
  sync(device);
  const auto t0 = std::chrono::steady_clock::now();
  trainer.fit();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  Setup s;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--steps")
      s.steps = std::stoll(v);
    else if (k == "--runs")
      s.runs = std::stoi(v);
    else if (k == "--batch")
      s.batch = std::stoll(v);
    else if (k == "--threads")
      s.threads = std::stoi(v);
    else if (k == "--device")
      s.device = v;
    else {
      std::fprintf(stderr, "bench_trainer: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (s.threads > 0) at::set_num_threads(s.threads);
  const c10::Device device = trainscope::resolve_device(s.device);
  // Exactly `steps` batches: the Trainer runs whole epochs.
  const trainscope::TensorDataset data = trainscope::make_synthetic(s.steps * s.batch, 10, 7);

  std::printf(
      "bench_trainer: SimpleCNN on 1x28x28, batch %lld, %lld steps per run, %d runs each (interleaved), %s, %d "
      "threads\n",
      static_cast<long long>(s.batch), static_cast<long long>(s.steps), s.runs, device.str().c_str(),
      at::get_num_threads());
  plain_seconds(data, s, device);  // warm-up: allocator, kernels, first-touch of the data
  trainer_seconds(data, s, device);
  // --runs 0: one call of each and no timing, for instruction counts under callgrind
  // (scripts/bench_trainer_callgrind.sh), which are repeatable where wall time is not.
  if (s.runs == 0) return 0;
  std::vector<double> plain, trainer, ratios;
  for (int r = 0; r < s.runs; ++r) {
    plain.push_back(plain_seconds(data, s, device));
    trainer.push_back(trainer_seconds(data, s, device));
    ratios.push_back(trainer.back() / plain.back());
    std::printf("  run %d: plain %.3f ms/step, trainer %.3f ms/step, ratio %.4f\n", r + 1,
                plain.back() * 1e3 / static_cast<double>(s.steps), trainer.back() * 1e3 / static_cast<double>(s.steps),
                ratios.back());
    std::fflush(stdout);
  }
  const double per_step = 1e3 / static_cast<double>(s.steps);
  std::printf("plain loop: median %.3f ms/step (min %.3f)\n", median(plain) * per_step,
              *std::min_element(plain.begin(), plain.end()) * per_step);
  std::printf("trainer:    median %.3f ms/step (min %.3f)\n", median(trainer) * per_step,
              *std::min_element(trainer.begin(), trainer.end()) * per_step);
  std::printf("ratio trainer/plain: %.4f (median of pairs; min-to-min %.4f)\n", median(ratios),
              *std::min_element(trainer.begin(), trainer.end()) / *std::min_element(plain.begin(), plain.end()));
  return 0;
}
