// bench_latency: measurements that Google Benchmark's mean-per-iteration model does not fit.
// Prints one JSON object on stdout (bench/compare.py reads it).
//
//   bench_latency latency [--calls N] [--warmup N]
//       Times every add_scalar call on its own with std::chrono::steady_clock on a writer
//       with default options, and reports percentiles of the per-call times. The numbers
//       include one clock read (clock_overhead_ns reports its median cost).
//   bench_latency memory [--scalars N] [--sample-every N]
//       Logs N scalars on a writer with default options, samples stats() every few calls and
//       reports the largest queued_records / queued_bytes seen, the configured bounds and
//       peak RSS (getrusage ru_maxrss) before and after.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "trainscope/summary_writer.h"

namespace {

using trainscope::SummaryWriter;
using trainscope::bench::TempDir;
using Clock = std::chrono::steady_clock;

int64_t ns_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count();
}

// Nearest-rank percentile of sorted values.
int64_t percentile(const std::vector<int64_t>& sorted, double p) {
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;  // KiB on Linux
}

long current_rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int64_t flag(int argc, char** argv, const char* name, int64_t fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::strtoll(argv[i + 1], nullptr, 10);
  return fallback;
}

int run_latency(int64_t calls, int64_t warmup) {
  // Median cost of the clock read that each sample includes.
  std::vector<int64_t> clock_ns(100'000);
  for (auto& v : clock_ns) {
    const auto a = Clock::now();
    const auto b = Clock::now();
    v = ns_between(a, b);
  }
  std::sort(clock_ns.begin(), clock_ns.end());

  TempDir dir;
  SummaryWriter writer(dir.sub("run"));
  // Warm-up: fault in the queue's storage, start the writer thread's first batches.
  for (int64_t i = 0; i < warmup; ++i) writer.add_scalar("loss", static_cast<double>(i) * 1e-3, i);
  writer.flush();

  std::vector<int64_t> ns(static_cast<size_t>(calls), 0);
  const auto loop_start = Clock::now();
  for (int64_t i = 0; i < calls; ++i) {
    const auto a = Clock::now();
    writer.add_scalar("loss", static_cast<double>(i) * 1e-3, warmup + i);
    const auto b = Clock::now();
    ns[static_cast<size_t>(i)] = ns_between(a, b);
  }
  const double loop_s = std::chrono::duration<double>(Clock::now() - loop_start).count();
  const trainscope::WriteStatus status = writer.close();
  const trainscope::WriterStats st = writer.stats();

  double sum = 0;
  int64_t over_1us = 0, over_10us = 0;
  for (int64_t v : ns) {
    sum += static_cast<double>(v);
    over_1us += v > 1'000;
    over_10us += v > 10'000;
  }
  std::sort(ns.begin(), ns.end());
  std::printf(
      "{\"mode\": \"latency\", \"calls\": %lld, \"warmup\": %lld, \"ok\": %s, \"written\": %llu,\n"
      " \"clock_overhead_ns\": %lld, \"mean_ns\": %.1f, \"p50_ns\": %lld, \"p90_ns\": %lld, \"p99_ns\": %lld,\n"
      " \"p999_ns\": %lld, \"max_ns\": %lld, \"calls_over_1us\": %lld, \"calls_over_10us\": %lld,\n"
      " \"loop_calls_per_second\": %.0f}\n",
      static_cast<long long>(calls), static_cast<long long>(warmup), status.ok ? "true" : "false",
      static_cast<unsigned long long>(st.written), static_cast<long long>(percentile(clock_ns, 50)), sum / calls,
      static_cast<long long>(percentile(ns, 50)), static_cast<long long>(percentile(ns, 90)),
      static_cast<long long>(percentile(ns, 99)), static_cast<long long>(percentile(ns, 99.9)),
      static_cast<long long>(ns.back()), static_cast<long long>(over_1us), static_cast<long long>(over_10us),
      static_cast<double>(calls) / loop_s);
  return status.ok && st.written == static_cast<uint64_t>(calls + warmup) ? 0 : 1;
}

int run_memory(int64_t scalars, int64_t sample_every) {
  const long rss_before = current_rss_kib();
  const long peak_before = peak_rss_kib();
  const trainscope::EventWriterOptions defaults;

  TempDir dir;
  SummaryWriter writer(dir.sub("run"));
  size_t max_records = 0, max_bytes = 0;
  int64_t samples = 0;
  const auto start = Clock::now();
  for (int64_t i = 0; i < scalars; ++i) {
    writer.add_scalar("loss", static_cast<double>(i) * 1e-3, i);
    if (i % sample_every == 0) {
      const trainscope::WriterStats st = writer.stats();
      max_records = std::max(max_records, st.queued_records);
      max_bytes = std::max(max_bytes, st.queued_bytes);
      ++samples;
    }
  }
  const trainscope::WriteStatus status = writer.close();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const trainscope::WriterStats st = writer.stats();

  std::printf(
      "{\"mode\": \"memory\", \"scalars\": %lld, \"ok\": %s, \"written\": %llu, \"bytes_written\": %llu,\n"
      " \"seconds\": %.3f, \"scalars_per_second\": %.0f, \"samples\": %lld,\n"
      " \"max_queued_records\": %zu, \"max_queued_bytes\": %zu,\n"
      " \"bound_queue_records\": %zu, \"bound_queue_bytes\": %zu,\n"
      " \"rss_before_kib\": %ld, \"peak_rss_before_kib\": %ld, \"peak_rss_after_kib\": %ld}\n",
      static_cast<long long>(scalars), status.ok ? "true" : "false", static_cast<unsigned long long>(st.written),
      static_cast<unsigned long long>(st.bytes_written), seconds, static_cast<double>(scalars) / seconds,
      static_cast<long long>(samples), max_records, max_bytes, defaults.max_queue_records, defaults.max_queue_bytes,
      rss_before, peak_before, peak_rss_kib());
  return status.ok && st.written == static_cast<uint64_t>(scalars) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "latency")
    return run_latency(flag(argc, argv, "--calls", 1'000'000), flag(argc, argv, "--warmup", 100'000));
  if (mode == "memory")
    return run_memory(flag(argc, argv, "--scalars", 10'000'000),
                      std::max<int64_t>(1, flag(argc, argv, "--sample-every", 64)));
  std::fprintf(stderr,
               "usage: %s latency [--calls N] [--warmup N]\n"
               "       %s memory [--scalars N] [--sample-every N]\n",
               argv[0], argv[0]);
  return 2;
}
