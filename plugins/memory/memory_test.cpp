// memory plugin: a real fit; an in-process probe that runs right after the plugin at the same
// hook reads the process's memory its own way (/proc/self/statm, getrusage) and, on CUDA,
// the allocator's counters, and the logged values are checked against those readings.
#include <c10/cuda/CUDACachingAllocator.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

constexpr double kMB = 1024.0 * 1024.0;

// Resident set from /proc/self/statm (pages), a different source than the plugin's.
double statm_rss_mb() {
  std::ifstream in("/proc/self/statm");
  long long size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / kMB;
}

double rusage_peak_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) * 1024.0 / kMB;  // ru_maxrss is in kB on Linux
}

// VmHWM of /proc/self/status: the same counter the plugin reads, so that a later reading can
// only be larger (ru_maxrss is kept separately and can trail VmHWM by a few pages).
double status_hwm_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024.0 / kMB;
  }
  return -1;
}

struct CpuSeen {
  std::map<int64_t, double> rss, peak, hwm;
};

TEST(MemoryPlugin, CpuFiguresMatchTheProcessAndNoCudaTagsOnCpu) {
  CpuSeen seen;
  Probe probe;
  probe.on_hook = [&](HookContext& ctx) {
    if (ctx.hook() != Hook::kTrainBatchEnd) return;
    seen.rss[ctx.step()] = statm_rss_mb();
    seen.peak[ctx.step()] = rusage_peak_mb();
    seen.hwm[ctx.step()] = status_hwm_mb();
  };
  trainscope::testing::Setup setup;
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun run = run_plugins("[[plugin]]\nname = \"memory\"\nlog_every_n_steps = 3\n", setup);

  const auto rss = run.scalars("memory/cpu/rss_mb");
  const auto peak = run.scalars("memory/cpu/peak_rss_mb");
  ASSERT_EQ(rss.size(), 2u);  // 8 steps: 3 and 6
  ASSERT_EQ(peak.size(), rss.size());
  for (size_t i = 0; i < rss.size(); ++i) {
    const auto [step, value] = rss[i];
    EXPECT_EQ(step, static_cast<int64_t>(3 * (i + 1)));
    EXPECT_GT(value, 0);
    // The probe reads a few microseconds later in the same process: a few MB at most apart.
    EXPECT_NEAR(value, seen.rss.at(step), 8.0) << "step " << step;
    EXPECT_EQ(peak[i].first, step);
    EXPECT_GE(peak[i].second, value - 1e-3) << "peak >= current";
    // The peak can only grow between the plugin's reading and the probe's.
    EXPECT_LE(peak[i].second, seen.hwm.at(step) + 1e-6) << "step " << step;
    EXPECT_NEAR(peak[i].second, seen.peak.at(step), 8.0) << "step " << step;
  }
  EXPECT_TRUE(run.tags_with_prefix("memory/cuda/").empty());
}

TEST(MemoryPlugin, CpuOffLeavesOnlyWhatIsAsked) {
  const PluginRun run = run_plugins("[[plugin]]\nname = \"memory\"\nlog_every_n_steps = 1\ncpu = false\n");
  EXPECT_TRUE(run.tags().count("memory/cpu/rss_mb") == 0);
  EXPECT_TRUE(run.tags_with_prefix("memory/").empty()) << "a CPU run with cpu = false has nothing to log";
}

// Needs a GPU: forward allocates an activation of known size, which the forward peak must hold.
TEST(MemoryPlugin, CudaFiguresAndPerPhasePeaks) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device here";
  constexpr int64_t kRepeat = 64, kBatch = 16, kPixels = 28 * 28;
  const double activation_mb = static_cast<double>(kBatch * kPixels * kRepeat * 4) / kMB;

  std::map<int64_t, double> allocated, reserved;
  Probe probe;
  probe.on_hook = [&](HookContext& ctx) {
    if (ctx.hook() != Hook::kTrainBatchEnd) return;
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(ctx.device().has_index() ? ctx.device().index()
                                                                                                : 0);
    allocated[ctx.step()] = static_cast<double>(stats.allocated_bytes[0].current) / kMB;
    reserved[ctx.step()] = static_cast<double>(stats.reserved_bytes[0].current) / kMB;
  };
  trainscope::testing::Setup setup;
  setup.overrides = {"run.device=\"cuda\""};
  setup.model = [&](const Datasets&) {
    torch::nn::Sequential seq;
    seq->push_back("flatten", torch::nn::Flatten());
    seq->push_back("widen", torch::nn::Functional([](const at::Tensor& x) { return x.repeat({1, kRepeat}); }));
    seq->push_back("head", torch::nn::Linear(kPixels * kRepeat, 4));
    return Model(seq);
  };
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun run = run_plugins("[[plugin]]\nname = \"memory\"\nlog_every_n_steps = 2\n", setup);

  const auto alloc = run.scalars("memory/cuda/allocated_mb");
  ASSERT_EQ(alloc.size(), 4u);
  const auto res = run.scalars("memory/cuda/reserved_mb");
  const auto peak = run.scalars("memory/cuda/peak_mb");
  const auto fwd = run.scalars("memory/cuda/forward_peak_mb");
  const auto bwd = run.scalars("memory/cuda/backward_peak_mb");
  const auto opt = run.scalars("memory/cuda/optimizer_peak_mb");
  ASSERT_EQ(res.size(), 4u);
  ASSERT_EQ(peak.size(), 4u);
  ASSERT_EQ(fwd.size(), 4u);
  ASSERT_EQ(bwd.size(), 4u);
  ASSERT_EQ(opt.size(), 4u);
  for (size_t i = 0; i < alloc.size(); ++i) {
    const int64_t step = alloc[i].first;
    EXPECT_NEAR(alloc[i].second, allocated.at(step), 1e-3 * allocated.at(step) + 1e-3) << "step " << step;
    EXPECT_NEAR(res[i].second, reserved.at(step), 1e-3 * reserved.at(step) + 1e-3) << "step " << step;
    EXPECT_GE(res[i].second, alloc[i].second);
    EXPECT_GE(fwd[i].second, activation_mb) << "the forward pass holds the widened activation";
    EXPECT_GE(peak[i].second + 1e-3, std::max({fwd[i].second, bwd[i].second, opt[i].second, alloc[i].second}));
  }
  EXPECT_TRUE(run.has("memory/cpu/rss_mb"));
}

}  // namespace
}  // namespace trainscope::testing
