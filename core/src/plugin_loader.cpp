// Plugin libraries through Boost.DLL: open, check (symbol -> ABI -> fingerprint -> schema -> factory),
// search path and discovery.
//
// Load mode: RTLD_NOW | RTLD_LOCAL. NOW resolves every symbol at load, so a plugin built
// against another SDK is refused up front with the missing symbol named, instead of crashing
// in the middle of a run the first time a lazily bound function is called. LOCAL keeps each
// plugin's symbols out of the global namespace: two plugins may carry the same internal
// names (helpers, template instantiations) without interposing each other, and nothing else
// can bind to a plugin that is later unloaded.
#include "trainscope/plugin_loader.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <thread>

#include "plugin_file_check.h"
#include "plugin_probe.h"
#include "trainscope/version.h"

#ifndef TRAINSCOPE_BUILD_TREE
#define TRAINSCOPE_BUILD_TREE ""
#endif
#ifndef TRAINSCOPE_BUILD_PLUGIN_DIR
#define TRAINSCOPE_BUILD_PLUGIN_DIR ""
#endif
#ifndef TRAINSCOPE_INSTALL_PLUGIN_DIR
#define TRAINSCOPE_INSTALL_PLUGIN_DIR "/usr/local/lib/trainscope/plugins"
#endif

namespace trainscope {
namespace {

namespace fs = boost::filesystem;
using Kind = PluginLoadError::Kind;

std::string abi_string(uint32_t major, uint32_t minor) { return std::to_string(major) + "." + std::to_string(minor); }
std::string host_abi() { return abi_string(kPluginAbiMajor, kPluginAbiMinor); }
constexpr const char* kRebuild = "rebuild the plugin against trainscope " TRAINSCOPE_VERSION_STRING;

// "plugin 'name' 1.2.0" (fields beyond the ABI numbers are only read once the ABI matched).
std::string who(const PluginDescriptor& d) {
  return std::string("plugin '") + (d.name ? d.name : "?") + "' " + (d.version ? d.version : "?");
}

// The parts of two fingerprints that differ: "torch 2.10.0 vs 2.11.0".
std::string fingerprint_diff(const std::string& plugin, const std::string& host) {
  auto split = [](const std::string& s) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(';', start);
      if (end == std::string::npos) end = s.size();
      parts.push_back(s.substr(start, end - start));
      start = end + 1;
    }
    return parts;
  };
  auto key_of = [](const std::string& part) {
    const size_t eq = part.find('=');
    if (eq != std::string::npos) return part.substr(0, eq);
    const size_t dash = part.find('-');
    return dash != std::string::npos ? part.substr(0, dash) : part;
  };
  auto value_of = [](const std::string& part) {
    size_t pos = part.find('=');
    if (pos == std::string::npos) pos = part.find('-');
    return pos == std::string::npos ? part : part.substr(pos + 1);
  };
  const auto a = split(plugin), b = split(host);
  std::string out;
  for (const auto& pa : a) {
    for (const auto& pb : b) {
      if (key_of(pa) == key_of(pb) && pa != pb) {
        if (!out.empty()) out += ", ";
        out += key_of(pa) + " " + value_of(pa) + " vs " + value_of(pb);
      }
    }
  }
  return out;
}

// dlerror() text with mangled names demangled ("undefined symbol: trainscope::Foo::bar()").
std::string readable_dlerror(const std::string& fallback) {
  const char* raw = dlerror();
  std::string msg = raw ? raw : fallback;
  const std::string marker = "undefined symbol: ";
  const size_t pos = msg.find(marker);
  if (pos != std::string::npos) {
    const size_t begin = pos + marker.size();
    size_t end = msg.find_first_of(" ,\t\n(", begin);
    if (end == std::string::npos) end = msg.size();
    const std::string mangled = msg.substr(begin, end - begin);
    int status = 0;
    char* demangled = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
    if (status == 0 && demangled) msg.replace(begin, end - begin, demangled);
    std::free(demangled);
  }
  return msg;
}

