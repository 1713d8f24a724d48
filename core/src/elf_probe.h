// Checks a would-be plugin library as bytes, before anything maps or runs it: an ELF64
// little-endian shared object for this machine, every table and segment inside the file (a
// truncated library would otherwise die with SIGBUS when the loader touches a page past its
// end), and a defined exported entry symbol in .dynsym. Torch-free and dlopen-free: the
// plugin loader calls it first, and tests/fuzz feeds it arbitrary bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace trainscope::detail {

// Random access to the bytes of a file (or a buffer).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Copies [offset, offset + n) into out; false when that range is not all there or on error.
  virtual bool read(uint64_t offset, size_t n, void* out) const = 0;
};

class BufferSource final : public ByteSource {
 public:
  explicit BufferSource(std::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  bool read(uint64_t offset, size_t n, void* out) const override;

 private:
  std::string_view bytes_;
};

// Reads an open file descriptor with pread (no mmap); size is taken once, from fstat.
class FdSource final : public ByteSource {
 public:
  FdSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
  uint64_t size() const override { return size_; }
  bool read(uint64_t offset, size_t n, void* out) const override;

 private:
  int fd_;
  uint64_t size_;
};

struct ElfCheck {
  enum class Status {
    kOk,           // well-formed, and `symbol` is a defined function exported by the library
    kNotElf,       // no ELF magic: not a library at all
    kUnsupported,  // an ELF, but not a 64-bit little-endian shared object for this machine
    kMalformed,    // a header, table or segment points outside the file (truncated, corrupt)
    kNoSymbol      // well-formed, but the entry symbol is missing or not defined there
  };
  Status status = Status::kOk;
  std::string reason;  // why, for every status but kOk ("truncated: segment 2 ... ends at ...")
};

// The most this reads of one symbol or string table; larger ones are refused as malformed.
inline constexpr uint64_t kMaxElfTableBytes = uint64_t{64} << 20;

ElfCheck check_plugin_elf(const ByteSource& bytes, std::string_view symbol);

}  // namespace trainscope::detail
