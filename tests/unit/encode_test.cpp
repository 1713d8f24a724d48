// Tests for the media encoders: PNG and GIF are decoded with libpng / giflib and compared pixel
// by pixel; WAV bytes are checked against what Python's wave module and numpy produce. Also
// the torch-free glob helper (trainscope/glob.h) that plugins pick names with.
#include "trainscope/encode.h"

#include <gif_lib.h>
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "trainscope/glob.h"

namespace trainscope {
namespace {

// Runs fn and checks it throws std::invalid_argument whose message contains `expected`.
void expect_invalid_argument(const std::function<void()>& fn, const std::string& expected) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected std::invalid_argument containing \"" << expected
                  << "\"";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
        << "message \"" << e.what() << "\" lacks \"" << expected << "\"";
  }
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(byte(rng));
  return out;
}

uint32_t read_be32(const std::string& s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) | static_cast<uint8_t>(s[at + 3]);
}

uint16_t read_le16(const std::string& s, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) |
                               (static_cast<uint8_t>(s[at + 1]) << 8));
}

uint32_t read_le32(const std::string& s, size_t at) {
  return uint32_t{read_le16(s, at)} | (uint32_t{read_le16(s, at + 2)} << 16);
}

// ---------------------------------------------------------------------------------------------
// PNG

struct DecodedPng {
  uint32_t width = 0, height = 0, file_format = 0;
  std::vector<uint8_t> pixels;
};

// Decodes with libpng's simplified API into the layout that matches `channels`.
DecodedPng decode_png(const std::string& png, int channels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    ADD_FAILURE() << "png_image_begin_read_from_memory: " << image.message;
    return {};
  }
  DecodedPng out;
  out.width = image.width;
  out.height = image.height;
  out.file_format = image.format;
  static constexpr uint32_t kFormats[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                          PNG_FORMAT_RGBA};
  image.format = kFormats[channels - 1];
  out.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.pixels.data(), 0, nullptr)) {
    ADD_FAILURE() << "png_image_finish_read: " << image.message;
    png_image_free(&image);
    return {};
  }
  return out;
}

struct PngCase {
  int height, width, channels;
};

class PngRoundTrip : public ::testing::TestWithParam<PngCase> {};

TEST_P(PngRoundTrip, DecodesToTheSameBytes) {
  const PngCase c = GetParam();
  ImageData image;
  image.height = c.height;
  image.width = c.width;
  image.channels = c.channels;
  image.pixels = random_bytes(static_cast<size_t>(c.height) * c.width * c.channels,
                              static_cast<uint32_t>(c.height * 1000 + c.width * 10 + c.channels));

  const std::string png = encode_png(image);

  // IHDR straight from the bytes: signature, chunk name, size, 8-bit depth, colour type.
  ASSERT_GE(png.size(), 33u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(read_be32(png, 16), static_cast<uint32_t>(c.width));
  EXPECT_EQ(read_be32(png, 20), static_cast<uint32_t>(c.height));
  EXPECT_EQ(static_cast<uint8_t>(png[24]), 8);
  static constexpr uint8_t kColorType[] = {0, 4, 2, 6};  // gray, gray+alpha, RGB, RGBA
  EXPECT_EQ(static_cast<uint8_t>(png[25]), kColorType[c.channels - 1]);
  EXPECT_EQ(png.substr(png.size() - 8, 4), "IEND");

  const DecodedPng decoded = decode_png(png, c.channels);
  EXPECT_EQ(decoded.width, static_cast<uint32_t>(c.width));
  EXPECT_EQ(decoded.height, static_cast<uint32_t>(c.height));
  static constexpr uint32_t kFileFormat[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                             PNG_FORMAT_RGBA};
  EXPECT_EQ(decoded.file_format, kFileFormat[c.channels - 1]);
  ASSERT_EQ(decoded.pixels.size(), image.pixels.size());
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    ASSERT_EQ(decoded.pixels[i], image.pixels[i]) << "byte " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PngRoundTrip,
                         ::testing::Values(PngCase{7, 5, 1}, PngCase{7, 5, 2}, PngCase{7, 5, 3},
                                           PngCase{7, 5, 4}, PngCase{1, 1, 1}, PngCase{1, 1, 4},
                                           PngCase{1, 13, 3}, PngCase{11, 1, 2}, PngCase{33, 64, 3},
                                           PngCase{64, 33, 4}));

TEST(EncodePng, CompressionLevelIsUsed) {
  // A smooth gradient: level 0 stores it (bigger than the raw bytes), level 9 shrinks it.
  ImageData image;
  image.height = 64;
  image.width = 64;
  image.channels = 3;
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      image.pixels.push_back(static_cast<uint8_t>(x * 4));
      image.pixels.push_back(static_cast<uint8_t>(y * 4));
      image.pixels.push_back(static_cast<uint8_t>((x + y) * 2));
    }
  }
  const std::string stored = encode_png(image, 0);
  const std::string packed = encode_png(image, 9);
  EXPECT_GT(stored.size(), image.pixels.size());
  EXPECT_LT(packed.size() * 4, image.pixels.size());
  EXPECT_EQ(decode_png(stored, 3).pixels, image.pixels);
  EXPECT_EQ(decode_png(packed, 3).pixels, image.pixels);
}

