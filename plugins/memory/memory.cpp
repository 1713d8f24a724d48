// memory: CUDA caching-allocator figures (allocated, reserved, peak; peak per phase of a
// training step) and the process's CPU resident set (current and peak).
//
// Tags (MB = 2^20 bytes, at optimizer step S of every log_every_n_steps-th step):
//   memory/cuda/allocated_mb, memory/cuda/reserved_mb, memory/cuda/peak_mb,
//   memory/cuda/forward_peak_mb, memory/cuda/backward_peak_mb, memory/cuda/optimizer_peak_mb,
//   memory/cpu/rss_mb, memory/cpu/peak_rss_mb.
// The CUDA figures are the allocator's host-side counters (no device sync); on a CPU run only
// the CPU figures are written.
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <torch/cuda.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

namespace {

constexpr double kMB = 1024.0 * 1024.0;

struct CpuMemory {
  double rss_bytes = 0, peak_bytes = 0;
};

// VmRSS and VmHWM of /proc/self/status (kB); nullopt where the file is not there.
std::optional<CpuMemory> read_cpu_memory() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return std::nullopt;
  CpuMemory m;
  int found = 0;
  char line[256];
  while (found < 2 && std::fgets(line, sizeof line, f) != nullptr) {
    long long kb = 0;
    if (std::strncmp(line, "Vm", 2) != 0) continue;
    if (std::sscanf(line, "VmRSS: %lld kB", &kb) == 1) {
      m.rss_bytes = static_cast<double>(kb) * 1024.0;
      ++found;
    } else if (std::sscanf(line, "VmHWM: %lld kB", &kb) == 1) {
      m.peak_bytes = static_cast<double>(kb) * 1024.0;
      ++found;
    }
  }
  std::fclose(f);
  if (found < 2) return std::nullopt;
  return m;
}

class Memory final : public trainscope::Plugin {
 public:
  explicit Memory(const trainscope::Options& opt)
      : every_(opt.get<int64_t>("log_every_n_steps")),
        per_phase_(opt.get<bool>("per_phase")),
        cpu_(opt.get<bool>("cpu")),
        cuda_wanted_(opt.get<bool>("cuda")) {
    // A relation between two options (the schema checks each option on its own).
    if (!cpu_ && !cuda_wanted_) throw std::invalid_argument("memory: cpu and cuda are both false: enable one");
  }

  void on_fit_begin(trainscope::HookContext& ctx) override {
    cuda_ = cuda_wanted_ && ctx.device().is_cuda() && torch::cuda::is_available();
    if (!cuda_) return;
    device_ = ctx.device().has_index() ? ctx.device().index() : c10::cuda::current_device();
    overall_peak_ = aggregate().allocated_bytes[kAll].peak;
  }

  void on_train_batch_begin(trainscope::HookContext& ctx) override {
    if (!cuda_ || !per_phase_ || !logs(ctx.step() + 1)) return;
    phase_peak();  // folds everything since the last logged step into the overall peak
  }

  void on_after_forward(trainscope::HookContext& ctx) override {
    if (cuda_ && per_phase_ && logs(ctx.step() + 1)) forward_peak_ = phase_peak();
  }

  void on_after_backward(trainscope::HookContext& ctx) override {
    if (cuda_ && per_phase_ && logs(ctx.step() + 1)) backward_peak_ = phase_peak();
  }

  void on_train_batch_end(trainscope::HookContext& ctx) override {
    const int64_t s = ctx.step();
    if (!logs(s)) return;
    auto& w = ctx.writer();
    if (cuda_) {
      const auto stats = aggregate();
      if (per_phase_) {
        // Clipping, optimizer.step() and the rest of the batch: since after_backward's reset.
        const double optimizer_peak = phase_peak();
        w.add_scalar("memory/cuda/forward_peak_mb", forward_peak_ / kMB, s);
        w.add_scalar("memory/cuda/backward_peak_mb", backward_peak_ / kMB, s);
        w.add_scalar("memory/cuda/optimizer_peak_mb", optimizer_peak / kMB, s);
      } else {
        overall_peak_ = std::max(overall_peak_, static_cast<double>(stats.allocated_bytes[kAll].peak));
      }
      w.add_scalar("memory/cuda/allocated_mb", static_cast<double>(stats.allocated_bytes[kAll].current) / kMB, s);
      w.add_scalar("memory/cuda/reserved_mb", static_cast<double>(stats.reserved_bytes[kAll].current) / kMB, s);
      w.add_scalar("memory/cuda/peak_mb", overall_peak_ / kMB, s);
    }
    if (cpu_) {
      if (auto m = read_cpu_memory()) {
        w.add_scalar("memory/cpu/rss_mb", m->rss_bytes / kMB, s);
        w.add_scalar("memory/cpu/peak_rss_mb", m->peak_bytes / kMB, s);
      }
    }
  }

 private:
  static constexpr size_t kAll = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);

  bool logs(int64_t s) const { return s % every_ == 0; }

  c10::CachingDeviceAllocator::DeviceStats aggregate() const {
    return c10::cuda::CUDACachingAllocator::getDeviceStats(device_);
  }

  // The allocated-bytes peak since the previous reset, folded into the overall peak; then
  // resets the allocator's peak so that the next phase starts from the current level.
  double phase_peak() {
    const double peak = static_cast<double>(aggregate().allocated_bytes[kAll].peak);
    overall_peak_ = std::max(overall_peak_, peak);
    c10::cuda::CUDACachingAllocator::resetPeakStats(device_);
    return peak;
  }

  int64_t every_;
  bool per_phase_, cpu_, cuda_wanted_;
  bool cuda_ = false;
  c10::DeviceIndex device_ = 0;
  double overall_peak_ = 0, forward_peak_ = 0, backward_peak_ = 0;
};

}  // namespace

TRAINSCOPE_PLUGIN(Memory, "memory", "1.0.0",
                  trainscope::option<int64_t>("log_every_n_steps", 50, "log at every N-th optimizer step").min(1),
                  trainscope::option<bool>("per_phase", true,
                                           "CUDA peaks per phase (forward, backward, optimizer); resets the "
                                           "allocator's peak counters at those steps"),
                  trainscope::option<bool>("cpu", true, "log the process's resident set (memory/cpu/...)"),
                  trainscope::option<bool>("cuda", true,
                                           "log the CUDA allocator's figures on a CUDA run (memory/cuda/...)"))
