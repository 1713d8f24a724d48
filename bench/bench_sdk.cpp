// Google Benchmark programs for the SummaryWriter workloads that bench/compare.py runs on
// PyTorch's writer too. Names:
//   *EndToEnd  the caller's time until the data is on disk (close() or flush() returned), so
//              the writer thread's encoding and I/O are inside the measurement;
//   *Call      the caller-side cost of the add_* call alone (flush outside the timing).
// Time is wall-clock (manual or real time), never the calling thread's CPU time, because
// most of the work happens on the writer thread.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "temp_dir.h"
#include "trainscope/histogram.h"
#include "trainscope/summary_writer.h"

namespace {

using trainscope::SummaryWriter;
using trainscope::bench::TempDir;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Reports a failed close()/flush() or a record that did not reach the file, so a fast but
// broken writer cannot produce a number.
bool check_written(benchmark::State& state, const SummaryWriter& writer, const trainscope::WriteStatus& status,
                   uint64_t expected) {
  static thread_local std::string error;
  const trainscope::WriterStats st = writer.stats();
  if (!status.ok) {
    error = "write error: " + status.message;
  } else if (st.written != expected) {
    error = "expected " + std::to_string(expected) + " records written, got " + std::to_string(st.written) +
            " (encode errors: " + std::to_string(st.encode_errors) + ")";
  } else {
    return true;
  }
  state.SkipWithError(error.c_str());
  return false;
}

// Times `log(writer, step)` plus flush() per iteration (the call, the writer thread's work and
// the write), on a fresh run dir; `items` values are counted per iteration.
template <typename Log>
void time_call_and_flush(benchmark::State& state, int64_t items, Log log) {
  TempDir dir;
  SummaryWriter writer(dir.sub("run"));
  int64_t step = 0;
  for (auto _ : state) {
    log(writer, step++);
    const trainscope::WriteStatus status = writer.flush();
    if (!check_written(state, writer, status, static_cast<uint64_t>(step))) break;
  }
  state.SetItemsProcessed(state.iterations() * items);
  writer.close();
}

// n scalars from the first add_scalar until close() returns. Creating the writer (and its
// log dir) is setup and not timed; PyTorch's side in compare.py is timed the same way.
void BM_AddScalarEndToEnd(benchmark::State& state) {
  const int64_t n = state.range(0);
  for (auto _ : state) {
    TempDir dir;
    SummaryWriter writer(dir.sub("run"));
    const auto start = Clock::now();
    for (int64_t i = 0; i < n; ++i) writer.add_scalar("loss", static_cast<double>(i) * 1e-3, i);
    const trainscope::WriteStatus status = writer.close();
    state.SetIterationTime(seconds_since(start));
    if (!check_written(state, writer, status, static_cast<uint64_t>(n))) break;
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_AddScalarEndToEnd)->Arg(1'000'000)->UseManualTime()->Unit(benchmark::kMillisecond);

// Mean cost of one add_scalar in a tight loop on one writer (default options). When the
// caller outruns the writer thread the bounded queue blocks it, so this is the sustained
// rate, not the latency of an uncontended call (bench_latency measures that).
void BM_AddScalarCall(benchmark::State& state) {
  TempDir dir;
  SummaryWriter writer(dir.sub("run"));
  int64_t step = 0;
  for (auto _ : state) {
    writer.add_scalar("loss", static_cast<double>(step) * 1e-3, step);
    ++step;
  }
  state.SetItemsProcessed(state.iterations());
  writer.close();
}
BENCHMARK(BM_AddScalarCall)->UseRealTime();

at::Tensor histogram_input() {
  at::manual_seed(0);
  return at::randn({1'000'000}, at::kFloat);
}

// One add_histogram of 1M float32 values (default "tensorflow" bins) plus flush(): binning
// and encoding run on the writer thread, flush() waits for them and the write.
void BM_AddHistogramEndToEnd(benchmark::State& state) {
  const at::Tensor values = histogram_input();
  time_call_and_flush(state, 1, [&](SummaryWriter& w, int64_t step) { w.add_histogram("weights", values, step); });
}
BENCHMARK(BM_AddHistogramEndToEnd)->UseRealTime()->Unit(benchmark::kMillisecond);

// The caller-side part of the same: validation and the host snapshot (a copy of the input).
void BM_AddHistogramCall(benchmark::State& state) {
  const at::Tensor values = histogram_input();
  TempDir dir;
  SummaryWriter writer(dir.sub("run"));
  int64_t step = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    writer.add_histogram("weights", values, step++);
    state.SetIterationTime(seconds_since(start));
    writer.flush();  // keep the writer idle for the next call
  }
  state.SetItemsProcessed(state.iterations());
  writer.close();
}
// Only the call is timed but every iteration also waits for a flush: a short MinTime keeps
// the wall time of the run reasonable (the default 0.5 s of manual time would take ~20 s for
// the image below).
BENCHMARK(BM_AddHistogramCall)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);

