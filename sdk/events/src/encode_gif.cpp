// GIF encoder for video summaries: 8-bit HWC frames to a looping animated GIF via giflib.
// Frames with at most 256 colours get an exact local palette; others are median-cut quantised.
#include <gif_lib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/encode.h"

namespace trainscope {
namespace {

constexpr int kMaxColors = 256;
constexpr int kMaxSide = 65535;  // GIF stores sizes as uint16

// Where giflib's output function appends the file.
struct GifSink {
  std::string* out;
  bool out_of_memory = false;
};

int on_gif_write(GifFileType* gif, const GifByteType* data, int size) {
  auto* sink = static_cast<GifSink*>(gif->UserData);
  // Exceptions must not unwind through giflib's C frames; a short write makes giflib fail the
  // call with E_GIF_ERR_WRITE_FAILED and the flag says why.
  try {
    sink->out->append(reinterpret_cast<const char*>(data), static_cast<size_t>(size));
  } catch (...) {
    sink->out_of_memory = true;
    return 0;
  }
  return size;
}

// EGifCloseFile frees the handle even when it fails, so this is the only cleanup needed on
// error paths (the closing write into the sink is harmless there).
struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    EGifCloseFile(gif, &error);
  }
};
using GifHandle = std::unique_ptr<GifFileType, GifCloser>;

struct ColorMapFree {
  void operator()(ColorMapObject* map) const { GifFreeMapObject(map); }
};
using ColorMapHandle = std::unique_ptr<ColorMapObject, ColorMapFree>;

[[noreturn]] void throw_gif_error(const char* call, int error, const GifSink& sink) {
  if (sink.out_of_memory) throw std::bad_alloc();
  const char* text = GifErrorString(error);
  throw std::runtime_error(std::string("encode_gif: ") + call + " failed: " +
                           (text != nullptr ? text : "error " + std::to_string(error)));
}

// One frame as giflib wants it: a palette index per pixel plus the palette.
struct IndexedFrame {
  std::vector<GifByteType> indices;
  std::array<GifColorType, kMaxColors> palette{};
  int colors = 0;
};

// Reads pixel i of a frame as RGB; gray is replicated, alpha is dropped.
struct Rgb {
  uint8_t r, g, b;
};

inline Rgb pixel_rgb(const uint8_t* frame, size_t i, int channels) {
  const uint8_t* p = frame + i * static_cast<size_t>(channels);
  if (channels == 1) return {p[0], p[0], p[0]};
  return {p[0], p[1], p[2]};
}

// Gives each distinct colour its own palette entry, in order of first appearance. Returns false
// as soon as a 257th colour shows up.
bool index_exactly(const uint8_t* pixels, size_t count, int channels, IndexedFrame* frame) {
  // Open addressing on packed 0xRRGGBB; 1024 slots keep the load at or below 1/4.
  constexpr size_t kSlots = 1024;
  constexpr uint32_t kEmpty = 0xffffffffu;
  std::array<uint32_t, kSlots> keys;
  keys.fill(kEmpty);
  std::array<uint8_t, kSlots> slot_index{};
  frame->colors = 0;

  // Neighbouring pixels usually repeat, so remember the last lookup.
  uint32_t last_key = kEmpty;
  uint8_t last_index = 0;
  for (size_t i = 0; i < count; ++i) {
    const Rgb c = pixel_rgb(pixels, i, channels);
    const uint32_t key = (uint32_t{c.r} << 16) | (uint32_t{c.g} << 8) | c.b;
    if (key != last_key) {
      size_t slot = (key * 0x9e3779b1u) >> 22;  // top 10 bits of a multiplicative hash
      while (keys[slot] != kEmpty && keys[slot] != key) slot = (slot + 1) & (kSlots - 1);
      if (keys[slot] == kEmpty) {
        if (frame->colors == kMaxColors) return false;
        keys[slot] = key;
        slot_index[slot] = static_cast<uint8_t>(frame->colors);
        frame->palette[frame->colors] = GifColorType{c.r, c.g, c.b};
        ++frame->colors;
      }
      last_key = key;
      last_index = slot_index[slot];
    }
    frame->indices[i] = last_index;
  }
  return true;
}

