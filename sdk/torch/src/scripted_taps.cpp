// Layers by module path on TorchScript modules: the `trainscope::tap` operator and the graph
// rewrite that calls it after every submodule call.
//
// Submodules of the same class share one ClassType and so one compiled forward, which cannot
// know which instance it runs for. The rewrite therefore works on a copy of the top-level
// forward graph and inlines module calls one by one: after inlining, a submodule is a chain of
// prim::GetAttr from the graph's `self` input, which spells its path ("layer4" -> "1" ->
// "conv2"). Before a call to a submodule's forward is inlined, its output is routed through
// trainscope::tap(path, out). The original graph is left untouched: runs without taps use it.
#include "scripted_taps.h"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/ir/named_value.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/library.h>

#include <optional>
#include <set>

#include "trainscope/tap.h"

namespace trainscope::detail {
namespace {

namespace jit = torch::jit;

// Reports x under `path` to the active tap set. The stored value is a copy: TorchScript models
// often modify a module's output in place afterwards (ReLU(inplace=True) after BatchNorm),
// and the capture must show what the module returned, as a Python forward hook sees it.
at::Tensor tap_op(std::string path, const at::Tensor& x) {
  TapSet* taps = active_taps;
  if (taps == nullptr) return x;
  taps->capture(path, x);
  auto it = taps->values().find(path);
  if (it != taps->values().end() && it->second.is_alias_of(x)) {
    // The map entry is ours to replace (values() is read-only only for plugins).
    const_cast<at::Tensor&>(it->second) = it->second.clone();
  }
  return x;
}

const c10::Symbol& tap_symbol() {
  static const c10::Symbol s = c10::Symbol::fromQualString("trainscope::tap");
  return s;
}

// The module path of a module-typed value: "" for self, "a.b" for self.a.b, nullopt otherwise.
std::optional<std::string> module_path(jit::Value* v, jit::Value* self) {
  if (v == self) return std::string();
  jit::Node* n = v->node();
  if (n->kind() != c10::prim::GetAttr) return std::nullopt;
  auto cls = v->type()->cast<c10::ClassType>();
  if (!cls || !cls->is_module()) return std::nullopt;
  auto parent = module_path(n->input(), self);
  if (!parent) return std::nullopt;
  const std::string& name = n->s(c10::attr::name);
  return parent->empty() ? name : *parent + "." + name;
}

jit::Node* next_module_call(jit::Block* block, jit::Value* self) {
  for (jit::Node* n : block->nodes()) {
    if (n->kind() == c10::prim::CallMethod && module_path(n->input(0), self)) return n;
    for (jit::Block* b : n->blocks()) {
      if (jit::Node* found = next_module_call(b, self)) return found;
    }
  }
  return nullptr;
}

}  // namespace

TappedForward::TappedForward(const torch::jit::Module& module) {
  auto& forward = jit::toGraphFunction(module.get_method("forward").function());
  std::shared_ptr<jit::Graph> graph = forward.graph()->copy();
  jit::Value* self = graph->inputs().at(0);
  std::set<std::string> seen;
  while (jit::Node* call = next_module_call(graph->block(), self)) {
    const std::string path = *module_path(call->input(0), self);
    const std::string method = call->s(c10::attr::name);
    auto cls = call->input(0)->type()->expect<c10::ClassType>();
    jit::Function& callee = cls->getMethod(method);
    if (method == "forward" && !path.empty() && call->outputs().size() == 1 &&
        call->output()->type()->kind() == c10::TypeKind::TensorType) {
      jit::WithInsertPoint guard(call->next());
      jit::Value* tapped =
          graph->insert(tap_symbol(), {jit::NamedValue(c10::IValue(path)), jit::NamedValue(call->output())});
      call->output()->replaceAllUsesAfterNodeWith(tapped->node(), tapped);
      if (seen.insert(path).second) paths_.push_back(path);
    }
    // The callee's own graph (false: not its optimized graph, which has its calls inlined already).
    jit::inlineCallTo(call, &jit::toGraphFunction(callee), /*inline_optimized_graph=*/false);
  }
  jit::EliminateDeadCode(graph);
  function_ = std::make_shared<jit::GraphFunction>(c10::QualifiedName("trainscope.tapped_forward"), graph, nullptr);
}

at::Tensor TappedForward::run(const torch::jit::Module& module, const at::Tensor& x) const {
  std::vector<c10::IValue> stack{module._ivalue(), x};
  function_->run(stack);
  return stack.front().toTensor();
}

}  // namespace trainscope::detail

TORCH_LIBRARY(trainscope, m) {
  // Tensor(a) -> Tensor(a): the output is the input (an alias), which the JIT must know.
  m.def("tap(str path, Tensor(a) x) -> Tensor(a)", &trainscope::detail::tap_op);
}
