// IDX and CIFAR-10 file readers (torch-free; see data_files.h).
#include "data_files.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace trainscope::detail {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly `n` bytes; gzread inflates gzip and passes raw files through unchanged.
void read_exact(gzFile f, const std::string& path, void* out, size_t n, const char* what) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const unsigned chunk = n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
    const int got = gzread(f, p, chunk);
    if (got <= 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      throw std::runtime_error(path + ": truncated or corrupt while reading the " + what +
                               (err != Z_OK && msg ? std::string(" (") + msg + ")" : std::string()));
    }
    p += got;
    n -= static_cast<size_t>(got);
  }
}

uint32_t big_endian_u32(const unsigned char* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

std::string existing_variant(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) return path;
  if (std::filesystem::is_regular_file(path + ".gz", ec)) return path + ".gz";
  return path;
}

IdxArray read_idx_file(const std::string& path) {
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  unsigned char magic[4];
  read_exact(f.get(), path, magic, 4, "IDX header");
  if (magic[0] != 0 || magic[1] != 0) throw std::runtime_error(path + ": not an IDX file (bad magic)");
  if (magic[2] != 0x08) {
    throw std::runtime_error(path + ": IDX element type 0x" + std::to_string(magic[2]) +
                             " is not supported (only unsigned bytes, 0x08)");
  }
  const int rank = magic[3];
  if (rank < 1 || rank > 8) throw std::runtime_error(path + ": IDX rank " + std::to_string(rank) + " is out of range");
  IdxArray out;
  size_t total = 1;
  for (int i = 0; i < rank; ++i) {
    unsigned char b[4];
    read_exact(f.get(), path, b, 4, "IDX dimensions");
    const uint32_t d = big_endian_u32(b);
    out.dims.push_back(d);
    total *= d;
  }
  if (total > (size_t{1} << 34)) throw std::runtime_error(path + ": IDX dimensions are implausibly large");
  out.data.resize(total);
  read_exact(f.get(), path, out.data.data(), total, "IDX data");
  return out;
}

CifarRecords read_cifar_files(const std::vector<std::string>& files) {
  constexpr size_t kPixels = 3 * 32 * 32;
  constexpr size_t kRecord = 1 + kPixels;
  CifarRecords out;
  for (const auto& path : files) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw std::runtime_error(path + ": cannot open (" + ec.message() + ")");
    if (size % kRecord != 0) {
      throw std::runtime_error(path + ": size " + std::to_string(size) + " is not a multiple of " +
                               std::to_string(kRecord) + " (CIFAR-10 binary records)");
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
    std::vector<unsigned char> buf(size);
    if (std::fread(buf.data(), 1, size, f.get()) != size) throw std::runtime_error(path + ": short read");
    const size_t n = size / kRecord;
    const size_t base = out.labels.size();
    out.labels.resize(base + n);
    out.pixels.resize((base + n) * kPixels);
    for (size_t i = 0; i < n; ++i) {
      const unsigned char* rec = buf.data() + i * kRecord;
      if (rec[0] > 9)
        throw std::runtime_error(path + ": label " + std::to_string(rec[0]) + " of record " + std::to_string(i) +
                                 " is not in 0..9");
      out.labels[base + i] = rec[0];
      std::memcpy(out.pixels.data() + (base + i) * kPixels, rec + 1, kPixels);
    }
  }
  return out;
}

}  // namespace trainscope::detail
