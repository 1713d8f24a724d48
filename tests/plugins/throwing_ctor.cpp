// throwing_ctor: its constructor always throws, so creating it is refused.
#include <trainscope/plugin.h>

#include <stdexcept>

namespace {

class ThrowingCtor final : public trainscope::Plugin {
 public:
  explicit ThrowingCtor(const trainscope::Options& options) {
    throw std::runtime_error("throwing_ctor refuses to start: " + options.get<std::string>("reason"));
  }
  void on_fit_begin(trainscope::HookContext& /*ctx*/) override {}
};

}  // namespace

TRAINSCOPE_PLUGIN(ThrowingCtor, "throwing_ctor", "2.3.4",
                  trainscope::option<std::string>("reason", "no reason given", "the constructor's message"))