// Median cut over a 5-5-5 bit colour histogram. Boxes of histogram cells are split at the
// pixel-weighted median of their widest channel, the box with the most spread-out pixels first,
// until there are 256. A box's colour is the mean of the real 8-bit pixels in it, so a flat
// area keeps its exact colour even though the histogram is coarser.
void index_median_cut(const uint8_t* pixels, size_t count, int channels, IndexedFrame* frame) {
  constexpr int kCells = 1 << 15;
  struct Cell {
    uint64_t n = 0, r = 0, g = 0, b = 0;
  };
  auto cell_of = [](Rgb c) {
    return static_cast<uint16_t>(((c.r >> 3) << 10) | ((c.g >> 3) << 5) | (c.b >> 3));
  };
  // Channel k (0 r, 1 g, 2 b) of a cell, in 5-bit units.
  auto component = [](uint16_t cell, int k) { return (cell >> (10 - 5 * k)) & 31; };

  std::vector<Cell> cells(kCells);
  for (size_t i = 0; i < count; ++i) {
    const Rgb c = pixel_rgb(pixels, i, channels);
    Cell& cell = cells[cell_of(c)];
    ++cell.n;
    cell.r += c.r;
    cell.g += c.g;
    cell.b += c.b;
  }
  std::vector<uint16_t> used;
  for (int c = 0; c < kCells; ++c) {
    if (cells[c].n != 0) used.push_back(static_cast<uint16_t>(c));
  }

  struct Box {
    size_t begin, end;  // range in `used`
    uint64_t pixels;
    int widest, range;  // channel with the largest extent, and that extent
  };
  auto make_box = [&](size_t begin, size_t end) {
    Box box{begin, end, 0, 0, 0};
    int lo[3] = {31, 31, 31}, hi[3] = {0, 0, 0};
    for (size_t i = begin; i < end; ++i) {
      box.pixels += cells[used[i]].n;
      for (int k = 0; k < 3; ++k) {
        lo[k] = std::min(lo[k], component(used[i], k));
        hi[k] = std::max(hi[k], component(used[i], k));
      }
    }
    for (int k = 0; k < 3; ++k) {
      if (hi[k] - lo[k] > box.range) {
        box.range = hi[k] - lo[k];
        box.widest = k;
      }
    }
    return box;
  };

  std::vector<Box> boxes{make_box(0, used.size())};
  while (boxes.size() < kMaxColors) {
    // pixels * range^2 approximates the error a box contributes; split the worst one.
    int best = -1;
    uint64_t best_score = 0;
    for (size_t i = 0; i < boxes.size(); ++i) {
      if (boxes[i].end - boxes[i].begin < 2) continue;
      const uint64_t range = static_cast<uint64_t>(boxes[i].range);
      const uint64_t score = boxes[i].pixels * (range * range + 1);
      if (best < 0 || score > best_score) {
        best = static_cast<int>(i);
        best_score = score;
      }
    }
    if (best < 0) break;  // every box is a single cell

    const Box box = boxes[best];
    std::sort(used.begin() + box.begin, used.begin() + box.end, [&](uint16_t a, uint16_t b) {
      return component(a, box.widest) < component(b, box.widest);
    });
    // First cell where the running pixel count reaches half, kept strictly inside the box.
    size_t split = box.begin + 1;
    uint64_t seen = 0;
    for (size_t i = box.begin; i < box.end - 1; ++i) {
      seen += cells[used[i]].n;
      split = i + 1;
      if (seen * 2 >= box.pixels) break;
    }
    boxes[best] = make_box(box.begin, split);
    boxes.push_back(make_box(split, box.end));
  }

  std::vector<uint8_t> palette_of_cell(kCells, 0);
  frame->colors = static_cast<int>(boxes.size());
  for (size_t b = 0; b < boxes.size(); ++b) {
    uint64_t n = 0, r = 0, g = 0, bl = 0;
    for (size_t i = boxes[b].begin; i < boxes[b].end; ++i) {
      const Cell& cell = cells[used[i]];
      n += cell.n;
      r += cell.r;
      g += cell.g;
      bl += cell.b;
      palette_of_cell[used[i]] = static_cast<uint8_t>(b);
    }
    frame->palette[b] = GifColorType{static_cast<GifByteType>((r + n / 2) / n),
                                     static_cast<GifByteType>((g + n / 2) / n),
                                     static_cast<GifByteType>((bl + n / 2) / n)};
  }
  for (size_t i = 0; i < count; ++i) {
    frame->indices[i] = palette_of_cell[cell_of(pixel_rgb(pixels, i, channels))];
  }
}

// GIF delays are centiseconds in a uint16; 0 means "as fast as you like" to most viewers, so
// keep at least 1.
int delay_centiseconds(double fps) {
  const double delay = std::round(100.0 / fps);
  return static_cast<int>(std::clamp(delay, 1.0, 65535.0));
}

}  // namespace

