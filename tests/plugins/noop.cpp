// noop: a plugin that overrides one hook (train_batch_end) with an empty body. Its schema has
// one option of every type, for the config tests; the benchmark loads it 8 times.
#include <trainscope/plugin.h>

namespace {

class Noop final : public trainscope::Plugin {
 public:
  explicit Noop(const trainscope::Options& /*options*/) {}
  void on_train_batch_end(trainscope::HookContext& /*ctx*/) override {}
};

}  // namespace

TRAINSCOPE_PLUGIN(Noop, "noop", "1.0.0", trainscope::option<int64_t>("level", 1, "an int option"),
                  trainscope::option<double>("scale", 0.5, "a float option"),
                  trainscope::option<bool>("verbose", false, "a bool option"),
                  trainscope::option<std::string>("mode", "fast", "a string option"),
                  trainscope::option<std::vector<std::string>>("tags", {}, "a string-list option"))
