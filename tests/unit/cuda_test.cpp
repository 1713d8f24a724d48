// CUDA paths of the SummaryWriter: results equal the CPU path's, and the calling thread does
// not wait for the GPU. Skipped where no CUDA device exists (run on the GPU machine by
// scripts/gpu_check.sh).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <map>

#include "test_util.h"
#include "trainscope/summary_writer.h"

namespace trainscope {
namespace {

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device here; scripts/gpu_check.sh runs this on a GPU";
  }
};

// Logs the same summaries from `device` tensors derived from the same CPU data.
void log_all(SummaryWriter& w, const torch::Device& device, const std::map<std::string, torch::Tensor>& data) {
  w.add_scalar("scalar", data.at("scalar").to(device), 1);
  w.add_histogram("hist_tf", data.at("values").to(device), 1);
  w.add_histogram("hist_edges", data.at("values").to(device), 1, HistogramBins::explicit_edges({-2, -1, 0, 1, 2}));
  w.add_histogram("hist_uniform", data.at("values").to(device), 1, HistogramBins::uniform(30));
  w.add_image("image", data.at("image").to(device), 1);
  w.add_images("images", data.at("images").to(device), 1);
  w.add_audio("audio", data.at("audio").to(device), 1, 8000);
  w.add_video("video", data.at("video").to(device), 1, 4);
}

std::map<std::string, ValueView> values_by_tag(const std::string& dir) {
  std::map<std::string, ValueView> out;
  for (const auto& e : testing::read_events(dir))
    for (const auto& v : e.values) out[v.tag] = v;
  return out;
}

TEST_F(Cuda, DevicePathsMatchCpu) {
  torch::manual_seed(0);
  const std::map<std::string, torch::Tensor> data = {
      {"scalar", torch::tensor(0.75)},           {"values", torch::randn({100000})},
      {"image", torch::rand({3, 32, 48})},        {"images", torch::rand({10, 1, 16, 16})},
      {"audio", torch::rand({4000}) * 2.4 - 1.2}, {"video", torch::rand({3, 4, 3, 8, 8})}};
  const std::string cpu_dir = testing::fresh_dir("cpu"), gpu_dir = testing::fresh_dir("gpu");
  {
    SummaryWriter cpu(cpu_dir), gpu(gpu_dir);
    log_all(cpu, torch::kCPU, data);
    log_all(gpu, torch::kCUDA, data);
    ASSERT_TRUE(cpu.close());
    ASSERT_TRUE(gpu.close());
    EXPECT_EQ(gpu.stats().encode_errors, 0u);
    EXPECT_EQ(gpu.stats().written, cpu.stats().written);
  }
  auto c = values_by_tag(cpu_dir), g = values_by_tag(gpu_dir);
  ASSERT_EQ(c.size(), g.size());
  for (const auto& [tag, cv] : c) {
    const ValueView& gv = g.at(tag);
    EXPECT_EQ(gv.kind, cv.kind) << tag;
    EXPECT_EQ(gv.simple_value, cv.simple_value) << tag;
    EXPECT_EQ(gv.encoded, cv.encoded) << tag;  // PNG / GIF / WAV bytes identical
    EXPECT_EQ(gv.histo_min, cv.histo_min) << tag;
    EXPECT_EQ(gv.histo_max, cv.histo_max) << tag;
    EXPECT_EQ(gv.histo_num, cv.histo_num) << tag;
  }
}

TEST_F(Cuda, LoggingDoesNotWaitForTheGpu) {
  auto a = torch::randn({4096, 4096}, torch::kCUDA);
  auto values = torch::randn({1 << 20}, torch::kCUDA);
  auto image = torch::rand({3, 256, 256}, torch::kCUDA);
  SummaryWriter w(testing::fresh_dir());
  w.add_histogram("warmup", values, 0);  // first use builds the edge tensor on the device
  w.add_image("warmup", image, 0);
  w.flush();
  torch::cuda::synchronize();
  // Queue a few hundred ms of GPU work, then log: the calls must return long before it ends.
  auto t_gpu = std::chrono::steady_clock::now();
  auto b = a;
  for (int i = 0; i < 60; ++i) b = torch::mm(b, a).div_(64.0);
  auto t0 = std::chrono::steady_clock::now();
  w.add_scalar("loss", b.sum(), 1);
  w.add_histogram("values", values, 1);
  w.add_image("image", image, 1);
  auto caller = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  torch::cuda::synchronize();
  auto gpu = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_gpu).count();
  std::printf("caller-side logging: %.3f ms while the queued GPU work took %.1f ms\n", caller * 1e3, gpu * 1e3);
  EXPECT_LT(caller, gpu / 4) << "the caller waited for the GPU";
  ASSERT_TRUE(w.close());
  EXPECT_EQ(w.stats().written, 5u);
  EXPECT_EQ(w.stats().encode_errors, 0u);
}

}  // namespace
}  // namespace trainscope