// The IDAT chunks' data (the zlib stream) of a PNG.
std::string idat_of(const std::string& png) {
  std::string idat;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t length = read_be32(png, at);
    if (png.compare(at + 4, 4, "IDAT") == 0) idat += png.substr(at + 8, length);
    at += 12 + length;
  }
  return idat;
}

ImageData noise_image(int height, int width, int channels, uint32_t seed) {
  ImageData image;
  image.height = height;
  image.width = width;
  image.channels = channels;
  image.pixels = random_bytes(static_cast<size_t>(height) * width * channels, seed);
  return image;
}

// Big noise images (at least 64 KiB of scanlines) are stored: a sample of their rows does not
// shrink, so deflate is not run on the whole. The zlib stream must then be stored blocks only
// (walked here by hand, RFC 1951 3.2.4), inflate (zlib) to unfiltered rows, and decode (libpng)
// to the same pixels.
TEST(EncodePng, IncompressibleImagesAreStoredUnfiltered) {
  for (const auto& [h, w, c] : {std::tuple{256, 256, 3}, std::tuple{300, 70, 4}, std::tuple{1000, 131, 1}}) {
    const ImageData image = noise_image(h, w, c, static_cast<uint32_t>(h + w + c));
    const std::string png = encode_png(image);
    const std::string idat = idat_of(png);
    const size_t row = static_cast<size_t>(w) * c;
    const size_t scanlines = (row + 1) * h;
    ASSERT_GE(idat.size(), 6u);
    EXPECT_EQ(static_cast<uint8_t>(idat[0]), 0x78);
    EXPECT_EQ(((static_cast<uint8_t>(idat[0]) << 8) | static_cast<uint8_t>(idat[1])) % 31, 0);
    size_t at = 2, stored = 0;
    bool final_block = false;
    while (!final_block) {
      ASSERT_LE(at + 5, idat.size());
      const auto header = static_cast<uint8_t>(idat[at]);
      final_block = (header & 1) != 0;
      ASSERT_EQ((header >> 1) & 3, 0) << "block at " << at << " is not stored";
      const uint16_t len = read_le16(idat, at + 1);
      EXPECT_EQ(static_cast<uint16_t>(~len), read_le16(idat, at + 3));
      at += 5 + len;
      stored += len;
    }
    EXPECT_EQ(stored, scanlines);
    EXPECT_EQ(at + 4, idat.size());  // then only the Adler-32

    std::vector<uint8_t> inflated(scanlines + 1);
    uLongf inflated_size = inflated.size();
    ASSERT_EQ(uncompress(inflated.data(), &inflated_size, reinterpret_cast<const Bytef*>(idat.data()), idat.size()),
              Z_OK);  // checks the Adler-32 too
    ASSERT_EQ(inflated_size, scanlines);
    for (int y = 0; y < h; ++y) {
      const uint8_t* line = inflated.data() + y * (row + 1);
      ASSERT_EQ(line[0], 0) << "filter of row " << y;
      ASSERT_EQ(std::memcmp(line + 1, image.pixels.data() + y * row, row), 0) << "row " << y;
    }
    EXPECT_EQ(decode_png(png, c).pixels, image.pixels);
  }
}

