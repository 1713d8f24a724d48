// PNG encoder for image summaries: 8-bit HWC pixels to an in-memory PNG. The chunks are
// written here (signature, IHDR, one IDAT, IEND); the image data is one zlib stream made
// by libdeflate, which compresses a whole buffer at once and is several times faster than
// zlib at the same level (the PNG encode is most of an add_image's writer-thread time).
#include <libdeflate.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/encode.h"

namespace trainscope {
namespace {

struct CompressorDeleter {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};
using Compressor = std::unique_ptr<libdeflate_compressor, CompressorDeleter>;

// A compressor holds ~1 MB of tables; one per thread and level is kept (the writer thread
// encodes every image of a writer, so this is one or two in practice).
libdeflate_compressor* compressor_for(int level) {
  thread_local Compressor cache[10];
  Compressor& c = cache[level];
  if (!c) {
    c.reset(libdeflate_alloc_compressor(level));
    if (!c) throw std::bad_alloc();
  }
  return c.get();
}

uint8_t png_color_type(int channels) {
  static constexpr uint8_t kTypes[] = {0, 4, 2, 6};  // gray, gray+alpha, RGB, RGBA
  return kTypes[channels - 1];
}

void put_be32(std::string& out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  out.append(b, 4);
}

// length, type, data, CRC-32 of type + data.
void put_chunk(std::string& out, const char* type, const uint8_t* data, size_t size) {
  put_be32(out, static_cast<uint32_t>(size));
  const size_t type_at = out.size();
  out.append(type, 4);
  if (size > 0) out.append(reinterpret_cast<const char*>(data), size);
  const auto* crc_from = reinterpret_cast<const uint8_t*>(out.data() + type_at);
  put_be32(out, libdeflate_crc32(0, crc_from, 4 + size));
}

// The scanlines with their filter bytes. Every row uses filter 1 (SUB: each byte minus the
// byte one pixel to its left), as the libpng encoder before this one was set up to: almost
// free, and much better than none on smooth images.
std::vector<uint8_t> filter_sub(const ImageData& image) {
  const size_t bpp = static_cast<size_t>(image.channels);
  const size_t row = static_cast<size_t>(image.width) * bpp;
  std::vector<uint8_t> out((row + 1) * static_cast<size_t>(image.height));
  const uint8_t* src = image.pixels.data();
  uint8_t* dst = out.data();
  for (int y = 0; y < image.height; ++y, src += row, dst += row + 1) {
    dst[0] = 1;
    std::memcpy(dst + 1, src, std::min(bpp, row));
    for (size_t i = bpp; i < row; ++i) dst[1 + i] = static_cast<uint8_t>(src[i] - src[i - bpp]);
  }
  return out;
}

}  // namespace

std::string encode_png(const ImageData& image, int compression_level) {
  if (image.height < 1 || image.width < 1) {
    throw std::invalid_argument("encode_png: height and width must be >= 1, got " + std::to_string(image.height) + "x" +
                                std::to_string(image.width));
  }
  if (image.channels < 1 || image.channels > 4) {
    throw std::invalid_argument("encode_png: channels must be 1 to 4, got " + std::to_string(image.channels));
  }
  if (compression_level < 0 || compression_level > 9) {
    throw std::invalid_argument("encode_png: compression level must be 0 to 9, got " +
                                std::to_string(compression_level));
  }
  // Both sides are below 2^31 and channels <= 4, so the product fits in 64 bits.
  const uint64_t expected =
      static_cast<uint64_t>(image.height) * static_cast<uint64_t>(image.width) * static_cast<uint64_t>(image.channels);
  if (image.pixels.size() != expected) {
    throw std::invalid_argument("encode_png: expected " + std::to_string(expected) + " pixel bytes for " +
                                std::to_string(image.height) + "x" + std::to_string(image.width) + "x" +
                                std::to_string(image.channels) + ", got " + std::to_string(image.pixels.size()));
  }

  const std::vector<uint8_t> scanlines = filter_sub(image);
  libdeflate_compressor* compressor = compressor_for(compression_level);
  std::vector<uint8_t> idat(libdeflate_zlib_compress_bound(compressor, scanlines.size()));
  const size_t idat_size =
      libdeflate_zlib_compress(compressor, scanlines.data(), scanlines.size(), idat.data(), idat.size());
  if (idat_size == 0) throw std::runtime_error("encode_png: libdeflate could not compress the image");
  if (idat_size > 0x7FFFFFFFu) throw std::invalid_argument("encode_png: the image is too large for one PNG chunk");

  uint8_t ihdr[13];
  const auto be32 = [](uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
  };
  be32(ihdr, static_cast<uint32_t>(image.width));
  be32(ihdr + 4, static_cast<uint32_t>(image.height));
  ihdr[8] = 8;  // bit depth
  ihdr[9] = png_color_type(image.channels);
  ihdr[10] = 0;  // deflate
  ihdr[11] = 0;  // adaptive filtering (filter type per row)
  ihdr[12] = 0;  // no interlace

  std::string out;
  out.reserve(8 + 25 + 12 + idat_size + 12);
  out.append("\x89PNG\r\n\x1a\n", 8);
  put_chunk(out, "IHDR", ihdr, sizeof ihdr);
  put_chunk(out, "IDAT", idat.data(), idat_size);
  put_chunk(out, "IEND", nullptr, 0);
  return out;
}

}  // namespace trainscope
