// Model wrapper and the model zoo (simple_cnn, mlp, resnet, transformer_encoder).
#include "trainscope/models.h"

#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/pooling.h>

#include <cmath>
#include <set>
#include <stdexcept>

#include "trainscope/model_options.h"
#include "trainscope/scripted_module.h"
#include "trainscope/tap.h"

namespace trainscope {

Model::Model(std::shared_ptr<torch::nn::Module> module, Forward forward)
    : module_(std::move(module)), forward_(std::move(forward)) {
  if (!module_ || !forward_) throw std::invalid_argument("Model: a module and a forward callable are required");
}

Model::Model(torch::nn::Sequential sequential)
    : Model(sequential.ptr(), [s = sequential.ptr()](const at::Tensor& x) { return s->forward(x); }) {
  sequential_ = std::move(sequential);
}

Model::Model(std::shared_ptr<ScriptedModule> scripted)
    : Model(std::shared_ptr<torch::nn::Module>(scripted),
            [m = scripted.get()](const at::Tensor& x) { return m->forward(x); }) {
  tapped_ = [m = scripted.get()](const at::Tensor& x) { return m->forward_tapped(x); };
  scripted_ = std::move(scripted);
}

std::vector<std::string> Model::layer_names() const {
  return scripted_ ? scripted_->layer_paths() : std::vector<std::string>();
}

Model load_torchscript_model(const std::string& path) { return Model(load_scripted_module(path)); }

namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// Reads the model's options, refusing names the model does not know (its schema in
// model_options.h, which validate() checks with ranges before anything is built).
class ModelOptions {
 public:
  explicit ModelOptions(const ModelSection& s) : section_(s) {
    std::set<std::string> known;
    if (const auto* specs = model_options(s.name)) {
      for (const auto& spec : *specs) known.insert(spec.name);
    }
    for (const auto& [k, v] : s.options) {
      if (!known.count(k)) {
        std::string list;
        for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
        throw std::invalid_argument("[model] " + s.name + " has no option '" + k + "' (options: " + list + ")");
      }
    }
  }
  int64_t integer(const std::string& key, int64_t def) const {
    auto it = section_.options.find(key);
    if (it == section_.options.end()) return def;
    if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
    throw std::invalid_argument("[model] " + key + " must be an integer");
  }
  double real(const std::string& key, double def) const {
    auto it = section_.options.find(key);
    if (it == section_.options.end()) return def;
    if (auto* v = std::get_if<double>(&it->second)) return *v;
    if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<double>(*v);
    throw std::invalid_argument("[model] " + key + " must be a number");
  }

