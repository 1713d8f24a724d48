// add_image / add_images pixels in one pass: PyTorch's convert_to_HWC (make_grid for 4-D
// input, gray expanded to RGB) and its float -> uint8 rule (float32(v) * 255, clipped to
// [0, 255], NaN to 0, truncated), read straight from the tensor's strides into the HWC
// uint8 buffer the PNG encoder takes: no ATen temporaries, no intra-op thread pool.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string_view>

#include "trainscope/export.h"
#include "trainscope/summary_data.h"

namespace trainscope::detail {

// For CPU tensors of float32, float64 or uint8 already checked by check_dataformats;
// std::nullopt for anything else (callers fall back to to_uint8(to_hwc(...))).
TRAINSCOPE_API std::optional<ImageData> image_pixels(const at::Tensor& t, std::string_view dataformats);

}  // namespace trainscope::detail
