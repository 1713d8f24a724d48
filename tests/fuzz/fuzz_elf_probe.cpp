// Fuzzes the plugin loader's ELF checks: any bytes give a verdict with a reason, never a read
// outside the buffer, an overflow or a huge allocation.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "elf_probe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trainscope::detail::ElfCheck;
  const trainscope::detail::BufferSource bytes(std::string_view(reinterpret_cast<const char*>(data), size));
  const ElfCheck check = trainscope::detail::check_plugin_elf(bytes, "trainscope_plugin_descriptor");
  // Every refusal says why; an acceptance says nothing.
  if ((check.status == ElfCheck::Status::kOk) != check.reason.empty()) __builtin_trap();
  return 0;
}
