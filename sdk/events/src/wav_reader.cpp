// WAV reader (wav_reader.h): walks the RIFF chunks, checks the "fmt " chunk against what can be
// decoded, and converts the "data" chunk's little-endian samples to floats.
#include "trainscope/wav_reader.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

namespace trainscope {
namespace {

uint16_t u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t u32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

// A four-character code as text for messages ('LIST'; bytes outside printable ASCII as \xNN).
std::string fourcc(const unsigned char* p) {
  std::string out = "'";
  for (int i = 0; i < 4; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f) {
      out += static_cast<char>(p[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", p[i]);
      out += buf;
    }
  }
  return out + "'";
}

std::string format_name(uint16_t tag) {
  switch (tag) {
    case 0x0001:
      return "integer PCM";
    case 0x0002:
      return "Microsoft ADPCM";
    case 0x0003:
      return "IEEE float";
    case 0x0006:
      return "A-law";
    case 0x0007:
      return "mu-law";
    case 0x0011:
      return "IMA ADPCM";
    case 0x0055:
      return "MPEG layer 3";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "format code 0x%04x", tag);
      return buf;
    }
  }
}

constexpr const char* kSupported =
    "this reader decodes integer PCM of 8, 16, 24 or 32 bits and 32-bit IEEE float (convert the file, e.g. "
    "`sox in.wav -e signed-integer -b 16 out.wav`)";

// The tail shared by KSDATAFORMAT_SUBTYPE_PCM and _IEEE_FLOAT: {xxxxxxxx-0000-0010-8000-00aa00389b71}.
constexpr unsigned char kGuidTail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                         0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71};

struct Format {
  uint16_t tag = 0, channels = 0, block_align = 0, bits = 0;
  uint32_t rate = 0;
};

class Decoder {
 public:
  Decoder(std::string_view bytes, std::string_view name)
      : p_(reinterpret_cast<const unsigned char*>(bytes.data())), size_(bytes.size()), name_(name) {}

  WavAudio decode() {
    if (size_ >= 4 && std::memcmp(p_, "RIFX", 4) == 0) fail("big-endian RIFX files are not supported");
    if (size_ >= 4 && std::memcmp(p_, "RF64", 4) == 0) fail("RF64 files (WAV over 4 GiB) are not supported");
    if (size_ < 12) {
      if (size_ >= 4 && std::memcmp(p_, "RIFF", 4) == 0)
        fail("truncated: " + std::to_string(size_) + " bytes, shorter than the 12-byte RIFF header");
      fail("not a WAV file: " + std::to_string(size_) + " bytes, shorter than the 12-byte RIFF header");
    }
    if (std::memcmp(p_, "RIFF", 4) != 0) fail("not a WAV file: it starts with " + fourcc(p_) + ", not 'RIFF'");
    if (std::memcmp(p_ + 8, "WAVE", 4) != 0)
      fail("not a WAV file: a RIFF file of type " + fourcc(p_ + 8) + ", not 'WAVE'");

    // The RIFF size bounds the chunks, unless it overstates the file (then truncation shows
    // in the chunk that runs past the end) or is too small to be right (some streaming writers
    // leave it 0).
    size_t end = size_;
    const uint64_t riff_end = 8 + static_cast<uint64_t>(u32(p_ + 4));
    if (riff_end >= 12 && riff_end < size_) end = static_cast<size_t>(riff_end);

    std::optional<Format> fmt;
    std::optional<std::pair<size_t, size_t>> data;  // offset, bytes
    size_t pos = 12;
    while (!(fmt && data)) {
      if (pos >= end) break;
      if (end - pos < 8) {
        fail("truncated: a chunk header at offset " + std::to_string(pos) + " is cut short (" +
             std::to_string(end - pos) + " of 8 bytes)");
      }
      const unsigned char* id = p_ + pos;
      const uint32_t bytes = u32(p_ + pos + 4);
      const size_t body = pos + 8;
      const size_t available = size_ - body;
      if (std::memcmp(id, "data", 4) == 0) {
        if (bytes > available) {
          fail("truncated: the data chunk declares " + std::to_string(bytes) + " bytes but only " +
               std::to_string(available) + " follow it");
        }
        if (data) fail("a second data chunk at offset " + std::to_string(pos) + " (one is allowed)");
        data.emplace(body, bytes);
      } else if (std::memcmp(id, "fmt ", 4) == 0) {
        if (bytes > available) {
          fail("truncated: the fmt chunk declares " + std::to_string(bytes) + " bytes but only " +
               std::to_string(available) + " follow it");
        }
        if (fmt) fail("a second fmt chunk at offset " + std::to_string(pos) + " (one is allowed)");
        fmt = parse_format(p_ + body, bytes);
      } else if (bytes > available) {
        fail("truncated: the " + fourcc(id) + " chunk at offset " + std::to_string(pos) + " declares " +
             std::to_string(bytes) + " bytes but only " + std::to_string(available) + " follow it");
      }
      pos = body + bytes + (bytes & 1u);  // chunks are padded to an even size
    }
    if ((!fmt || !data) && riff_end > size_) {
      fail("truncated: the RIFF header declares " + std::to_string(riff_end) + " bytes but the file has " +
           std::to_string(size_));
    }
    if (!fmt) fail("no fmt chunk: the file does not say how its samples are encoded");
    if (!data) fail("no data chunk: the file holds no samples");
    return samples(*fmt, data->first, data->second);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw WavError(std::string(name_) + ": " + what); }

