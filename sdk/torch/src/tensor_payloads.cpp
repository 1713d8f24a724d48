// Tensor conversions and deferred payloads (see tensor_payloads.h).
#include "tensor_payloads.h"

#include <c10/core/impl/VirtualGuardImpl.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

#include "host_buffer_pool.h"
#include "image_pixels.h"
#include "trainscope/detail/histogram_counts.h"

namespace trainscope::detail {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<int64_t> order_of(const std::string& fmt, std::string_view wanted) {
  std::vector<int64_t> idx;
  for (char c : wanted) idx.push_back(static_cast<int64_t>(fmt.find(c)));
  return idx;
}

int bit_length(int64_t v) {
  int n = 0;
  while (v > 0) {
    ++n;
    v >>= 1;
  }
  return n;
}

at::Tensor make_grid(at::Tensor nchw) {
  if (nchw.size(1) == 1) nchw = nchw.expand({-1, 3, -1, -1});
  const int64_t n = nchw.size(0), c = nchw.size(1), h = nchw.size(2), w = nchw.size(3);
  const int64_t ncols = std::min<int64_t>(n, 8);
  const int64_t nrows = (n + ncols - 1) / ncols;
  if (nrows * ncols > n) nchw = at::cat({nchw, at::zeros({nrows * ncols - n, c, h, w}, nchw.options())});
  return nchw.reshape({nrows, ncols, c, h, w}).permute({2, 0, 3, 1, 4}).reshape({c, nrows * h, ncols * w});
}

// Tensorflow edges as a float64 tensor, created once per device.
at::Tensor tensorflow_edges_on(const c10::Device& device) {
  static std::mutex mu;
  static std::map<std::string, at::Tensor> cache;
  std::lock_guard lk(mu);
  auto& slot = cache[device.str()];
  if (!slot.defined()) {
    const auto& e = tensorflow_edges();
    slot = at::tensor(c10::ArrayRef<double>(e.data(), e.size()), at::TensorOptions().dtype(at::kDouble)).to(device);
  }
  return slot;
}

at::Tensor to_host_floating(const at::Tensor& t) {
  if (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble) return t.contiguous();
  return t.to(at::kDouble).contiguous();
}

HistogramData histogram_on_host(const at::Tensor& values, const HistogramBins& bins, int max_bins) {
  at::Tensor v = to_host_floating(values.reshape(-1));
  if (v.scalar_type() == at::kFloat)
    return compute_histogram(v.data_ptr<float>(), static_cast<size_t>(v.numel()), bins, max_bins);
  return compute_histogram(v.data_ptr<double>(), static_cast<size_t>(v.numel()), bins, max_bins);
}

class DeferredScalar final : public DeferredPayload {
 public:
  explicit DeferredScalar(HostSnapshot s) : snap_(std::move(s)) {}
  SummaryPayload resolve() override { return ScalarData{snap_.wait().item<float>()}; }
  size_t held_bytes() const override { return snap_.nbytes(); }

 private:
  HostSnapshot snap_;
};

class DeferredHistogram final : public DeferredPayload {
 public:
  DeferredHistogram(HostSnapshot s, HistogramBins bins, int max_bins, bool reduced, std::vector<double> edges,
                    int64_t numel)
      : snap_(std::move(s)),
        bins_(std::move(bins)),
        max_bins_(max_bins),
        reduced_(reduced),
        edges_(std::move(edges)),
        numel_(numel) {}
  SummaryPayload resolve() override {
    const at::Tensor& t = snap_.wait();
    if (reduced_) return unpack_histogram(t, edges_, numel_, max_bins_);
    if (!has_finite_value(t)) {
      HistogramData none;  // nothing finite: reported by the writer with the tag
      none.nonfinite = t.numel();
      return none;
    }
    return histogram_on_host(t, bins_, max_bins_);
  }
  size_t held_bytes() const override { return snap_.nbytes() + edges_.size() * sizeof(double); }

 private:
  HostSnapshot snap_;
  HistogramBins bins_;
  int max_bins_;
  bool reduced_;
  std::vector<double> edges_;
  int64_t numel_;
};

// A histogram binned during the call (see deferred_histogram): only max_bins and trimming
// are left for the writer thread.
class DeferredTfCounts final : public DeferredPayload {
 public:
  DeferredTfCounts(TfCounts counts, int max_bins) : counts_(std::move(counts)), max_bins_(max_bins) {}
  SummaryPayload resolve() override { return finish_tensorflow(counts_, max_bins_); }
  size_t held_bytes() const override { return counts_.counts.size() * sizeof(double); }