class DllLibrary final : public PluginLibrary {
 public:
  DllLibrary(boost::dll::shared_library library, const PluginDescriptor* descriptor, std::string path)
      : library_(std::move(library)), descriptor_(descriptor), path_(std::move(path)) {}
  const PluginDescriptor& descriptor() const override { return *descriptor_; }
  const std::string& path() const override { return path_; }

 private:
  boost::dll::shared_library library_;  // unloaded when the last PluginLibrary reference goes
  const PluginDescriptor* descriptor_;
  std::string path_;
};

// True when `symbol` is defined by the library behind `handle` itself: dlsym on a handle also
// searches the library's dependencies, which must not make a non-plugin look like one.
bool defined_in(void* handle, const void* symbol) {
  struct link_map* map = nullptr;
  Dl_info info{};
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr) return true;  // cannot tell
  if (dladdr(symbol, &info) == 0 || info.dli_fname == nullptr || map->l_name == nullptr) return true;
  return std::strcmp(info.dli_fname, map->l_name) == 0;
}

}  // namespace

namespace {

// PluginLibrary::open, reporting its stages to `reached` (for the probe process).
std::shared_ptr<PluginLibrary> open_library(const std::string& path,
                                            const std::function<void(detail::ProbeStage)>& reached) {
  const std::string host = "this trainscope " TRAINSCOPE_VERSION_STRING " (ABI " + host_abi() + ")";
  boost::system::error_code ec;
  if (!fs::is_regular_file(fs::path(path), ec)) {
    throw PluginLoadError(Kind::kNotFound, path + ": no such plugin library; " + host + " looked for it there");
  }
  // 0. Before any of its code runs: who can write it, its ELF structure, the entry symbol.
  detail::check_plugin_file(path, host);

  // 1. Open. RTLD_NOW | RTLD_LOCAL (see the top of this file).
  boost::dll::shared_library library;
  dlerror();  // clear any stale message
  library.load(fs::path(path), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec || !library.is_loaded()) {
    throw PluginLoadError(
        Kind::kOpen, path + ": cannot be loaded: " + readable_dlerror(ec.message()) + "; " + host + "; " + kRebuild);
  }

  // 2. The entry symbol, defined by this library itself.
  if (!library.has(TRAINSCOPE_PLUGIN_ENTRY_NAME) ||
      !defined_in(library.native(), reinterpret_cast<const void*>(
                                        library.get<const PluginDescriptor*()>(TRAINSCOPE_PLUGIN_ENTRY_NAME)))) {
    throw PluginLoadError(
        Kind::kMissingSymbol,
        path +
            ": no '" TRAINSCOPE_PLUGIN_ENTRY_NAME
            "' entry point, so not a trainscope plugin (plugin ABI unknown; this trainscope " TRAINSCOPE_VERSION_STRING
            " expects ABI " +
            host_abi() + "); export one with TRAINSCOPE_PLUGIN(...)");
  }
  if (reached) reached(detail::ProbeStage::kLoaded);
  const PluginDescriptor* d = library.get<const PluginDescriptor*()>(TRAINSCOPE_PLUGIN_ENTRY_NAME)();
  if (reached) reached(detail::ProbeStage::kEntryReturned);
  if (d == nullptr) {
    throw PluginLoadError(
        Kind::kInvalidDescriptor,
        path + ": the '" TRAINSCOPE_PLUGIN_ENTRY_NAME "' entry point returned no descriptor; " + host);
  }

  // 3. ABI: same major, minor not newer than ours. Only abi_major/abi_minor are read before
  // this check: their position is the one thing every ABI version shares.
  if (d->abi_major != kPluginAbiMajor) {
    throw PluginLoadError(Kind::kAbiMismatch, path + ": plugin ABI " + abi_string(d->abi_major, d->abi_minor) +
                                                  " is not compatible with this trainscope (ABI " + host_abi() + "); " +
                                                  kRebuild);
  }
  if (d->abi_minor > kPluginAbiMinor) {
    throw PluginLoadError(Kind::kAbiMismatch, path + ": " + who(*d) + " needs plugin ABI " +
                                                  abi_string(d->abi_major, d->abi_minor) +
                                                  ", newer than this trainscope " TRAINSCOPE_VERSION_STRING " (ABI " +
                                                  host_abi() + "); upgrade trainscope or " + kRebuild);
  }

  // 4. Build fingerprint: compiler, libstdc++ ABI, torch and SDK versions must all match,
  // because the C++ interface behind the C entry (std::string, Options, at::Tensor) is shared.
  const std::string plugin_fp = d->fingerprint ? d->fingerprint : "";
  const std::string host_fp = host_build_fingerprint();
  if (plugin_fp != host_fp) {
    const std::string diff = fingerprint_diff(plugin_fp, host_fp);
    throw PluginLoadError(Kind::kFingerprintMismatch, path + ": " + who(*d) + " was built with '" + plugin_fp +
                                                          "' but this trainscope " + TRAINSCOPE_VERSION_STRING +
                                                          " was built with '" + host_fp + "'" +
                                                          (diff.empty() ? "" : " (" + diff + ")") + "; " + kRebuild);
  }

  if (d->name == nullptr || *d->name == '\0' || d->version == nullptr || d->create == nullptr ||
      d->destroy == nullptr || d->invoke == nullptr) {
    throw PluginLoadError(Kind::kInvalidDescriptor, path + ": " + who(*d) +
                                                        " has an incomplete descriptor (name, version, create, destroy "
                                                        "and invoke are required); " +
                                                        host + "; " + kRebuild);
  }

  // 5. The options schema: every constraint fits its option and every default keeps them, so
  // a configuration that leaves an option out is valid.
  if (d->options != nullptr) {
    std::string problems;
    for (const auto& spec : *d->options) {
      for (const auto& p : schema_problems(spec)) problems += (problems.empty() ? "" : "; ") + p;
    }
    if (!problems.empty()) {
      throw PluginLoadError(Kind::kInvalidDescriptor, path + ": " + who(*d) + " has an invalid options schema: " +
                                                          problems + "; fix its TRAINSCOPE_PLUGIN(...) options");
    }
  }
  return std::make_shared<DllLibrary>(std::move(library), d, path);
}

}  // namespace

