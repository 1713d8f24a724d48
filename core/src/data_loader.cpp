// BatchLoader: a per-epoch permutation from (seed, epoch) and index_select batches.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "trainscope/data.h"

namespace trainscope {
namespace {

// SplitMix64: decorrelates nearby (seed, epoch) pairs.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

BatchLoader::BatchLoader(TensorDataset data, LoaderOptions options) : data_(std::move(data)), options_(options) {
  TORCH_CHECK(options_.batch_size > 0, "BatchLoader: batch_size must be positive, got ", options_.batch_size);
  TORCH_CHECK(data_.inputs.defined() && data_.targets.defined(), "BatchLoader: the dataset has no inputs or targets");
  TORCH_CHECK(data_.inputs.dim() >= 1 && data_.targets.dim() == 1 && data_.inputs.size(0) == data_.targets.size(0),
              "BatchLoader: inputs ", data_.inputs.sizes(), " and targets ", data_.targets.sizes(),
              " must hold the same number of samples");
  data_.inputs = data_.inputs.contiguous();
  data_.targets = data_.targets.contiguous();
  // Pinned staging only pays when the data sits on the host and the batches go to a GPU.
  pinned_ = options_.pin_memory && options_.device.is_cuda() && data_.inputs.device().is_cpu();
  set_epoch(0);
}

void BatchLoader::set_epoch(int64_t epoch) {
  const int64_t n = data_.size();
  if (options_.shuffle) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(mix(options_.seed ^ mix(static_cast<uint64_t>(epoch))));
    order_ = at::randperm(n, gen, at::TensorOptions(at::kLong));
  } else {
    order_ = at::arange(n, at::TensorOptions(at::kLong));
  }
  if (data_.inputs.device() != order_.device()) order_ = order_.to(data_.inputs.device());
}

int64_t BatchLoader::batches() const {
  const int64_t n = data_.size(), bs = options_.batch_size;
  return options_.drop_last ? n / bs : (n + bs - 1) / bs;
}

Batch BatchLoader::batch(int64_t i) const {
  TORCH_CHECK(i >= 0 && i < batches(), "BatchLoader: batch ", i, " of ", batches());
  const int64_t start = i * options_.batch_size;
  const int64_t len = std::min(options_.batch_size, data_.size() - start);
  const at::Tensor idx = order_.narrow(0, start, len);
  const c10::Device dev = options_.device;
  if (!pinned_) {
    return {data_.inputs.index_select(0, idx).to(dev), data_.targets.index_select(0, idx).to(dev)};
  }
  // Gather into pinned memory, then copy asynchronously. The caching host allocator keeps each
  // pinned block alive until its copy has finished, so a fresh buffer per batch is safe.
  auto gather = [&](const at::Tensor& src) {
    auto shape = src.sizes().vec();
    shape[0] = len;
    at::Tensor buf = at::empty(shape, src.options().pinned_memory(true));
    at::index_select_out(buf, src, 0, idx);
    return buf.to(dev, /*non_blocking=*/true);
  };
  return {gather(data_.inputs), gather(data_.targets)};
}

}  // namespace trainscope