 private:
  TfCounts counts_;
  int max_bins_;
};

class DeferredImage final : public DeferredPayload {
 public:
  DeferredImage(HostSnapshot s, std::string fmt, bool converted)
      : snap_(std::move(s)), fmt_(std::move(fmt)), converted_(converted) {}
  SummaryPayload resolve() override {
    const at::Tensor& t = snap_.wait();
    if (converted_) return image_from_hwc_uint8(t);
    if (std::optional<ImageData> img = image_pixels(t, fmt_)) return std::move(*img);
    return image_from_hwc_uint8(to_uint8(to_hwc(t, fmt_)));  // what image_pixels does not take
  }
  size_t held_bytes() const override { return snap_.nbytes(); }

 private:
  HostSnapshot snap_;
  std::string fmt_;
  bool converted_;
};

class DeferredAudio final : public DeferredPayload {
 public:
  DeferredAudio(HostSnapshot s, float rate) : snap_(std::move(s)), rate_(rate) {}
  SummaryPayload resolve() override {
    const at::Tensor& raw = snap_.wait();
    AudioData a;
    a.sample_rate = rate_;
    a.single_precision = raw.scalar_type() != at::kDouble;
    at::Tensor t = raw.reshape(-1).to(at::kDouble).contiguous();
    a.samples.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    return a;
  }
  size_t held_bytes() const override { return snap_.nbytes(); }

 private:
  HostSnapshot snap_;
  float rate_;
};

class DeferredVideo final : public DeferredPayload {
 public:
  DeferredVideo(HostSnapshot s, double fps, bool converted) : snap_(std::move(s)), fps_(fps), converted_(converted) {}
  SummaryPayload resolve() override {
    at::Tensor t = snap_.wait();
    if (!converted_) t = to_uint8(tile_video(t));
    t = t.contiguous();
    VideoData v;
    v.frames = static_cast<int>(t.size(0));
    v.height = static_cast<int>(t.size(1));
    v.width = static_cast<int>(t.size(2));
    v.channels = static_cast<int>(t.size(3));
    v.fps = fps_;
    v.pixels.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
    return v;
  }
  size_t held_bytes() const override { return snap_.nbytes(); }

 private:
  HostSnapshot snap_;
  double fps_;
  bool converted_;
};

}  // namespace

HostSnapshot HostSnapshot::take(const at::Tensor& t, bool split_copy) {
  HostSnapshot s;
  at::Tensor src = t.detach();
  if (src.device().is_cpu()) {
    s.host_ = pooled_empty(src.sizes(), src.scalar_type());
    // A plain memcpy for contiguous input: at::copy_ would fan out to the intra-op thread
    // pool, which costs more than it saves for a few MB and disturbs the training thread.
    if (src.is_contiguous() && split_copy)
      copy_histogram_input(s.host_.data_ptr(), src.data_ptr(), src.nbytes());
    else if (src.is_contiguous())
      std::memcpy(s.host_.data_ptr(), src.data_ptr(), src.nbytes());
    else
      s.host_.copy_(src);
    return s;
  }
  s.host_ = at::empty(src.sizes(), src.options().device(at::kCPU).pinned_memory(true));
  s.host_.copy_(src, /*non_blocking=*/true);
  c10::impl::VirtualGuardImpl impl(src.device().type());
  s.event_.emplace(src.device().type());
  s.event_->record(impl.getStream(src.device()));
  return s;
}

const at::Tensor& HostSnapshot::wait() {
  if (event_) {
    event_->synchronize();
    event_.reset();
  }
  return host_;
}

void check_dataformats(std::string_view api, std::string_view tag, const at::Tensor& t, std::string_view dataformats) {
  const std::string fmt = upper(dataformats);
  TORCH_CHECK_VALUE(t.defined(), api, ": tag '", tag, "': tensor is undefined");
  TORCH_CHECK_VALUE(fmt.size() >= 2 && fmt.size() <= 4, api, ": tag '", tag, "': dataformats '", dataformats,
                    "' must have 2 to 4 letters of N, C, H, W");
  for (size_t i = 0; i < fmt.size(); ++i) {
    TORCH_CHECK_VALUE(std::string_view("NCHW").find(fmt[i]) != std::string_view::npos && fmt.find(fmt[i]) == i, api,
                      ": tag '", tag, "': dataformats '", dataformats, "' must use each of N, C, H, W at most once");
  }
  TORCH_CHECK_VALUE(fmt.find('H') != std::string::npos && fmt.find('W') != std::string::npos, api, ": tag '", tag,
                    "': dataformats '", dataformats, "' must contain H and W");
  TORCH_CHECK_VALUE(fmt.size() != 4 || fmt.find('C') != std::string::npos, api, ": tag '", tag,
                    "': 4-letter dataformats need N, C, H and W");
  TORCH_CHECK_VALUE(fmt.size() != 3 || fmt.find('C') != std::string::npos, api, ": tag '", tag,
                    "': 3-letter dataformats need C, H and W (got '", dataformats, "')");
  TORCH_CHECK_VALUE(t.dim() == static_cast<int64_t>(fmt.size()), api, ": tag '", tag, "': dataformats '", dataformats,
                    "' needs a ", fmt.size(), "-D tensor, got shape ", t.sizes());
  TORCH_CHECK_VALUE(t.numel() > 0, api, ": tag '", tag, "': tensor is empty (shape ", t.sizes(), ")");
  TORCH_CHECK_VALUE(at::isFloatingType(t.scalar_type()) || at::isIntegralType(t.scalar_type(), /*includeBool=*/false),
                    api, ": tag '", tag, "': expected a floating point or integer tensor, got ", t.scalar_type());
  const auto c = fmt.find('C');
  if (c != std::string::npos) {
    const int64_t ch = t.size(static_cast<int64_t>(c));
    TORCH_CHECK_VALUE(ch == 1 || ch == 3 || ch == 4, api, ": tag '", tag, "': expected 1, 3 or 4 channels, got ", ch,
                      " (shape ", t.sizes(), ", dataformats '", dataformats, "')");
  }
}