std::shared_ptr<PluginLibrary> PluginLibrary::open(const std::string& path) { return open_library(path, nullptr); }

PluginInstance::PluginInstance(std::shared_ptr<PluginLibrary> library, const Options& options)
    : library_(std::move(library)), options_(options) {
  const PluginDescriptor& d = library_->descriptor();
  name_ = d.name;
  std::string error;
  // 6. The factory: the constructor runs inside the plugin's library, which catches.
  plugin_ = d.create(options_, &error);
  if (plugin_ == nullptr) {
    throw PluginLoadError(Kind::kCreateFailed,
                          library_->path() + ": " + who(d) + " (ABI " + abi_string(d.abi_major, d.abi_minor) +
                              ", this trainscope " TRAINSCOPE_VERSION_STRING " ABI " + host_abi() +
                              ") could not be created: " + (error.empty() ? "the factory returned null" : error));
  }
}

PluginInstance::~PluginInstance() {
  // The instance dies first; library_ (and with it, possibly, the .so) is released afterwards.
  if (plugin_) library_->descriptor().destroy(plugin_);
  plugin_ = nullptr;
}

namespace {

// Where this libtrainscope_core.so is (empty when unknown).
fs::path core_library_path() {
  boost::system::error_code ec;
  const fs::path self = boost::dll::this_line_location(ec);
  if (ec) return {};
  const fs::path canonical = fs::weakly_canonical(self, ec);
  return ec ? self : canonical;
}

// True when this libtrainscope_core lives under the build tree (then the build's plugins
// are searched; an installed core never looks into a build directory).
bool running_from_build_tree(const fs::path& self) {
  if (std::strlen(TRAINSCOPE_BUILD_TREE) == 0 || self.empty()) return false;
  boost::system::error_code ec;
  const fs::path tree = fs::weakly_canonical(fs::path(TRAINSCOPE_BUILD_TREE), ec);
  if (ec) return false;
  const std::string t = tree.string(), m = self.string();
  return m.size() > t.size() && m.compare(0, t.size(), t) == 0 && m[t.size()] == '/';
}

}  // namespace

