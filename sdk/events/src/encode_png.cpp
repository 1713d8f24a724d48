// PNG encoder for image summaries: 8-bit HWC pixels to an in-memory PNG. The chunks are
// written here (signature, IHDR, one IDAT, IEND); the image data is one zlib stream made
// by libdeflate, which compresses a whole buffer at once and is several times faster than
// zlib at the same level (the PNG encode is most of an add_image's writer-thread time), or,
// for images a sample shows to be incompressible (noise), stored blocks written here.
#include <libdeflate.h>

#include <algorithm>
#include <cmath>
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

// Scratch buffers reused by the writer thread from one image to the next (no allocation and
// no fresh pages per image); ones that grew past kKeepBytes are given back after use.
constexpr size_t kKeepBytes = size_t{4} << 20;

// 0: scanlines (or the sample's), 1: compressed bytes.
std::vector<uint8_t>& scratch(int which) {
  thread_local std::vector<uint8_t> buffers[2];
  return buffers[which];
}

void release_if_large(std::vector<uint8_t>& buffer) {
  if (buffer.capacity() > kKeepBytes) std::vector<uint8_t>().swap(buffer);
}

constexpr size_t kMaxStored = 65535;  // the most bytes one stored deflate block holds

size_t scanline_bytes(const ImageData& image) {
  return (static_cast<size_t>(image.width) * static_cast<size_t>(image.channels) + 1) *
         static_cast<size_t>(image.height);
}

// The size of append_stored_zlib's output: header, 5 bytes per block, the data, Adler-32.
size_t stored_zlib_size(const ImageData& image) {
  const size_t total = scanline_bytes(image);
  return 2 + 5 * ((total + kMaxStored - 1) / kMaxStored) + total + 4;
}

// One scanline with filter 1 (SUB: each byte minus the byte one pixel to its left), which
// every row uses, as the libpng encoder before this one was set up to: almost free, and much
// better than none on smooth images. `restrict` lets the compiler vectorise the loop.
void filter_sub_row(const uint8_t* __restrict src, uint8_t* __restrict dst, size_t row, size_t bpp) {
  dst[0] = 1;
  ++dst;
  const size_t head = std::min(bpp, row);
  for (size_t i = 0; i < head; ++i) dst[i] = src[i];
  for (size_t i = bpp; i < row; ++i) dst[i] = static_cast<uint8_t>(src[i] - src[i - bpp]);
}

// Rows [first, first + count) as SUB-filtered scanlines appended to `out`.
void append_filtered_rows(const ImageData& image, int first, int count, std::vector<uint8_t>& out) {
  const size_t bpp = static_cast<size_t>(image.channels);
  const size_t row = static_cast<size_t>(image.width) * bpp;
  const size_t at = out.size();
  out.resize(at + (row + 1) * static_cast<size_t>(count));
  const uint8_t* src = image.pixels.data() + static_cast<size_t>(first) * row;
  uint8_t* dst = out.data() + at;
  for (int y = 0; y < count; ++y, src += row, dst += row + 1) filter_sub_row(src, dst, row, bpp);
}

// The order-0 entropy of `data` in bytes: what Huffman coding of single bytes would need at
// best, with no matches. 8 bits a byte for uniform noise.
double entropy_bytes(const std::vector<uint8_t>& data) {
  uint32_t counts[4][256] = {};  // four tables: no store-to-load stall on repeated bytes
  size_t i = 0;
  for (; i + 4 <= data.size(); i += 4) {
    ++counts[0][data[i]];
    ++counts[1][data[i + 1]];
    ++counts[2][data[i + 2]];
    ++counts[3][data[i + 3]];
  }
  for (; i < data.size(); ++i) ++counts[0][data[i]];
  const double n = static_cast<double>(data.size());
  double bits = 0;
  for (int v = 0; v < 256; ++v) {
    const double c = static_cast<double>(counts[0][v] + counts[1][v] + counts[2][v] + counts[3][v]);
    if (c > 0) bits -= c * std::log2(c / n);
  }
  return bits / 8;
}

// Whether deflate is worth running on the whole image. Noise-like images (the benchmark's
// uniform noise, random-init weights shown as images) do not shrink at all, yet libdeflate
// spends ~5 ns a byte finding that out. So an image of at least kSampledBytes of scanlines is
// first looked at through a sample: kBands bands of rows spread from the top to the bottom,
// about kBandBytes each, SUB-filtered. When the byte statistics of the first band, or of
// the whole sample, promise a saving of 5 % or more, the image is compressed (almost every
// real image: about a microsecond).
// Otherwise the sample is deflated at the requested level, and if that shrinks it by less
// than 2 % the image is stored (deflate's stored blocks: within those 2 % of the compressed
// size, at the cost of one copy). The bands are long enough for deflate's short-distance
// matches (repeated pixels, rows, small tiles), which byte statistics do not see; an image
// that would shrink only through matches that no band holds is stored: larger than it could
// be, decoded the same.
constexpr size_t kBandBytes = 2048;
constexpr int kBands = 8;
constexpr size_t kSampledBytes = size_t{64} << 10;