// The binning of the same 1M values alone (compute_histogram, default bins: statistics and
// buckets in one pass, on this thread and the chunk pool). CPU time is that of every thread
// of the process, so it shows the work itself even on a busy machine where the wall time of
// the rows above swings.
void BM_HistogramBinning(benchmark::State& state) {
  const at::Tensor values = histogram_input();
  const float* v = values.data_ptr<float>();
  const auto n = static_cast<size_t>(values.numel());
  for (auto _ : state) {
    trainscope::HistogramData h = trainscope::compute_histogram(v, n, trainscope::HistogramBins::tensorflow());
    benchmark::DoNotOptimize(h.bucket.data());
  }
  state.SetItemsProcessed(state.iterations() * values.numel());
}
BENCHMARK(BM_HistogramBinning)->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMicrosecond);

// 100M float32 values (400 MB, a large model's weights): add_histogram plus flush(). Tensors
// this large are binned during the call (no copy), on the calling thread and the writer's
// helper threads.
constexpr int64_t kHugeHistogram = 100'000'000;

const at::Tensor& huge_histogram_input() {
  static const at::Tensor values = [] {
    at::manual_seed(0);
    return at::randn({kHugeHistogram}, at::kFloat);
  }();
  return values;
}

void BM_AddHistogramHugeEndToEnd(benchmark::State& state) {
  const at::Tensor& values = huge_histogram_input();
  time_call_and_flush(state, kHugeHistogram,
                      [&](SummaryWriter& w, int64_t step) { w.add_histogram("weights", values, step); });
}
BENCHMARK(BM_AddHistogramHugeEndToEnd)->UseRealTime()->MinTime(0.3)->Unit(benchmark::kMillisecond);

// The reference for the row above: one plain pass over the same buffer, summing it on one
// thread (16 independent float sums, which the compiler vectorises): the time to read the
// data once.
void BM_ReadSumHuge(benchmark::State& state) {
  const at::Tensor& values = huge_histogram_input();
  const float* v = values.data_ptr<float>();
  for (auto _ : state) {
    float acc[16] = {};
    for (int64_t i = 0; i + 16 <= kHugeHistogram; i += 16) {
      for (int j = 0; j < 16; ++j) acc[j] += v[i + j];
    }
    float total = 0;
    for (float a : acc) total += a;
    benchmark::DoNotOptimize(total);
  }
  state.SetItemsProcessed(state.iterations() * kHugeHistogram);
}
BENCHMARK(BM_ReadSumHuge)->UseRealTime()->MinTime(0.3)->Unit(benchmark::kMillisecond);

at::Tensor image_input() {
  at::manual_seed(0);
  return at::rand({3, 256, 256}, at::kFloat);
}

// Caller-side cost of add_image on a 3x256x256 float CHW tensor; conversion to uint8 and PNG
// encoding happen on the writer thread and are flushed outside the timing.
void BM_AddImageCall(benchmark::State& state) {
  const at::Tensor image = image_input();
  TempDir dir;
  SummaryWriter writer(dir.sub("run"));
  int64_t step = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    writer.add_image("sample", image, step++);
    state.SetIterationTime(seconds_since(start));
    writer.flush();
  }
  state.SetItemsProcessed(state.iterations());
  writer.close();
}
BENCHMARK(BM_AddImageCall)->UseManualTime()->MinTime(0.05)->Unit(benchmark::kMicrosecond);

// add_image plus flush(): the image is converted, PNG-encoded and written.
void BM_AddImageEndToEnd(benchmark::State& state) {
  const at::Tensor image = image_input();
  time_call_and_flush(state, 1, [&](SummaryWriter& w, int64_t step) { w.add_image("sample", image, step); });
}
BENCHMARK(BM_AddImageEndToEnd)->UseRealTime()->Unit(benchmark::kMicrosecond);

// add_images of a batch of 64 3x32x32 float images (tiled 8 x 8 into one 256x256 PNG) plus
// flush().
void BM_AddImagesEndToEnd(benchmark::State& state) {
  at::manual_seed(0);
  const at::Tensor images = at::rand({64, 3, 32, 32}, at::kFloat);
  time_call_and_flush(state, 1, [&](SummaryWriter& w, int64_t step) { w.add_images("batch", images, step); });
}
BENCHMARK(BM_AddImagesEndToEnd)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
