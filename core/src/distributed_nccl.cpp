// The NCCL process group of the wheel's libtorch_cuda (see distributed_nccl.h). Compiled
// against the nccl.h of the nvidia-nccl wheel that torch depends on, with hidden visibility
// as distributed.cpp.
#ifdef USE_C10D_NCCL
#include "distributed_nccl.h"

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

namespace trainscope::detail {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  // The watchdog aborts a collective (and, by default, the process) after this long.
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
}

}  // namespace trainscope::detail
#endif
