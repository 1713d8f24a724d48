// ScriptedModule: loading a .pt, mirroring its tensors into a torch::nn::Module, and forward.
#include "trainscope/scripted_module.h"

#include <torch/csrc/jit/serialization/import.h>

#include <filesystem>
#include <sstream>

#include "scripted_taps.h"

namespace trainscope {
namespace {

std::string short_name(const torch::jit::Module& m) {
  const auto& name = m.type()->name();
  return name ? name->name() : std::string("ScriptModule");
}

// Registers `from`'s parameters and buffers (the same tensors) on `into`, and a child module
// per submodule, so named_parameters() gives "layer1.0.conv1.weight" as Python does.
void mirror(torch::nn::Module& into, const torch::jit::Module& from) {
  for (const auto& p : from.named_parameters(/*recurse=*/false)) {
    if (p.value.defined()) into.register_parameter(p.name, p.value, p.value.requires_grad());
  }
  for (const auto& b : from.named_buffers(/*recurse=*/false)) {
    if (b.value.defined()) into.register_buffer(b.name, b.value);
  }
  for (const auto& c : from.named_children()) {
    auto child = std::make_shared<torch::nn::Module>(short_name(c.value));
    mirror(*child, c.value);
    into.register_module(c.name, child);
  }
}

std::string first_line(const std::string& s) {
  const auto end = s.find('\n');
  return end == std::string::npos ? s : s.substr(0, end);
}

// forward(self, Tensor) -> Tensor: what the Trainer calls.
void check_forward(const torch::jit::Module& m, const std::string& source) {
  auto method = m.find_method("forward");
  if (!method) {
    std::string methods;
    for (const auto& f : m.get_methods()) methods += (methods.empty() ? "" : ", ") + f.name();
    throw ScriptedModuleError(source + ": the TorchScript module has no forward method (its methods: " +
                              (methods.empty() ? std::string("none") : methods) +
                              "); script or trace a module whose forward takes the input batch and returns the logits");
  }
  const c10::FunctionSchema& schema = method->function().getSchema();
  const auto& args = schema.arguments();
  const auto& rets = schema.returns();
  const auto tensor = c10::TensorType::get();
  const bool one_in = args.size() == 2 && args[1].type()->isSubtypeOf(*tensor);
  const bool one_out = rets.size() == 1 && rets[0].type()->isSubtypeOf(*tensor);
  if (!one_in || !one_out) {
    std::ostringstream s;
    s << schema;
    throw ScriptedModuleError(
        source + ": forward must take one Tensor and return one Tensor, but it is `" + s.str() +
        "`; wrap the model in Python so that forward(x) returns the logits, then script it again");
  }
}

}  // namespace

struct ScriptedModule::Tapped {
  detail::TappedForward forward;
};

ScriptedModule::ScriptedModule(torch::jit::Module module, std::string source)
    : torch::nn::Module(short_name(module)), jit_(std::move(module)), source_(std::move(source)) {
  check_forward(jit_, source_);
  mirror(*this, jit_);
  torch::nn::Module::train(jit_.is_training());
  tapped_ = std::make_unique<Tapped>(Tapped{detail::TappedForward(jit_)});
}

ScriptedModule::~ScriptedModule() = default;

at::Tensor ScriptedModule::forward(const at::Tensor& x) { return jit_.forward({x}).toTensor(); }

at::Tensor ScriptedModule::forward_tapped(const at::Tensor& x) { return tapped_->forward.run(jit_, x); }

const std::vector<std::string>& ScriptedModule::layer_paths() const { return tapped_->forward.paths(); }

void ScriptedModule::train(bool on) {
  torch::nn::Module::train(on);
  jit_.train(on);
}

std::shared_ptr<ScriptedModule> load_scripted_module(const std::string& path) {
  std::error_code ec;
  if (path.empty()) throw ScriptedModuleError("the TorchScript model path is empty");
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw ScriptedModuleError(path + ": no such file; write it from Python with torch.jit.script(model).save(\"" +
                              path + "\") (or torch.jit.trace)");
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::Device(torch::kCPU));
  } catch (const std::exception& e) {
    throw ScriptedModuleError(path + ": not a TorchScript archive that libtorch can load (" + first_line(e.what()) +
                              "); save the module with torch.jit.save(torch.jit.script(model), path): a state_dict "
                              "saved with torch.save is not a module");
  }
  return std::make_shared<ScriptedModule>(std::move(module), path);
}

}  // namespace trainscope
