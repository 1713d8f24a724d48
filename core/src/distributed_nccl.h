// Private to distributed*.cpp: the NCCL process group, in its own translation unit (its
// headers are heavy) and built only when nccl.h was found (USE_C10D_NCCL).
#pragma once

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

namespace trainscope::detail {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout);

}  // namespace trainscope::detail
