// The model the Trainer trains (any torch::nn::Module plus a forward callable) and a small
// model zoo built by name from [model]: simple_cnn, mlp, resnet, transformer_encoder. Each zoo
// model marks a few activations with trainscope::tap ("conv1", "conv2", "fc1", "features" =
// penultimate layer) so the activation, embedding and Grad-CAM plugins have names to ask for.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/run_config.h"

namespace trainscope {

class ScriptedModule;

class TRAINSCOPE_API Model {
 public:
  using Forward = std::function<at::Tensor(const at::Tensor&)>;

  Model() = default;
  // Any module with a forward callable (for modules whose forward is not `Tensor(Tensor)`).
  Model(std::shared_ptr<torch::nn::Module> module, Forward forward);
  // A torch::nn::Sequential: runs as is, and its children can be tapped one by one.
  Model(torch::nn::Sequential sequential);  // NOLINT(google-explicit-constructor)
  // Any module holder (TORCH_MODULE) whose forward takes and returns one tensor.
  template <typename Holder,
            typename = std::enable_if_t<!std::is_same_v<std::decay_t<Holder>, torch::nn::Sequential> &&
                                        std::is_base_of_v<torch::nn::Module, typename Holder::ContainedType>>>
  Model(Holder holder)  // NOLINT(google-explicit-constructor)
      : Model(holder.ptr(), [m = holder.ptr()](const at::Tensor& x) { return m->forward(x); }) {}

  // A TorchScript module (load_torchscript_model): forward runs its own graph; when a plugin
  // asked for activations, the instrumented copy that taps every submodule by module path.
  Model(std::shared_ptr<ScriptedModule> scripted);  // NOLINT(google-explicit-constructor)

  explicit operator bool() const { return module_ != nullptr; }
  torch::nn::Module& module() const { return *module_; }
  const std::shared_ptr<torch::nn::Module>& ptr() const { return module_; }
  at::Tensor forward(const at::Tensor& x) const { return forward_(x); }
  // The forward pass the core runs while a TapSet is active: TorchScript models report their
  // submodules' outputs by path; other models are their own forward (they call tap()).
  at::Tensor forward_tapped(const at::Tensor& x) const { return tapped_ ? tapped_(x) : forward_(x); }
  // Set for TorchScript models.
  const std::shared_ptr<ScriptedModule>& scripted() const { return scripted_; }
  // The layer (tap) names known before training: a TorchScript model's module paths. Empty for
  // C++ models, whose tap() calls name their layers only when they run.
  std::vector<std::string> layer_names() const;
  // Set for Sequential models: the Trainer runs the children one by one when activations
  // are requested, capturing each child's output under its name ("0", "1", ... or the name
  // it was registered with).
  const torch::nn::Sequential& sequential() const { return sequential_; }
  bool is_sequential() const { return !sequential_.is_empty(); }

 private:
  std::shared_ptr<torch::nn::Module> module_;
  Forward forward_;
  Forward tapped_;
  torch::nn::Sequential sequential_{nullptr};
  std::shared_ptr<ScriptedModule> scripted_;
};

// Shape of one input sample and the number of classes, which the zoo adapts to.
struct ModelInput {
  std::vector<int64_t> sample_shape;  // {C, H, W} (or {D} for the MLP)
  int64_t num_classes = 10;
};

// Builds [model] name with its options:
//   simple_cnn: PyTorch's TensorBoard-tutorial CNN (conv 6 k5, pool, conv 16 k5, pool, fc 120,
//               fc 84, fc classes), sized to the input. Options: conv1, conv2, fc1, fc2 (widths),
//               dropout (0.0: none; else after the fc1 and fc2 activations, taps before it).
//               Taps: conv1, conv2 (ReLU outputs before pooling), fc1, features (fc2 output).
//   mlp:        a Sequential: flatten, hidden layers, "features" tap, head. Options: hidden
//               (width, 256), layers (2), dropout (0.0).
//   resnet:     a small ResNet (3 stages of basic blocks, widths w, 2w, 4w). Options: width
//               (16), blocks (per stage, 1). Taps: stem, stage1..stage3, features (pooled).
//   transformer_encoder: each image row a token (28 of 28 pixels for Fashion-MNIST), linear
//               embedding + learned positions, encoder layers (PyTorch's post-norm layer:
//               self-attention, feed-forward, LayerNorm, names self_attn, linear1/2, norm1/2),
//               mean over tokens, classifier. Options: d_model (64), nhead (4), num_layers (2),
//               dim_feedforward (128), dropout (0.0). Taps: embed, layer1..layerN, features.
// With the option torchscript = "model.pt" the name is ignored and the model is that TorchScript
// module (load_torchscript_model); it takes no other option.
// Unknown names or options throw std::invalid_argument naming the valid ones.
TRAINSCOPE_API Model make_model(const ModelSection& section, const ModelInput& input);

// A module saved from Python with torch.jit.script / torch.jit.trace + save. Throws
// trainscope::ScriptedModuleError (missing or unreadable file, no usable forward).
TRAINSCOPE_API Model load_torchscript_model(const std::string& path);

// Before training: every plugin option named `layer` or `layers` must name a layer the model
// has (a glob must match one), for models whose layers are known up front (TorchScript).
// Throws std::invalid_argument naming file:line:column and the nearest module paths.
TRAINSCOPE_API void check_layer_options(const RunConfig& config, const Model& model);
TRAINSCOPE_API std::vector<std::string> model_names();

}  // namespace trainscope
