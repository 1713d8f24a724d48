// Fuzzes configuration reading: TOML text (up to the first NUL byte) and "key=value"
// overrides (the NUL-separated rest), checked against a catalog holding one plugin whose
// schema has an option of every type with constraints. Any outcome but a RunConfig or a
// ConfigError (every problem located in the file) is a finding.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainscope/config.h"

namespace {

using trainscope::OptionSpec;

class FakeLibrary final : public trainscope::PluginLibrary {
 public:
  FakeLibrary() {
    options_ = {
        trainscope::option<int64_t>("level", 1, "an int").range(0, 10),
        trainscope::option<double>("scale", 0.5, "a float").greater_than(0).finite(),
        trainscope::option<bool>("verbose", false, "a bool"),
        trainscope::option<std::string>("mode", "fast", "a string").one_of({"fast", "slow"}),
        trainscope::option<std::vector<std::string>>("tags", {"*"}, "a string list").globs(),
    };
    descriptor_.abi_major = trainscope::kPluginAbiMajor;
    descriptor_.abi_minor = trainscope::kPluginAbiMinor;
    descriptor_.name = "noop";
    descriptor_.version = "1.0.0";
    descriptor_.options = &options_;
  }
  const trainscope::PluginDescriptor& descriptor() const override { return descriptor_; }
  const std::string& path() const override { return path_; }

 private:
  std::vector<OptionSpec> options_;
  trainscope::PluginDescriptor descriptor_{};
  std::string path_ = "/fuzz/libnoop.so";
};

const trainscope::PluginCatalog& catalog() {
  static const trainscope::PluginCatalog c = [] {
    trainscope::PluginCatalog c;
    c.libraries.push_back(std::make_shared<FakeLibrary>());
    return c;
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  const std::string text = all.substr(0, nul);
  std::vector<std::string> overrides;
  for (size_t start = nul; start != std::string::npos && start < all.size() && overrides.size() < 8;) {
    const size_t end = all.find('\0', start + 1);
    overrides.push_back(all.substr(start + 1, end == std::string::npos ? std::string::npos : end - start - 1));
    start = end;
  }
  try {
    const auto file = trainscope::ConfigFile::from_text(text, "fuzz.toml", overrides);
    (void)file.plugin_path();
    const trainscope::RunConfig config = file.read(catalog());
    (void)trainscope::validate(config);
  } catch (const trainscope::ConfigError& e) {
    if (e.problems().empty()) __builtin_trap();  // an error that says nothing
  }
  return 0;
}
