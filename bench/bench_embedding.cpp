// add_embedding of a 10,000 x 128 float32 matrix with one label per row (the workload
// bench/compare_embedding.py also runs on PyTorch's writer, on the same data):
//   BM_AddEmbeddingEndToEnd  add_embedding + flush(): until tensors.tsv, metadata.tsv and
//                            projector_config.pbtxt are on disk (formatting and I/O run on
//                            the writer thread, inside the timing);
//   BM_AddEmbeddingCall      the caller's part alone (validation, snapshot, metadata text).
//
//   bench_embedding --write-to <dir>   writes that one embedding into <dir> and exits (no
//                                      benchmarks), so compare_embedding.py can check that
//                                      both writers produced the same files.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "trainscope/summary_writer.h"

namespace {

using trainscope::SummaryWriter;
using trainscope::bench::TempDir;
using Clock = std::chrono::steady_clock;

constexpr int64_t kRows = 10'000;
constexpr int64_t kDim = 128;

// torch.manual_seed(0); torch.randn(10000, 128) and ["label_0", ...] in compare_embedding.py.
const at::Tensor& matrix() {
  static const at::Tensor m = [] {
    at::manual_seed(0);
    return at::randn({kRows, kDim}, at::kFloat);
  }();
  return m;
}

const std::vector<std::string>& labels() {
  static const std::vector<std::string> l = [] {
    std::vector<std::string> out;
    for (int64_t i = 0; i < kRows; ++i) out.push_back("label_" + std::to_string(i));
    return out;
  }();
  return l;
}

bool check(benchmark::State& state, SummaryWriter& writer, const trainscope::WriteStatus& status) {
  if (status.ok && writer.stats().encode_errors == 0) return true;
  static thread_local std::string error;
  error = "embedding not written: " +
          (status.ok ? std::to_string(writer.stats().encode_errors) + " errors" : status.message);
  state.SkipWithError(error.c_str());
  return false;
}

void BM_AddEmbeddingEndToEnd(benchmark::State& state) {
  const at::Tensor& mat = matrix();
  const auto& meta = labels();
  for (auto _ : state) {
    TempDir dir;
    SummaryWriter writer(dir.sub("run"));
    const auto start = Clock::now();
    writer.add_embedding(mat, meta, {}, 0, "default");
    const trainscope::WriteStatus status = writer.flush();
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    if (!check(state, writer, status)) break;
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}
BENCHMARK(BM_AddEmbeddingEndToEnd)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_AddEmbeddingCall(benchmark::State& state) {
  const at::Tensor& mat = matrix();
  const auto& meta = labels();
  for (auto _ : state) {
    TempDir dir;
    SummaryWriter writer(dir.sub("run"));
    const auto start = Clock::now();
    writer.add_embedding(mat, meta, {}, 0, "default");
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
    if (!check(state, writer, writer.flush())) break;
  }
  state.SetItemsProcessed(state.iterations() * kRows);
}
// Fixed iterations: each one also waits (untimed) for the writer thread, so letting the
// library pick the count from a few-ms call time would make the run take minutes.
BENCHMARK(BM_AddEmbeddingCall)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--write-to") == 0) {
    SummaryWriter writer(argv[2]);
    writer.add_embedding(matrix(), labels(), {}, 0, "default");
    const trainscope::WriteStatus status = writer.close();
    if (!status.ok || writer.stats().encode_errors != 0) {
      std::cerr << "bench_embedding: embedding not written: " << status.message << "\n";
      return 1;
    }
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
