// PNG encoder for image summaries: 8-bit HWC pixels to an in-memory PNG via libpng.
#include <png.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>

#include "trainscope/encode.h"

namespace trainscope {
namespace {

// Everything libpng's callbacks need. It lives in the frame that calls setjmp, so it must stay
// trivially destructible (a longjmp would skip any destructor).
struct PngJob {
  const uint8_t* pixels;
  png_uint_32 width;
  png_uint_32 height;
  int channels;
  int compression_level;
  std::string* out;
  bool out_of_memory;
  char message[256];
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof job->message, "%s", message);
  png_longjmp(png, 1);
}

// Warnings are about things like ancillary chunks; nothing the caller could act on.
void on_png_warning(png_structp, png_const_charp) {}

void on_png_write(png_structp png, png_bytep data, size_t size) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  bool appended = true;
  // No exception may unwind through libpng's C frames: catch here and report through png_error
  // once the try block (and the exception object) is gone.
  try {
    job->out->append(reinterpret_cast<const char*>(data), size);
  } catch (...) {
    appended = false;
  }
  if (!appended) {
    job->out_of_memory = true;
    png_error(png, "out of memory while appending PNG output");
  }
}

void on_png_flush(png_structp) {}

int png_color_type(int channels) {
  switch (channels) {
    case 1:
      return PNG_COLOR_TYPE_GRAY;
    case 2:
      return PNG_COLOR_TYPE_GRAY_ALPHA;
    case 3:
      return PNG_COLOR_TYPE_RGB;
    default:
      return PNG_COLOR_TYPE_RGB_ALPHA;
  }
}

// All libpng calls happen here, in a frame holding only trivially destructible locals, because a
// libpng error longjmps back to the setjmp below. Returns false (job->message set) on error.
bool run_libpng(PngJob* job) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, job, on_png_error, on_png_warning);
  if (png == nullptr) {
    std::snprintf(job->message, sizeof job->message, "png_create_write_struct failed");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(job->message, sizeof job->message, "png_create_info_struct failed");
    return false;
  }
  // png and info are not modified after this point, so their values survive the longjmp.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }

  png_set_write_fn(png, job, on_png_write, on_png_flush);
  // The default write limit is 1,000,000 pixels per side; allow anything the PNG format does.
  png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_set_IHDR(png, info, job->width, job->height, 8, png_color_type(job->channels),
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  // Encoding runs on the writer thread: one cheap filter instead of libpng's adaptive
  // five-filter search. SUB costs almost nothing over NONE and helps smooth images a lot.
  png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  png_set_compression_level(png, job->compression_level);
  png_write_info(png, info);

  const size_t row_bytes = static_cast<size_t>(job->width) * static_cast<size_t>(job->channels);
  for (png_uint_32 y = 0; y < job->height; ++y) {
    png_write_row(png, job->pixels + static_cast<size_t>(y) * row_bytes);
  }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

std::string encode_png(const ImageData& image, int compression_level) {
  if (image.height < 1 || image.width < 1) {
    throw std::invalid_argument("encode_png: height and width must be >= 1, got " +
                                std::to_string(image.height) + "x" + std::to_string(image.width));
  }
  if (image.channels < 1 || image.channels > 4) {
    throw std::invalid_argument("encode_png: channels must be 1 to 4, got " +
                                std::to_string(image.channels));
  }
  if (compression_level < 0 || compression_level > 9) {
    throw std::invalid_argument("encode_png: compression level must be 0 to 9, got " +
                                std::to_string(compression_level));
  }
  // Both sides are below 2^31 and channels <= 4, so the product fits in 64 bits.
  const uint64_t expected = static_cast<uint64_t>(image.height) *
                            static_cast<uint64_t>(image.width) *
                            static_cast<uint64_t>(image.channels);
  if (image.pixels.size() != expected) {
    throw std::invalid_argument("encode_png: expected " + std::to_string(expected) +
                                " pixel bytes for " + std::to_string(image.height) + "x" +
                                std::to_string(image.width) + "x" + std::to_string(image.channels) +
                                ", got " + std::to_string(image.pixels.size()));
  }

  std::string out;
  PngJob job{};
  job.pixels = image.pixels.data();
  job.width = static_cast<png_uint_32>(image.width);
  job.height = static_cast<png_uint_32>(image.height);
  job.channels = image.channels;
  job.compression_level = compression_level;
  job.out = &out;
  if (!run_libpng(&job)) {
    if (job.out_of_memory) throw std::bad_alloc();
    throw std::runtime_error(std::string("encode_png: libpng error: ") + job.message);
  }
  return out;
}

}  // namespace trainscope
