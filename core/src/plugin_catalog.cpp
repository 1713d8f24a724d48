// The catalog's lookups and a library's schema: plain data access, apart from the loading in
// plugin_loader.cpp, so that code reading a configuration (and its fuzz target, which loads no
// library) links without Boost.DLL.
#include <algorithm>

#include "trainscope/plugin_loader.h"

namespace trainscope {

const std::vector<OptionSpec>& PluginLibrary::options() const {
  static const std::vector<OptionSpec> kNone;
  const auto* options = descriptor().options;
  return options ? *options : kNone;
}

std::shared_ptr<PluginLibrary> PluginCatalog::find(const std::string& name) const {
  for (const auto& lib : libraries) {
    if (name == lib->descriptor().name) return lib;
  }
  return nullptr;
}

std::vector<std::string> PluginCatalog::names() const {
  std::vector<std::string> out;
  for (const auto& lib : libraries) out.emplace_back(lib->descriptor().name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace trainscope
