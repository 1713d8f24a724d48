// The feature-map grid of the feature_maps plugin, header-only so the test can check its
// geometry (the pixel values are checked against an independent computation in the test).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

namespace trainscope::feature_maps {

inline constexpr int64_t kColumns = 8;  // tiles per row

// Grid geometry for k tiles of h x w with `pad` pixels between tiles (none around the edge).
struct GridShape {
  int64_t rows, cols, height, width;
};
inline GridShape grid_shape(int64_t k, int64_t h, int64_t w, int64_t pad) {
  const int64_t cols = std::min(k, kColumns);
  const int64_t rows = (k + cols - 1) / cols;
  return {rows, cols, rows * h + (rows - 1) * pad, cols * w + (cols - 1) * pad};
}

// The first min(channels, C) channels of one sample's activation [C, H, W], each min-max
// normalised to [0, 1] (a constant channel becomes 0), tiled row-major into a float32 [height,
// width] grid whose padding is 1.0 (white). Stays on the activation's device.
inline at::Tensor channel_grid(const at::Tensor& chw, int64_t channels, int64_t pad) {
  if (chw.dim() != 3) throw std::invalid_argument("feature_maps: expected one sample's [C, H, W] activation");
  const int64_t k = std::min(channels, chw.size(0)), h = chw.size(1), w = chw.size(2);
  const at::Tensor a = chw.narrow(0, 0, k).detach().to(at::kFloat);
  const at::Tensor lo = a.amin({1, 2}, /*keepdim=*/true);
  const at::Tensor range = a.amax({1, 2}, /*keepdim=*/true) - lo;
  const at::Tensor norm = at::where(range > 0, (a - lo) / range.clamp_min(1e-30), at::zeros_like(a));
  const GridShape g = grid_shape(k, h, w, pad);
  at::Tensor grid = at::ones({g.height, g.width}, a.options());
  for (int64_t c = 0; c < k; ++c) {
    const int64_t r = c / g.cols, col = c % g.cols;
    grid.narrow(0, r * (h + pad), h).narrow(1, col * (w + pad), w).copy_(norm[c]);
  }
  return grid;
}

}  // namespace trainscope::feature_maps
