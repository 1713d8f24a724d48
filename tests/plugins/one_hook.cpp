// one_hook: overrides only epoch_end and counts its calls in ctx.metrics()["one_hook.calls"],
// to show that the bus dispatches a plugin only the hooks it overrides.
#include <trainscope/plugin.h>

namespace {

class OneHook final : public trainscope::Plugin {
 public:
  explicit OneHook(const trainscope::Options& /*options*/) {}
  void on_epoch_end(trainscope::HookContext& ctx) override { ctx.metrics()["one_hook.calls"] += 1; }
};

}  // namespace

TRAINSCOPE_PLUGIN(OneHook, "one_hook", "1.0.0")
