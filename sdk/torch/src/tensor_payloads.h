// Tensor -> plain summary data, split so that the calling thread only launches work and the
// writer thread finishes it. Private to the SDK's torch half (never include a .pb.h here).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Event.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/histogram.h"
#include "trainscope/summary_data.h"

namespace trainscope::detail {

// A host copy of a tensor taken at call time. CPU tensors are cloned (the caller may modify
// them in place afterwards); device tensors are copied asynchronously into pinned memory
// after an event on the current stream, and wait() blocks on that event (writer thread only).
class TRAINSCOPE_API HostSnapshot {
 public:
  // split_copy: a contiguous CPU tensor is copied by this thread and the histogram pool's
  // helpers together (detail::copy_histogram_input).
  static HostSnapshot take(const at::Tensor& t, bool split_copy = false);
  const at::Tensor& wait();
  size_t nbytes() const { return host_.defined() ? host_.nbytes() : 0; }

 private:
  at::Tensor host_;
  std::optional<c10::Event> event_;
};

// PyTorch's convert_to_HWC (+ make_grid for 4-D input, gray expanded to RGB), as torch ops.
TRAINSCOPE_API at::Tensor to_hwc(const at::Tensor& t, std::string_view dataformats);
// PyTorch's pixel scaling: uint8 kept; else float32(v) * 255, clipped to [0, 255], truncated.
TRAINSCOPE_API at::Tensor to_uint8(const at::Tensor& t);
// PyTorch's _prepare_video: [N,T,C,H,W] -> [T, rows*H, cols*W, C] float in [0, 1].
TRAINSCOPE_API at::Tensor tile_video(const at::Tensor& v);
TRAINSCOPE_API ImageData image_from_hwc_uint8(const at::Tensor& hwc);

// Validation in libtorch's style; throws c10::ValueError naming `api` and `tag`.
TRAINSCOPE_API void check_dataformats(std::string_view api, std::string_view tag, const at::Tensor& t,
                                      std::string_view dataformats);

// Histogram counts and stats reduced where `values` live, packed as one float64 tensor:
// [count per bin (edges.size() - 1)..., min, max, num, sum, sum_squares]. Non-finite values
// are excluded. No host synchronisation. `edges` is a float64 tensor on values' device.
TRAINSCOPE_API at::Tensor reduce_histogram(const at::Tensor& values, const at::Tensor& edges);
// Unpacks reduce_histogram's result (on the host) into HistogramData.
TRAINSCOPE_API HistogramData unpack_histogram(const at::Tensor& packed, const std::vector<double>& edges, int64_t numel,
                                              int max_bins);

// Whether a CPU tensor holds a finite value (true for non-floating types): a scan that stops
// at the first finite value for contiguous float32/float64, isfinite().any() otherwise.
TRAINSCOPE_API bool has_finite_value(const at::Tensor& t);

// CPU tensors with at least this many values and the default edges are binned during
// add_histogram instead of being copied (64 MB of float32).
constexpr int64_t kBinAtCallNumel = int64_t{1} << 24;

// Deferred payloads resolved on the writer thread.
TRAINSCOPE_API std::unique_ptr<DeferredPayload> deferred_scalar(const at::Tensor& value);
TRAINSCOPE_API std::unique_ptr<DeferredPayload> deferred_histogram(const at::Tensor& values, const HistogramBins& bins,
                                                                   int max_bins);
TRAINSCOPE_API std::unique_ptr<DeferredPayload> deferred_image(const at::Tensor& image, std::string dataformats);
TRAINSCOPE_API std::unique_ptr<DeferredPayload> deferred_audio(const at::Tensor& samples, float sample_rate);
TRAINSCOPE_API std::unique_ptr<DeferredPayload> deferred_video(const at::Tensor& video, double fps);

}  // namespace trainscope::detail