std::string encode_gif(const VideoData& video) {
  if (video.frames < 1) {
    throw std::invalid_argument("encode_gif: frames must be >= 1, got " +
                                std::to_string(video.frames));
  }
  if (video.height < 1 || video.width < 1 || video.height > kMaxSide || video.width > kMaxSide) {
    throw std::invalid_argument("encode_gif: height and width must be 1 to 65535, got " +
                                std::to_string(video.height) + "x" + std::to_string(video.width));
  }
  if (video.channels != 1 && video.channels != 3 && video.channels != 4) {
    throw std::invalid_argument("encode_gif: channels must be 1, 3 or 4, got " +
                                std::to_string(video.channels));
  }
  if (!std::isfinite(video.fps) || video.fps <= 0) {
    throw std::invalid_argument("encode_gif: fps must be finite and > 0, got " +
                                std::to_string(video.fps));
  }
  // With sides <= 65535 and channels <= 4 a frame is < 2^34 bytes, but frames * that can
  // overflow, so compare by division.
  const size_t frame_pixels = static_cast<size_t>(video.height) * static_cast<size_t>(video.width);
  const size_t frame_bytes = frame_pixels * static_cast<size_t>(video.channels);
  const auto frames = static_cast<size_t>(video.frames);
  if (video.pixels.size() / frame_bytes != frames || video.pixels.size() % frame_bytes != 0) {
    const std::string expected = frames <= SIZE_MAX / frame_bytes
                                     ? std::to_string(frames * frame_bytes)
                                     : std::to_string(frames) + "*" + std::to_string(frame_bytes);
    throw std::invalid_argument(
        "encode_gif: expected " + expected + " pixel bytes for " + std::to_string(video.frames) +
        "x" + std::to_string(video.height) + "x" + std::to_string(video.width) + "x" +
        std::to_string(video.channels) + ", got " + std::to_string(video.pixels.size()));
  }

  std::string out;
  GifSink sink{&out};
  int error = 0;
  GifHandle gif(EGifOpen(&sink, on_gif_write, &error));
  if (!gif) throw_gif_error("EGifOpen", error, sink);
  auto check = [&](int result, const char* call) {
    if (result == GIF_ERROR) throw_gif_error(call, gif->Error, sink);
  };

  // The version is otherwise guessed from slurped extension blocks, of which a streaming
  // writer has none; the extensions below need GIF89a.
  EGifSetGifVersion(gif.get(), true);
  // No global colour map: every frame carries its own.
  check(EGifPutScreenDesc(gif.get(), video.width, video.height, 8, 0, nullptr),
        "EGifPutScreenDesc");

  // NETSCAPE2.0 application extension: sub-block 1 is the loop count, 0 = forever.
  static constexpr GifByteType kNetscape[] = {'N', 'E', 'T', 'S', 'C', 'A',
                                              'P', 'E', '2', '.', '0'};
  static constexpr GifByteType kLoopForever[] = {1, 0, 0};
  check(EGifPutExtensionLeader(gif.get(), APPLICATION_EXT_FUNC_CODE), "EGifPutExtensionLeader");
  check(EGifPutExtensionBlock(gif.get(), sizeof kNetscape, kNetscape), "EGifPutExtensionBlock");
  check(EGifPutExtensionBlock(gif.get(), sizeof kLoopForever, kLoopForever),
        "EGifPutExtensionBlock");
  check(EGifPutExtensionTrailer(gif.get()), "EGifPutExtensionTrailer");

  GraphicsControlBlock gcb{};
  gcb.DisposalMode = DISPOSE_DO_NOT;  // frames cover the whole screen; nothing to restore
  gcb.UserInputFlag = false;
  gcb.DelayTime = delay_centiseconds(video.fps);
  gcb.TransparentColor = NO_TRANSPARENT_COLOR;
  GifByteType gcb_bytes[4];
  const auto gcb_size = static_cast<int>(EGifGCBToExtension(&gcb, gcb_bytes));

  IndexedFrame frame;
  frame.indices.resize(frame_pixels);
  for (size_t f = 0; f < frames; ++f) {
    const uint8_t* pixels = video.pixels.data() + f * frame_bytes;
    if (!index_exactly(pixels, frame_pixels, video.channels, &frame)) {
      index_median_cut(pixels, frame_pixels, video.channels, &frame);
    }
    // Palettes have a power-of-two size (at least 2); pad with black.
    const int map_size = 1 << GifBitSize(frame.colors);
    std::fill(frame.palette.begin() + frame.colors, frame.palette.begin() + map_size,
              GifColorType{0, 0, 0});
    ColorMapHandle map(GifMakeMapObject(map_size, frame.palette.data()));
    if (!map) throw std::bad_alloc();

    check(EGifPutExtension(gif.get(), GRAPHICS_EXT_FUNC_CODE, gcb_size, gcb_bytes),
          "EGifPutExtension");
    check(EGifPutImageDesc(gif.get(), 0, 0, video.width, video.height, false, map.get()),
          "EGifPutImageDesc");
    // Row by row: a whole frame can exceed the int length EGifPutLine takes. EGifPutLine masks
    // the indices in place, which is harmless since they are already in range.
    for (int y = 0; y < video.height; ++y) {
      check(EGifPutLine(gif.get(), frame.indices.data() + static_cast<size_t>(y) * video.width,
                        video.width),
            "EGifPutLine");
    }
  }

  // Close explicitly to see its result; it frees the handle either way.
  if (EGifCloseFile(gif.release(), &error) == GIF_ERROR) {
    throw_gif_error("EGifCloseFile", error, sink);
  }
  // The trailer byte is written without a check inside EGifCloseFile.
  if (sink.out_of_memory) throw std::bad_alloc();
  return out;
}

}  // namespace trainscope
