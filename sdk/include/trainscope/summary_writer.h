// SummaryWriter: PyTorch's torch.utils.tensorboard.SummaryWriter for libtorch.
// Tensors may live on any device. The calling thread validates, snapshots what it must and
// enqueues; reductions of CUDA tensors run on the GPU and reach the host through pinned
// memory, resolved on the writer thread, so logging never forces a GPU sync.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/event_writer.h"
#include "trainscope/export.h"
#include "trainscope/histogram.h"

namespace trainscope {

struct SummaryWriterOptions {
  EventWriterOptions writer;  // queue bounds, overflow policy, flush interval, purge step
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

  // Drains every queue (child runs too) and flushes; returns the first write error if any.
  WriteStatus flush();
  // Idempotent; also run by the destructor and at normal process exit.
  WriteStatus close();

  const std::string& log_dir() const { return log_dir_; }
  EventWriter& event_writer() { return *writer_; }
  // Counters of the main run's writer.
  WriterStats stats() const { return writer_->stats(); }

 private:
  EventWriter& child_writer(const std::string& name);

  std::string log_dir_;
  SummaryWriterOptions options_;
  std::unique_ptr<EventWriter> writer_;
  std::mutex children_mu_;
  std::map<std::string, std::unique_ptr<EventWriter>> children_;
};

}  // namespace trainscope
