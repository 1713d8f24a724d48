// SummaryWriter: PyTorch's torch.utils.tensorboard.SummaryWriter for libtorch.
// Tensors may live on any device. The calling thread validates, snapshots what it must and
// enqueues; reductions of CUDA tensors run on the GPU and reach the host through pinned
// memory, resolved on the writer thread, so logging never forces a GPU sync.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/custom_scalars.h"
#include "trainscope/event_writer.h"
#include "trainscope/export.h"
#include "trainscope/histogram.h"
#include "trainscope/hparams.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit
namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace trainscope {

struct SummaryWriterOptions {
  // Queue bounds, overflow policy, flush interval, purge step and the sink: every event
  // stream of this writer (the main run and each child run) gets its own sink from
  // writer.sink; e.g. {.writer = {.sink = trainscope::null_sink()}} logs nothing.
  EventWriterOptions writer;
};

class TRAINSCOPE_API SummaryWriter {
 public:
  // `log_dir` empty: runs/<Mon DD_HH-MM-SS>_<host>, as PyTorch. Throws if it cannot be created.
  explicit SummaryWriter(std::string log_dir = {}, SummaryWriterOptions options = {});
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  // Scalars are stored as float32 simple_value (what TensorBoard's fast loader shows).
  void add_scalar(std::string_view tag, double value, int64_t step);
  // A 1-element tensor on any device; read on the writer thread (no GPU sync here).
  void add_scalar(std::string_view tag, const at::Tensor& value, int64_t step);
  // One child run per key: <log_dir>/<main_tag>_<key>, each holding tag `main_tag`.
  void add_scalars(std::string_view main_tag, const std::map<std::string, double>& values, int64_t step);

  // Histogram of all elements. Default bins: PyTorch's "tensorflow" edges.
  void add_histogram(std::string_view tag, const at::Tensor& values, int64_t step,
                     const HistogramBins& bins = HistogramBins::tensorflow(), int max_bins = 0);
  void add_histogram_raw(std::string_view tag, double min, double max, double num, double sum,
                         double sum_squares, std::vector<double> bucket_limits,
                         std::vector<double> bucket_counts, int64_t step);

  // One image: CHW, HWC or HW; float in [0, 1] or uint8; 1, 3 or 4 channels.
  void add_image(std::string_view tag, const at::Tensor& image, int64_t step,
                 std::string_view dataformats = "CHW");
  // A batch (NCHW or NHWC) tiled into one grid, 8 per row, like PyTorch's make_grid.
  void add_images(std::string_view tag, const at::Tensor& images, int64_t step,
                  std::string_view dataformats = "NCHW");
  // Markdown text; stored under `<tag>/text_summary` as PyTorch does.
  void add_text(std::string_view tag, std::string_view text, int64_t step);
  // Mono audio in [-1, 1] (clipped), any shape that squeezes to 1-D.
  void add_audio(std::string_view tag, const at::Tensor& samples, int64_t step,
                 double sample_rate = 44100.0);
  // [N, T, C, H, W] video, float in [0, 1] or uint8; N clips tiled; animated GIF.
  void add_video(std::string_view tag, const at::Tensor& video, int64_t step, double fps = 4.0);

  // --- Graphs -------------------------------------------------------------------------------
  // The graph of a TorchScript module run on `inputs`.
  void add_graph(torch::jit::Module& module, const std::vector<at::Tensor>& inputs);
  // The graph of a C++ module: `forward` runs the module on the example inputs while the
  // tracer records it; nodes are named by module scope (Net/Conv2d[conv1]/...). When tracing
  // fails, a structural graph from named_modules() is written instead and a note is printed.
  void add_graph(torch::nn::Module& module, const std::vector<at::Tensor>& inputs,
                 const std::function<at::Tensor(const std::vector<at::Tensor>&)>& forward);
  // Convenience: any module holder or shared_ptr whose forward takes one tensor.
  template <typename M>
    requires requires(M& m, const at::Tensor& t) { m->forward(t); }
  void add_graph(M& module, const at::Tensor& input) {
    add_graph(*module, {input}, [&module](const std::vector<at::Tensor>& in) { return module->forward(in[0]); });
  }

  // --- Projector (embeddings) --------------------------------------------------------------
  // `mat` [N, D] on any device. metadata: N labels (one column) or N rows of columns with
  // `metadata_header`; label_img [N, C, H, W] thumbnails for the sprite.
  void add_embedding(const at::Tensor& mat, const std::vector<std::vector<std::string>>& metadata = {},
                     const at::Tensor& label_img = {}, int64_t step = 0, std::string_view tag = "default",
                     const std::vector<std::string>& metadata_header = {});
  void add_embedding(const at::Tensor& mat, const std::vector<std::string>& labels, const at::Tensor& label_img = {},
                     int64_t step = 0, std::string_view tag = "default");

  // --- HParams -----------------------------------------------------------------------------
  // Experiment + session start + metrics as scalars + session end (SUCCESS), in this run.
  void add_hparams(const std::map<std::string, HParamValue>& hparams, const std::map<std::string, double>& metrics,
                   const HParamsOptions& options = {});
  // For long runs: start now, end later (until then TensorBoard shows the session as UNKNOWN:
  // it reads status only from the end record). A writer destroyed while an exception unwinds,
  // or closed without hparams_end, ends the session with FAILURE.
  void hparams_start(const std::map<std::string, HParamValue>& hparams, const std::vector<std::string>& metric_tags,
                     const HParamsOptions& options = {});
  void hparams_end(SessionStatus status = SessionStatus::kSuccess);

  // --- Custom scalars, PR curves, meshes -----------------------------------------------------
  void add_custom_scalars(const CustomScalarLayout& layout);
  void add_custom_scalars_multilinechart(const std::vector<std::string>& tags, std::string_view category = "default",
                                         std::string_view title = "untitled");
  void add_custom_scalars_marginchart(const std::vector<std::string>& tags, std::string_view category = "default",
                                      std::string_view title = "untitled");
  // labels in {0, 1} (or bool), predictions in [0, 1]; same number of elements.
  void add_pr_curve(std::string_view tag, const at::Tensor& labels, const at::Tensor& predictions, int64_t step,
                    int num_thresholds = 127, const at::Tensor& weights = {});
  void add_pr_curve_raw(std::string_view tag, const at::Tensor& true_positive_counts,
                        const at::Tensor& false_positive_counts, const at::Tensor& true_negative_counts,
                        const at::Tensor& false_negative_counts, const at::Tensor& precision,
                        const at::Tensor& recall, int64_t step, int num_thresholds = 127);
  // vertices [B, N, 3]; colors [B, N, 3] uint8 (optional); faces [B, F, 3] int (optional);
  // config_json: three.js scene config as JSON text (optional).
  void add_mesh(std::string_view tag, const at::Tensor& vertices, const at::Tensor& colors = {},
                const at::Tensor& faces = {}, std::string_view config_json = "", int64_t step = 0);

  // Drains every queue (child runs too) and flushes; returns the first write error if any.
  WriteStatus flush();
  // Idempotent; also run by the destructor and at normal process exit.
  WriteStatus close();

  const std::string& log_dir() const { return log_dir_; }
  EventWriter& event_writer() { return *writer_; }
  // True when the sink keeps nothing (NullSink: ranks other than 0, `trainscope run --no-log`).
  // Nothing is written under log_dir() then; a plugin that writes files of its own next to
  // the run should skip them too.
  bool discards() const { return writer_->discards(); }
  // Counters of the main run's writer.
  WriterStats stats() const { return writer_->stats(); }

 private:
  EventWriter& child_writer(const std::string& name);

  std::string log_dir_;
  SummaryWriterOptions options_;
  std::unique_ptr<EventWriter> writer_;
  std::mutex children_mu_;
  std::map<std::string, std::unique_ptr<EventWriter>> children_;

  // HParams session opened by hparams_start and not yet ended (closed with FAILURE if the
  // writer goes away without hparams_end). Guarded by hparams_mu_.
  std::mutex hparams_mu_;
  bool hparams_open_ = false;
  EventWriter* hparams_writer_ = nullptr;  // the run that holds the session

  // projector_config.pbtxt entries written so far, keyed by "<step dir>/<tag>", merged on
  // every add_embedding. Guarded by projector_mu_.
  std::mutex projector_mu_;
  std::map<std::string, std::string> projector_entries_;
};

}  // namespace trainscope
