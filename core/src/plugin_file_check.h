// The checks a plugin library passes before any of its code runs: who can write it (the file,
// and every directory on its path), and its ELF structure with the entry symbol (elf_probe.h).
#pragma once

#include <string>

namespace trainscope::detail {

// Throws PluginLoadError (kNotFound, kUnsafe, kOpen or kMissingSymbol) naming `path`, the
// reason and the fix; `host` is "this trainscope X (ABI a.b)" for the messages.
void check_plugin_file(const std::string& path, const std::string& host);

}  // namespace trainscope::detail
