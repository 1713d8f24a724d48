// The Trainer's parts that do not depend on the loop: devices, seeding, optimizers, LR
// schedules, loss, gradient clipping and mixed precision (amp.h).
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <cmath>
#include <stdexcept>

#include "amp.h"
#include "trainscope/trainer.h"

namespace trainscope {

StepLr::StepLr(int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {
  if (step_size < 1)
    throw std::invalid_argument("step scheduler: step_size must be >= 1, got " + std::to_string(step_size));
  if (!(gamma > 0)) throw std::invalid_argument("step scheduler: gamma must be positive");
}

double StepLr::factor(int64_t epoch, int64_t) const {
  return std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

double CosineLr::factor(int64_t epoch, int64_t epochs) const {
  if (epochs <= 0) return 1.0;
  return 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(epoch) / static_cast<double>(epochs)));
}

at::Tensor softmax_cross_entropy(const at::Tensor& outputs, const at::Tensor& targets) {
  return torch::nn::functional::cross_entropy(outputs, targets);
}

c10::Device resolve_device(const std::string& spec) {
  if (spec == "auto" || spec.empty())
    return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(spec);
  } catch (const std::exception&) {
    throw std::invalid_argument("device \"" + spec + "\" is not valid (auto, cpu, cuda, cuda:N)");
  }
  if (device.is_cpu()) return device;
  if (!device.is_cuda())
    throw std::invalid_argument("device \"" + spec + "\" is not supported (auto, cpu, cuda, cuda:N)");
  const size_t count = torch::cuda::is_available() ? static_cast<size_t>(torch::cuda::device_count()) : 0;
  if (count == 0)
    throw std::invalid_argument("device \"" + spec + "\": no CUDA device is available here (use \"auto\" or \"cpu\")");
  if (!device.has_index()) device.set_index(0);
  if (static_cast<size_t>(device.index()) >= count) {
    throw std::invalid_argument("device \"" + spec + "\": only " + std::to_string(count) + " CUDA device(s) here");
  }
  return device;
}

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainerSection& s,
                                                        const std::vector<at::Tensor>& params) {
  if (!(s.lr > 0)) throw std::invalid_argument("[trainer] lr must be positive");
  if (s.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(s.lr).weight_decay(s.weight_decay));
  }
  if (s.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(s.lr).weight_decay(s.weight_decay));
  }
  if (s.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(s.lr).momentum(s.momentum).weight_decay(s.weight_decay));
  }
  throw std::invalid_argument("[trainer] optimizer = \"" + s.optimizer + "\" is not known (adam, adamw, sgd)");
}

LrScheduleConfig effective_schedule(const TrainerSection& s) {
  if (s.schedule.name != "none" || s.schedule.warmup > 0) return s.schedule;
  LrScheduleConfig c;  // the string form: defaults, with [trainer] step_size and gamma
  c.name = s.scheduler.empty() ? "none" : s.scheduler;
  c.step_size = s.step_size;
  c.gamma = s.gamma;
  return c;
}

std::unique_ptr<LrScheduler> make_scheduler(const TrainerSection& s) { return make_lr_schedule(effective_schedule(s)); }

at::Tensor clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm) {
  std::vector<at::Tensor> grads;
  grads.reserve(parameters.size());
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return {};
  // Same arithmetic as clip_grad_norm_ (coef = max_norm / (norm + 1e-6), clamped to 1), kept
  // on the device: libtorch's version reads the norm back with .item() every step.
  at::Tensor total = at::linalg_vector_norm(at::stack(at::_foreach_norm(grads, 2.0)), 2.0);
  at::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
  at::_foreach_mul_(grads, coef);
  return total;
}

namespace detail {

AutocastScope::AutocastScope(c10::DeviceType device, c10::ScalarType dtype, bool enabled)
    : device_(device), enabled_(enabled) {
  if (!enabled_) return;
  prev_enabled_ = at::autocast::is_autocast_enabled(device_);
  prev_dtype_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, dtype);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  // The cast weights are cached per forward; drop them when the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, prev_enabled_);
  at::autocast::set_autocast_dtype(device_, prev_dtype_);
}

GradScaler::GradScaler(const c10::Device& device) {
  const auto f = at::TensorOptions(at::kFloat).device(device);
  scale_ = at::full({1}, 65536.0, f);
  growth_tracker_ = at::zeros({1}, f.dtype(at::kInt));
  found_inf_ = at::zeros({1}, f);
}

void GradScaler::unscale(const std::vector<at::Tensor>& parameters) {
  std::vector<at::Tensor> grads;
  grads.reserve(parameters.size());
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  found_inf_.zero_();
  if (grads.empty()) return;
  at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, scale_.reciprocal());
}

bool GradScaler::step_ok() const { return found_inf_.item<float>() == 0.0f; }

void GradScaler::update() { at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, 2.0, 0.5, 2000); }

}  // namespace detail
}  // namespace trainscope
