// A descriptor built by hand with an incompatible ABI: abi_major = 99 (bad_abi), or, with
// TEST_ABI_MINOR_AHEAD, the host's major with a newer minor (bad_minor). The loader must
// refuse both, naming the file and both ABI versions.
#include <trainscope/plugin.h>

namespace {

class Dummy final : public trainscope::Plugin {
 public:
  explicit Dummy(const trainscope::Options& /*options*/) {}
};

#ifdef TEST_ABI_MINOR_AHEAD
constexpr uint32_t kMajor = trainscope::kPluginAbiMajor;
constexpr uint32_t kMinor = trainscope::kPluginAbiMinor + 7;
constexpr const char* kName = "bad_minor";
#else
constexpr uint32_t kMajor = 99;
constexpr uint32_t kMinor = 0;
constexpr const char* kName = "bad_abi";
#endif

}  // namespace

extern "C" __attribute__((visibility("default"))) const trainscope::PluginDescriptor* trainscope_plugin_descriptor() {
  static const std::vector<trainscope::OptionSpec> options;
  static const trainscope::PluginDescriptor descriptor{kMajor,
                                                       kMinor,
                                                       kName,
                                                       "0.9.0",
                                                       TRAINSCOPE_BUILD_FINGERPRINT,
                                                       &options,
                                                       0,
                                                       &trainscope::detail::create_plugin<Dummy>,
                                                       &trainscope::detail::destroy_plugin,
                                                       &trainscope::detail::invoke_hook<Dummy>};
  return &descriptor;
}
