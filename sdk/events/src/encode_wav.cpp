// WAV encoder for audio summaries: mono 16-bit PCM with the 44-byte RIFF header that Python's
// `wave` module writes, so the bytes match PyTorch's SummaryWriter.add_audio.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "trainscope/encode.h"

namespace trainscope {
namespace {

constexpr size_t kHeaderBytes = 44;

// Little-endian writers, independent of the host's byte order.
void put_u16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v & 0xff);
  p[1] = static_cast<char>(v >> 8);
}

void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// PyTorch computes (array.clip(-1, 1) * 32767).astype('<i2') in the array's own precision,
// then truncates toward zero. Multiplying in that precision (float for float32 input, double
// for float64) keeps the result bit-identical for products that round across an integer.
template <typename T>
int16_t to_pcm16(T sample) {
  if (std::isnan(sample)) return 0;  // numpy's cast of NaN is unspecified; pick silence
  if (sample > T(1)) sample = T(1);
  if (sample < T(-1)) sample = T(-1);
  const T scaled = sample * T(32767);
  return static_cast<int16_t>(scaled);  // |scaled| <= 32767, truncation toward zero
}

}  // namespace

std::string encode_wav(const AudioData& audio) {
  if (audio.samples.empty()) {
    throw std::invalid_argument("encode_wav: no samples");
  }
  // Python's wave.setframerate stores int(round(rate)) (round half to even), and nearbyint in
  // the default rounding mode does the same, so fractional rates land where PyTorch puts them.
  const double rate = std::nearbyint(static_cast<double>(audio.sample_rate));
  // The byte rate (rate * 2) must fit the header's uint32 too.
  if (!(rate >= 1.0) || rate > static_cast<double>(std::numeric_limits<uint32_t>::max() / 2)) {
    throw std::invalid_argument(
        "encode_wav: sample rate must be between 1 and 2147483647 Hz, got " +
        std::to_string(audio.sample_rate));
  }
  // The RIFF size field (36 + data bytes) is a uint32.
  constexpr size_t kMaxSamples = (std::numeric_limits<uint32_t>::max() - 36) / 2;
  if (audio.samples.size() > kMaxSamples) {
    throw std::invalid_argument("encode_wav: " + std::to_string(audio.samples.size()) +
                                " samples do not fit a WAV file (at most " +
                                std::to_string(kMaxSamples) + ")");
  }

  const auto sample_rate = static_cast<uint32_t>(rate);
  const auto data_bytes = static_cast<uint32_t>(audio.samples.size() * 2);
  std::string out(kHeaderBytes + data_bytes, '\0');
  char* p = out.data();

  // RIFF header: "RIFF" <size> "WAVE", then the 16-byte PCM "fmt " chunk, then "data".
  std::memcpy(p, "RIFF", 4);
  put_u32(p + 4, 36 + data_bytes);
  std::memcpy(p + 8, "WAVEfmt ", 8);
  put_u32(p + 16, 16);               // fmt chunk size
  put_u16(p + 20, 1);                // WAVE_FORMAT_PCM
  put_u16(p + 22, 1);                // channels
  put_u32(p + 24, sample_rate);      // frames per second
  put_u32(p + 28, sample_rate * 2);  // byte rate: rate * channels * bytes per sample
  put_u16(p + 32, 2);                // block align: channels * bytes per sample
  put_u16(p + 34, 16);               // bits per sample
  std::memcpy(p + 36, "data", 4);
  put_u32(p + 40, data_bytes);

  char* data = p + kHeaderBytes;
  for (size_t i = 0; i < audio.samples.size(); ++i) {
    put_u16(data + 2 * i, static_cast<uint16_t>((audio.single_precision ? to_pcm16(static_cast<float>(audio.samples[i]))
                                                             : to_pcm16(audio.samples[i]))));
  }
  return out;
}

}  // namespace trainscope
