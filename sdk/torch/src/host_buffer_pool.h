// Recycled host buffers for snapshots of CPU tensors. A fresh 4 MB allocation costs page
// faults (and an munmap when freed) on every add_histogram / add_image call; reusing buffers
// of the same size keeps the caller's copy a plain memcpy into mapped memory.
#pragma once

#include <ATen/ATen.h>

#include <cstddef>

#include "trainscope/export.h"

namespace trainscope::detail {

// An uninitialised contiguous CPU tensor whose storage returns to the pool when freed.
// The pool caches at most kMaxCachedBytes; larger or surplus buffers are freed normally.
TRAINSCOPE_API at::Tensor pooled_empty(at::IntArrayRef sizes, at::ScalarType dtype);

// Bytes currently held in the pool (for tests).
TRAINSCOPE_API size_t pooled_bytes();

}  // namespace trainscope::detail