// Images whose bytes look like noise but repeat (the same row again and again, one noise tile
// in an 8 x 8 grid) or that are noise in part only must still be deflated.
TEST(EncodePng, NoiseThatRepeatsOrOnlyFillsPartOfTheImageIsCompressed) {
  const ImageData noise = noise_image(256, 256, 3, 42);
  const size_t row = 256 * 3;

  ImageData same_rows = noise;
  for (int y = 1; y < 256; ++y) std::memcpy(same_rows.pixels.data() + y * row, noise.pixels.data(), row);

  ImageData tiles = noise;  // one 32x32 noise tile, 8 x 8 times (add_images of one image 64 times)
  for (int y = 0; y < 256; ++y) {
    for (int x = 0; x < 256; ++x) {
      std::memcpy(tiles.pixels.data() + (y * 256 + x) * 3, noise.pixels.data() + ((y % 32) * 256 + x % 32) * 3, 3);
    }
  }

  ImageData flat_bottom = noise;  // the lowest quarter black
  std::fill(flat_bottom.pixels.begin() + 192 * row, flat_bottom.pixels.end(), uint8_t{0});

  for (const auto& [name, image, at_most] :
       {std::tuple{"same rows", &same_rows, 0.05}, std::tuple{"tiles", &tiles, 0.3},
        std::tuple{"flat bottom", &flat_bottom, 0.8}}) {
    const std::string png = encode_png(*image);
    EXPECT_LT(static_cast<double>(png.size()), at_most * static_cast<double>(image->pixels.size())) << name;
    EXPECT_EQ(decode_png(png, 3).pixels, image->pixels) << name;
  }
}

TEST(EncodePng, RejectsBadShapes) {
  ImageData image;
  image.height = 256;
  image.width = 256;
  image.channels = 3;
  image.pixels.resize(100);
  expect_invalid_argument([&] { encode_png(image); },
                          "encode_png: expected 196608 pixel bytes for 256x256x3, got 100");

  ImageData empty;
  empty.height = 0;
  empty.width = 5;
  empty.channels = 1;
  expect_invalid_argument([&] { encode_png(empty); }, "height and width must be >= 1, got 0x5");
  empty.height = 5;
  empty.width = -1;
  expect_invalid_argument([&] { encode_png(empty); }, "got 5x-1");

  ImageData five;
  five.height = 2;
  five.width = 2;
  five.channels = 5;
  five.pixels.resize(20);
  expect_invalid_argument([&] { encode_png(five); }, "channels must be 1 to 4, got 5");
  five.channels = 0;
  five.pixels.clear();
  expect_invalid_argument([&] { encode_png(five); }, "channels must be 1 to 4, got 0");

  ImageData ok;
  ok.height = 1;
  ok.width = 1;
  ok.channels = 1;
  ok.pixels = {7};
  expect_invalid_argument([&] { encode_png(ok, 10); }, "compression level must be 0 to 9, got 10");
  expect_invalid_argument([&] { encode_png(ok, -1); }, "got -1");
}

// ---------------------------------------------------------------------------------------------
// WAV

AudioData make_audio(std::vector<float> samples, float rate = 44100.f) {
  AudioData audio;
  audio.sample_rate = rate;
  audio.samples.assign(samples.begin(), samples.end());
  return audio;
}

std::vector<int16_t> wav_samples(const std::string& wav) {
  std::vector<int16_t> out;
  for (size_t at = 44; at + 1 < wav.size(); at += 2) {
    out.push_back(static_cast<int16_t>(read_le16(wav, at)));
  }
  return out;
}

TEST(EncodeWav, HeaderMatchesPythonWave) {
  // Python: wave.open(f, 'wb') with setnchannels(1), setsampwidth(2), setframerate(44100),
  // writeframes(2 samples) writes exactly this 44-byte header.
  static constexpr char kPythonHeader[] =
      "RIFF\x28\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"
      "\x44\xac\x00\x00\x88\x58\x01\x00\x02\x00\x10\x00"
      "data\x04\x00\x00\x00";
  const std::string python_header(kPythonHeader, sizeof kPythonHeader - 1);
  ASSERT_EQ(python_header.size(), 44u);
  const std::string wav = encode_wav(make_audio({0.25f, -0.25f}));
  ASSERT_EQ(wav.size(), 48u);
  EXPECT_EQ(wav.substr(0, 44), python_header);
}

