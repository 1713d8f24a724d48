// ELF checks for plugin libraries (see elf_probe.h). Every offset and size read from the file
// is checked against the file size with overflow-free arithmetic before it is used.
#include "elf_probe.h"

#include <elf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the ELF probe reads little-endian files natively");

namespace trainscope::detail {
namespace {

#if defined(__x86_64__)
constexpr uint16_t kHostMachine = EM_X86_64;
constexpr const char* kHostMachineName = "x86-64";
#elif defined(__aarch64__)
constexpr uint16_t kHostMachine = EM_AARCH64;
constexpr const char* kHostMachineName = "aarch64";
#else
#error "the plugin ELF probe knows x86-64 and aarch64"
#endif

using Status = ElfCheck::Status;

ElfCheck fail(Status status, std::string reason) { return ElfCheck{status, std::move(reason)}; }

// True when [offset, offset + length) lies inside a file of `size` bytes (no overflow).
bool in_file(uint64_t offset, uint64_t length, uint64_t size) { return offset <= size && length <= size - offset; }

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string machine_name(uint16_t m) {
  switch (m) {
    case EM_386:
      return "i386";
    case EM_X86_64:
      return "x86-64";
    case EM_AARCH64:
      return "aarch64";
    case EM_ARM:
      return "arm";
    case EM_RISCV:
      return "riscv";
    case EM_PPC64:
      return "ppc64";
    default:
      return "machine " + std::to_string(m);
  }
}

// Reads `count` table entries of `entsize` bytes (at least sizeof(T)) starting at `offset`.
template <typename T>
bool read_table(const ByteSource& b, uint64_t offset, uint64_t count, uint64_t entsize, std::vector<T>& out) {
  if (entsize < sizeof(T) || count > kMaxElfTableBytes / entsize) return false;
  if (!in_file(offset, count * entsize, b.size())) return false;
  out.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    if (!b.read(offset + i * entsize, sizeof(T), &out[i])) return false;
  }
  return true;
}

}  // namespace

bool BufferSource::read(uint64_t offset, size_t n, void* out) const {
  if (!in_file(offset, n, bytes_.size())) return false;
  if (n) std::memcpy(out, bytes_.data() + offset, n);
  return true;
}

bool FdSource::read(uint64_t offset, size_t n, void* out) const {
  if (!in_file(offset, n, size_)) return false;
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;  // error, or the file shrank under us
    p += got, offset += static_cast<uint64_t>(got), n -= static_cast<size_t>(got);
  }
  return true;
}

