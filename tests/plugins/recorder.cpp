// recorder: overrides every hook and appends one line per call to the file named by its
// option `out`: "<hook> <step> <epoch> <batch>" (prefixed by "<tag> " when `tag` is set).
// Tests read the file back to check the exact hook sequence and cadence.
#include <trainscope/plugin.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace {

class Recorder final : public trainscope::Plugin {
 public:
  explicit Recorder(const trainscope::Options& options)
      : path_(options.get<std::string>("out")), tag_(options.get<std::string>("tag")) {
    if (path_.empty()) throw std::runtime_error("recorder: option 'out' (the file to append to) is required");
    file_ = std::fopen(path_.c_str(), "a");
    if (file_ == nullptr) throw std::runtime_error("recorder: cannot open " + path_);
  }
  ~Recorder() override {
    if (file_) std::fclose(file_);
  }
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void on_fit_begin(trainscope::HookContext& ctx) override { record(ctx); }
  void on_epoch_begin(trainscope::HookContext& ctx) override { record(ctx); }
  void on_train_batch_begin(trainscope::HookContext& ctx) override { record(ctx); }
  void on_after_forward(trainscope::HookContext& ctx) override { record(ctx); }
  void on_after_backward(trainscope::HookContext& ctx) override { record(ctx); }
  void on_before_optimizer_step(trainscope::HookContext& ctx) override { record(ctx); }
  void on_after_optimizer_step(trainscope::HookContext& ctx) override { record(ctx); }
  void on_train_batch_end(trainscope::HookContext& ctx) override { record(ctx); }
  void on_validation_begin(trainscope::HookContext& ctx) override { record(ctx); }
  void on_validation_batch_end(trainscope::HookContext& ctx) override { record(ctx); }
  void on_validation_end(trainscope::HookContext& ctx) override { record(ctx); }
  void on_epoch_end(trainscope::HookContext& ctx) override { record(ctx); }
  void on_fit_end(trainscope::HookContext& ctx) override { record(ctx); }
  void on_exception(trainscope::HookContext& ctx) override { record(ctx); }
  void on_save_checkpoint(trainscope::HookContext& ctx) override { record(ctx); }
  void on_load_checkpoint(trainscope::HookContext& ctx) override { record(ctx); }

 private:
  void record(const trainscope::HookContext& ctx) {
    std::fprintf(file_, "%s%s%s %lld %lld %lld\n", tag_.c_str(), tag_.empty() ? "" : " ",
                 trainscope::hook_name(ctx.hook()), static_cast<long long>(ctx.step()),
                 static_cast<long long>(ctx.epoch()), static_cast<long long>(ctx.batch_index()));
    std::fflush(file_);  // readable at once, and in call order across recorders
  }
  std::string path_, tag_;
  std::FILE* file_ = nullptr;
};

}  // namespace

TRAINSCOPE_PLUGIN(Recorder, "recorder", "1.0.0",
                  trainscope::option<std::string>("out", "", "file the lines are appended to (required)"),
                  trainscope::option<std::string>("tag", "", "prefix of every line (tells recorders apart)"))
