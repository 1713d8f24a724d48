// SummaryWriter: validates on the calling thread, then hands plain or deferred payloads to
// the EventWriter (see summary_writer.h).
#include "trainscope/summary_writer.h"

#include <c10/util/Exception.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <filesystem>

#include "tensor_payloads.h"
#include "trainscope/custom_scalars_merge.h"
#include "trainscope/limits.h"
#include "trainscope/wire/dashboards/text.h"

namespace trainscope {
namespace {

std::string default_log_dir() {
  char stamp[64];
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::strftime(stamp, sizeof(stamp), "%b%d_%H-%M-%S", &tm);
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return (std::filesystem::path("runs") / (std::string(stamp) + "_" + host)).string();
}

// Runs one of limits.h's checks; its refusal becomes a c10::ValueError like every other
// argument error of this class (PyTorch's SummaryWriter raises ValueError).
template <typename Check>
void as_value_error(Check&& check) {
  try {
    check();
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
}

// EventWriter::add / add_deferred, whose limits.h refusals (record too big, ...) become
// c10::ValueError too.
void enqueue(EventWriter& w, std::string_view tag, int64_t step, SummaryPayload payload) {
  as_value_error([&] { w.add(tag, step, std::move(payload)); });
}
void enqueue(std::string_view api, EventWriter& w, std::string_view tag, int64_t step,
             std::unique_ptr<DeferredPayload> payload) {
  as_value_error([&] {
    if (payload) check_record_bytes(api, tag, payload->held_bytes());  // named after the caller's API
    w.add_deferred(tag, step, std::move(payload));
  });
}

// Not empty, valid UTF-8, at most max_tag_bytes (limits.h).
void require_tag(std::string_view api, std::string_view tag) {
  TORCH_CHECK_VALUE(!tag.empty(), api, ": tag is empty");
  as_value_error([&] { check_tag(api, tag); });
}

// The pixels of one image of `t` (its H and W in `dataformats`) times `images` against
// max_image_pixels: a grid of add_images has about N times the pixels of one image.
void require_pixels(std::string_view api, std::string_view tag, const at::Tensor& t, std::string_view dataformats,
                    int64_t images) {
  if (!t.defined()) return;
  const size_t h = dataformats.find('H'), w = dataformats.find('W');
  if (h == std::string_view::npos || w == std::string_view::npos) return;
  if (static_cast<int64_t>(std::max(h, w)) >= t.dim()) return;  // check_dataformats reports the shape
  const int64_t height = t.size(static_cast<int64_t>(h)), width = t.size(static_cast<int64_t>(w));
  // Bound the batch into the height so that one product holds N * H * W without overflow.
  as_value_error([&] {
    int64_t rows = height;
    if (images > 1 && height > 0) rows = images <= INT64_MAX / height ? images * height : INT64_MAX;
    check_image_pixels(api, tag, rows, width);
  });
}

void check_tensor(std::string_view api, std::string_view tag, const at::Tensor& t) {
  TORCH_CHECK_VALUE(t.defined(), api, ": tag '", tag, "': tensor is undefined");
  TORCH_CHECK_VALUE(t.numel() > 0, api, ": tag '", tag, "': tensor is empty (shape ", t.sizes(), ")");
  TORCH_CHECK_VALUE(!t.is_complex(), api, ": tag '", tag, "': complex tensors are not supported (", t.scalar_type(),
                    ")");
}

}  // namespace

SummaryWriter::SummaryWriter(std::string log_dir, SummaryWriterOptions options)
    : log_dir_(log_dir.empty() ? default_log_dir() : std::move(log_dir)), options_(std::move(options)) {
  writer_ = std::make_unique<EventWriter>(log_dir_, options_.writer);
}

SummaryWriter::~SummaryWriter() {
  detail::forget_custom_scalars(this);
  // Nothing may leave a destructor (during stack unwinding it would terminate the process).
  try {
    bool open = false;
    {
      std::lock_guard lk(hparams_mu_);
      open = hparams_open_;
    }
    if (open && std::uncaught_exceptions() > 0) {
      // Destroyed by stack unwinding: the code that owned the writer threw, so the run failed.
      report_error(log_dir_ + ": SummaryWriter destroyed while an exception was propagating: hparams session "
                              "ended with FAILURE");
      try {
        hparams_end(SessionStatus::kFailure);
      } catch (const std::exception&) {
        // Ended meanwhile by another thread.
      }
    }
    close();
  } catch (...) {
  }
}

void SummaryWriter::add_scalar(std::string_view tag, double value, int64_t step) {
  require_tag("add_scalar", tag);
  writer_->add_scalar(tag, static_cast<float>(value), step);
}

void SummaryWriter::add_scalar(std::string_view tag, const at::Tensor& value, int64_t step) {
  require_tag("add_scalar", tag);
  check_tensor("add_scalar", tag, value);
  TORCH_CHECK_VALUE(value.numel() == 1, "add_scalar: tag '", tag, "': expected a tensor with one element, got shape ",
                    value.sizes());
  if (value.device().is_cpu()) {
    writer_->add_scalar(tag, value.item<float>(), step);
    return;
  }
  enqueue("add_scalar", *writer_, tag, step, detail::deferred_scalar(value));
}

EventWriter& SummaryWriter::child_writer(const std::string& name) {
  std::lock_guard lk(children_mu_);
  auto& slot = children_[name];
  if (!slot) slot = std::make_unique<EventWriter>((std::filesystem::path(log_dir_) / name).string(), options_.writer);
  return *slot;
}

void SummaryWriter::add_scalars(std::string_view main_tag, const std::map<std::string, double>& values,
                                int64_t step) {
  require_tag("add_scalars", main_tag);
  std::string base(main_tag);
  for (char& c : base)
    if (c == '/') c = '_';
  const double now = EventWriter::now();
  for (const auto& [key, v] : values) {
    TORCH_CHECK_VALUE(!key.empty() && key.find('/') == std::string::npos, "add_scalars: tag '", main_tag,
                      "': key '", key, "' must be non-empty and contain no '/'");
    as_value_error([&] { check_utf8("add_scalars", main_tag, "key '" + printable(key) + "'", key); });
    child_writer(base + "_" + key).add_scalar(main_tag, static_cast<float>(v), step, now);
  }
}

void SummaryWriter::add_histogram(std::string_view tag, const at::Tensor& values, int64_t step,
                                  const HistogramBins& bins, int max_bins) {
  require_tag("add_histogram", tag);
  check_tensor("add_histogram", tag, values);
  TORCH_CHECK_VALUE(values.scalar_type() != at::kBool, "add_histogram: tag '", tag, "': bool tensors are not supported");
  if (bins.kind == HistogramBins::Kind::kCount) {
    TORCH_CHECK_VALUE(bins.count >= 1, "add_histogram: tag '", tag, "': bin count must be >= 1, got ", bins.count);
    as_value_error([&] { check_histogram_bins("add_histogram", tag, bins.count); });
  }
  if (bins.kind == HistogramBins::Kind::kEdges) {
    TORCH_CHECK_VALUE(bins.edges.size() >= 2, "add_histogram: tag '", tag, "': need at least 2 edges, got ",
                      bins.edges.size());
    as_value_error([&] { check_histogram_bins("add_histogram", tag, static_cast<int64_t>(bins.edges.size()) - 1); });
    for (size_t i = 1; i < bins.edges.size(); ++i)
      TORCH_CHECK_VALUE(bins.edges[i - 1] < bins.edges[i], "add_histogram: tag '", tag,
                        "': edges must increase strictly (edge ", i, " is ", bins.edges[i], " after ", bins.edges[i - 1],
                        ")");
  }
  TORCH_CHECK_VALUE(max_bins >= 0, "add_histogram: tag '", tag, "': max_bins must be >= 0, got ", max_bins);
  // A CPU tensor with no finite value is refused here, as PyTorch's SummaryWriter does (numpy
  // cannot bin it). A device tensor cannot be read without a sync: its writer thread reports
  // it at once with the tag and step and writes nothing (event_writer.cpp).
  // (A big CPU tensor is binned during the call, which tells the same at no extra cost.)
  if (values.device().is_cpu() && at::isFloatingType(values.scalar_type()) &&
      values.numel() < detail::kBinAtCallNumel) {
    TORCH_CHECK_VALUE(detail::has_finite_value(values), "add_histogram: tag '", tag, "' at step ", step,
                      ": all ", values.numel(), " values are NaN or inf; nothing to bin (the model may have diverged)");
  }
  std::unique_ptr<DeferredPayload> payload;
  try {
    payload = detail::deferred_histogram(values, bins, max_bins);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, "add_histogram: tag '", tag, "' at step ", step, ": ", e.what());
  }
  enqueue("add_histogram", *writer_, tag, step, std::move(payload));
}

void SummaryWriter::add_histogram_raw(std::string_view tag, double min, double max, double num, double sum,
                                      double sum_squares, std::vector<double> bucket_limits,
                                      std::vector<double> bucket_counts, int64_t step) {
  require_tag("add_histogram_raw", tag);
  TORCH_CHECK_VALUE(bucket_limits.size() == bucket_counts.size(), "add_histogram_raw: tag '", tag,
                    "': bucket_limits has ", bucket_limits.size(), " entries but bucket_counts has ",
                    bucket_counts.size());
  TORCH_CHECK_VALUE(!bucket_limits.empty(), "add_histogram_raw: tag '", tag, "': no buckets");
  as_value_error([&] { check_histogram_bins("add_histogram_raw", tag, static_cast<int64_t>(bucket_limits.size())); });
  HistogramData h{min, max, num, sum, sum_squares, std::move(bucket_limits), std::move(bucket_counts), 0};
  enqueue(*writer_, tag, step, std::move(h));
}

void SummaryWriter::add_image(std::string_view tag, const at::Tensor& image, int64_t step,
                              std::string_view dataformats) {
  require_tag("add_image", tag);
  TORCH_CHECK_VALUE(dataformats.size() <= 3 && (!image.defined() || image.dim() <= 3), "add_image: tag '", tag,
                    "': got shape ", image.defined() ? image.sizes() : at::IntArrayRef{}, " with dataformats '",
                    dataformats, "'; a batch of images goes to add_images");
  detail::check_dataformats("add_image", tag, image, dataformats);
  require_pixels("add_image", tag, image, dataformats, 1);
  enqueue("add_image", *writer_, tag, step, detail::deferred_image(image, std::string(dataformats)));
}

void SummaryWriter::add_images(std::string_view tag, const at::Tensor& images, int64_t step,
                               std::string_view dataformats) {
  require_tag("add_images", tag);
  TORCH_CHECK_VALUE(dataformats.size() == 4, "add_images: tag '", tag, "': dataformats '", dataformats,
                    "' must be a batch format such as NCHW or NHWC");
  detail::check_dataformats("add_images", tag, images, dataformats);
  const size_t n = dataformats.find('N');
  require_pixels("add_images", tag, images, dataformats,
                 n < static_cast<size_t>(images.dim()) ? images.size(static_cast<int64_t>(n)) : 1);
  enqueue("add_images", *writer_, tag, step, detail::deferred_image(images, std::string(dataformats)));
}

void SummaryWriter::add_text(std::string_view tag, std::string_view text, int64_t step) {
  require_tag("add_text", tag);
  as_value_error([&] { check_utf8("add_text", tag, "the text", text); });
  as_value_error([&] { check_record_bytes("add_text", tag, text.size()); });
  enqueue(*writer_, std::string(tag) + std::string(detail::kTextTagSuffix), step, TextData{std::string(text)});
}

void SummaryWriter::add_audio(std::string_view tag, const at::Tensor& samples, int64_t step, double sample_rate) {
  require_tag("add_audio", tag);
  check_tensor("add_audio", tag, samples);
  const at::Tensor s = samples.squeeze();
  TORCH_CHECK_VALUE(s.dim() <= 1, "add_audio: tag '", tag, "': expected mono samples (one non-singleton dim), got shape ",
                    samples.sizes());
  TORCH_CHECK_VALUE(std::isfinite(sample_rate) && sample_rate > 0, "add_audio: tag '", tag,
                    "': sample_rate must be positive, got ", sample_rate);
  TORCH_CHECK_VALUE(at::isFloatingType(s.scalar_type()), "add_audio: tag '", tag,
                    "': expected floating point samples in [-1, 1], got ", s.scalar_type());
  enqueue("add_audio", *writer_, tag, step, detail::deferred_audio(s, static_cast<float>(sample_rate)));
}

void SummaryWriter::add_video(std::string_view tag, const at::Tensor& video, int64_t step, double fps) {
  require_tag("add_video", tag);
  check_tensor("add_video", tag, video);
  TORCH_CHECK_VALUE(video.dim() == 5, "add_video: tag '", tag, "': expected a 5-D [N, T, C, H, W] tensor, got shape ",
                    video.sizes());
  const int64_t c = video.size(2);
  TORCH_CHECK_VALUE(c == 1 || c == 3 || c == 4, "add_video: tag '", tag, "': expected 1, 3 or 4 channels, got ", c,
                    " (shape ", video.sizes(), ")");
  TORCH_CHECK_VALUE(std::isfinite(fps) && fps > 0, "add_video: tag '", tag, "': fps must be positive, got ", fps);
  TORCH_CHECK_VALUE(at::isFloatingType(video.scalar_type()) || video.scalar_type() == at::kByte, "add_video: tag '",
                    tag, "': expected float in [0, 1] or uint8, got ", video.scalar_type());
  // Frames are tiled N videos to a frame: the frame has about N * H * W pixels.
  require_pixels("add_video", tag, video, "NTCHW", video.size(0));
  enqueue("add_video", *writer_, tag, step, detail::deferred_video(video, fps));
}

WriteStatus SummaryWriter::flush() {
  WriteStatus st = writer_->flush();
  std::lock_guard lk(children_mu_);
  for (auto& [name, w] : children_) {
    WriteStatus c = w->flush();
    if (st.ok && !c.ok) st = c;
  }
  return st;
}

WriteStatus SummaryWriter::close() {
  // A session opened by hparams_start and never ended: the run did not complete. Without an
  // end record TensorBoard would show the session's status as UNKNOWN.
  bool open = false;
  {
    std::lock_guard lk(hparams_mu_);
    open = hparams_open_;
  }
  if (open) {
    report_error(log_dir_ + ": SummaryWriter closed with the hparams session still open (no hparams_end): ended "
                            "with FAILURE");
    try {
      hparams_end(SessionStatus::kFailure);
    } catch (const std::exception&) {
      // Ended meanwhile by another thread.
    }
  }
  WriteStatus st = writer_->close();
  std::lock_guard lk(children_mu_);
  for (auto& [name, w] : children_) {
    WriteStatus c = w->close();
    if (st.ok && !c.ok) st = c;
  }
  return st;
}

}  // namespace trainscope