at::Tensor to_hwc(const at::Tensor& t, std::string_view dataformats) {
  const std::string fmt = upper(dataformats);
  if (fmt.size() == 4) return make_grid(t.permute(order_of(fmt, "NCHW"))).permute({1, 2, 0});
  if (fmt.size() == 3) {
    at::Tensor hwc = t.permute(order_of(fmt, "HWC"));
    return hwc.size(2) == 1 ? hwc.expand({-1, -1, 3}) : hwc;
  }
  return t.permute(order_of(fmt, "HW")).unsqueeze(2).expand({-1, -1, 3});
}

at::Tensor to_uint8(const at::Tensor& t) {
  if (t.scalar_type() == at::kByte) return t;
  return t.to(at::kFloat).mul(255.0f).clamp(0.0f, 255.0f).nan_to_num(0.0).to(at::kByte);
}

at::Tensor tile_video(const at::Tensor& video) {
  at::Tensor v = video.scalar_type() == at::kByte ? video.to(at::kFloat).div(255.0f) : video;
  const int64_t b = v.size(0), t = v.size(1), c = v.size(2), h = v.size(3), w = v.size(4);
  if ((b & (b - 1)) != 0) {
    const int64_t padded = int64_t{1} << bit_length(b);
    v = at::cat({v, at::zeros({padded - b, t, c, h, w}, v.options())});
  }
  const int64_t rows = int64_t{1} << ((bit_length(b) - 1) / 2);
  const int64_t cols = v.size(0) / rows;
  return v.reshape({rows, cols, t, c, h, w}).permute({2, 0, 4, 1, 5, 3}).reshape({t, rows * h, cols * w, c});
}

ImageData image_from_hwc_uint8(const at::Tensor& hwc) {
  at::Tensor t = hwc.contiguous();
  ImageData img;
  img.height = static_cast<int>(t.size(0));
  img.width = static_cast<int>(t.size(1));
  img.channels = static_cast<int>(t.size(2));
  img.pixels.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
  return img;
}

bool has_finite_value(const at::Tensor& t) {
  if (!at::isFloatingType(t.scalar_type())) return true;
  if (t.is_contiguous() && t.scalar_type() == at::kFloat)
    return any_finite(t.data_ptr<float>(), static_cast<size_t>(t.numel()));
  if (t.is_contiguous() && t.scalar_type() == at::kDouble)
    return any_finite(t.data_ptr<double>(), static_cast<size_t>(t.numel()));
  return at::isfinite(t).any().item<bool>();
}

at::Tensor reduce_histogram(const at::Tensor& values, const at::Tensor& edges) {
  const at::Tensor v = values.detach().reshape(-1).to(at::kDouble);
  const at::Tensor finite = at::isfinite(v);
  const int64_t nedges = edges.size(0);
  // right=true: index i means edges[i-1] <= v < edges[i]; the last bin also takes v == last edge.
  at::Tensor idx = at::bucketize(v, edges, /*out_int32=*/false, /*right=*/true);
  idx = at::where(v == edges[nedges - 1], at::full_like(idx, nedges - 1), idx);
  const at::Tensor weight = finite.to(at::kDouble);
  const at::Tensor counts = at::zeros({nedges + 1}, v.options()).scatter_add_(0, idx, weight);
  const double inf = std::numeric_limits<double>::infinity();
  const at::Tensor vf = at::where(finite, v, at::zeros_like(v));
  const at::Tensor stats =
      at::stack({at::where(finite, v, at::full_like(v, inf)).min(), at::where(finite, v, at::full_like(v, -inf)).max(),
                 weight.sum(), vf.sum(), vf.mul(vf).sum()});
  return at::cat({counts.slice(0, 1, nedges), stats});
}