 private:
  const ModelSection& section_;
};

std::vector<int64_t> image_shape(const ModelInput& in, const std::string& model) {
  if (in.sample_shape.size() == 3) return in.sample_shape;
  if (in.sample_shape.size() == 2) return {1, in.sample_shape[0], in.sample_shape[1]};
  throw std::invalid_argument("[model] " + model + " needs image inputs [C, H, W]; the data has " +
                              std::to_string(in.sample_shape.size()) + "-D samples");
}

// PyTorch's TensorBoard tutorial network, sized to the input.
class SimpleCnnImpl : public nn::Module {
 public:
  SimpleCnnImpl(const std::vector<int64_t>& chw, int64_t classes, int64_t c1, int64_t c2, int64_t f1, int64_t f2,
                double dropout) {
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(chw[0], c1, 5)));
    conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(c1, c2, 5)));
    const int64_t h = ((chw[1] - 4) / 2 - 4) / 2, w = ((chw[2] - 4) / 2 - 4) / 2;
    if (h < 1 || w < 1) {
      throw std::invalid_argument("[model] simple_cnn needs inputs of at least 16x16, got " + std::to_string(chw[1]) +
                                  "x" + std::to_string(chw[2]));
    }
    fc1_ = register_module("fc1", nn::Linear(c2 * h * w, f1));
    fc2_ = register_module("fc2", nn::Linear(f1, f2));
    fc3_ = register_module("fc3", nn::Linear(f2, classes));
    // Only registered when used: without dropout the module (its parameters, its state dict,
    // the random numbers it draws) is exactly what it was before the option existed.
    if (dropout > 0) dropout_ = register_module("dropout", nn::Dropout(dropout));
  }
  at::Tensor forward(const at::Tensor& input) {
    auto x = tap("conv1", conv1_->forward(input).relu());
    x = F::max_pool2d(x, F::MaxPool2dFuncOptions(2));
    x = tap("conv2", conv2_->forward(x).relu());
    x = F::max_pool2d(x, F::MaxPool2dFuncOptions(2)).flatten(1);
    x = tap("fc1", fc1_->forward(x).relu());
    if (dropout_) x = dropout_->forward(x);
    x = tap("features", fc2_->forward(x).relu());
    if (dropout_) x = dropout_->forward(x);
    return fc3_->forward(x);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(SimpleCnn);

Model make_simple_cnn(const ModelSection& s, const ModelInput& in) {
  ModelOptions o(s);
  const double dropout = o.real("dropout", 0.0);
  if (!(dropout >= 0 && dropout < 1)) {
    throw std::invalid_argument("[model] simple_cnn dropout must be in [0, 1) (got " + std::to_string(dropout) + ")");
  }
  return SimpleCnn(image_shape(in, s.name), in.num_classes, o.integer("conv1", 6), o.integer("conv2", 16),
                   o.integer("fc1", 120), o.integer("fc2", 84), dropout);
}

Model make_mlp(const ModelSection& s, const ModelInput& in) {
  ModelOptions o(s);
  const int64_t hidden = o.integer("hidden", 256), layers = o.integer("layers", 2);
  const double dropout = o.real("dropout", 0.0);
  if (hidden < 1 || layers < 1) throw std::invalid_argument("[model] mlp: hidden and layers must be positive");
  int64_t in_features = 1;
  for (auto d : in.sample_shape) in_features *= d;
  nn::Sequential seq;
  seq->push_back("flatten", nn::Flatten());
  for (int64_t i = 1; i <= layers; ++i) {
    seq->push_back("fc" + std::to_string(i), nn::Linear(i == 1 ? in_features : hidden, hidden));
    seq->push_back("relu" + std::to_string(i), nn::ReLU());
    if (dropout > 0) seq->push_back("dropout" + std::to_string(i), nn::Dropout(dropout));
  }
  seq->push_back("features", Tap("features"));
  seq->push_back("head", nn::Linear(hidden, in.num_classes));
  return seq;
}

class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(out));
    conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      shortcut_ = register_module(
          "shortcut",
          nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)), nn::BatchNorm2d(out)));
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    auto y = bn1_->forward(conv1_->forward(x)).relu();
    y = bn2_->forward(conv2_->forward(y));
    return (y + (shortcut_.is_empty() ? x : shortcut_->forward(x))).relu();
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(BasicBlock);

class SmallResNetImpl : public nn::Module {
 public:
  SmallResNetImpl(int64_t channels, int64_t classes, int64_t width, int64_t blocks) {
    stem_ =
        register_module("stem", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(channels, width, 3).padding(1).bias(false)),
                                               nn::BatchNorm2d(width), nn::ReLU()));
    int64_t in = width;
    for (int s = 0; s < 3; ++s) {
      const int64_t out = width << s;
      nn::Sequential stage;
      for (int64_t b = 0; b < blocks; ++b) {
        stage->push_back(BasicBlock(b == 0 ? in : out, out, b == 0 && s > 0 ? 2 : 1));
      }
      stages_.push_back(register_module("stage" + std::to_string(s + 1), stage));
      in = out;
    }
    fc_ = register_module("fc", nn::Linear(in, classes));
  }
  at::Tensor forward(const at::Tensor& input) {
    auto x = tap("stem", stem_->forward(input));
    for (size_t s = 0; s < stages_.size(); ++s) x = tap("stage" + std::to_string(s + 1), stages_[s]->forward(x));
    x = tap("features", x.mean({2, 3}));
    return fc_->forward(x);
  }

 private:
  nn::Sequential stem_{nullptr};
  std::vector<nn::Sequential> stages_;
  nn::Linear fc_{nullptr};
};
TORCH_MODULE(SmallResNet);