std::vector<std::string> plugin_search_path(const std::vector<std::string>& from_config) {
  std::vector<std::string> dirs;
  std::set<std::string> seen;
  auto add = [&](std::string dir) {
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (!dir.empty() && seen.insert(dir).second) dirs.push_back(std::move(dir));
  };
  for (const auto& d : from_config) add(d);
  if (const char* env = std::getenv("TRAINSCOPE_PLUGIN_PATH")) {
    std::string value = env;
    size_t start = 0;
    while (start <= value.size()) {
      size_t end = value.find(':', start);
      if (end == std::string::npos) end = value.size();
      add(value.substr(start, end - start));
      start = end + 1;
    }
  }
  static const fs::path self = core_library_path();
  static const bool from_build_tree = running_from_build_tree(self);
  if (from_build_tree) {
    add(TRAINSCOPE_BUILD_PLUGIN_DIR);
  } else if (!self.empty()) {
    // <libdir>/trainscope/plugins next to this library: right also for an install that was
    // moved or made with `cmake --install --prefix` other than the configured one.
    add((self.parent_path() / "trainscope" / "plugins").string());
  }
  add(TRAINSCOPE_INSTALL_PLUGIN_DIR);
  return dirs;
}

// Generous: a probe loads one library into an already initialised process (milliseconds), but
// sanitizer builds and loaded CI machines are slow. TRAINSCOPE_PLUGIN_PROBE_TIMEOUT (seconds)
// changes it.
std::chrono::milliseconds probe_timeout() {
  if (const char* env = std::getenv("TRAINSCOPE_PLUGIN_PROBE_TIMEOUT")) {
    char* end = nullptr;
    const double seconds = std::strtod(env, &end);
    if (end != env && *end == '\0' && seconds > 0 && seconds <= 3600) {
      return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    }
  }
  return std::chrono::seconds(30);
}

// Probe processes at a time: each loads one library (mostly waiting on relocation and page
// faults), so about one per core, and never many.
size_t probe_parallelism() {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp<size_t>(cores, 1, 8);
}

PluginCatalog discover_plugins(const std::vector<std::string>& search_path) {
  PluginCatalog catalog;
  const auto timeout = probe_timeout();
  for (const auto& dir : search_path) {
    boost::system::error_code ec;
    if (!fs::is_directory(fs::path(dir), ec)) continue;
    std::vector<std::string> files;
    for (fs::directory_iterator it(fs::path(dir), ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.extension() == ".so" && fs::is_regular_file(p, ec)) files.push_back(p.string());
    }
    std::sort(files.begin(), files.end());

    // The checks that read the files run here; loading each and calling its entry point run
    // first in probe processes (several at a time), and only a library that passed there is
    // loaded here, in file order.
    const std::string host = "this trainscope " TRAINSCOPE_VERSION_STRING " (ABI " + host_abi() + ")";
    std::vector<std::optional<PluginLoadError>> verdicts(files.size());
    std::vector<detail::ProbeRequest> probes;
    std::vector<size_t> probed;  // probes[k] is for files[probed[k]]
    for (size_t i = 0; i < files.size(); ++i) {
      try {
        detail::check_plugin_file(files[i], host);
        const std::string file = files[i];
        probes.push_back({file, [file](const auto& reached) { open_library(file, reached); }});
        probed.push_back(i);
      } catch (const PluginLoadError& e) {
        verdicts[i] = e;
      }
    }
    auto results = detail::probe_in_children(probes, timeout, probe_parallelism());
    for (size_t k = 0; k < probed.size(); ++k) verdicts[probed[k]] = std::move(results[k]);

    for (size_t i = 0; i < files.size(); ++i) {
      const std::string& file = files[i];
      try {
        if (verdicts[i]) throw *verdicts[i];
        auto lib = PluginLibrary::open(file);
        if (auto first = catalog.find(lib->descriptor().name)) {
          catalog.shadowed.push_back(file + ": " + who(lib->descriptor()) + " is shadowed by " + first->path() +
                                     " (earlier on the plugin search path)");
          continue;
        }
        catalog.libraries.push_back(std::move(lib));
      } catch (const PluginLoadError& e) {
        catalog.refusals.emplace_back(e.what());
      }
    }
  }
  return catalog;
}

}  // namespace trainscope
