// One-pass image pixels (see image_pixels.h).
#include "image_pixels.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// One row of contiguous values to pixels. float32: four values per SSE2 step, the same rule
// as to_pixel (max(s, 0) gives 0 for NaN since MAXPS returns its second operand then; the
// value is then in [0, 255], where the truncating conversion and the saturating packs are
// exact). uint8: a copy.
template <typename T>
void row_to_pixels(const T* src, uint8_t* dst, int64_t n) {
  int64_t i = 0;
  if constexpr (std::is_same_v<T, uint8_t>) {
    std::memcpy(dst, src, static_cast<size_t>(n));
    return;
  }
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    const __m128 scale = _mm_set1_ps(255.0f), zero = _mm_setzero_ps();
    const auto four = [&](const float* p) {
      return _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(_mm_mul_ps(_mm_loadu_ps(p), scale), zero), scale));
    };
    for (; i + 16 <= n; i += 16) {
      const __m128i lo = _mm_packs_epi32(four(src + i), four(src + i + 4));
      const __m128i hi = _mm_packs_epi32(four(src + i + 8), four(src + i + 12));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_packus_epi16(lo, hi));
    }
  }
#endif
  for (; i < n; ++i) dst[i] = to_pixel(src[i]);
}

// Channel rows to interleaved pixels: out[x * channels + c] = planes[c][x], channels 3 or 4.
// The same loop is compiled twice on x86: plainly, and for SSSE3, whose byte shuffles let
// the compiler vectorise the 3- and 4-way interleave (about 3x faster); picked at run time.
[[gnu::always_inline]] inline void interleave_loop(const uint8_t* p0, const uint8_t* p1, const uint8_t* p2,
                                                   const uint8_t* p3, uint8_t* __restrict out, int64_t n,
                                                   int64_t channels) {
  if (channels == 3) {
    for (int64_t x = 0; x < n; ++x) {
      out[3 * x] = p0[x];
      out[3 * x + 1] = p1[x];
      out[3 * x + 2] = p2[x];
    }
  } else {
    for (int64_t x = 0; x < n; ++x) {
      out[4 * x] = p0[x];
      out[4 * x + 1] = p1[x];
      out[4 * x + 2] = p2[x];
      out[4 * x + 3] = p3[x];
    }
  }
}

void interleave_plain(const uint8_t* p0, const uint8_t* p1, const uint8_t* p2, const uint8_t* p3,
                      uint8_t* __restrict out, int64_t n, int64_t channels) {
  interleave_loop(p0, p1, p2, p3, out, n, channels);
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("ssse3"))) void interleave_ssse3(const uint8_t* p0, const uint8_t* p1, const uint8_t* p2,
                                                       const uint8_t* p3, uint8_t* __restrict out, int64_t n,
                                                       int64_t channels) {
  interleave_loop(p0, p1, p2, p3, out, n, channels);
}
#endif

void interleave(const uint8_t* p0, const uint8_t* p1, const uint8_t* p2, const uint8_t* p3, uint8_t* out, int64_t n,
                int64_t channels) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool ssse3 = [] {
    __builtin_cpu_init();  // in case the first image comes from a static initialiser
    return __builtin_cpu_supports("ssse3") != 0;
  }();
  if (ssse3) return interleave_ssse3(p0, p1, p2, p3, out, n, channels);
#endif
  interleave_plain(p0, p1, p2, p3, out, n, channels);
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
  std::vector<uint8_t> planes(static_cast<size_t>(w * c));  // one tile row per input channel
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
        if (sc == 1 && sw == c && c == oc && !std::is_same_v<T, double>) {
          // Channels already interleaved (HWC, NHWC): one contiguous run of w * c values.
          row_to_pixels(base + image * sn + iy * sh, px, w * c);
          continue;
        }
        if (sw == 1 && !std::is_same_v<T, double> && (oc == 3 || oc == 4)) {
          // Contiguous rows: each channel row converted into planes, then interleaved.
          for (int64_t ch = 0; ch < c; ++ch) {
            row_to_pixels(base + image * sn + ch * sc + iy * sh, planes.data() + ch * w, w);
          }
          const uint8_t* p0 = planes.data();
          const uint8_t* p1 = c == 1 ? p0 : p0 + w;
          const uint8_t* p2 = c == 1 ? p0 : p0 + 2 * w;
          interleave(p0, p1, p2, p0 + 3 * w, px, w, oc);
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