Model make_resnet(const ModelSection& s, const ModelInput& in) {
  ModelOptions o(s);
  const int64_t width = o.integer("width", 16), blocks = o.integer("blocks", 1);
  if (width < 1 || blocks < 1) throw std::invalid_argument("[model] resnet: width and blocks must be positive");
  return SmallResNet(image_shape(in, s.name)[0], in.num_classes, width, blocks);
}

// Multi-head self-attention written out rather than torch::nn::MultiheadAttention, whose C++
// decomposition differs from Python's: the traced ops are then those of the same few lines in
// PyTorch (tests/conformance/test_graph.py holds that Python module and compares the graphs).
class SelfAttentionImpl : public nn::Module {
 public:
  SelfAttentionImpl(int64_t dim, int64_t heads, double dropout)
      : heads_(heads), scale_(1.0 / std::sqrt(static_cast<double>(dim / heads))) {
    q_proj_ = register_module("q_proj", nn::Linear(dim, dim));
    k_proj_ = register_module("k_proj", nn::Linear(dim, dim));
    v_proj_ = register_module("v_proj", nn::Linear(dim, dim));
    out_proj_ = register_module("out_proj", nn::Linear(dim, dim));
    if (dropout > 0) dropout_ = register_module("dropout", nn::Dropout(dropout));
  }
  at::Tensor forward(const at::Tensor& x) {  // [B, T, D] -> [B, T, D]
    // [B, T, D] -> [B, heads, T, D / heads]
    auto split = [this](const at::Tensor& t) { return t.unflatten(-1, {heads_, -1}).transpose(1, 2); };
    const auto q = split(q_proj_->forward(x)), k = split(k_proj_->forward(x)), v = split(v_proj_->forward(x));
    auto weights = (q.matmul(k.transpose(-2, -1)) * scale_).softmax(-1);
    if (dropout_) weights = dropout_->forward(weights);
    return out_proj_->forward(weights.matmul(v).transpose(1, 2).flatten(2));
  }

 private:
  int64_t heads_;
  double scale_;
  nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, out_proj_{nullptr};
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(SelfAttention);

// PyTorch's TransformerEncoderLayer in its default form (post-norm, ReLU), with its names:
// x = norm1(x + self_attn(x)); x = norm2(x + linear2(relu(linear1(x)))). Its output is tapped
// as layer<i> (1-based).
class EncoderLayerImpl : public nn::Module {
 public:
  EncoderLayerImpl(int64_t dim, int64_t heads, int64_t ff, double dropout, std::string tap_name)
      : tap_name_(std::move(tap_name)) {
    self_attn_ = register_module("self_attn", SelfAttention(dim, heads, dropout));
    linear1_ = register_module("linear1", nn::Linear(dim, ff));
    linear2_ = register_module("linear2", nn::Linear(ff, dim));
    norm1_ = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({dim})));
    norm2_ = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({dim})));
    if (dropout > 0) dropout_ = register_module("dropout", nn::Dropout(dropout));
  }
  at::Tensor forward(const at::Tensor& input) {
    auto drop = [this](const at::Tensor& t) { return dropout_ ? dropout_->forward(t) : t; };
    auto x = norm1_->forward(input + drop(self_attn_->forward(input)));
    x = norm2_->forward(x + drop(linear2_->forward(linear1_->forward(x).relu())));
    return tap(tap_name_, x);
  }

 private:
  std::string tap_name_;
  SelfAttention self_attn_{nullptr};
  nn::Linear linear1_{nullptr}, linear2_{nullptr};
  nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(EncoderLayer);