HistogramData unpack_histogram(const at::Tensor& packed, const std::vector<double>& edges, int64_t numel,
                               int max_bins) {
  const at::Tensor p = packed.to(at::kDouble).contiguous();
  const double* d = p.data_ptr<double>();
  const size_t nbins = edges.size() - 1;
  std::vector<double> counts(d, d + nbins);
  const double num = d[nbins + 2];
  if (num <= 0) {
    // Nothing finite (read on the writer thread): the writer reports it with the tag and
    // step, and writes nothing (event_writer.cpp).
    HistogramData none;
    none.nonfinite = numel;
    return none;
  }
  HistogramData h = finish_histogram(edges, counts, d[nbins], d[nbins + 1], num, d[nbins + 3], d[nbins + 4], max_bins);
  h.nonfinite = numel - static_cast<int64_t>(num);
  return h;
}

std::unique_ptr<DeferredPayload> deferred_scalar(const at::Tensor& value) {
  return std::make_unique<DeferredScalar>(HostSnapshot::take(value.detach().reshape({1}).to(at::kFloat)));
}

std::unique_ptr<DeferredPayload> deferred_histogram(const at::Tensor& values, const HistogramBins& bins, int max_bins) {
  // A big CPU tensor with the default edges is binned now, on this thread and the chunk
  // pool, instead of being copied for the writer thread: a copy of 64 MB or more runs at
  // memory speed and then has to be read again, while binning reads it once and keeps
  // nothing. Smaller tensors are copied (a memcpy within the caches, cheaper than binning).
  const bool tf_bins = bins.kind == HistogramBins::Kind::kTensorflow ||
                       (bins.kind == HistogramBins::Kind::kEdges && bins.edges == tensorflow_edges());
  if (tf_bins && values.device().is_cpu() && values.numel() >= kBinAtCallNumel && values.is_contiguous()) {
    const at::Tensor v = values.detach();
    const auto n = static_cast<size_t>(v.numel());
    auto counted = [&](TfCounts counts) -> std::unique_ptr<DeferredPayload> {
      // Binned already: a tensor without one finite value is refused at the call.
      if (counts.stats.num <= 0)
        throw std::invalid_argument("all " + std::to_string(n) + " values are NaN or inf; nothing to bin");
      return std::make_unique<DeferredTfCounts>(std::move(counts), max_bins);
    };
    if (v.scalar_type() == at::kFloat) return counted(count_tensorflow(v.data_ptr<float>(), n));
    if (v.scalar_type() == at::kDouble) return counted(count_tensorflow(v.data_ptr<double>(), n));
  }
  if (values.device().is_cpu() || bins.kind == HistogramBins::Kind::kCount) {
    return std::make_unique<DeferredHistogram>(HostSnapshot::take(values, /*split_copy=*/true), bins, max_bins, false,
                                               std::vector<double>{},
                                               values.numel());
  }
  const bool tf = bins.kind == HistogramBins::Kind::kTensorflow;
  std::vector<double> edges = tf ? tensorflow_edges() : bins.edges;
  at::Tensor edges_t =
      tf ? tensorflow_edges_on(values.device())
         : at::tensor(c10::ArrayRef<double>(edges.data(), edges.size()), at::TensorOptions().dtype(at::kDouble))
               .to(values.device(), /*non_blocking=*/true);
  return std::make_unique<DeferredHistogram>(HostSnapshot::take(reduce_histogram(values, edges_t)), bins, max_bins,
                                             true, std::move(edges), values.numel());
}

std::unique_ptr<DeferredPayload> deferred_image(const at::Tensor& image, std::string dataformats) {
  if (image.device().is_cpu())
    return std::make_unique<DeferredImage>(HostSnapshot::take(image), std::move(dataformats), false);
  at::Tensor converted = to_uint8(to_hwc(image.detach(), dataformats));
  return std::make_unique<DeferredImage>(HostSnapshot::take(converted), std::move(dataformats), true);
}

std::unique_ptr<DeferredPayload> deferred_audio(const at::Tensor& samples, float sample_rate) {
  return std::make_unique<DeferredAudio>(HostSnapshot::take(samples), sample_rate);
}

std::unique_ptr<DeferredPayload> deferred_video(const at::Tensor& video, double fps) {
  if (video.device().is_cpu()) return std::make_unique<DeferredVideo>(HostSnapshot::take(video), fps, false);
  return std::make_unique<DeferredVideo>(HostSnapshot::take(to_uint8(tile_video(video.detach()))), fps, true);
}

}  // namespace trainscope::detail
