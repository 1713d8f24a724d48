// profiler: libtorch's Kineto profiler on a wait/warmup/active schedule (Chrome traces under
// <run>/plugins/profile/, a top-operators table per cycle) and cheap per-phase step timings.
// Tags: time/data_ms, time/forward_ms, time/backward_ms, time/optimizer_ms, time/step_ms,
// profiler/top_ops. Options: see README.md.
#include <ATen/record_function.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/csrc/profiler/kineto_shim.h>
#include <torch/cuda.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

namespace kp = torch::autograd::profiler;
using Clock = std::chrono::steady_clock;

// What the schedule asks for at one step, as torch.profiler.schedule does.
enum class Action { kNone, kWarmup, kRecord, kRecordAndSave };

struct Schedule {
  int64_t skip_first = 0, wait = 1, warmup = 1, active = 3, repeat = 1;

  // `k`: the 0-based index of the training step among those this plugin has seen.
  Action at(int64_t k) const {
    if (k < skip_first) return Action::kNone;
    k -= skip_first;
    const int64_t cycle = wait + warmup + active;
    if (repeat > 0 && k / cycle >= repeat) return Action::kNone;
    const int64_t m = k % cycle;
    if (m < wait) return Action::kNone;
    if (m < wait + warmup) return Action::kWarmup;
    return m < cycle - 1 ? Action::kRecord : Action::kRecordAndSave;
  }
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ---- Top operators ------------------------------------------------------------------------

struct OpRow {
  int64_t calls = 0;
  uint64_t self_cpu_ns = 0, total_cpu_ns = 0, self_dev_ns = 0, total_dev_ns = 0;
};

// Aggregates the profiler's events by operator name, as PyTorch's key_averages() does: self
// time = own duration minus that of the ranges nested in it on the same thread; device time =
// the kernels (memcpys, memsets) whose launch was correlated with the operator, self for
// those launched directly, total including the operators nested in it.
std::string top_ops_table(const std::vector<kp::KinetoEvent>& events, size_t rows, bool device_columns,
                          const std::string& header) {
  struct Cpu {
    const kp::KinetoEvent* ev;
    uint64_t start, end;
    int64_t parent = -1;
    uint64_t self_ns = 0, self_dev = 0, total_dev = 0;
  };
  std::unordered_map<uint64_t, uint64_t> dev_by_corr;  // launching op's correlation id -> ns
  std::map<uint64_t, std::vector<Cpu>> by_thread;
  for (const auto& e : events) {
    if (e.deviceType() == c10::DeviceType::CPU) {
      if (e.isAsync() || e.endNs() < e.startNs()) continue;
      by_thread[e.startThreadId()].push_back(Cpu{&e, e.startNs(), e.endNs()});
    } else if (e.linkedCorrelationId() != 0) {
      dev_by_corr[e.linkedCorrelationId()] += e.durationNs();
    }
  }
  std::map<std::string, OpRow> by_name;
  for (auto& [tid, list] : by_thread) {
    std::sort(list.begin(), list.end(),
              [](const Cpu& a, const Cpu& b) { return a.start != b.start ? a.start < b.start : a.end > b.end; });
    std::vector<int64_t> open;
    for (size_t i = 0; i < list.size(); ++i) {
      Cpu& c = list[i];
      while (!open.empty() && list[open.back()].end < c.end) open.pop_back();  // not inside it
      c.parent = open.empty() ? -1 : open.back();
      c.self_ns = c.end - c.start;
      c.self_dev = c.total_dev = 0;
      const auto it = dev_by_corr.find(c.ev->correlationId());
      if (c.ev->correlationId() != 0 && it != dev_by_corr.end()) c.self_dev = c.total_dev = it->second;
      open.push_back(static_cast<int64_t>(i));
    }
    // Children follow their parent in this order: walk backwards to subtract and accumulate.
    for (size_t i = list.size(); i-- > 0;) {
      const Cpu& c = list[i];
      if (c.parent < 0) continue;
      Cpu& p = list[static_cast<size_t>(c.parent)];
      p.self_ns -= std::min(p.self_ns, c.end - c.start);
      p.total_dev += c.total_dev;
    }
    for (const Cpu& c : list) {
      std::string name = c.ev->name();
      if (name.rfind("ProfilerStep#", 0) == 0 || name == "[memory]") continue;  // not operators
      OpRow& r = by_name[name];
      ++r.calls;
      r.self_cpu_ns += c.self_ns;
      r.total_cpu_ns += c.end - c.start;
      r.self_dev_ns += c.self_dev;
      r.total_dev_ns += c.total_dev;
    }
  }
  std::vector<std::pair<std::string, OpRow>> sorted(by_name.begin(), by_name.end());
  std::stable_sort(sorted.begin(), sorted.end(), [device_columns](const auto& a, const auto& b) {
    if (device_columns && a.second.self_dev_ns != b.second.self_dev_ns) {
      return a.second.self_dev_ns > b.second.self_dev_ns;
    }
    return a.second.self_cpu_ns > b.second.self_cpu_ns;
  });
  if (sorted.size() > rows) sorted.resize(rows);

  std::ostringstream out;
  out << std::fixed << std::setprecision(3);
  out << header << "\n\n| operator | calls | self CPU ms | total CPU ms |";
  if (device_columns) out << " self CUDA ms | total CUDA ms |";
  out << "\n|---|---:|---:|---:|" << (device_columns ? "---:|---:|" : "") << "\n";
  for (const auto& [name, r] : sorted) {
    std::string shown = name;
    std::replace(shown.begin(), shown.end(), '|', '/');
    std::replace(shown.begin(), shown.end(), '`', '\'');
    out << "| `" << shown << "` | " << r.calls << " | " << r.self_cpu_ns * 1e-6 << " | " << r.total_cpu_ns * 1e-6
        << " |";
    if (device_columns) out << " " << r.self_dev_ns * 1e-6 << " | " << r.total_dev_ns * 1e-6 << " |";
    out << "\n";
  }
  return out.str();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// ---- Phase timing -------------------------------------------------------------------------

// The hook points a step's phases are measured between.
enum Mark : size_t { kBegin, kForward, kBackward, kBeforeOpt, kAfterOpt, kEnd, kMarks };

// One step's device events (CUDA): recorded on the current stream at each mark, read once the
// last one has completed, one or more steps later.
struct DeviceSlot {
  int64_t step = 0;
  std::optional<double> data_ms;
  bool optimizer = false;
  std::vector<c10::Event> events;

  explicit DeviceSlot(c10::DeviceType type) {
    events.reserve(kMarks);
    for (size_t i = 0; i < kMarks; ++i) events.emplace_back(type, c10::EventFlag::BACKEND_DEFAULT);
  }
};

class Profiler final : public trainscope::Plugin {
 public:
  explicit Profiler(const trainscope::Options& o)
      : trace_(o.get<bool>("trace")),
        record_shapes_(o.get<bool>("record_shapes")),
        profile_memory_(o.get<bool>("profile_memory")),
        with_stack_(o.get<bool>("with_stack")),
        timing_every_(o.get<int64_t>("timing_every_n_steps")),
        top_ops_(o.get<int64_t>("top_ops")) {
    schedule_.skip_first = o.get<int64_t>("skip_first");
    schedule_.wait = o.get<int64_t>("wait");
    schedule_.warmup = o.get<int64_t>("warmup");
    schedule_.active = o.get<int64_t>("active");
    schedule_.repeat = o.get<int64_t>("repeat");
    // Kineto probes for GPUs when it starts and logs "gpuGetDeviceCount failed" at ERROR level
    // on a machine without a driver, which reads as a failure of the run. Without a GPU that
    // probe is all it would say: quieten it unless the user chose a level.
    if (trace_ && std::getenv("KINETO_LOG_LEVEL") == nullptr && torch::cuda::device_count() == 0) {
      setenv("KINETO_LOG_LEVEL", "5", /*overwrite=*/0);  // above ERROR (3) and STAGE (4)
    }
  }

  ~Profiler() override {
    if (state_ != State::kIdle) {
      try {
        step_range_.reset();
        if (state_ == State::kPrepared) kp::enableProfiler(config(), activities_);
        kp::disableProfiler();
      } catch (...) {
        // Nothing to report to at this point.
      }
    }
    join_saver();
  }

  void on_fit_begin(trainscope::HookContext& ctx) override {
    // A trace a killed run was saving (libtorch writes <name>.tmp, then renames it): no other
    // process writes in this run directory (the trainer holds its lock), so it is stale.
    if (ctx.rank() == 0 && !ctx.writer().discards()) {
      namespace fs = std::filesystem;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(fs::path(ctx.run_dir()) / "plugins" / "profile", ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() > 18 && name.ends_with(".pt.trace.json.tmp")) fs::remove(e.path(), ec);
      }
    }
    device_ = ctx.device();
    rank_ = ctx.rank();
    world_size_ = ctx.world_size();
    scheduled_step_ = begun_step_ = -1;
    activities_ = {torch::profiler::impl::ActivityType::CPU};
    if (device_.is_cuda()) activities_.insert(torch::profiler::impl::ActivityType::CUDA);
    last_end_.reset();
  }

  void on_train_batch_begin(trainscope::HookContext& ctx) override {
    // Data time: since the previous batch of the same epoch ended (the loader's time and
    // whatever ran between the two batches' hooks). Taken first, and the forward's start
    // last, so that starting the profiler counts in neither.
    const auto arrived = Clock::now();
    const int64_t s = ctx.step() + 1;  // the optimizer step this batch makes
    std::optional<double> data;
    if (last_end_ && last_end_->step + 1 == s && last_end_->epoch == ctx.epoch()) data = ms(arrived - last_end_->at);
    poll_device();
    begun_step_ = s;
    if (trace_ && scheduled_step_ != s) advance_schedule(s);  // else done at the last batch's end
    timed_ = timing_every_ > 0 && s % timing_every_ == 0;
    if (!timed_) return;
    cur_ = Current{};
    cur_.step = s;
    cur_.data_ms = data;
    mark(kBegin, Clock::now());
  }
  void on_after_forward(trainscope::HookContext&) override { mark(kForward, Clock::now()); }
  void on_after_backward(trainscope::HookContext&) override { mark(kBackward, Clock::now()); }
  void on_before_optimizer_step(trainscope::HookContext&) override { mark(kBeforeOpt, Clock::now()); }
  void on_after_optimizer_step(trainscope::HookContext&) override {
    mark(kAfterOpt, Clock::now());
    cur_.optimizer = timed_;
  }

  void on_train_batch_end(trainscope::HookContext& ctx) override {
    if (timed_) {
      mark(kEnd, Clock::now());
      finish_timing(ctx);
      timed_ = false;
    }
    if (step_range_) step_range_.reset();  // ends ProfilerStep#N
    if (state_ == State::kRecording && action_ == Action::kRecordAndSave) finish_cycle(ctx, /*complete=*/true);
    // As torch.profiler's step() at the end of an iteration: the next step starts now, so that
    // its ProfilerStep range holds the loading of its batch (the trainer's DataLoader range).
    // Not across an epoch's end (validation and the epoch's hooks would count as its time).
    if (trace_ && ctx.batch_index() + 1 < ctx.batches_per_epoch() && !ctx.stop_requested()) {
      advance_schedule(ctx.step() + 1);
    }
    last_end_ = LastEnd{ctx.step(), ctx.epoch(), Clock::now()};
  }

  // A step opened at the last batch's end whose batch never came (max_steps, a stop request
  // after this plugin's hook): end its range here rather than at the fit's end.
  void on_epoch_end(trainscope::HookContext&) override {
    if (step_range_ && scheduled_step_ != begun_step_) step_range_.reset();
  }

  void on_fit_end(trainscope::HookContext& ctx) override {
    stop_profiler(ctx);
    poll_device();
    flush_timings(ctx);
    join_saver();
  }

  void on_exception(trainscope::HookContext& ctx) override {
    stop_profiler(ctx);
    join_saver();
  }

 private:
  enum class State { kIdle, kPrepared, kRecording };
  struct LastEnd {
    int64_t step, epoch;
    Clock::time_point at;
  };
  struct Current {
    int64_t step = 0;
    std::optional<double> data_ms;
    bool optimizer = false;
    std::array<Clock::time_point, kMarks> at{};
  };

  kp::ProfilerConfig config() const {
    return kp::ProfilerConfig(kp::ProfilerState::KINETO, record_shapes_, profile_memory_, with_stack_);
  }

  // Moves the Kineto state machine for step `s` (as torch.profiler.profile.step() does) and
  // opens its ProfilerStep#s range while recording.
  void advance_schedule(int64_t s) {
    // The run's step index, not the batches this fit has seen: a resumed fit profiles the
    // steps an uninterrupted run profiles, and writes no second table for the steps before
    // its checkpoint (docs/reliability.md).
    action_ = schedule_.at(s - 1);
    scheduled_step_ = s;
    try {
      if (action_ == Action::kWarmup && state_ == State::kIdle) {
        join_saver();  // one cycle's trace at a time
        kp::prepareProfiler(config(), activities_);
        state_ = State::kPrepared;
      }
      if ((action_ == Action::kRecord || action_ == Action::kRecordAndSave) && state_ != State::kRecording) {
        if (state_ == State::kIdle) {
          join_saver();
          kp::prepareProfiler(config(), activities_);
          state_ = State::kPrepared;
        }
        kp::enableProfiler(config(), activities_);
        state_ = State::kRecording;
        cycle_first_step_ = s;
        // The key torch.profiler writes for torch.distributed runs; Holistic Trace Analysis
        // reads each trace's rank from it (and assumes rank 0, with a warning, without it).
        kp::addMetadataJson("distributedInfo", "{\"rank\": " + std::to_string(rank_) +
                                                   ", \"world_size\": " + std::to_string(world_size_) + "}");
      }
    } catch (const std::exception& e) {
      // Another profiler on this thread, or a libtorch without Kineto: keep the timings.
      std::fprintf(stderr, "[trainscope] profiler: Kineto profiling is off for this run: %s\n", e.what());
      trace_ = false;
      state_ = State::kIdle;
      return;
    }
    if (state_ == State::kRecording) {
      step_name_ = "ProfilerStep#" + std::to_string(s);  // outlives the range: it keeps a view
      step_range_.emplace(at::RecordScope::USER_SCOPE);
      if (step_range_->isActive()) step_range_->before(step_name_);
    }
  }

  // Stops a cycle cut short (fit end, exception): a recording one is saved, a warming one dropped.
  void stop_profiler(trainscope::HookContext& ctx) {
    step_range_.reset();
    if (state_ == State::kRecording) {
      finish_cycle(ctx, /*complete=*/false);
    } else if (state_ == State::kPrepared) {
      try {
        kp::enableProfiler(config(), activities_);
        kp::disableProfiler();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "[trainscope] profiler: stopping the profiler failed: %s\n", e.what());
      }
      state_ = State::kIdle;
    }
  }

