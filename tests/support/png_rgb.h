// Decoding a logged PNG to 8-bit RGB for the plugin tests that check pixels (libpng's
// simplified API; link PNG::PNG). Gray and RGBA images are converted to RGB by libpng.
#pragma once

#include <gtest/gtest.h>
#include <png.h>

#include <cstdint>
#include <string>
#include <vector>

namespace trainscope::testing {

struct Rgb {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // RGB, row-major
  int at(int64_t y, int64_t x, int channel) const { return pixels[static_cast<size_t>((y * width + x) * 3 + channel)]; }
};

// Fails the test (and returns an empty image) when `png` is not a readable PNG.
inline Rgb decode_rgb(const std::string& png) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  Rgb out;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    ADD_FAILURE() << "png_image_begin_read_from_memory: " << image.message;
    return out;
  }
  image.format = PNG_FORMAT_RGB;
  out.width = image.width;
  out.height = image.height;
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    ADD_FAILURE() << "png_image_finish_read: " << image.message;
    png_image_free(&image);
    out = Rgb{};
  }
  return out;
}

}  // namespace trainscope::testing