// A Transformer encoder over the rows of an image (Fashion-MNIST: 28 tokens of 28 pixels):
// rows [B, H, C * W] -> linear embedding + learned positions -> encoder layers -> mean over
// the tokens -> classifier. Taps: embed, layer1..layerN, features (the pooled tokens).
class TransformerEncoderImpl : public nn::Module {
 public:
  TransformerEncoderImpl(const std::vector<int64_t>& chw, int64_t classes, int64_t dim, int64_t heads,
                         int64_t num_layers, int64_t ff, double dropout) {
    embed_ = register_module("embed", nn::Linear(chw[0] * chw[2], dim));
    pos_ = register_parameter("pos", torch::randn({1, chw[1], dim}) * 0.02);
    layers_ = register_module("layers", nn::Sequential());
    for (int64_t i = 0; i < num_layers; ++i) {
      layers_->push_back(EncoderLayer(dim, heads, ff, dropout, "layer" + std::to_string(i + 1)));
    }
    head_ = register_module("head", nn::Linear(dim, classes));
  }
  at::Tensor forward(const at::Tensor& input) {       // [B, C, H, W]
    auto x = input.permute({0, 2, 1, 3}).flatten(2);  // one token per row: [B, H, C * W]
    x = tap("embed", embed_->forward(x) + pos_);
    x = tap("features", layers_->forward(x).mean(1));
    return head_->forward(x);
  }

 private:
  nn::Linear embed_{nullptr}, head_{nullptr};
  at::Tensor pos_;
  nn::Sequential layers_{nullptr};
};
TORCH_MODULE(TransformerEncoder);

Model make_transformer_encoder(const ModelSection& s, const ModelInput& in) {
  ModelOptions o(s);
  const int64_t dim = o.integer("d_model", 64), heads = o.integer("nhead", 4), layers = o.integer("num_layers", 2),
                ff = o.integer("dim_feedforward", 128);
  const double dropout = o.real("dropout", 0.0);
  if (dim < 1 || heads < 1 || layers < 1 || ff < 1) {
    throw std::invalid_argument(
        "[model] transformer_encoder: d_model, nhead, num_layers and dim_feedforward must be positive");
  }
  if (!(dropout >= 0 && dropout < 1)) {
    throw std::invalid_argument("[model] transformer_encoder dropout must be in [0, 1) (got " +
                                std::to_string(dropout) + ")");
  }
  if (auto bad = check_model_option_pairs(s.name, s.options)) {
    throw std::invalid_argument("[model] transformer_encoder " + bad->key + " " + bad->message);
  }
  return TransformerEncoder(image_shape(in, s.name), in.num_classes, dim, heads, layers, ff, dropout);
}

}  // namespace

std::vector<std::string> model_names() { return {"mlp", "resnet", "simple_cnn", "transformer_encoder"}; }

Model make_model(const ModelSection& section, const ModelInput& input) {
  if (input.num_classes < 2) throw std::invalid_argument("make_model: the data needs at least 2 classes");
  if (auto it = section.options.find("torchscript"); it != section.options.end()) {
    const auto* path = std::get_if<std::string>(&it->second);
    if (path == nullptr) throw std::invalid_argument("[model] torchscript must be a string (the .pt file's path)");
    for (const auto& [key, value] : section.options) {
      if (key != "torchscript") {
        throw std::invalid_argument("[model] " + key +
                                    ": a TorchScript model (torchscript = ...) takes no other options; remove it");
      }
    }
    return load_torchscript_model(*path);
  }
  if (section.name == "simple_cnn") return make_simple_cnn(section, input);
  if (section.name == "mlp") return make_mlp(section, input);
  if (section.name == "resnet") return make_resnet(section, input);
  if (section.name == "transformer_encoder") return make_transformer_encoder(section, input);
  throw std::invalid_argument("[model] name = \"" + section.name +
                              "\" is not known (mlp, resnet, simple_cnn, transformer_encoder)");
}

}  // namespace trainscope