  // Ends the cycle: collects the events (training thread, unavoidable: disableProfiler must
  // run there), logs the top-operators table, and writes the trace on a background thread.
  void finish_cycle(trainscope::HookContext& ctx, bool complete) {
    state_ = State::kIdle;
    std::unique_ptr<kp::ProfilerResult> result = kp::disableProfiler();
    if (!result) return;
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(ctx.run_dir()) / "plugins" / "profile";
    const auto now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const std::string file =
        host_name() + "_" + std::to_string(getpid()) + "." + std::to_string(now_ns) + ".pt.trace.json";
    const int64_t last = std::max(cycle_first_step_, ctx.step());  // the last step recorded
    if (top_ops_ > 0) {
      std::ostringstream header;
      header << "Steps " << cycle_first_step_ << "-" << last << (complete ? "" : " (cycle cut short)")
             << ", trace `plugins/profile/" << file << "`";
      ctx.writer().add_text(
          "profiler/top_ops",
          top_ops_table(result->events(), static_cast<size_t>(top_ops_), device_.is_cuda(), header.str()), last);
    }
    join_saver();
    // A writer that keeps nothing (ranks other than 0, --no-log): no trace file either.
    if (ctx.writer().discards()) return;
    saver_ = std::thread([result = std::move(result), dir, file]() mutable {
      try {
        fs::create_directories(dir);
        result->save((dir / file).string());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "[trainscope] profiler: writing %s failed: %s\n", (dir / file).c_str(), e.what());
      }
      result.reset();  // the events go with it, off the training thread
    });
  }

  void join_saver() {
    if (saver_.joinable()) saver_.join();
  }

  // ---- timing ----

  void mark(Mark m, Clock::time_point now) {
    if (!timed_) return;
    cur_.at[m] = now;
    if (!device_.is_cuda()) return;
    if (!slot_) slot_ = take_slot();
    slot_->events[m].record(stream());
  }

  c10::Stream stream() const { return c10::impl::VirtualGuardImpl(device_.type()).getStream(device_); }

  std::unique_ptr<DeviceSlot> take_slot() {
    if (!free_.empty()) {
      auto s = std::move(free_.back());
      free_.pop_back();
      return s;
    }
    return std::make_unique<DeviceSlot>(device_.type());
  }

  void finish_timing(trainscope::HookContext& ctx) {
    if (!device_.is_cuda()) {
      auto& w = ctx.writer();
      const auto& t = cur_.at;
      if (cur_.data_ms) w.add_scalar("time/data_ms", *cur_.data_ms, cur_.step);
      w.add_scalar("time/forward_ms", ms(t[kForward] - t[kBegin]), cur_.step);
      w.add_scalar("time/backward_ms", ms(t[kBackward] - t[kForward]), cur_.step);
      if (cur_.optimizer) w.add_scalar("time/optimizer_ms", ms(t[kAfterOpt] - t[kBeforeOpt]), cur_.step);
      w.add_scalar("time/step_ms", ms(t[kEnd] - t[kBegin]), cur_.step);
      return;
    }
    // CUDA: the host times above measure launches; the events measure the device's work. They
    // are read when done (polled at the next batches and at fit end), never waited for.
    slot_->step = cur_.step;
    slot_->data_ms = cur_.data_ms;
    slot_->optimizer = cur_.optimizer;
    pending_.push_back(std::move(slot_));
    writer_ = &ctx.writer();
    if (pending_.size() > kMaxPending) {  // the device is far behind: drop the oldest
      free_.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
  }

  void poll_device() {
    while (!pending_.empty() && pending_.front()->events[kEnd].query()) {
      DeviceSlot& s = *pending_.front();
      const auto& e = s.events;
      auto& w = *writer_;
      if (s.data_ms) w.add_scalar("time/data_ms", *s.data_ms, s.step);
      w.add_scalar("time/forward_ms", e[kBegin].elapsedTime(e[kForward]), s.step);
      w.add_scalar("time/backward_ms", e[kForward].elapsedTime(e[kBackward]), s.step);
      if (s.optimizer) w.add_scalar("time/optimizer_ms", e[kBeforeOpt].elapsedTime(e[kAfterOpt]), s.step);
      w.add_scalar("time/step_ms", e[kBegin].elapsedTime(e[kEnd]), s.step);
      free_.push_back(std::move(pending_.front()));
      pending_.pop_front();
    }
  }

  // At fit end the trainer has already read the device (epoch metrics), so what is left is done.
  void flush_timings(trainscope::HookContext& ctx) {
    if (!pending_.empty()) {
      writer_ = &ctx.writer();
      poll_device();
    }
    if (!pending_.empty()) {
      std::fprintf(stderr, "[trainscope] profiler: %zu step timings were still on the device at fit end; not logged\n",
                   pending_.size());
      for (auto& s : pending_) free_.push_back(std::move(s));
      pending_.clear();
    }
  }

  static constexpr size_t kMaxPending = 64;

  Schedule schedule_;
  bool trace_;
  const bool record_shapes_, profile_memory_, with_stack_;
  const int64_t timing_every_, top_ops_;

  c10::Device device_{c10::kCPU};
  std::set<torch::profiler::impl::ActivityType> activities_;
  State state_ = State::kIdle;
  Action action_ = Action::kNone;
  int64_t cycle_first_step_ = 0;
  int64_t scheduled_step_ = -1;  // the step whose schedule action has been taken
  int64_t begun_step_ = -1;      // the step whose train_batch_begin ran last
  int rank_ = 0, world_size_ = 1;
  std::string step_name_;
  std::optional<at::RecordFunction> step_range_;
  std::thread saver_;

  bool timed_ = false;
  Current cur_;
  std::optional<LastEnd> last_end_;
  std::unique_ptr<DeviceSlot> slot_;
  std::deque<std::unique_ptr<DeviceSlot>> pending_;
  std::vector<std::unique_ptr<DeviceSlot>> free_;
  trainscope::SummaryWriter* writer_ = nullptr;
};

}  // namespace

TRAINSCOPE_PLUGIN(
    Profiler, "profiler", "1.0.0",
    trainscope::option<int64_t>("wait", 1, "steps of each cycle with the profiler off").min(0),
    trainscope::option<int64_t>("warmup", 1, "steps of each cycle with the profiler warming up (not recorded)"),
    trainscope::option<int64_t>("active", 3, "steps of each cycle recorded into one trace").min(1),
    trainscope::option<int64_t>("repeat", 1, "number of cycles (0: until the fit ends)").min(0),
    trainscope::option<int64_t>("skip_first", 0, "steps to skip before the first cycle").min(0),
    trainscope::option<bool>("trace", true, "run the Kineto profiler (false: timings only)"),
    trainscope::option<bool>("record_shapes", false, "record operator input shapes"),
    trainscope::option<bool>("profile_memory", false, "record tensor allocations and frees"),
    trainscope::option<bool>("with_stack", false, "record call stacks (TorchScript/Python frames only)"),
    trainscope::option<int64_t>("timing_every_n_steps", 1, "log phase timings every n steps (0: never)").min(0),
    trainscope::option<int64_t>("top_ops", 15, "rows of the top-operators table per cycle (0: none)").min(0))
