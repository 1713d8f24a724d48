// WAV reader: RIFF/WAVE files as Python's `wave` module, sox, ffmpeg and most recorders write
// them, for loading reference or target audio (the writer side is encode_wav in encode.h).
//
// Decodes integer PCM of 8 (unsigned), 16, 24 or 32 bits and 32-bit IEEE float, with any
// number of channels, in the plain (WAVE_FORMAT_PCM / _IEEE_FLOAT) or the
// WAVE_FORMAT_EXTENSIBLE layout. Chunks other than "fmt " and "data" (LIST, fact, cue, ...)
// are skipped, odd-sized ones with their pad byte. Samples become floats: an integer code v of
// b bits maps to v / 2^(b-1) (8-bit codes are unsigned: (v - 128) / 128), so integer audio lies
// in [-1, 1) (32-bit codes are divided in double, rounded once to float: the largest becomes
// 1.0); float samples are kept as stored. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

enum class WavEncoding { kPcmInt, kFloat };

struct WavAudio {
  uint32_t sample_rate = 0;      // frames per second
  uint16_t channels = 0;         // samples per frame
  uint16_t bits_per_sample = 0;  // 8, 16, 24 or 32
  WavEncoding encoding = WavEncoding::kPcmInt;
  std::vector<float> samples;  // interleaved: frame 0 channel 0, frame 0 channel 1, ..., frame 1 ...

  size_t frames() const { return channels == 0 ? 0 : samples.size() / channels; }
  double seconds() const { return sample_rate == 0 ? 0.0 : static_cast<double>(frames()) / sample_rate; }
  // The samples of channel `c` (0-based); throws std::out_of_range past the last channel.
  TRAINSCOPE_API std::vector<float> channel(size_t c) const;
  // One sample per frame: the mean of its channels (the samples themselves for mono audio).
  TRAINSCOPE_API std::vector<float> mono() const;
};

// What read_wav / decode_wav throw: "<file>: <what is wrong>", e.g.
// "tone.wav: truncated: the data chunk declares 32000 bytes but only 1200 follow it".
class TRAINSCOPE_API WavError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads the WAV file at `path`. Throws WavError naming the file for one that cannot be read, is
// not a RIFF/WAVE file, is truncated, or holds an encoding this reader does not decode (the
// message names it and what is supported).
TRAINSCOPE_API WavAudio read_wav(const std::string& path);

// The same for a file's bytes in memory; `name` stands for the file in messages.
TRAINSCOPE_API WavAudio decode_wav(std::string_view bytes, std::string_view name = "<memory>");

}  // namespace trainscope