TEST(EncodeWav, HeaderFields) {
  const std::string wav = encode_wav(make_audio(std::vector<float>(1000, 0.f), 16000.f));
  ASSERT_EQ(wav.size(), 44u + 2000u);
  EXPECT_EQ(wav.substr(0, 4), "RIFF");
  EXPECT_EQ(read_le32(wav, 4), 36u + 2000u);
  EXPECT_EQ(wav.substr(8, 4), "WAVE");
  EXPECT_EQ(wav.substr(12, 4), "fmt ");
  EXPECT_EQ(read_le32(wav, 16), 16u);     // fmt chunk size
  EXPECT_EQ(read_le16(wav, 20), 1u);      // PCM
  EXPECT_EQ(read_le16(wav, 22), 1u);      // mono
  EXPECT_EQ(read_le32(wav, 24), 16000u);  // sample rate
  EXPECT_EQ(read_le32(wav, 28), 32000u);  // byte rate
  EXPECT_EQ(read_le16(wav, 32), 2u);      // block align
  EXPECT_EQ(read_le16(wav, 34), 16u);     // bits per sample
  EXPECT_EQ(wav.substr(36, 4), "data");
  EXPECT_EQ(read_le32(wav, 40), 2000u);  // data bytes
  // length_frames as a reader derives it: data bytes / block align.
  EXPECT_EQ(read_le32(wav, 40) / read_le16(wav, 32), 1000u);
}

TEST(EncodeWav, OneSample) {
  const std::string wav = encode_wav(make_audio({1.0f}));
  ASSERT_EQ(wav.size(), 46u);
  EXPECT_EQ(read_le32(wav, 4), 38u);
  EXPECT_EQ(read_le32(wav, 40), 2u);
  EXPECT_EQ(wav_samples(wav), std::vector<int16_t>{32767});
}

TEST(EncodeWav, SamplesMatchNumpy) {
  // Expected values from numpy: (np.array(x, np.float32).clip(-1, 1) * 32767).astype('<i2').
  // 0x3ecc2d98 (~0.39878535f) is a value where the float32 product rounds up to 13067.0 while
  // the exact product is 13066.9997..., so a double multiply would give 13066.
  const float rounds_up = std::bit_cast<float>(uint32_t{0x3ecc2d98});
  const std::vector<float> in = {0.5f, -1.5f, 1.0f,  0.1f,      -0.3f, -1.0f,
                                 0.0f, -0.0f, 1e-5f, -0.99999f, 2.0f,  rounds_up};
  const std::vector<int16_t> numpy = {16383, -32767, 32767, 3276,   -9830, -32767,
                                      0,     0,      0,     -32766, 32767, 13067};
  EXPECT_EQ(wav_samples(encode_wav(make_audio(in))), numpy);
}

TEST(EncodeWav, NonFiniteSamples) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> in = {std::numeric_limits<float>::quiet_NaN(), inf, -inf};
  EXPECT_EQ(wav_samples(encode_wav(make_audio(in))), (std::vector<int16_t>{0, 32767, -32767}));
}

TEST(EncodeWav, ManySamplesMatchFloat32Formula) {
  // Every position, against the rule computed here: clip, float32 multiply, truncate.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.2f, 1.2f);
  std::vector<float> in(4096);
  for (float& x : in) x = dist(rng);
  const std::vector<int16_t> got = wav_samples(encode_wav(make_audio(in)));
  ASSERT_EQ(got.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const volatile float product = std::clamp(in[i], -1.0f, 1.0f) * 32767.0f;
    ASSERT_EQ(got[i], static_cast<int16_t>(std::trunc(product)))
        << "sample " << i << " = " << in[i];
  }
}

TEST(EncodeWav, SampleRateRoundsLikePythonWave) {
  // wave.setframerate stores int(round(rate)): half to even, not truncation.
  EXPECT_EQ(read_le32(encode_wav(make_audio({0.f}, 8000.7f)), 24), 8001u);
  EXPECT_EQ(read_le32(encode_wav(make_audio({0.f}, 22050.5f)), 24), 22050u);
  EXPECT_EQ(read_le32(encode_wav(make_audio({0.f}, 22051.5f)), 24), 22052u);
  const std::string wav = encode_wav(make_audio({0.f}, 11025.4f));
  EXPECT_EQ(read_le32(wav, 24), 11025u);
  EXPECT_EQ(read_le32(wav, 28), 22050u);
}

