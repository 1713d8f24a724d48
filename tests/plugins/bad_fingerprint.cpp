// A descriptor with the right ABI but another build fingerprint (as if built with another
// compiler, libstdc++ ABI, torch and SDK). The loader must refuse it, naming both.
#include <trainscope/plugin.h>

namespace {

class Dummy final : public trainscope::Plugin {
 public:
  explicit Dummy(const trainscope::Options& /*options*/) {}
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const trainscope::PluginDescriptor* trainscope_plugin_descriptor() {
  static const std::vector<trainscope::OptionSpec> options;
  static const trainscope::PluginDescriptor descriptor{trainscope::kPluginAbiMajor,
                                                       trainscope::kPluginAbiMinor,
                                                       "bad_fingerprint",
                                                       "1.0.0",
                                                       "gcc-4.8;cxx11abi=0;torch=1.0.0;sdk=0.0",
                                                       &options,
                                                       0,
                                                       &trainscope::detail::create_plugin<Dummy>,
                                                       &trainscope::detail::destroy_plugin,
                                                       &trainscope::detail::invoke_hook<Dummy>};
  return &descriptor;
}
