// graph: the model's graph for TensorBoard's graphs dashboard, traced once per run on the first
// training batch (SummaryWriter::add_graph, which traces in eval mode and restores the modes).
// Writes one GraphDef event. Options: samples (1), on_resume (false); see README.md.
#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <trainscope/plugin.h>
#include <trainscope/scripted_module.h>
#include <trainscope/summary_writer.h>

#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr const char* kWritten = "graph written";

// Saves a default generator's state and puts it back: tracing must not move the training's
// random stream (a model that draws random numbers in eval mode would otherwise shift it).
class RngRestore {
 public:
  explicit RngRestore(const c10::Device& device) {
    save(c10::Device(c10::kCPU));
    if (!device.is_cpu()) save(device);
  }
  ~RngRestore() {
    for (auto& [gen, state] : saved_) {
      try {
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(state);
      } catch (...) {
        // A generator that cannot be restored stays as it is.
      }
    }
  }
  RngRestore(const RngRestore&) = delete;
  RngRestore& operator=(const RngRestore&) = delete;

 private:
  void save(const c10::Device& device) {
    try {
      at::Generator gen = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(gen.mutex());
      // The state is a small CPU tensor (seed and offset on CUDA): no device sync.
      saved_.emplace_back(gen, gen.get_state());
    } catch (...) {
      // A backend without a default generator: nothing to keep.
    }
  }
  std::vector<std::pair<at::Generator, at::Tensor>> saved_;
};

class Graph final : public trainscope::Plugin {
 public:
  explicit Graph(const trainscope::Options& o)
      : samples_(o.get<int64_t>("samples")), on_resume_(o.get<bool>("on_resume")) {}

  void on_load_checkpoint(trainscope::HookContext& ctx) override {
    // The run being resumed already holds the graph: TensorBoard keeps one graph per run.
    if (!on_resume_ && ctx.state() == kWritten) done_ = true;
  }
  void on_save_checkpoint(trainscope::HookContext& ctx) override { ctx.state() = done_ ? kWritten : ""; }

  // fit_begin has no batch: the first training batch is the example input.
  void on_train_batch_begin(trainscope::HookContext& ctx) override {
    if (done_) return;
    done_ = true;  // once, whatever happens below
    at::Tensor x = ctx.inputs();
    if (!x.defined() || x.dim() == 0) return;
    if (samples_ > 0 && x.size(0) > samples_) x = x.narrow(0, 0, samples_);
    x = x.detach();
    RngRestore rng(ctx.device());
    torch::NoGradGuard no_grad;  // no autograd graph kept, nothing can reach the gradients
    // A TorchScript model brings its own graph (module scopes, no tracing needed).
    if (auto* scripted = dynamic_cast<trainscope::ScriptedModule*>(&ctx.model())) {
      ctx.writer().add_graph(scripted->jit(), {x});
      return;
    }
    ctx.writer().add_graph(ctx.model(), {x}, [&ctx](const std::vector<at::Tensor>& in) { return ctx.forward(in[0]); });
  }

 private:
  const int64_t samples_;
  const bool on_resume_;
  bool done_ = false;
};

}  // namespace

TRAINSCOPE_PLUGIN(Graph, "graph", "1.0.0",
                  trainscope::option<int64_t>("samples", 1,
                                              "samples of the first training batch to trace on (0: the whole batch)")
                      .min(0),
                  trainscope::option<bool>("on_resume", false,
                                           "write the graph again when the run resumes from a checkpoint"))