TEST(EncodeWav, RejectsBadInput) {
  expect_invalid_argument([] { encode_wav(make_audio({})); }, "encode_wav: no samples");
  expect_invalid_argument([] { encode_wav(make_audio({0.f}, 0.f)); }, "sample rate");
  expect_invalid_argument([] { encode_wav(make_audio({0.f}, -44100.f)); }, "sample rate");
  expect_invalid_argument(
      [] { encode_wav(make_audio({0.f}, std::numeric_limits<float>::quiet_NaN())); },
      "sample rate");
  expect_invalid_argument([] { encode_wav(make_audio({0.f}, 3e9f)); }, "sample rate");
}

TEST(EncodeWav, Float64InputIsScaledInDoubleLikePyTorch) {
  // 1/32767 - 1e-12: the float64 product truncates to 0, the float32 one rounds up to 1.
  AudioData audio;
  audio.samples = {1.0 / 32767 - 1e-12};
  audio.single_precision = false;
  EXPECT_EQ(wav_samples(encode_wav(audio)), (std::vector<int16_t>{0}));
  audio.single_precision = true;
  EXPECT_EQ(wav_samples(encode_wav(audio)), (std::vector<int16_t>{1}));
}

// ---------------------------------------------------------------------------------------------
// GIF

struct MemoryReader {
  const std::string* data;
  size_t pos = 0;
};

int read_memory(GifFileType* gif, GifByteType* buf, int size) {
  auto* reader = static_cast<MemoryReader*>(gif->UserData);
  const size_t n = std::min(static_cast<size_t>(size), reader->data->size() - reader->pos);
  std::memcpy(buf, reader->data->data() + reader->pos, n);
  reader->pos += n;
  return static_cast<int>(n);
}

struct GifDecoder {
  MemoryReader reader;
  struct Close {
    void operator()(GifFileType* gif) const {
      int error = 0;
      DGifCloseFile(gif, &error);
    }
  };
  std::unique_ptr<GifFileType, Close> gif;

  explicit GifDecoder(const std::string& data) : reader{&data} {
    int error = 0;
    gif.reset(DGifOpen(&reader, read_memory, &error));
    if (!gif) {
      ADD_FAILURE() << "DGifOpen: " << GifErrorString(error);
      return;
    }
    if (DGifSlurp(gif.get()) != GIF_OK) {
      ADD_FAILURE() << "DGifSlurp: " << GifErrorString(gif->Error);
      gif.reset();
    }
  }

  // Frame i as RGB through its colour map (local, else global).
  std::vector<uint8_t> rgb(int i) const {
    const SavedImage& image = gif->SavedImages[i];
    const ColorMapObject* map =
        image.ImageDesc.ColorMap != nullptr ? image.ImageDesc.ColorMap : gif->SColorMap;
    std::vector<uint8_t> out;
    const int n = image.ImageDesc.Width * image.ImageDesc.Height;
    for (int p = 0; p < n; ++p) {
      const int index = image.RasterBits[p];
      EXPECT_LT(index, map->ColorCount);
      const GifColorType c = map->Colors[index];
      out.insert(out.end(), {c.Red, c.Green, c.Blue});
    }
    return out;
  }
};

// RGB of every pixel, whatever the channel count (gray replicated, alpha dropped).
std::vector<uint8_t> expected_rgb(const VideoData& video, int frame) {
  const size_t pixels = static_cast<size_t>(video.height) * video.width;
  const uint8_t* p = video.pixels.data() + frame * pixels * video.channels;
  std::vector<uint8_t> out;
  for (size_t i = 0; i < pixels; ++i, p += video.channels) {
    if (video.channels == 1) {
      out.insert(out.end(), {p[0], p[0], p[0]});
    } else {
      out.insert(out.end(), {p[0], p[1], p[2]});
    }
  }
  return out;
}

// A small frame drawn from `palette_size` colours, different per frame.
VideoData few_colour_video(int frames, int height, int width, int channels, int palette_size,
                           uint32_t seed) {
  VideoData video;
  video.frames = frames;
  video.height = height;
  video.width = width;
  video.channels = channels;
  std::mt19937 rng(seed);
  for (int f = 0; f < frames; ++f) {
    std::vector<std::vector<uint8_t>> palette(palette_size);
    for (auto& colour : palette) {
      for (int c = 0; c < channels; ++c) colour.push_back(static_cast<uint8_t>(rng() & 0xff));
    }
    for (int i = 0; i < height * width; ++i) {
      const auto& colour = palette[rng() % palette_size];
      video.pixels.insert(video.pixels.end(), colour.begin(), colour.end());
    }
  }
  return video;
}

