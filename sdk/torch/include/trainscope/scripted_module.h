// A TorchScript module (Python's torch.jit.script / torch.jit.trace + save) as a
// torch::nn::Module, so that the Trainer, the optimizers, checkpoints and every plugin take it
// like a C++ module. Its parameters and buffers are the TorchScript module's own tensors (the
// same storage, under the same dotted names), so .to(device), optimizer steps and checkpoint
// loads act on the module that runs; train()/eval() set the TorchScript module's flags too.
//
// Layers by module path: forward_tapped() runs a copy of the module's forward graph in which
// every submodule call is inlined and its output passed through the operator
// `trainscope::tap(str path, Tensor x) -> Tensor`, which reports it to trainscope::tap under
// the submodule's path ("layer4.1.conv2"). forward() runs the original, uninstrumented graph.
// docs/torchscript.md explains the choice.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/nn/module.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

// A .pt file that cannot be used: missing, not a TorchScript archive, or without a usable
// forward. The message names the file and the fix.
class TRAINSCOPE_API ScriptedModuleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TRAINSCOPE_API ScriptedModule : public torch::nn::Module {
 public:
  // `source` names the module in messages (the .pt path when loaded from a file).
  explicit ScriptedModule(torch::jit::Module module, std::string source = "TorchScript module");
  ~ScriptedModule() override;

  // The module's own forward (one tensor in, one tensor out).
  at::Tensor forward(const at::Tensor& x);
  // The instrumented forward: the same computation, reporting each submodule's output to the
  // active trainscope::TapSet under its module path.
  at::Tensor forward_tapped(const at::Tensor& x);
  // The module paths that forward_tapped reports, in the order of their first call.
  const std::vector<std::string>& layer_paths() const;

  void train(bool on = true) override;
  torch::jit::Module& jit() { return jit_; }
  const torch::jit::Module& jit() const { return jit_; }
  const std::string& source() const { return source_; }

 private:
  struct Tapped;
  torch::jit::Module jit_;
  std::string source_;
  std::unique_ptr<Tapped> tapped_;
};

// torch::jit::load with messages that say what is wrong and how to fix it (on the CPU; the
// Trainer moves the module to its device). Throws ScriptedModuleError.
TRAINSCOPE_API std::shared_ptr<ScriptedModule> load_scripted_module(const std::string& path);

}  // namespace trainscope
