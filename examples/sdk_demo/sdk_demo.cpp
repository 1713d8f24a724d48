// sdk_demo: writes one TensorBoard run with every summary type the SDK offers (scalars,
// child runs, histograms, images, image grids, text, audio, video, graph, hparams, custom
// scalars, PR curves, embeddings, mesh), using tensors on CUDA when present.
// Usage: sdk_demo [LOG_DIR] [STEPS]
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>

#include "trainscope/summary_writer.h"

namespace {

// A smooth RGB pattern that moves with `phase`, values in [0, 1], CHW.
torch::Tensor pattern(int64_t h, int64_t w, double phase, const torch::Device& device) {
  auto opts = torch::TensorOptions().device(device);
  auto y = torch::linspace(0, 1, h, opts).unsqueeze(1).expand({h, w});
  auto x = torch::linspace(0, 1, w, opts).unsqueeze(0).expand({h, w});
  auto r = torch::sin((x + phase) * 2 * std::numbers::pi) * 0.5 + 0.5;
  auto g = torch::cos((y - phase) * 2 * std::numbers::pi) * 0.5 + 0.5;
  auto b = (x * y + phase).frac();
  return torch::stack({r, g, b});
}

}  // namespace

int main(int argc, char** argv) {
  const std::string log_dir = argc > 1 ? argv[1] : "runs/sdk_demo";
  const int steps = argc > 2 ? std::stoi(argv[2]) : 200;
  const torch::Device device = torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  std::printf("sdk_demo: writing %d steps to %s on %s\n", steps, log_dir.c_str(), device.str().c_str());
  const auto t0 = std::chrono::steady_clock::now();

  trainscope::SummaryWriter writer(log_dir);
  torch::manual_seed(0);
  writer.add_text("about", "# trainscope SDK demo\nEvery summary type, written from **C++**.", 0);
  for (int step = 0; step < steps; ++step) {
    const double t = step / static_cast<double>(steps);
    writer.add_scalar("demo/sine", std::sin(step * 0.1), step);
    writer.add_scalar("demo/loss", torch::tensor(std::exp(-3 * t) + 0.05 * std::sin(step), torch::device(device)), step);
    writer.add_scalars("demo/waves", {{"sin", std::sin(step * 0.05)}, {"cos", std::cos(step * 0.05)}}, step);
    if (step % 10 == 0) {
      writer.add_histogram("demo/normal_drift", torch::randn({10000}, torch::device(device)) + 2 * t, step);
      writer.add_histogram("demo/uniform_20_bins", torch::rand({10000}, torch::device(device)), step,
                           trainscope::HistogramBins::uniform(20));
    }
    if (step % 50 == 0) {
      writer.add_image("demo/pattern", pattern(64, 96, t, device), step);
      writer.add_images("demo/batch", torch::rand({12, 1, 28, 28}, torch::device(device)), step);
      const auto n = torch::arange(16000, torch::device(device).dtype(torch::kFloat)) / 16000.0;
      writer.add_audio("demo/chirp", torch::sin(2 * std::numbers::pi * (220 + 440 * t) * n) * 0.5, step, 16000);
      std::vector<torch::Tensor> frames;
      for (int f = 0; f < 8; ++f) frames.push_back(pattern(32, 32, t + f / 8.0, device));
      writer.add_video("demo/moving_pattern", torch::stack(frames).unsqueeze(0), step, 4);
      writer.add_text("notes", "step " + std::to_string(step) + ": progress " + std::to_string(int(100 * t)) + "%", step);
      std::printf("  step %d/%d\n", step, steps);
    }
  }
  // The dashboards that take one summary per run.
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)), torch::nn::ReLU(),
                            torch::nn::Flatten(), torch::nn::Linear(8 * 16 * 16, 10));
  writer.add_graph(net, torch::rand({1, 3, 16, 16}));
  writer.add_custom_scalars_multilinechart({"demo/sine", "demo/loss"}, "demo", "sine and loss");
  writer.add_hparams({{"lr", 0.01}, {"optimizer", std::string("adam")}, {"augment", true}},
                     {{"hparam/final_loss", 0.05}});
  const auto scores = torch::rand({500}, torch::device(device));
  const auto labels = (scores + 0.3 * torch::randn({500}, torch::device(device)) > 0.5).to(torch::kFloat);
  writer.add_pr_curve("demo/pr", labels, scores, steps);
  const auto points = torch::randn({100, 16}, torch::device(device));
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) names.push_back(i % 2 ? "odd" : "even");
  writer.add_embedding(points, names, torch::rand({100, 3, 8, 8}, torch::device(device)), steps, "demo_points");
  const auto vertices = torch::tensor({{{1.f, 1.f, 1.f}, {-1.f, -1.f, 1.f}, {1.f, -1.f, -1.f}, {-1.f, 1.f, -1.f}}});
  const auto faces = torch::tensor({{{0, 2, 3}, {0, 3, 1}, {0, 1, 2}, {1, 3, 2}}}, torch::kInt);
  writer.add_mesh("demo/tetrahedron", vertices, torch::full({1, 4, 3}, 200, torch::kUInt8), faces, "", steps);

  const auto status = writer.close();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!status) {
    std::fprintf(stderr, "sdk_demo: writing failed: %s\n", status.message.c_str());
    return 1;
  }
  std::printf("sdk_demo: done in %.2f s. Open it with:\n  .venv/bin/tensorboard --logdir %s\n", secs, log_dir.c_str());
  return 0;
}
