// Loading plugin libraries (Boost.DLL). Checks, in order, before any of the library's code
// runs: who may write the file (not world-writable, in no world-writable directory without the
// sticky bit, owned by root or by this user), its ELF structure (a 64-bit shared object for this
// machine, every table and segment inside the file) and a defined exported entry symbol. Then,
// after loading: the ABI version, the build fingerprint, the options schema, and (at create
// time) the factory. Discovery loads each library first in a probe process, so a library that
// crashes or hangs while loading costs a refusal, not the process. Every refusal names the
// file and both versions. A library outlives every instance created from it.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/plugin.h"

namespace trainscope {

// Why a library was refused; what() is the full message ("<file>: <reason> (...)").
class PluginLoadError : public std::runtime_error {
 public:
  enum class Kind {
    kNotFound,             // no such file (or no such plugin name)
    kOpen,                 // dlopen failed (not a shared object, unresolved symbol, ...)
    kMissingSymbol,        // no TRAINSCOPE_PLUGIN_ENTRY_NAME: not a trainscope plugin
    kAbiMismatch,          // ABI major differs or ABI minor is newer than the host's
    kFingerprintMismatch,  // built with another compiler / libstdc++ ABI / torch / SDK
    kInvalidDescriptor,    // the entry returned null, or a descriptor without name/functions
    kCreateFailed,         // the plugin's constructor threw
    kUnsafe,               // others could write the file or its directory, or it has a foreign owner
    kCrashed               // loading it (constructors, entry point) crashed or hung in the probe process
  };
  PluginLoadError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// One opened plugin library. Shared: instances hold a reference so the library stays loaded.
class TRAINSCOPE_API PluginLibrary {
 public:
  // Checks `path` (ownership and permissions, ELF structure, entry symbol) without running any
  // of it, then opens it in this process (RTLD_NOW | RTLD_LOCAL) and checks ABI, fingerprint
  // and schema; throws PluginLoadError. No probe process: a crash while loading is this
  // process's (discover_plugins probes first).
  static std::shared_ptr<PluginLibrary> open(const std::string& path);
  virtual ~PluginLibrary() = default;
  virtual const PluginDescriptor& descriptor() const = 0;
  virtual const std::string& path() const = 0;
  // The descriptor's options schema (empty when the plugin declares none).
  const std::vector<OptionSpec>& options() const;
};

// A live plugin: the instance plus the library that made it (destroyed instance-first).
class TRAINSCOPE_API PluginInstance {
 public:
  // Creates through the descriptor's factory; throws PluginLoadError(kCreateFailed) naming
  // the file, the plugin's version and message when the constructor throws. `options` is
  // copied first, so a plugin may keep a reference to the Options it was given.
  PluginInstance(std::shared_ptr<PluginLibrary> library, const Options& options);
  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const PluginDescriptor& descriptor() const { return library_->descriptor(); }
  const std::string& name() const { return name_; }
  const Options& options() const { return options_; }
  Plugin* get() const { return plugin_; }
  const std::shared_ptr<PluginLibrary>& library() const { return library_; }

 private:
  std::shared_ptr<PluginLibrary> library_;  // declared first: released after plugin_ is destroyed
  Options options_;
  std::string name_;
  Plugin* plugin_ = nullptr;
};

// Where plugin libraries are looked for, in order: directories from the TOML run.plugin_path
// (and the CLI's --path), the TRAINSCOPE_PLUGIN_PATH environment variable (':'-separated),
// then the build tree's plugin dir when this libtrainscope_core is the build tree's, else
// trainscope/plugins next to this libtrainscope_core (a relocated install), and last the
// configured install dir (<prefix>/lib/trainscope/plugins). Duplicates are dropped.
TRAINSCOPE_API std::vector<std::string> plugin_search_path(const std::vector<std::string>& from_config);

// Every plugin library (*.so directly under each directory of the search path, sorted by file
// name within a directory; the first library of a given plugin name wins) with its
// descriptor, and the refusals met on the way (for `trainscope plugins`). A library is loaded
// into this process only after the checks of PluginLibrary::open passed and a forked probe
// process (one per library, a few at a time) loaded it, called its entry point and checked its descriptor without crashing or
// hanging; a refused library never shadows another. Libraries stay loaded while the catalog
// (or an instance made from it) lives.
struct TRAINSCOPE_API PluginCatalog {
  std::vector<std::shared_ptr<PluginLibrary>> libraries;
  std::vector<std::string> refusals;  // PluginLoadError messages
  std::vector<std::string> shadowed;  // "<file>: plugin 'x' 1.0 is shadowed by <earlier file>"
  // nullptr when no library has that name.
  std::shared_ptr<PluginLibrary> find(const std::string& name) const;
  // Plugin names, sorted.
  std::vector<std::string> names() const;
};
TRAINSCOPE_API PluginCatalog discover_plugins(const std::vector<std::string>& search_path);

}  // namespace trainscope
