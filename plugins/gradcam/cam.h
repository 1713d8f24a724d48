// Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
// Gradient-based Localization", ICCV 2017), header-only so that the plugin and its tests share
// one implementation.
//
//   alpha_k = mean over (h, w) of d score_c / d A_k(h, w)
//   cam     = ReLU(sum_k alpha_k A_k), bilinearly upsampled to the input size, min-max
//             normalised to [0, 1] per sample (an all-zero map stays 0)
//
// Everything runs on the tensors' device; nothing is read back to the host.
#pragma once

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <trainscope/tap.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace trainscope::gradcam {

// The CAM from a layer's activation A [N, K, h, w] and the gradient of the class score with
// respect to it (same shape): [N, out_h, out_w], float32, each sample in [0, 1].
inline at::Tensor cam_from(const at::Tensor& activation, const at::Tensor& grad, int64_t out_h, int64_t out_w) {
  if (activation.dim() != 4 || grad.sizes() != activation.sizes()) {
    throw std::invalid_argument("gradcam: the layer's activation must be 4-D [N, C, H, W] with a gradient of the same shape");
  }
  const at::Tensor a = activation.detach().to(at::kFloat);
  const at::Tensor g = grad.detach().to(at::kFloat);
  const at::Tensor alpha = g.mean({2, 3}, /*keepdim=*/true);           // [N, K, 1, 1]
  at::Tensor cam = (alpha * a).sum(1, /*keepdim=*/true).relu();          // [N, 1, h, w]
  cam = at::upsample_bilinear2d(cam, {out_h, out_w}, /*align_corners=*/false);
  cam = cam.squeeze(1).relu();  // bilinear interpolation of non-negative values stays >= 0; relu for rounding
  const at::Tensor lo = cam.amin({1, 2}, /*keepdim=*/true);
  const at::Tensor range = cam.amax({1, 2}, /*keepdim=*/true) - lo;
  return at::where(range > 0, (cam - lo) / range.clamp_min(1e-12), at::zeros_like(cam));
}

struct CamResult {
  at::Tensor cam;      // [N, H, W] in [0, 1], on the input's device
  at::Tensor classes;  // int64 [N]: the class each CAM explains
  at::Tensor logits;   // [N, classes], detached
};

// Runs `forward(x, taps)` (the model with `taps` capturing activations, e.g. HookContext::
// forward) on `x` [N, C, H, W], takes the score of `target_class` (< 0: each sample's predicted
// class) and its gradient with respect to `layer`'s activation through torch::autograd::grad
// taken w.r.t. a copy of the input, so no parameter's .grad is touched. The caller picks the
// module mode (eval for fixed samples); gradients are enabled here whatever the caller's mode.
inline CamResult grad_cam(const std::function<at::Tensor(const at::Tensor&, TapSet*)>& forward, const at::Tensor& x,
                          const std::string& layer, int64_t target_class = -1) {
  if (x.dim() != 4) throw std::invalid_argument("gradcam: inputs must be images [N, C, H, W]");
  torch::AutoGradMode grad_on(true);
  TapSet taps;
  taps.request(layer, /*with_grad=*/true);
  const at::Tensor input = x.detach().clone().requires_grad_(true);
  const at::Tensor logits = forward(input, &taps);
  auto value = taps.values().find(layer);
  if (value == taps.values().end()) {
    throw std::invalid_argument("gradcam: the model has no activation named '" + layer +
                                "' (set the option layer to one of the model's taps or Sequential children)");
  }
  if (value->second.dim() != 4) {
    throw std::invalid_argument("gradcam: activation '" + layer + "' has " + std::to_string(value->second.dim()) +
                                " dimensions; Grad-CAM needs a convolutional [N, C, H, W] layer");
  }
  if (logits.dim() != 2) throw std::invalid_argument("gradcam: the model's output must be [N, classes] logits");
  if (target_class >= logits.size(1)) {
    throw std::invalid_argument("gradcam: class " + std::to_string(target_class) + " is out of range (the model has " +
                                std::to_string(logits.size(1)) + " classes)");
  }
  const at::Tensor classes = target_class < 0
                                 ? logits.detach().argmax(1)
                                 : at::full({logits.size(0)}, target_class, logits.options().dtype(at::kLong));
  // Samples are independent in eval mode, so d(sum of scores)/dA_n = d(score_n)/dA_n.
  const at::Tensor score = logits.gather(1, classes.unsqueeze(1)).sum();
  if (!score.requires_grad()) {
    throw std::invalid_argument("gradcam: the class score does not depend on the input (is the model frozen?)");
  }
  // The tap's hook stores dScore/dA when the gradient flows through the layer on its way to
  // the input copy; autograd::grad accumulates into nothing else.
  torch::autograd::grad({score}, {input}, /*grad_outputs=*/{}, /*retain_graph=*/false, /*create_graph=*/false,
                        /*allow_unused=*/true);
  auto grad = taps.grads().find(layer);
  if (grad == taps.grads().end()) {
    throw std::invalid_argument("gradcam: no gradient reached activation '" + layer + "'");
  }
  CamResult out;
  out.cam = cam_from(value->second, grad->second, x.size(2), x.size(3));
  out.classes = classes;
  out.logits = logits.detach();
  return out;
}

// The jet colour map (MATLAB's): t in [0, 1] -> RGB in [0, 1], shape [..., 3].
inline at::Tensor jet(const at::Tensor& t) {
  const at::Tensor x = t.clamp(0, 1) * 4;
  auto ch = [&](double shift) { return (1.5 - (x - shift).abs()).clamp(0, 1); };
  return at::stack({ch(3), ch(2), ch(1)}, -1);
}

// Inputs [N, C, H, W] -> [N, H, W, 3] in [0, 1] for display: 3 channels as RGB, anything
// else averaged to grey; each sample min-max scaled (inputs are often normalised).
inline at::Tensor displayable(const at::Tensor& x) {
  at::Tensor v = x.detach().to(at::kFloat);
  if (v.size(1) != 3) v = v.mean(1, /*keepdim=*/true).expand({-1, 3, -1, -1});
  const at::Tensor lo = v.amin({1, 2, 3}, /*keepdim=*/true);
  const at::Tensor range = v.amax({1, 2, 3}, /*keepdim=*/true) - lo;
  v = at::where(range > 0, (v - lo) / range.clamp_min(1e-12), at::zeros_like(v));
  return v.permute({0, 2, 3, 1});
}

inline constexpr int64_t kPanelGap = 2;  // white columns between the panels

// What the plugin logs per sample: [N, H, 3W + 2 kPanelGap, 3] in [0, 1], three panels side by
// side: the input (displayable) | jet(cam) | 0.5 input + 0.5 jet(cam).
inline at::Tensor panels(const at::Tensor& inputs, const at::Tensor& cam) {
  const at::Tensor orig = displayable(inputs);
  const at::Tensor heat = jet(cam);
  const at::Tensor overlay = 0.5 * orig + 0.5 * heat;
  const at::Tensor gap = at::ones({orig.size(0), orig.size(1), kPanelGap, 3}, orig.options());
  return at::cat({orig, gap, heat, gap, overlay}, 2);
}

}  // namespace trainscope::gradcam
