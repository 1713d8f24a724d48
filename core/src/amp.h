// Mixed precision pieces of the training loop: an autocast scope and a loss scaler for fp16
// (PyTorch's torch.amp.GradScaler, which libtorch lacks). Device-generic: CUDA in practice,
// CPU in the unit tests.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <vector>

namespace trainscope::detail {

// Autocast for `device`'s type in `dtype` for the scope's lifetime (nothing when disabled).
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, c10::ScalarType dtype, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool enabled_;
  bool prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = c10::kFloat;
};

// Dynamic loss scaling: scale the loss before backward, unscale the grads (recording
// whether any is inf/NaN, on the device), skip the optimizer step when one was, and grow /
// back off the scale like torch.amp.GradScaler (init 2^16, x2 every 2000 clean steps, x0.5 on
// overflow).
class GradScaler {
 public:
  GradScaler() = default;
  explicit GradScaler(const c10::Device& device);
  bool enabled() const { return scale_.defined(); }
  at::Tensor scale(const at::Tensor& loss) const { return loss * scale_; }
  // Divides every gradient by the scale; records non-finite values in found_inf.
  void unscale(const std::vector<at::Tensor>& parameters);
  // True when the last unscale saw only finite gradients (reads one value from the device,
  // as GradScaler.step does).
  bool step_ok() const;
  void update();

  at::Tensor& scale_tensor() { return scale_; }
  at::Tensor& growth_tracker() { return growth_tracker_; }

 private:
  at::Tensor scale_, growth_tracker_, found_inf_;
};

}  // namespace trainscope::detail