bool worth_compressing(const ImageData& image, libdeflate_compressor* compressor) {
  const size_t row = static_cast<size_t>(image.width) * static_cast<size_t>(image.channels) + 1;
  const size_t total = scanline_bytes(image);
  if (total < kSampledBytes) return true;
  const int band_rows = static_cast<int>(std::max<size_t>(1, (kBandBytes + row - 1) / row));
  if (static_cast<size_t>(band_rows) * row * kBands * 4 > total) return true;  // too few rows to sample
  std::vector<uint8_t>& sample = scratch(0);
  sample.clear();
  for (int b = 0; b < kBands; ++b) {
    const int first = static_cast<int>(static_cast<int64_t>(image.height - band_rows) * b / (kBands - 1));
    append_filtered_rows(image, first, band_rows, sample);
    // The first band alone settles it for most images (1/8 of the cost); then all of them.
    if ((b == 0 || b == kBands - 1) && entropy_bytes(sample) < 0.95 * static_cast<double>(sample.size())) return true;
  }
  const double size = static_cast<double>(sample.size());
  std::vector<uint8_t>& packed = scratch(1);
  packed.resize(libdeflate_deflate_compress_bound(compressor, sample.size()));
  const size_t packed_size =
      libdeflate_deflate_compress(compressor, sample.data(), sample.size(), packed.data(), packed.size());
  // 0 (did not fit the bound) cannot happen; it counts as no gain.
  return packed_size != 0 && static_cast<double>(packed_size) < 0.98 * size;
}

// The image's rows with filter 0 (none) as a zlib stream of stored deflate blocks (RFC 1950,
// RFC 1951 3.2.4), appended to `out` without an intermediate scanline buffer. Each block
// holds up to 65535 bytes of the scanlines; a block may end inside a row.
void append_stored_zlib(const ImageData& image, std::string& out) {
  const size_t row = static_cast<size_t>(image.width) * static_cast<size_t>(image.channels);
  const size_t total = scanline_bytes(image);
  const size_t at = out.size();
  out.resize(at + stored_zlib_size(image));
  auto* p = reinterpret_cast<uint8_t*>(out.data() + at);
  *p++ = 0x78;          // deflate, 32 KiB window
  *p++ = 0x01;          // "fastest"; (0x78 << 8 | 0x01) % 31 == 0 as the header check requires
  size_t left = total;  // scanline bytes not yet written
  size_t room = 0;      // bytes the open block still takes
  uint32_t adler = 1;
  const auto put = [&](const uint8_t* src, size_t n) {
    adler = libdeflate_adler32(adler, src, n);
    while (n > 0) {
      if (room == 0) {
        room = std::min(kMaxStored, left);
        const auto len = static_cast<uint16_t>(room);
        p[0] = room == left ? 1 : 0;  // BFINAL, BTYPE 00 (stored), the rest of the byte padding
        p[1] = static_cast<uint8_t>(len);
        p[2] = static_cast<uint8_t>(len >> 8);
        p[3] = static_cast<uint8_t>(~len);
        p[4] = static_cast<uint8_t>(~len >> 8);
        p += 5;
      }
      const size_t k = std::min(room, n);
      std::memcpy(p, src, k);
      p += k;
      src += k;
      n -= k;
      room -= k;
      left -= k;
    }
  };
  static constexpr uint8_t kNoFilter = 0;
  const uint8_t* src = image.pixels.data();
  for (int y = 0; y < image.height; ++y, src += row) {
    put(&kNoFilter, 1);
    put(src, row);
  }
  for (int i = 0; i < 4; ++i) *p++ = static_cast<uint8_t>(adler >> (24 - 8 * i));
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
  out.append("\x89PNG\r\n\x1a\n", 8);
  put_chunk(out, "IHDR", ihdr, sizeof ihdr);

  // IDAT, its zlib stream written in place: length (patched below), type, data, CRC.
  const size_t length_at = out.size();
  put_be32(out, 0);
  out.append("IDAT", 4);
  const size_t data_at = out.size();
  libdeflate_compressor* compressor = compression_level > 0 ? compressor_for(compression_level) : nullptr;
  const bool compress = compressor != nullptr && worth_compressing(image, compressor);
  if (compress) {
    std::vector<uint8_t>& scanlines = scratch(0);
    scanlines.clear();
    append_filtered_rows(image, 0, image.height, scanlines);
    std::vector<uint8_t>& packed = scratch(1);
    packed.resize(libdeflate_zlib_compress_bound(compressor, scanlines.size()));
    const size_t n =
        libdeflate_zlib_compress(compressor, scanlines.data(), scanlines.size(), packed.data(), packed.size());
    if (n == 0) throw std::runtime_error("encode_png: libdeflate could not compress the image");
    out.reserve(data_at + n + 4 + 12);
    out.append(reinterpret_cast<const char*>(packed.data()), n);
    release_if_large(scanlines);
    release_if_large(packed);
  } else {
    out.reserve(data_at + stored_zlib_size(image) + 4 + 12);
    append_stored_zlib(image, out);  // no filter: storing gains nothing from one
  }
  const size_t idat_size = out.size() - data_at;
  if (idat_size > 0x7FFFFFFFu) throw std::invalid_argument("encode_png: the image is too large for one PNG chunk");
  for (int i = 0; i < 4; ++i) out[length_at + i] = static_cast<char>(idat_size >> (24 - 8 * i));
  put_be32(out, libdeflate_crc32(0, reinterpret_cast<const uint8_t*>(out.data() + data_at - 4), 4 + idat_size));
  put_chunk(out, "IEND", nullptr, 0);
  return out;
}

}  // namespace trainscope
