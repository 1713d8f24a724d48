// embeddings: the features of a fixed set of validation samples (one tapped layer, the
// penultimate one by default) sent to TensorBoard's projector, with the class of each sample
// as its label and the input image as its thumbnail.
//
// Validation is not shuffled, so the first `samples` validation samples are the same every
// epoch: at validation_batch_end the plugin runs the model again on the part of the batch it
// still needs, through ctx.forward() with its own TapSet asking for `layer`, and keeps the
// captured features, targets and (optionally) thumbnails on the device. At validation_end it
// concatenates them, reads the targets to the host once (the labels are text) and hands
// everything to SummaryWriter::add_embedding, which copies the tensors asynchronously.
//
// Tags: embeddings/<layer> (the projector's tensor name is "embeddings/<layer>:<step %05d>").
// Options: layer ("features"), samples (256), thumbnails (true). Cadence: the core's
// every_n_epochs key (default 1).
#include <ATen/ATen.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr int64_t kMaxThumbnail = 64;  // larger inputs are shrunk (area average) to fit 64x64

class Embeddings final : public trainscope::Plugin {
 public:
  explicit Embeddings(const trainscope::Options& opt)
      : layer_(opt.get<std::string>("layer")),
        samples_(opt.get<int64_t>("samples")),
        thumbnails_(opt.get<bool>("thumbnails")) {}

  void on_validation_begin(trainscope::HookContext&) override { reset(); }

  void on_validation_batch_end(trainscope::HookContext& ctx) override {
    if (collected_ >= samples_) return;
    const at::Tensor& inputs = ctx.inputs();
    if (!inputs.defined() || inputs.dim() == 0 || inputs.size(0) == 0) return;
    const int64_t take = std::min(inputs.size(0), samples_ - collected_);
    const at::Tensor x = inputs.narrow(0, 0, take);

    at::NoGradGuard no_grad;  // validation already runs in eval mode without grad
    trainscope::TapSet taps;
    taps.request(layer_, false);
    ctx.forward(x, &taps);
    const auto it = taps.values().find(layer_);
    if (it == taps.values().end()) throw std::runtime_error(missing_layer_message(ctx, x));
    features_.push_back(it->second.detach().reshape({take, -1}).to(at::kFloat));

    const at::Tensor& targets = ctx.targets();
    if (targets.defined() && targets.dim() == 1 && targets.size(0) >= take && !targets.is_floating_point()) {
      targets_.push_back(targets.narrow(0, 0, take).to(at::kLong));
    } else {
      with_labels_ = false;
    }
    if (thumbnails_ && x.dim() == 4 && (x.size(1) == 1 || x.size(1) == 3)) {
      thumbs_.push_back(thumbnail(x));
    } else {
      with_thumbs_ = false;
    }
    collected_ += take;
  }

  void on_validation_end(trainscope::HookContext& ctx) override {
    if (features_.empty()) return;
    const at::Tensor mat = at::cat(features_);
    std::vector<std::string> labels;
    if (with_labels_ && !targets_.empty()) {
      // The epoch's one host read: N labels, needed as text for metadata.tsv.
      const at::Tensor host = at::cat(targets_).cpu().contiguous();
      const auto& names = ctx.class_names();
      const int64_t* t = host.data_ptr<int64_t>();
      labels.reserve(static_cast<size_t>(host.numel()));
      for (int64_t i = 0; i < host.numel(); ++i) {
        const int64_t y = t[i];
        labels.push_back(y >= 0 && y < static_cast<int64_t>(names.size()) ? clean(names[static_cast<size_t>(y)])
                                                                          : std::to_string(y));
      }
    }
    const at::Tensor imgs = with_thumbs_ && !thumbs_.empty() ? at::cat(thumbs_) : at::Tensor();
    ctx.writer().add_embedding(mat, labels, imgs, ctx.step(), "embeddings/" + layer_);
    reset();
  }

 private:
  void reset() {
    features_.clear();
    targets_.clear();
    thumbs_.clear();
    collected_ = 0;
    with_labels_ = true;
    with_thumbs_ = thumbnails_;
  }

  // Each image scaled to [0, 1] by its own min and max (inputs are usually normalised), and
  // shrunk to fit kMaxThumbnail x kMaxThumbnail so that the sprite stays small. On the device.
  static at::Tensor thumbnail(const at::Tensor& x) {
    if (x.scalar_type() == at::kByte) return shrink(x.to(at::kFloat)).div(255.0);
    at::Tensor f = x.detach().to(at::kFloat);
    const at::Tensor flat = f.reshape({f.size(0), -1});
    const at::Tensor lo = std::get<0>(flat.min(1, true)).reshape({-1, 1, 1, 1});
    const at::Tensor hi = std::get<0>(flat.max(1, true)).reshape({-1, 1, 1, 1});
    f = f.sub(lo).div(hi.sub(lo).clamp_min(1e-12)).nan_to_num(0.0, 1.0, 0.0).clamp(0.0, 1.0);
    return shrink(f);
  }
  static at::Tensor shrink(const at::Tensor& f) {
    const int64_t h = f.size(2), w = f.size(3);
    if (h <= kMaxThumbnail && w <= kMaxThumbnail) return f;
    const double s = static_cast<double>(kMaxThumbnail) / static_cast<double>(std::max(h, w));
    const int64_t nh = std::max<int64_t>(1, std::llround(static_cast<double>(h) * s));
    const int64_t nw = std::max<int64_t>(1, std::llround(static_cast<double>(w) * s));
    return at::adaptive_avg_pool2d(f, {nh, nw});
  }

  // metadata.tsv cannot hold tabs or line breaks.
  static std::string clean(std::string s) {
    for (char& c : s) {
      if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    }
    return s;
  }

  // Which names the model does offer, found by one forward with every tap on.
  std::string missing_layer_message(trainscope::HookContext& ctx, const at::Tensor& x) const {
    trainscope::TapSet all;
    all.request_all(true);
    ctx.forward(x.narrow(0, 0, 1), &all);
    std::string names;
    for (const auto& [name, _] : all.values()) names += (names.empty() ? "" : ", ") + name;
    return "embeddings: the model has no tap or Sequential child named '" + layer_ +
           "' (option 'layer'); it offers: " + (names.empty() ? std::string("none") : names);
  }

  std::string layer_;
  int64_t samples_;
  bool thumbnails_;
  std::vector<at::Tensor> features_, targets_, thumbs_;
  int64_t collected_ = 0;
  bool with_labels_ = true, with_thumbs_ = true;
};

}  // namespace

TRAINSCOPE_PLUGIN(
    Embeddings, "embeddings", "1.0.0",
    trainscope::option<std::string>(
        "layer", "features", "tap (\"features\" for every zoo model) or Sequential child whose output is the embedding")
        .not_empty(),
    trainscope::option<int64_t>("samples", 256, "validation samples shown in the projector (the first ones)").min(1),
    trainscope::option<bool>("thumbnails", true, "send the input images as sprite thumbnails (inputs [N, 1|3, H, W])"))
