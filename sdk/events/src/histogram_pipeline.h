// Counting slots one batch behind the vector work that computes them, shared by the
// vectorised default-edge kernels (histogram_kernels_avx2.cpp, histogram_kernels_avx512.cpp).
//
// Slots are stored into one of two buffers of kBatch blocks of 16 and counted one batch
// later, interleaved with the vector work of the next batch: the counter increments (scalar
// loads and stores) then run beside the vector arithmetic instead of after it, and they read
// slots stored long before, never waiting on a store that is still in flight.
#pragma once

#include <cstddef>

#include "trainscope/detail/histogram_kernels.h"

namespace trainscope::detail {

template <typename Slot>
class SlotPipeline {
 public:
  static constexpr size_t kBatch = 16;  // blocks of 16 slots per buffer

  explicit SlotPipeline(SlotCounts& counts) : counts_(counts) {}
  SlotPipeline(const SlotPipeline&) = delete;
  SlotPipeline& operator=(const SlotPipeline&) = delete;
  ~SlotPipeline() { bump(buf_[cur_ ^ 1], pending_); }

  // Where block b (< kBatch) of the current batch stores its 16 slots; counts 16 slots of
  // the previous batch meanwhile.
  Slot* block(size_t b) {
    if (16 * b < pending_) bump(buf_[cur_ ^ 1] + 16 * b, 16);
    return buf_[cur_] + 16 * b;
  }
  // Closes the current batch, which filled `blocks` blocks.
  void end_batch(size_t blocks) {
    if (pending_ > 16 * blocks) bump(buf_[cur_ ^ 1] + 16 * blocks, pending_ - 16 * blocks);
    pending_ = 16 * blocks;
    cur_ ^= 1;
  }

 private:
  void bump(const Slot* slots, size_t n) {
    for (size_t i = 0; i < n; i += 4) {
      ++counts_.c[0][slots[i]];
      ++counts_.c[1][slots[i + 1]];
      ++counts_.c[2][slots[i + 2]];
      ++counts_.c[3][slots[i + 3]];
    }
  }

  SlotCounts& counts_;
  alignas(64) Slot buf_[2][kBatch * 16];
  size_t pending_ = 0;
  int cur_ = 0;
};

}  // namespace trainscope::detail