  Format parse_format(const unsigned char* c, uint32_t bytes) const {
    if (bytes < 16) fail("the fmt chunk has " + std::to_string(bytes) + " bytes; a valid one has at least 16");
    Format f;
    f.tag = u16(c);
    f.channels = u16(c + 2);
    f.rate = u32(c + 4);
    f.block_align = u16(c + 12);
    f.bits = u16(c + 14);
    if (f.tag == 0xfffe) {  // WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes
      if (bytes < 40) {
        fail("the fmt chunk is WAVE_FORMAT_EXTENSIBLE but has " + std::to_string(bytes) + " bytes; it needs 40");
      }
      if (std::memcmp(c + 26, kGuidTail, sizeof(kGuidTail)) != 0) {
        fail("WAVE_FORMAT_EXTENSIBLE with a sub-format GUID that is not a WAVE format code; " +
             std::string(kSupported));
      }
      f.tag = u16(c + 24);
    }
    if (f.tag != 0x0001 && f.tag != 0x0003) fail(format_name(f.tag) + " samples are not supported; " + kSupported);
    const bool ok_bits = f.tag == 0x0001 ? (f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32) : f.bits == 32;
    if (!ok_bits) {
      fail(std::to_string(f.bits) + "-bit " + format_name(f.tag) + " samples are not supported; " + kSupported);
    }
    if (f.channels == 0) fail("the fmt chunk says 0 channels");
    if (f.rate == 0) fail("the fmt chunk says a sample rate of 0 Hz");
    const uint32_t frame = static_cast<uint32_t>(f.channels) * (f.bits / 8);
    if (f.block_align != frame) {
      fail("the fmt chunk's block align is " + std::to_string(f.block_align) + " bytes, but " +
           std::to_string(f.channels) + " channel(s) of " + std::to_string(f.bits) + " bits make " +
           std::to_string(frame) + "-byte frames");
    }
    return f;
  }

  WavAudio samples(const Format& f, size_t offset, size_t bytes) const {
    if (bytes % f.block_align != 0) {
      fail("the data chunk holds " + std::to_string(bytes) + " bytes, not a whole number of " +
           std::to_string(f.block_align) + "-byte frames");
    }
    WavAudio out;
    out.sample_rate = f.rate;
    out.channels = f.channels;
    out.bits_per_sample = f.bits;
    out.encoding = f.tag == 0x0003 ? WavEncoding::kFloat : WavEncoding::kPcmInt;
    const size_t width = f.bits / 8, n = bytes / width;
    out.samples.resize(n);
    const unsigned char* s = p_ + offset;
    float* o = out.samples.data();
    if (out.encoding == WavEncoding::kFloat) {
      for (size_t i = 0; i < n; ++i) o[i] = std::bit_cast<float>(u32(s + 4 * i));
    } else if (width == 1) {
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<float>(static_cast<int>(s[i]) - 128) / 128.0f;
    } else if (width == 2) {
      for (size_t i = 0; i < n; ++i) o[i] = static_cast<float>(static_cast<int16_t>(u16(s + 2 * i))) / 32768.0f;
    } else if (width == 3) {
      for (size_t i = 0; i < n; ++i) {
        const unsigned char* b = s + 3 * i;
        // Sign-extend the 24-bit code through the top byte of a 32-bit word.
        const auto v = static_cast<int32_t>((static_cast<uint32_t>(b[0]) << 8) | (static_cast<uint32_t>(b[1]) << 16) |
                                            (static_cast<uint32_t>(b[2]) << 24)) >>
                       8;
        o[i] = static_cast<float>(v) / 8388608.0f;  // exact: |v| <= 2^23 fits a float
      }
    } else {
      // Divide in double: a float cannot hold every 32-bit code, so round once, at the end.
      for (size_t i = 0; i < n; ++i)
        o[i] = static_cast<float>(static_cast<double>(static_cast<int32_t>(u32(s + 4 * i))) / 2147483648.0);
    }
    return out;
  }

  const unsigned char* p_;
  size_t size_;
  std::string_view name_;
};

}  // namespace

std::vector<float> WavAudio::channel(size_t c) const {
  if (c >= channels) {
    throw std::out_of_range("WavAudio::channel(" + std::to_string(c) + "): the audio has " + std::to_string(channels) +
                            " channel(s)");
  }
  std::vector<float> out(frames());
  for (size_t i = 0; i < out.size(); ++i) out[i] = samples[i * channels + c];
  return out;
}

std::vector<float> WavAudio::mono() const {
  if (channels <= 1) return samples;
  std::vector<float> out(frames());
  for (size_t i = 0; i < out.size(); ++i) {
    double sum = 0;
    for (size_t c = 0; c < channels; ++c) sum += samples[i * channels + c];
    out[i] = static_cast<float>(sum / channels);
  }
  return out;
}

WavAudio decode_wav(std::string_view bytes, std::string_view name) { return Decoder(bytes, name).decode(); }

WavAudio read_wav(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw WavError(path + ": cannot open: " + std::strerror(errno));
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    const size_t got = std::fread(buf, 1, sizeof(buf), f.get());
    bytes.append(buf, got);
    if (got < sizeof(buf)) {
      if (std::ferror(f.get())) throw WavError(path + ": cannot read: " + std::strerror(errno));
      break;
    }
    // A RIFF file cannot exceed 4 GiB + 8 bytes; stop a mistaken path (a device, a huge file) early.
    if (bytes.size() > (uint64_t{1} << 32) + 8)
      throw WavError(path + ": larger than 4 GiB, more than a WAV file can hold");
  }
  return decode_wav(bytes, path);
}

}  // namespace trainscope
