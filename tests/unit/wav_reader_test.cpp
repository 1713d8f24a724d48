// trainscope::decode_wav / read_wav (wav_reader.h) in memory: the SDK's own encoder's files
// read back, and damaged files (every truncation, random byte changes) either decode or throw
// WavError naming the file, never read out of bounds (the sanitizer jobs run this torch-free
// test). tests/conformance/test_wav_reader.py checks the decoded values against Python's wave.
#include "trainscope/wav_reader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "trainscope/encode.h"

namespace trainscope {
namespace {

std::string encoded_ramp(size_t n, float rate) {
  AudioData a;
  a.sample_rate = rate;
  for (size_t i = 0; i < n; ++i) a.samples.push_back(-1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(n));
  return encode_wav(a);
}

TEST(WavReader, ReadsWhatEncodeWavWrites) {
  const std::string bytes = encoded_ramp(1000, 22050.f);
  const WavAudio w = decode_wav(bytes, "ramp.wav");
  EXPECT_EQ(w.sample_rate, 22050u);
  EXPECT_EQ(w.channels, 1);
  EXPECT_EQ(w.bits_per_sample, 16);
  EXPECT_EQ(w.encoding, WavEncoding::kPcmInt);
  ASSERT_EQ(w.frames(), 1000u);
  EXPECT_DOUBLE_EQ(w.seconds(), 1000.0 / 22050.0);
  // encode_wav: trunc(x * 32767); the reader: code / 32768.
  for (size_t i = 0; i < w.frames(); ++i) {
    const double x = -1.0 + 2.0 * static_cast<double>(i) / 1000.0;
    const auto code = static_cast<int16_t>(static_cast<float>(x) * 32767.0f);
    ASSERT_EQ(w.samples[i], static_cast<float>(code) / 32768.0f) << i;
  }
  EXPECT_EQ(w.mono(), w.samples);
  EXPECT_EQ(w.channel(0), w.samples);
  EXPECT_THROW(w.channel(1), std::out_of_range);
}

TEST(WavReader, EveryTruncationIsRefusedByName) {
  const std::string bytes = encoded_ramp(50, 8000.f);
  for (size_t n = 0; n < bytes.size(); ++n) {
    try {
      decode_wav(std::string_view(bytes).substr(0, n), "cut.wav");
      ADD_FAILURE() << "a file cut to " << n << " bytes was accepted";
    } catch (const WavError& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.rfind("cut.wav: ", 0), 0u) << m;
      EXPECT_TRUE(m.find("truncated") != std::string::npos || m.find("no data chunk") != std::string::npos ||
                  m.find("not a WAV file") != std::string::npos)
          << n << ": " << m;
    }
  }
}

TEST(WavReader, DamagedBytesDecodeOrThrowNeverCrash) {
  const std::string good = encoded_ramp(64, 16000.f);
  std::mt19937 rng(7);
  int refused = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % 44] = static_cast<char>(rng() & 0xff);  // the header
    try {
      const WavAudio w = decode_wav(bytes, "damaged.wav");
      // Accepted: then it is consistent with itself.
      ASSERT_GT(w.channels, 0);
      ASSERT_GT(w.sample_rate, 0u);
      ASSERT_EQ(w.samples.size() % w.channels, 0u);
      for (float s : w.samples) ASSERT_FALSE(w.encoding == WavEncoding::kPcmInt && (s < -1.0f || s > 1.0f));
    } catch (const WavError& e) {
      ++refused;
      ASSERT_EQ(std::string(e.what()).rfind("damaged.wav: ", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(refused, 1000);  // most damaged headers are not WAV files any more
}

TEST(WavReader, MissingFileNamesThePathAndTheReason) {
  try {
    read_wav("/nonexistent/dir/x.wav");
    FAIL() << "no exception";
  } catch (const WavError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/dir/x.wav: cannot open: No such file or directory");
  }
}

}  // namespace
}  // namespace trainscope