ElfCheck check_plugin_elf(const ByteSource& b, std::string_view symbol) {
  const uint64_t size = b.size();
  unsigned char ident[EI_NIDENT] = {};
  if (size < SELFMAG || !b.read(0, SELFMAG, ident) || std::memcmp(ident, ELFMAG, SELFMAG) != 0) {
    return fail(Status::kNotElf, "not an ELF file (no ELF magic number)");
  }
  if (size < sizeof(Elf64_Ehdr)) {
    return fail(Status::kMalformed, "truncated: " + std::to_string(size) + " bytes, shorter than an ELF header");
  }
  Elf64_Ehdr eh;
  if (!b.read(0, sizeof eh, &eh)) return fail(Status::kMalformed, "cannot read the ELF header");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
    return fail(Status::kUnsupported,
                "a 32-bit ELF file; trainscope plugins are 64-bit " + std::string(kHostMachineName));
  }
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return fail(Status::kUnsupported, "a big-endian ELF file; this machine is little-endian");
  }
  if (eh.e_type != ET_DYN) {
    return fail(Status::kUnsupported, "not a shared library (ELF type " + std::to_string(eh.e_type) +
                                          (eh.e_type == ET_EXEC  ? ", an executable"
                                           : eh.e_type == ET_REL ? ", an object file"
                                                                 : "") +
                                          ")");
  }
  if (eh.e_machine != kHostMachine) {
    return fail(Status::kUnsupported,
                "built for " + machine_name(eh.e_machine) + ", but this machine is " + kHostMachineName);
  }

  // Program headers: what the loader maps. A segment whose file bytes run past the end of the
  // file is what makes a truncated library die with SIGBUS.
  if (eh.e_phnum == 0) return fail(Status::kMalformed, "no program headers (nothing a loader could map)");
  std::vector<Elf64_Phdr> phdrs;
  if (!read_table(b, eh.e_phoff, eh.e_phnum, eh.e_phentsize, phdrs)) {
    return fail(Status::kMalformed, "truncated or corrupt: the program header table (" + std::to_string(eh.e_phnum) +
                                        " entries at " + hex(eh.e_phoff) + ") is not inside the file of " +
                                        std::to_string(size) + " bytes");
  }
  bool has_load = false, has_dynamic = false;
  for (size_t i = 0; i < phdrs.size(); ++i) {
    const auto& ph = phdrs[i];
    if (ph.p_type == PT_LOAD) has_load = true;
    if (ph.p_type == PT_DYNAMIC) has_dynamic = true;
    if ((ph.p_type == PT_LOAD || ph.p_type == PT_DYNAMIC) && !in_file(ph.p_offset, ph.p_filesz, size)) {
      return fail(Status::kMalformed, "truncated: segment " + std::to_string(i) + " (bytes " + hex(ph.p_offset) +
                                          " + " + hex(ph.p_filesz) + ") ends past the end of the file (" +
                                          std::to_string(size) + " bytes)");
    }
    if (ph.p_type == PT_LOAD && ph.p_memsz < ph.p_filesz) {
      return fail(Status::kMalformed,
                  "corrupt: segment " + std::to_string(i) + " is smaller in memory than in the file");
    }
  }
  if (!has_load) return fail(Status::kMalformed, "no loadable segment");
  if (!has_dynamic) return fail(Status::kMalformed, "no dynamic section (not a shared library a loader could link)");

  // Section headers: where .dynsym and its string table are.
  uint64_t shnum = eh.e_shnum;
  if (eh.e_shoff == 0) {
    return fail(Status::kMalformed, "no section headers, so its symbols cannot be read without loading it");
  }
  if (eh.e_shentsize < sizeof(Elf64_Shdr)) {
    return fail(Status::kMalformed, "corrupt: section header entries of " + std::to_string(eh.e_shentsize) + " bytes");
  }
  if (shnum == 0) {  // more than SHN_LORESERVE sections: the count is in section 0's sh_size
    Elf64_Shdr first;
    if (!in_file(eh.e_shoff, sizeof first, size) || !b.read(eh.e_shoff, sizeof first, &first)) {
      return fail(Status::kMalformed, "truncated: the section header table starts past the end of the file");
    }
    shnum = first.sh_size;
  }
  std::vector<Elf64_Shdr> shdrs;
  if (!read_table(b, eh.e_shoff, shnum, eh.e_shentsize, shdrs)) {
    return fail(Status::kMalformed, "truncated or corrupt: the section header table (" + std::to_string(shnum) +
                                        " entries at " + hex(eh.e_shoff) + ") is not inside the file of " +
                                        std::to_string(size) + " bytes");
  }
  const Elf64_Shdr* dynsym = nullptr;
  for (size_t i = 0; i < shdrs.size(); ++i) {
    const auto& sh = shdrs[i];
    if (sh.sh_type != SHT_NOBITS && sh.sh_type != SHT_NULL && !in_file(sh.sh_offset, sh.sh_size, size)) {
      return fail(Status::kMalformed, "truncated: section " + std::to_string(i) + " (bytes " + hex(sh.sh_offset) +
                                          " + " + hex(sh.sh_size) + ") ends past the end of the file (" +
                                          std::to_string(size) + " bytes)");
    }
    if (sh.sh_type == SHT_DYNSYM && dynsym == nullptr) dynsym = &sh;
  }
  const std::string no_symbol = "no exported '" + std::string(symbol) + "' entry point";
  if (dynsym == nullptr) return fail(Status::kNoSymbol, no_symbol + " (no dynamic symbol table)");
  if (dynsym->sh_link >= shdrs.size() || shdrs[dynsym->sh_link].sh_type != SHT_STRTAB) {
    return fail(Status::kMalformed, "corrupt: the dynamic symbol table's string table is not a string table");
  }
  const Elf64_Shdr& strtab = shdrs[dynsym->sh_link];
  if (strtab.sh_size > kMaxElfTableBytes || dynsym->sh_size > kMaxElfTableBytes) {
    return fail(Status::kMalformed, "a dynamic symbol table over " + std::to_string(kMaxElfTableBytes >> 20) + " MiB");
  }
  const uint64_t entsize = dynsym->sh_entsize ? dynsym->sh_entsize : sizeof(Elf64_Sym);
  std::vector<Elf64_Sym> syms;
  if (!read_table(b, dynsym->sh_offset, dynsym->sh_size / entsize, entsize, syms)) {
    return fail(Status::kMalformed, "corrupt: the dynamic symbol table cannot be read");
  }
  std::string strings(strtab.sh_size, '\0');
  if (!strings.empty() && !b.read(strtab.sh_offset, strings.size(), strings.data())) {
    return fail(Status::kMalformed, "corrupt: the dynamic string table cannot be read");
  }
  for (const auto& s : syms) {
    if (s.st_name >= strings.size()) continue;
    const char* name = strings.data() + s.st_name;
    const size_t max_len = strings.size() - s.st_name;
    const size_t len = strnlen(name, max_len);
    if (len == max_len || std::string_view(name, len) != symbol) continue;  // unterminated or another name
    const unsigned bind = ELF64_ST_BIND(s.st_info), type = ELF64_ST_TYPE(s.st_info);
    if (s.st_shndx == SHN_UNDEF) return fail(Status::kNoSymbol, no_symbol + " (it only refers to one)");
    if (bind != STB_GLOBAL && bind != STB_WEAK) return fail(Status::kNoSymbol, no_symbol + " (it is not global)");
    if (type != STT_FUNC) return fail(Status::kNoSymbol, no_symbol + " (the symbol is not a function)");
    if (ELF64_ST_VISIBILITY(s.st_other) != STV_DEFAULT && ELF64_ST_VISIBILITY(s.st_other) != STV_PROTECTED) {
      return fail(Status::kNoSymbol, no_symbol + " (the symbol is hidden)");
    }
    // The function must sit in an executable segment, or calling it would fault.
    for (const auto& ph : phdrs) {
      if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && s.st_value >= ph.p_vaddr &&
          s.st_value - ph.p_vaddr < ph.p_memsz) {
        return ElfCheck{};
      }
    }
    return fail(Status::kMalformed, "corrupt: the '" + std::string(symbol) + "' entry point (at " + hex(s.st_value) +
                                        ") is outside every executable segment");
  }
  return fail(Status::kNoSymbol, no_symbol);
}

}  // namespace trainscope::detail