TEST(EncodeGif, FewColoursRoundTripExactly) {
  VideoData video = few_colour_video(3, 5, 7, 3, 20, 1);
  video.fps = 4.0;
  const std::string gif = encode_gif(video);
  EXPECT_EQ(gif.substr(0, 6), "GIF89a");
  EXPECT_EQ(gif.back(), ';');
  // NETSCAPE2.0 application extension, loop count 0 (forever), right after the screen
  // descriptor (no global colour table).
  const std::string loop("\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00", 19);
  EXPECT_EQ(gif.substr(13, loop.size()), loop);

  GifDecoder decoder(gif);
  ASSERT_TRUE(decoder.gif);
  GifFileType* g = decoder.gif.get();
  EXPECT_EQ(g->SWidth, 7);
  EXPECT_EQ(g->SHeight, 5);
  ASSERT_EQ(g->ImageCount, 3);
  for (int f = 0; f < 3; ++f) {
    const SavedImage& image = g->SavedImages[f];
    EXPECT_EQ(image.ImageDesc.Left, 0);
    EXPECT_EQ(image.ImageDesc.Top, 0);
    EXPECT_EQ(image.ImageDesc.Width, 7);
    EXPECT_EQ(image.ImageDesc.Height, 5);
    EXPECT_FALSE(image.ImageDesc.Interlace);
    ASSERT_NE(image.ImageDesc.ColorMap, nullptr);
    EXPECT_LE(image.ImageDesc.ColorMap->ColorCount, 32);  // <= 20 colours: 32 entries at most
    EXPECT_EQ(decoder.rgb(f), expected_rgb(video, f)) << "frame " << f;

    GraphicsControlBlock gcb;
    ASSERT_EQ(DGifSavedExtensionToGCB(g, f, &gcb), GIF_OK);
    EXPECT_EQ(gcb.DelayTime, 25);  // 100 / 4 fps
    EXPECT_EQ(gcb.TransparentColor, NO_TRANSPARENT_COLOR);
  }

  // Slurp attaches the extensions before frame 0 to it: NETSCAPE2.0, then its loop sub-block.
  const SavedImage& first = g->SavedImages[0];
  bool found_loop = false;
  for (int i = 0; i + 1 < first.ExtensionBlockCount; ++i) {
    const ExtensionBlock& app = first.ExtensionBlocks[i];
    if (app.Function != APPLICATION_EXT_FUNC_CODE) continue;
    ASSERT_EQ(app.ByteCount, 11);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(app.Bytes), 11), "NETSCAPE2.0");
    const ExtensionBlock& sub = first.ExtensionBlocks[i + 1];
    EXPECT_EQ(sub.Function, CONTINUE_EXT_FUNC_CODE);
    ASSERT_EQ(sub.ByteCount, 3);
    EXPECT_EQ(sub.Bytes[0], 1);  // loop sub-block id
    EXPECT_EQ(sub.Bytes[1], 0);  // loop count, little-endian: 0 = forever
    EXPECT_EQ(sub.Bytes[2], 0);
    found_loop = true;
  }
  EXPECT_TRUE(found_loop);
}

TEST(EncodeGif, GrayAndRgbaAreExact) {
  // Gray: all 256 levels in one frame still fit one exact palette.
  VideoData gray;
  gray.frames = 2;
  gray.height = 16;
  gray.width = 16;
  gray.channels = 1;
  for (int i = 0; i < 2 * 256; ++i) gray.pixels.push_back(static_cast<uint8_t>((i * 7) & 0xff));
  GifDecoder gray_decoder(encode_gif(gray));
  ASSERT_TRUE(gray_decoder.gif);
  ASSERT_EQ(gray_decoder.gif->ImageCount, 2);
  EXPECT_EQ(gray_decoder.gif->SavedImages[0].ImageDesc.ColorMap->ColorCount, 256);
  EXPECT_EQ(gray_decoder.rgb(0), expected_rgb(gray, 0));
  EXPECT_EQ(gray_decoder.rgb(1), expected_rgb(gray, 1));

  // RGBA: alpha is dropped, colours stay exact even where only alpha differs.
  VideoData rgba = few_colour_video(2, 6, 9, 4, 50, 2);
  GifDecoder rgba_decoder(encode_gif(rgba));
  ASSERT_TRUE(rgba_decoder.gif);
  ASSERT_EQ(rgba_decoder.gif->ImageCount, 2);
  EXPECT_EQ(rgba_decoder.rgb(0), expected_rgb(rgba, 0));
  EXPECT_EQ(rgba_decoder.rgb(1), expected_rgb(rgba, 1));
}

