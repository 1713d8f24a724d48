// Host buffer pool (see host_buffer_pool.h).
#include <ATen/ATen.h>

#include "host_buffer_pool.h"

#include <cstdlib>
#include <map>
#include <mutex>

namespace trainscope::detail {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kGranule = 4096;                // sizes are rounded up to whole pages
constexpr size_t kMaxCachedBytes = size_t{256} << 20;

class Pool {
 public:
  static Pool& get() {
    static auto* pool = new Pool;  // leaked: buffers may come back during static destruction
    return *pool;
  }

  void* take(size_t bytes) {
    {
      std::lock_guard lk(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        cached_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }

  void give(void* p, size_t bytes) {
    {
      std::lock_guard lk(mu_);
      if (cached_ + bytes <= kMaxCachedBytes) {
        free_.emplace(bytes, p);
        cached_ += bytes;
        return;
      }
    }
    std::free(p);
  }

  size_t cached() {
    std::lock_guard lk(mu_);
    return cached_;
  }

 private:
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  size_t cached_ = 0;
};

}  // namespace

at::Tensor pooled_empty(at::IntArrayRef sizes, at::ScalarType dtype) {
  int64_t numel = 1;
  for (int64_t s : sizes) numel *= s;
  const size_t raw = static_cast<size_t>(numel) * at::elementSize(dtype);
  const size_t bytes = std::max(kGranule, (raw + kGranule - 1) / kGranule * kGranule);
  void* p = Pool::get().take(bytes);
  return at::from_blob(
      p, sizes, [bytes](void* ptr) { Pool::get().give(ptr, bytes); }, at::TensorOptions().dtype(dtype));
}

size_t pooled_bytes() { return Pool::get().cached(); }

}  // namespace trainscope::detail
