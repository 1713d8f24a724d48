// clashing_option: declares an option named like a core [[plugin]] key (every_n_steps), which
// the bus would read as its cadence: configurations using it must be refused.
#include <trainscope/plugin.h>

namespace {

class Clashing final : public trainscope::Plugin {
 public:
  explicit Clashing(const trainscope::Options& /*options*/) {}
  void on_train_batch_end(trainscope::HookContext& /*ctx*/) override {}
};

}  // namespace

TRAINSCOPE_PLUGIN(Clashing, "clashing_option", "1.0.0",
                  trainscope::option<int64_t>("every_n_steps", 10, "clashes with the bus's cadence key"))