TEST(EncodeGif, SingleColourUsesTwoEntryMap) {
  VideoData video;
  video.frames = 1;
  video.height = 3;
  video.width = 4;
  video.channels = 3;
  for (int i = 0; i < 12; ++i) video.pixels.insert(video.pixels.end(), {10, 200, 30});
  GifDecoder decoder(encode_gif(video));
  ASSERT_TRUE(decoder.gif);
  ASSERT_EQ(decoder.gif->ImageCount, 1);
  EXPECT_EQ(decoder.gif->SavedImages[0].ImageDesc.ColorMap->ColorCount, 2);
  EXPECT_EQ(decoder.rgb(0), expected_rgb(video, 0));
}

TEST(EncodeGif, Exactly256ColoursAreExact) {
  VideoData video;
  video.frames = 1;
  video.height = 16;
  video.width = 32;
  video.channels = 3;
  for (int i = 0; i < 512; ++i) {
    const int c = (i * 37) % 256;  // each of 256 colours twice, scattered
    video.pixels.insert(video.pixels.end(), {static_cast<uint8_t>(c), static_cast<uint8_t>(255 - c),
                                             static_cast<uint8_t>(c * 3)});
  }
  GifDecoder decoder(encode_gif(video));
  ASSERT_TRUE(decoder.gif);
  EXPECT_EQ(decoder.rgb(0), expected_rgb(video, 0));
}

// Mean and max absolute channel error between two RGB buffers.
std::pair<double, int> rgb_error(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  double sum = 0;
  int worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const int d = std::abs(int{a[i]} - int{b[i]});
    sum += d;
    worst = std::max(worst, d);
  }
  return {sum / static_cast<double>(a.size()), worst};
}

TEST(EncodeGif, ManyColoursAreQuantisedClosely) {
  // A 64x64 gradient with 4096 distinct colours, plus a frame of pure noise.
  VideoData video;
  video.frames = 2;
  video.height = 64;
  video.width = 64;
  video.channels = 3;
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      video.pixels.insert(video.pixels.end(),
                          {static_cast<uint8_t>(x * 4), static_cast<uint8_t>(y * 4),
                           static_cast<uint8_t>(255 - (x + y) * 2)});
    }
  }
  const std::vector<uint8_t> noise = random_bytes(64 * 64 * 3, 3);
  video.pixels.insert(video.pixels.end(), noise.begin(), noise.end());
  {
    std::set<uint32_t> distinct;
    for (size_t i = 0; i < 64 * 64 * 3; i += 3) {
      distinct.insert(video.pixels[i] << 16 | video.pixels[i + 1] << 8 | video.pixels[i + 2]);
    }
    ASSERT_GT(distinct.size(), 256u);
  }

  GifDecoder decoder(encode_gif(video));
  ASSERT_TRUE(decoder.gif);
  ASSERT_EQ(decoder.gif->ImageCount, 2);
  EXPECT_EQ(decoder.gif->SavedImages[0].ImageDesc.ColorMap->ColorCount, 256);

  const auto [gradient_mean, gradient_max] = rgb_error(decoder.rgb(0), expected_rgb(video, 0));
  // Measured: mean 3.5, max 6. A palette that missed part of the gradient would be far off.
  EXPECT_LT(gradient_mean, 5.0);
  EXPECT_LE(gradient_max, 12);
  // Uniform noise: 256 well-spread colours (about 6 levels a channel) allow a mean error near
  // 10; measured 10.4, max 45.
  const auto [noise_mean, noise_max] = rgb_error(decoder.rgb(1), expected_rgb(video, 1));
  EXPECT_LT(noise_mean, 13.0);
  EXPECT_LE(noise_max, 64);
}

