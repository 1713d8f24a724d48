// throwing_hook: train_batch_end and exception throw. Each call first counts itself in
// ctx.metrics()["throwing_hook.calls"], so tests see it is never called once disabled.
#include <trainscope/plugin.h>

#include <stdexcept>
#include <string>

namespace {

class ThrowingHook final : public trainscope::Plugin {
 public:
  explicit ThrowingHook(const trainscope::Options& /*options*/) {}
  void on_train_batch_end(trainscope::HookContext& ctx) override {
    ctx.metrics()["throwing_hook.calls"] += 1;
    throw std::runtime_error("boom at step " + std::to_string(ctx.step()));
  }
  void on_exception(trainscope::HookContext& ctx) override {
    ctx.metrics()["throwing_hook.calls"] += 1;
    throw std::runtime_error("boom in the exception hook");
  }
};

}  // namespace

TRAINSCOPE_PLUGIN(ThrowingHook, "throwing_hook", "1.0.0")
