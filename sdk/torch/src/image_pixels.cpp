// One-pass image pixels (see image_pixels.h).
#include "image_pixels.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace trainscope::detail {
namespace {

template <typename T>
inline uint8_t to_pixel(T v) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    return v;
  } else {
    // One float multiply, as at::mul on a float tensor; NaN fails both comparisons -> 0.
    const float s = static_cast<float>(v) * 255.0f;
    return s >= 0.0f ? (s <= 255.0f ? static_cast<uint8_t>(s) : uint8_t{255}) : uint8_t{0};
  }
}

// nchw: a 4-D view [N, C, H, W] (any strides). Images are tiled 8 to a row as make_grid
// does, missing tiles black; one channel is repeated three times.
template <typename T>
ImageData grid_pixels(const at::Tensor& nchw) {
  const int64_t n = nchw.size(0), c = nchw.size(1), h = nchw.size(2), w = nchw.size(3);
  const int64_t sn = nchw.stride(0), sc = nchw.stride(1), sh = nchw.stride(2), sw = nchw.stride(3);
  const int64_t ncols = std::min<int64_t>(n, 8);
  const int64_t nrows = (n + ncols - 1) / ncols;
  const int64_t oc = c == 1 ? 3 : c;
  ImageData img;
  img.height = static_cast<int>(nrows * h);
  img.width = static_cast<int>(ncols * w);
  img.channels = static_cast<int>(oc);
  img.pixels.resize(static_cast<size_t>(nrows * h) * static_cast<size_t>(ncols * w * oc));
  const T* base = nchw.data_ptr<T>();
  uint8_t* out = img.pixels.data();
  for (int64_t gy = 0; gy < nrows; ++gy) {
    for (int64_t iy = 0; iy < h; ++iy) {
      uint8_t* row = out + static_cast<size_t>((gy * h + iy) * ncols * w * oc);
      for (int64_t gx = 0; gx < ncols; ++gx) {
        uint8_t* px = row + gx * w * oc;
        const int64_t image = gy * ncols + gx;
        if (image >= n) {
          std::memset(px, 0, static_cast<size_t>(w * oc));
          continue;
        }
        for (int64_t ch = 0; ch < oc; ++ch) {
          const T* src = base + image * sn + (c == 1 ? 0 : ch) * sc + iy * sh;
          if (sw == 1) {
            for (int64_t ix = 0; ix < w; ++ix) px[ix * oc + ch] = to_pixel(src[ix]);
          } else {
            for (int64_t ix = 0; ix < w; ++ix) px[ix * oc + ch] = to_pixel(src[ix * sw]);
          }
        }
      }
    }
  }
  return img;
}

std::vector<int64_t> order_of(const std::string& fmt, std::string_view wanted) {
  std::vector<int64_t> idx;
  for (char ch : wanted) idx.push_back(static_cast<int64_t>(fmt.find(ch)));
  return idx;
}

}  // namespace

std::optional<ImageData> image_pixels(const at::Tensor& t, std::string_view dataformats) {
  if (!t.device().is_cpu()) return std::nullopt;
  const at::ScalarType type = t.scalar_type();
  if (type != at::kFloat && type != at::kDouble && type != at::kByte) return std::nullopt;
  std::string fmt(dataformats);
  for (char& ch : fmt) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  at::Tensor nchw;
  if (fmt.size() == 4) {
    nchw = t.permute(order_of(fmt, "NCHW"));
  } else if (fmt.size() == 3) {
    nchw = t.permute(order_of(fmt, "CHW")).unsqueeze(0);
  } else {
    nchw = t.permute(order_of(fmt, "HW")).unsqueeze(0).unsqueeze(0);
  }
  if (type == at::kFloat) return grid_pixels<float>(nchw);
  if (type == at::kDouble) return grid_pixels<double>(nchw);
  return grid_pixels<uint8_t>(nchw);
}

}  // namespace trainscope::detail