TEST(EncodeGif, DelayFollowsFps) {
  const VideoData base = few_colour_video(1, 2, 2, 3, 2, 4);
  for (auto [fps, delay] :
       {std::pair{30.0, 3}, {6.0, 17}, {3.0, 33}, {0.5, 200}, {1000.0, 1}, {1e-9, 65535}}) {
    VideoData video = base;
    video.fps = fps;
    GifDecoder decoder(encode_gif(video));
    ASSERT_TRUE(decoder.gif);
    GraphicsControlBlock gcb;
    ASSERT_EQ(DGifSavedExtensionToGCB(decoder.gif.get(), 0, &gcb), GIF_OK);
    EXPECT_EQ(gcb.DelayTime, delay) << "fps " << fps;
  }
}

TEST(EncodeGif, RejectsBadShapes) {
  VideoData video = few_colour_video(2, 3, 4, 3, 4, 5);
  VideoData v = video;
  v.pixels.pop_back();
  expect_invalid_argument([&] { encode_gif(v); },
                          "encode_gif: expected 72 pixel bytes for 2x3x4x3, got 71");
  v = video;
  v.frames = 0;
  expect_invalid_argument([&] { encode_gif(v); }, "frames must be >= 1, got 0");
  v = video;
  v.channels = 2;
  expect_invalid_argument([&] { encode_gif(v); }, "channels must be 1, 3 or 4, got 2");
  v = video;
  v.width = 0;
  expect_invalid_argument([&] { encode_gif(v); }, "height and width must be 1 to 65535, got 3x0");
  v = video;
  v.height = 70000;
  expect_invalid_argument([&] { encode_gif(v); }, "got 70000x4");
  v = video;
  v.fps = 0;
  expect_invalid_argument([&] { encode_gif(v); }, "fps must be finite and > 0");
  v.fps = std::numeric_limits<double>::quiet_NaN();
  expect_invalid_argument([&] { encode_gif(v); }, "fps must be finite and > 0");
}

TEST(Glob, MatchesWholeNamesWithShellWildcards) {
  EXPECT_TRUE(glob_match("conv1.weight", "conv1.weight"));
  EXPECT_FALSE(glob_match("conv1", "conv1.weight"));  // the whole name, not a prefix
  EXPECT_FALSE(glob_match("weight", "conv1.weight"));
  EXPECT_TRUE(glob_match("conv*.weight", "conv12.weight"));
  EXPECT_FALSE(glob_match("conv*.weight", "conv12.bias"));
  EXPECT_TRUE(glob_match("*.weight", "features.0.weight"));  // '*' crosses '.'
  EXPECT_TRUE(glob_match("enc*out", "enc/block/out"));       // and '/'
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("?", ""));
  EXPECT_TRUE(glob_match("fc?.bias", "fc2.bias"));
  EXPECT_FALSE(glob_match("fc?.bias", "fc12.bias"));
  EXPECT_TRUE(glob_match("features.[0-3].weight", "features.3.weight"));
  EXPECT_FALSE(glob_match("features.[0-3].weight", "features.4.weight"));
  EXPECT_TRUE(glob_match("features.[!0-3].weight", "features.4.weight"));
  EXPECT_FALSE(glob_match("features.[!0-3].weight", "features.0.weight"));
  EXPECT_TRUE(glob_match("a\\*b", "a*b"));  // a quoted '*' is itself
  EXPECT_FALSE(glob_match("a\\*b", "axb"));
  EXPECT_TRUE(glob_match("a[b", "a[b"));  // an unclosed set is literal
  EXPECT_FALSE(glob_match("a[b", "ab"));
  EXPECT_FALSE(glob_match("Conv*", "conv1"));  // case matters
}

TEST(Glob, MatchesAnyOfAList) {
  const std::vector<std::string> globs = {"conv*", "*.bias"};
  EXPECT_TRUE(matches_any(globs, "conv1.weight"));
  EXPECT_TRUE(matches_any(globs, "fc.bias"));
  EXPECT_FALSE(matches_any(globs, "fc.weight"));
  EXPECT_FALSE(matches_any({}, "anything"));
  EXPECT_TRUE(matches_any({"*"}, "anything"));
}

TEST(Glob, TellsPatternsFromNames) {
  EXPECT_TRUE(has_glob("conv*"));
  EXPECT_TRUE(has_glob("fc?"));
  EXPECT_TRUE(has_glob("layer[12]"));
  EXPECT_FALSE(has_glob("features.0.conv"));
  EXPECT_FALSE(has_glob(""));
}

}  // namespace
}  // namespace trainscope
