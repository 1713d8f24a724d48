// SummaryWriter::add_graph: turns a TorchScript graph, or a trace of a C++ module, into the
// plain GraphNode list of dashboards/graphs.h, named the way PyTorch's add_graph names nodes
// (torch/utils/tensorboard/_pytorch_graph.py):
//   <Root>/<Type>[<attr>]/.../<value name>   e.g. SimpleCNN/Conv2d[conv1]/input.4
// with op = the node kind (aten::_convolution), attr "attr" = the node's attributes as
// PyTorch prints them ("{ value : 1}"), "_output_shapes" when the shape is known, IO nodes
// input/<name> and output/output.<i>, and parameters as prim::GetAttr nodes in their module.
//
// Scopes of a C++ torch::nn::Module. C++ modules have no forward hooks, so nothing marks
// where a submodule's forward starts. Two sound sources are used instead:
//   1. A torch::nn::Sequential (at the root, or nested in one) is run child by child inside
//      the trace, with a tracer scope pushed per child (what PyTorch's _slow_forward does);
//      the result is checked against the caller's `forward`, else this step is dropped.
//   2. Every parameter and buffer is a trace input, so an op that reads a parameter belongs
//      to the module owning it (the deepest common one when it reads several). Ops that read
//      none take the deepest module common to the nearest attributed ops upstream and
//      downstream along tensor edges (graph inputs and outputs count as the root): a relu
//      between conv1 and conv2 of one block lands in that block, one between two
//      top-level layers in the root. Constants and int lists go where their consumers are.
// Parameter-free submodules called from a custom forward (MaxPool2d[pool]) therefore show
// their ops in the caller's scope. The C++ frontend's Linear computes addmm(b, x, W.t()) or
// matmul(x, W.t()) + b; those exact patterns on a Linear's own weight and bias are folded
// back into aten::linear, the op PyTorch records.
//
// When tracing fails (forward throws, reads tensor values on the host — data-dependent
// control flow, which a trace would freeze — or the module is not traceable), a structural
// graph of named_modules() is written instead and one note goes to stderr.
#include <ATen/record_function.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/utils.h>

#include <charconv>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "trainscope/eval_mode.h"
#include "trainscope/summary_writer.h"
#include "trainscope/wire/dashboards/graphs.h"

namespace trainscope {
namespace {

namespace jit = torch::jit;
using detail::GraphAttr;
using detail::GraphDefData;
using detail::GraphNode;
using detail::GraphShape;

// A tracing problem that is not an exception of the forward itself.
struct TraceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------
// Names

// "torch::nn::Conv2dImpl" -> "Conv2d", "__torch__.x.___torch_mangle_3.Conv2d" -> "Conv2d",
// "ns::Net<float>" -> "Net".
std::string short_type_name(std::string_view name) {
  if (auto lt = name.find('<'); lt != std::string_view::npos) name = name.substr(0, lt);
  if (auto colon = name.rfind("::"); colon != std::string_view::npos) name = name.substr(colon + 2);
  if (auto dot = name.rfind('.'); dot != std::string_view::npos) name = name.substr(dot + 1);
  if (name.size() > 4 && name.ends_with("Impl")) name.remove_suffix(4);
  return name.empty() ? std::string("Module") : std::string(name);
}

std::string join_path(const std::string& parent, const std::string& leaf) {
  return parent.empty() ? leaf : parent + "." + leaf;
}

std::vector<std::string_view> path_parts(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    auto dot = path.find('.');
    out.push_back(path.substr(0, dot));
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  return out;
}

// The deepest module containing both (dotted paths; "" is the root).
std::string common_path(const std::string& a, const std::string& b) {
  auto pa = path_parts(a), pb = path_parts(b);
  std::string out;
  for (size_t i = 0; i < pa.size() && i < pb.size() && pa[i] == pb[i]; ++i) out = join_path(out, std::string(pa[i]));
  return out;
}

bool is_within(const std::string& path, const std::string& ancestor) {
  return ancestor.empty() || path == ancestor || (path.starts_with(ancestor) && path[ancestor.size()] == '.');
}

// Module path -> scope shown by TensorBoard: "SimpleCNN", "SimpleCNN/Conv2d[conv1]", ...
class ModuleScopes {
 public:
  // Parents must be added before their children.
  void add(const std::string& path, const std::string& type) {
    types_[path] = type;
    if (path.empty()) {
      scopes_[path] = type;
      return;
    }
    const auto dot = path.rfind('.');
    const std::string parent = dot == std::string::npos ? "" : path.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
    scopes_[path] = scope(parent) + "/" + type + "[" + leaf + "]";
  }
  // The scope of `path`, or of its nearest known ancestor.
  std::string scope(std::string path) const {
    for (;;) {
      if (auto it = scopes_.find(path); it != scopes_.end()) return it->second;
      if (path.empty()) return "Module";
      const auto dot = path.rfind('.');
      path = dot == std::string::npos ? "" : path.substr(0, dot);
    }
  }
  std::string type(const std::string& path) const {
    auto it = types_.find(path);
    return it == types_.end() ? "" : it->second;
  }

 private:
  std::unordered_map<std::string, std::string> scopes_, types_;
};

std::string device_name(const c10::Device& d) {
  return "/device:" + c10::DeviceTypeName(d.type()) + ":" + std::to_string(d.has_index() ? d.index() : 0);
}

std::string first_line(std::string s) {
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  if (s.size() > 300) s = s.substr(0, 297) + "...";
  return s;
}

std::string error_text(const std::exception& e) {
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) return first_line(c10e->what_without_backtrace());
  return first_line(e.what());
}

// ---------------------------------------------------------------------------------------
// The "attr" string: PyTorch shows str({name: value}) with every ' replaced by a space.

std::string py_float(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, end);
  if (s.find_first_not_of("-0123456789") == std::string::npos) s += ".0";
  return s;
}

template <typename T, typename F>
std::string py_list(const std::vector<T>& items, F&& fmt) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + fmt(items[i]);
  return out + "]";
}

std::string py_attr_value(const jit::Node* n, jit::Symbol name) {
  using K = jit::AttributeKind;
  switch (n->kindOf(name)) {
    case K::i:
      return std::to_string(n->i(name));
    case K::f:
      return py_float(n->f(name));
    case K::s:
      return "'" + n->s(name) + "'";
    case K::is:
      return py_list(n->is(name), [](int64_t v) { return std::to_string(v); });
    case K::fs:
      return py_list(n->fs(name), [](double v) { return py_float(v); });
    case K::ss:
      return py_list(n->ss(name), [](const std::string& v) { return "'" + v + "'"; });
    case K::t: {
      const auto& t = n->t(name);
      std::ostringstream os;
      os << "tensor(shape=" << t.sizes() << ", dtype=" << t.scalar_type() << ")";
      return os.str();
    }
    case K::ival: {
      std::ostringstream os;
      os << n->ival(name);
      return os.str();
    }
    case K::ty:
      return n->ty(name)->str();
    default:
      return "<" + std::string(jit::toString(n->kindOf(name))) + ">";
  }
}

std::string attr_string(const jit::Node* n) {
  std::string out = "{";
  bool first = true;
  for (const auto& name : n->attributeNames()) {
    out += (first ? "'" : ", '") + std::string(name.toUnqualString()) + "': " + py_attr_value(n, name);
    first = false;
  }
  out += "}";
  for (char& c : out)
    if (c == '\'') c = ' ';
  return out;
}

std::optional<GraphShape> shape_of(const jit::Value* v) {
  auto tt = v->type()->cast<c10::TensorType>();
  if (!tt) return std::nullopt;
  auto sizes = tt->symbolic_sizes().sizes();
  if (!sizes) return std::nullopt;
  GraphShape out;
  for (const auto& d : *sizes) out.push_back(d.is_static() ? d.static_size() : -1);
  return out;
}

bool is_module_value(const jit::Value* v) { return v->type()->kind() == c10::TypeKind::ClassType; }

// ---------------------------------------------------------------------------------------
// A graph ready to convert: which inputs are parameters and which module each node is in.

struct ParamRef {
  std::string path;  // owning module
  std::string leaf;  // attribute name: weight, bias, running_mean, ...
};

struct ScopedGraph {
  std::shared_ptr<jit::Graph> graph;
  std::unordered_map<const jit::Value*, ParamRef> params;   // graph inputs standing for parameters
  std::unordered_map<const jit::Node*, std::string> paths;  // module path of each top-level node
};

class NameTable {
 public:
  // `wanted`, or `wanted.N` when taken.
  std::string claim(const std::string& wanted) {
    std::string name = wanted;
    for (int i = 1; !used_.insert(name).second; ++i) name = wanted + "." + std::to_string(i);
    return name;
  }

 private:
  std::unordered_set<std::string> used_;
};

GraphNode make_node(std::string name, std::string op, std::vector<std::string> inputs, const jit::Value* v,
                    const std::string& default_device, std::string attr) {
  GraphNode node;
  node.name = std::move(name);
  node.op = std::move(op);
  node.inputs = std::move(inputs);
  node.device = default_device;
  if (auto tt = v ? v->type()->cast<c10::TensorType>() : nullptr; tt && tt->device())
    node.device = device_name(*tt->device());
  node.attrs.emplace("attr", GraphAttr::string(std::move(attr)));
  if (auto shape = v ? shape_of(v) : std::nullopt)
    node.attrs.emplace("_output_shapes", GraphAttr::shape_list({*shape}));
  return node;
}

// One GraphNode per graph input, per output of each top-level node, and per graph output, as
// _pytorch_graph.py lays them out (unused inputs and module-typed values are left out).
std::vector<GraphNode> to_graph_nodes(const ScopedGraph& sg, const ModuleScopes& scopes, const std::string& device) {
  const jit::Graph& g = *sg.graph;
  std::vector<GraphNode> out;
  std::unordered_map<const jit::Value*, std::string> names;
  NameTable table;
  for (const jit::Value* v : g.inputs()) {
    if (is_module_value(v) || v->uses().empty()) continue;
    if (auto it = sg.params.find(v); it != sg.params.end()) {
      const auto& p = it->second;
      names[v] = table.claim(scopes.scope(p.path) + "/" + p.leaf + "/" + v->debugName());
      out.push_back(make_node(names[v], "prim::GetAttr", {}, v, device, "{ name :  " + p.leaf + " }"));
    } else {
      names[v] = table.claim("input/" + v->debugName());
      out.push_back(make_node(names[v], "IO Node", {}, v, device, ""));
    }
  }
  for (const jit::Node* n : g.nodes()) {
    std::vector<std::string> inputs;
    for (const jit::Value* in : n->inputs())
      if (auto it = names.find(in); it != names.end()) inputs.push_back(it->second);
    auto path = sg.paths.find(n);
    const std::string scope = scopes.scope(path == sg.paths.end() ? "" : path->second);
    const std::string attr = attr_string(n);
    for (const jit::Value* o : n->outputs()) {
      if (is_module_value(o)) continue;
      names[o] = table.claim(scope + "/" + o->debugName());
      out.push_back(make_node(names[o], n->kind().toQualString(), inputs, o, device, attr));
    }
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const jit::Value* v = g.outputs()[i];
    std::vector<std::string> inputs;
    if (auto it = names.find(v); it != names.end()) inputs.push_back(it->second);
    out.push_back(
        make_node(table.claim("output/output." + std::to_string(i + 1)), "IO Node", std::move(inputs), v, device, ""));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Scope attribution for traced C++ modules (see the top of the file)

bool is_int_constant(const jit::Value* v, int64_t want) {
  auto iv = jit::toIValue(v);
  return iv &&
         ((iv->isInt() && iv->toInt() == want) || (iv->isDouble() && iv->toDouble() == static_cast<double>(want)));
}

// Folds the C++ frontend's decomposition of Linear (addmm(b, x, W.t()), or matmul(x, W.t())
// then add_(b)) back into aten::linear(x, W, b) when W and b are one Linear module's own.
void fold_linear(ScopedGraph& sg, const ModuleScopes& scopes) {
  jit::Graph& g = *sg.graph;
  auto linear_param = [&](const jit::Value* v, const char* leaf) -> const ParamRef* {
    auto it = sg.params.find(v);
    if (it == sg.params.end() || it->second.leaf != leaf || scopes.type(it->second.path) != "Linear") return nullptr;
    return &it->second;
  };
  auto has_bias = [&](const std::string& path) {
    for (const auto& [v, p] : sg.params)
      if (p.path == path && p.leaf == "bias") return true;
    return false;
  };
  // W.t() feeding only `user`, W a Linear weight: the weight's ParamRef.
  auto transposed_weight = [&](const jit::Value* v, jit::Node* user) -> const ParamRef* {
    const jit::Node* t = v->node();
    if (t->kind() != c10::aten::t || v->uses().size() != 1 || v->uses()[0].user != user) return nullptr;
    return linear_param(t->input(0), "weight");
  };
  auto replace = [&](jit::Node* first, jit::Node* last, jit::Value* x, jit::Value* w, jit::Value* b) {
    jit::WithInsertPoint guard(first);
    if (!b) b = g.insertConstant(c10::IValue());
    jit::Node* lin = g.create(c10::aten::linear, {x, w, b});
    lin->insertBefore(first);
    lin->setScope(last->scope());
    lin->output()->setType(last->output()->type());
    last->output()->replaceAllUsesWith(lin->output());
  };
  std::vector<jit::Node*> nodes(g.nodes().begin(), g.nodes().end());
  for (jit::Node* n : nodes) {
    if (n->kind() == c10::aten::addmm && n->inputs().size() == 5 && is_int_constant(n->input(3), 1) &&
        is_int_constant(n->input(4), 1)) {
      const ParamRef* w = transposed_weight(n->input(2), n);
      const ParamRef* b = linear_param(n->input(0), "bias");
      if (w && b && w->path == b->path) replace(n, n, n->input(1), n->input(2)->node()->input(0), n->input(0));
    } else if (n->kind() == c10::aten::matmul && n->inputs().size() == 2) {
      const ParamRef* w = transposed_weight(n->input(1), n);
      if (!w) continue;
      jit::Value* weight = n->input(1)->node()->input(0);
      const auto& uses = n->output()->uses();
      jit::Node* add = uses.size() == 1 ? uses[0].user : nullptr;
      if (add && add->kind() == c10::aten::add_ && add->inputs().size() == 3 && add->input(0) == n->output() &&
          is_int_constant(add->input(2), 1)) {
        const ParamRef* b = linear_param(add->input(1), "bias");
        if (b && b->path == w->path) replace(n, add, n->input(0), weight, add->input(1));
      } else if (!has_bias(w->path)) {
        replace(n, n, n->input(0), weight, nullptr);
      }
    }
  }
  jit::EliminateDeadCode(sg.graph);
}

// Tracer scope of a node pushed as "__module.<path>" (the innermost one), if any.
std::optional<std::string> pushed_path(const jit::Node* n) {
  const auto& scope = const_cast<jit::Node*>(n)->scope();
  if (!scope || scope->isBlank()) return std::nullopt;
  std::string names = scope->namesFromRoot();
  if (auto slash = names.rfind('/'); slash != std::string::npos) names = names.substr(slash + 1);
  constexpr std::string_view kPrefix = "__module.";
  if (!names.starts_with(kPrefix)) return std::nullopt;
  return names.substr(kPrefix.size());
}

bool has_tensor_output(const jit::Node* n) {
  for (const jit::Value* o : n->outputs())
    if (o->type()->cast<c10::TensorType>()) return true;
  return false;
}

void attribute_nodes(ScopedGraph& sg) {
  const jit::Graph& g = *sg.graph;
  using Path = std::optional<std::string>;
  auto meet = [](Path& acc, const Path& p) {
    if (p) acc = acc ? common_path(*acc, *p) : *p;
  };
  std::unordered_map<const jit::Node*, std::string> anchored;  // reads parameters
  std::unordered_map<const jit::Node*, Path> pushed;
  std::vector<const jit::Node*> ops, values;  // tensor ops; constants, lists, ints
  for (const jit::Node* n : g.nodes()) {
    pushed[n] = pushed_path(n);
    Path own;
    for (const jit::Value* in : n->inputs())
      if (auto it = sg.params.find(in); it != sg.params.end()) meet(own, it->second.path);
    if (own) {
      const Path& p = pushed[n];
      anchored[n] = (!p || is_within(*own, *p)) ? *own : *p;
    }
    (n->inputs().empty() || !has_tensor_output(n) ? values : ops).push_back(n);
  }
  std::unordered_set<const jit::Node*> is_value(values.begin(), values.end());

  // Nearest attributed modules upstream and downstream, met into one path each.
  std::unordered_map<const jit::Node*, Path> up, down;
  for (const jit::Node* n : ops) {
    Path acc;
    for (const jit::Value* in : n->inputs()) {
      if (!in->type()->cast<c10::TensorType>()) continue;
      const jit::Node* p = in->node();
      if (p->kind() == c10::prim::Param) {
        if (!sg.params.count(in)) meet(acc, std::string());  // an example input: the root
      } else if (auto a = anchored.find(p); a != anchored.end()) {
        meet(acc, a->second);
      } else if (!is_value.count(p)) {
        meet(acc, up[p]);
      }
    }
    up[n] = acc;
  }
  for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
    const jit::Node* n = *it;
    Path acc;
    for (const jit::Value* o : n->outputs()) {
      for (const auto& use : o->uses()) {
        const jit::Node* u = use.user;
        if (u->kind() == c10::prim::Return) {
          meet(acc, std::string());
        } else if (auto a = anchored.find(u); a != anchored.end()) {
          meet(acc, a->second);
        } else if (!is_value.count(u) && u->owningBlock() == g.block()) {
          meet(acc, down[u]);
        }
      }
    }
    down[n] = acc;
  }
  for (const jit::Node* n : ops) {
    if (auto a = anchored.find(n); a != anchored.end()) {
      sg.paths[n] = a->second;
      continue;
    }
    Path near = up[n];
    meet(near, down[n]);
    const Path& p = pushed[n];
    sg.paths[n] = p ? ((near && is_within(*near, *p)) ? *near : *p) : near.value_or("");
  }
  // Constants and lists go where their consumers are (consumers come later in the graph).
  for (auto it = values.rbegin(); it != values.rend(); ++it) {
    const jit::Node* n = *it;
    Path acc;
    for (const jit::Value* o : n->outputs())
      for (const auto& use : o->uses())
        if (auto found = sg.paths.find(use.user); found != sg.paths.end()) meet(acc, found->second);
    if (auto a = anchored.find(n); a != anchored.end()) acc = a->second;
    sg.paths[n] = acc ? *acc : pushed[n].value_or("");
  }
}

// ---------------------------------------------------------------------------------------
// Tracing a C++ module

// While alive, notes the first op that copies tensor data to the host (a C++ branch on it
// is invisible to the tracer, which would freeze the path taken).
class HostReadWatch {
 public:
  HostReadWatch() : prev_(current_) {
    current_ = &first_;
    handle_ = at::addThreadLocalCallback(at::RecordFunctionCallback(&on_start).scopes({at::RecordScope::FUNCTION}));
  }
  ~HostReadWatch() {
    at::removeCallback(handle_);
    current_ = prev_;
  }
  HostReadWatch(const HostReadWatch&) = delete;
  HostReadWatch& operator=(const HostReadWatch&) = delete;
  const std::string& first() const { return first_; }

 private:
  static std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
    if (current_ && current_->empty()) {
      const std::string_view name = fn.name();
      if (name == "aten::item" || name == "aten::_local_scalar_dense" || name == "aten::is_nonzero" ||
          name == "aten::equal")
        *current_ = name;
    }
    return nullptr;
  }
  static thread_local std::string* current_;
  std::string* prev_;
  std::string first_;
  at::CallbackHandle handle_;
};
thread_local std::string* HostReadWatch::current_ = nullptr;

// Any trace in progress on this thread is set aside while add_graph traces, so add_graph can
// neither nest into nor abandon it.
class OuterTraceGuard {
 public:
  OuterTraceGuard() : saved_(jit::tracer::getTracingState()) {
    if (saved_) jit::tracer::setTracingState(nullptr);
  }
  ~OuterTraceGuard() { jit::tracer::setTracingState(saved_); }
  OuterTraceGuard(const OuterTraceGuard&) = delete;
  OuterTraceGuard& operator=(const OuterTraceGuard&) = delete;

 private:
  std::shared_ptr<jit::tracer::TracingState> saved_;
};

torch::nn::AnyValue run_sequential(torch::nn::SequentialImpl& seq, const std::string& path, torch::nn::AnyValue value,
                                   jit::Graph& g) {
  const auto children = seq.named_children();
  TORCH_CHECK(children.size() == seq.size(), "Sequential holds modules that are not its children");
  size_t i = 0;
  for (auto it = seq.begin(); it != seq.end(); ++it, ++i) {
    const std::string child = join_path(path, children[i].key());
    g.push_scope("__module." + child);
    if (auto* inner = dynamic_cast<torch::nn::SequentialImpl*>(it->ptr().get()))
      value = run_sequential(*inner, child, std::move(value), g);
    else
      value = it->any_forward(std::move(value));
    g.pop_scope();
  }
  return value;
}

using Forward = std::function<at::Tensor(const std::vector<at::Tensor>&)>;

// Traces `run` over the example inputs with every parameter and buffer as an extra input.
ScopedGraph trace_with_parameters(torch::nn::Module& module, const std::vector<at::Tensor>& inputs,
                                  const std::function<at::Tensor(const std::vector<at::Tensor>&, jit::Graph&)>& run,
                                  at::Tensor* output) {
  jit::Stack stack;
  std::vector<std::string> arg_names;
  for (const auto& t : inputs) {
    TORCH_CHECK(t.defined(), "an example input is an undefined tensor");
    stack.emplace_back(t);
    arg_names.emplace_back("input");
  }
  std::vector<ParamRef> refs;
  std::unordered_set<const c10::TensorImpl*> seen;
  for (const auto& t : inputs) seen.insert(t.unsafeGetTensorImpl());
  for (const auto& item : module.named_modules()) {
    auto add = [&](const std::string& leaf, const at::Tensor& t) {
      if (!t.defined() || !seen.insert(t.unsafeGetTensorImpl()).second) return;
      stack.emplace_back(t);
      arg_names.push_back(leaf);
      refs.push_back({item.key(), leaf});
    };
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) add(p.key(), p.value());
    for (const auto& b : item.value()->named_buffers(/*recurse=*/false)) add(b.key(), b.value());
  }
  const size_t n_inputs = inputs.size();
  HostReadWatch watch;
  auto [state, out] = jit::tracer::trace(
      std::move(stack),
      [&](jit::Stack in) {
        std::vector<at::Tensor> args;
        for (size_t i = 0; i < n_inputs; ++i) args.push_back(in[i].toTensor());
        at::Tensor result = run(args, *jit::tracer::getTracingState()->graph);
        TORCH_CHECK(result.defined(), "forward returned an undefined tensor");
        return jit::Stack{result};
      },
      [](const torch::autograd::Variable&) { return std::string(); }, /*strict=*/true, /*force_outplace=*/false,
      /*self=*/nullptr, arg_names);
  if (!watch.first().empty())
    throw TraceError("forward reads tensor values on the host (" + watch.first() +
                     "): data-dependent control flow cannot be traced");
  if (output) *output = out.at(0).toTensor();
  ScopedGraph sg;
  sg.graph = state->graph;
  const auto graph_inputs = sg.graph->inputs();
  for (size_t i = 0; i < refs.size(); ++i) sg.params[graph_inputs[n_inputs + i]] = refs[i];
  return sg;
}

bool same_result(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined() || !b.defined() || a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  if (!a.is_floating_point()) return a.equal(b);
  return at::allclose(a, b, 1e-5, 1e-6, /*equal_nan=*/true);
}

ModuleScopes scopes_of(torch::nn::Module& module) {
  ModuleScopes scopes;
  for (const auto& item : module.named_modules()) scopes.add(item.key(), short_type_name(item.value()->name()));
  return scopes;
}

std::string device_of(const std::vector<at::Tensor>& inputs) {
  for (const auto& t : inputs)
    if (t.defined()) return device_name(t.device());
  return "/device:CPU:0";
}

GraphDefData trace_module_graph(torch::nn::Module& module, const std::vector<at::Tensor>& inputs,
                                const Forward& forward) {
  if (!forward) throw TraceError("no forward function was given");
  OuterTraceGuard outer;
  const EvalMode eval(module);  // trace in eval mode, as PyTorch does; every mode put back after
  const ModuleScopes scopes = scopes_of(module);
  std::optional<ScopedGraph> sg;
  // A Sequential: its children one by one under their own scopes, if that is what `forward`
  // computes (checked on the result; anything else falls through to the plain trace).
  if (auto* seq = dynamic_cast<torch::nn::SequentialImpl*>(&module); seq && inputs.size() == 1 && !seq->is_empty()) {
    try {
      at::Tensor traced;
      ScopedGraph candidate = trace_with_parameters(
          module, inputs,
          [&](const std::vector<at::Tensor>& in, jit::Graph& g) {
            torch::nn::AnyValue v = run_sequential(*seq, "", torch::nn::AnyValue(in[0]), g);
            auto* t = v.try_get<at::Tensor>();
            TORCH_CHECK(t, "Sequential does not return a tensor");
            return *t;
          },
          &traced);
      at::Tensor expected;
      {
        torch::NoGradGuard no_grad;
        expected = forward(inputs);
      }
      if (same_result(traced, expected)) sg = std::move(candidate);
    } catch (const TraceError&) {
      throw;
    } catch (const std::exception&) {
      // A child with another signature: trace `forward` as a whole below.
    }
  }
  if (!sg)
    sg = trace_with_parameters(
        module, inputs, [&](const std::vector<at::Tensor>& in, jit::Graph&) { return forward(in); }, nullptr);
  fold_linear(*sg, scopes);
  attribute_nodes(*sg);
  GraphDefData graph;
  graph.nodes = to_graph_nodes(*sg, scopes, device_of(inputs));
  return graph;
}

// ---------------------------------------------------------------------------------------
// TorchScript modules

// Path of every top-level node from the inliner's call stack (module instances), else from a
// tracer scope, else the root.
std::string script_node_path(const jit::Node* n) {
  std::string path;
  bool found = false;
  if (auto cs = n->callstack()) {
    for (const auto& entry : (*cs)->vec()) {
      const auto& info = std::get<jit::kModuleInstanceInfo>(entry);
      if (!info) continue;
      const std::string name = info->instance_name();
      if (name.empty() || name == "SELF" || name.find("UNKNOWN") != std::string::npos) continue;
      path = join_path(path, name);
      found = true;
    }
  }
  if (found) return path;
  return pushed_path(n).value_or("");
}

// Shapes of a TorchScript graph's tensors, from one run on the example inputs (TorchScript
// types carry no sizes; a trace would see them). Every top-level tensor becomes an extra
// output of a copy of the graph, which the interpreter runs once.
void record_shapes_by_running(jit::Graph& g, jit::Stack stack) {
  auto copy = g.copy();
  std::vector<jit::Value*> originals;
  auto orig = g.nodes().begin();
  for (jit::Node* n : copy->nodes()) {
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      if (!n->outputs()[i]->type()->isSubtypeOf(*c10::TensorType::get())) continue;
      copy->registerOutput(n->outputs()[i]);
      originals.push_back(orig->outputs()[i]);
    }
    ++orig;
  }
  const size_t first = copy->outputs().size() - originals.size();
  jit::Code code(copy, "add_graph_shapes");
  jit::InterpreterState(code).run(stack);
  if (stack.size() != copy->outputs().size()) return;
  for (size_t i = 0; i < originals.size(); ++i) {
    const auto& v = stack[first + i];
    if (v.isTensor() && v.toTensor().defined()) originals[i]->setType(c10::TensorType::create(v.toTensor()));
  }
}

// Eval mode for the run, as PyTorch traces; every module's mode is put back afterwards.
class ScriptEvalGuard {
 public:
  explicit ScriptEvalGuard(jit::Module& root) {
    for (const auto& item : root.named_modules()) saved_.emplace_back(item.value, item.value.is_training());
    root.eval();
  }
  ~ScriptEvalGuard() {
    for (auto& [m, training] : saved_) m.train(training);
  }
  ScriptEvalGuard(const ScriptEvalGuard&) = delete;
  ScriptEvalGuard& operator=(const ScriptEvalGuard&) = delete;

 private:
  std::vector<std::pair<jit::Module, bool>> saved_;
};

GraphDefData script_module_graph(jit::Module& module, const std::vector<at::Tensor>& inputs) {
  auto method = module.find_method("forward");
  if (!method) throw TraceError("the module has no forward method");
  ScopedGraph sg;
  sg.graph = method->graph()->copy();
  jit::Graph& g = *sg.graph;
  jit::Inline(g);
  // Folds the branches on constant flags (F.relu's `inplace`) so the op itself shows.
  jit::ConstantPropagation(sg.graph);
  TORCH_CHECK(!g.inputs().empty() && is_module_value(g.inputs()[0]), "forward has no self argument");
  const size_t n_args = g.inputs().size() - 1;

  // Module paths along GetAttr chains. Tensor attributes become graph inputs (parameters,
  // drawn as prim::GetAttr in their module, as PyTorch does).
  std::unordered_map<const jit::Value*, std::pair<std::string, c10::IValue>> objects{
      {g.inputs()[0], {"", module._ivalue()}}};
  std::unordered_map<const jit::Node*, std::string> getattr_paths;
  std::vector<jit::Node*> replaced;
  jit::Stack param_values;
  for (jit::Node* n : g.nodes()) {
    if (n->kind() != c10::prim::GetAttr) continue;
    auto owner = objects.find(n->input());
    if (owner == objects.end() || !owner->second.second.isObject()) continue;
    const std::string& name = n->s(c10::attr::name);
    const auto obj = owner->second.second.toObject();
    if (!obj->type()->hasAttribute(name)) continue;
    c10::IValue value = obj->getAttr(name);
    getattr_paths[n] = owner->second.first;
    if (value.isObject()) {
      objects[n->output()] = {join_path(owner->second.first, name), value};
    } else if (value.isTensor() && value.toTensor().defined()) {
      jit::Value* in = g.addInput(n->output()->debugName());
      in->setType(c10::TensorType::create(value.toTensor()));
      n->output()->replaceAllUsesWith(in);
      sg.params[in] = {owner->second.first, name};
      param_values.push_back(value);
      replaced.push_back(n);
    }
  }
  for (jit::Node* n : replaced) n->destroy();
  jit::EliminateDeadCode(sg.graph);

  if (inputs.size() == n_args) {
    for (size_t i = 0; i < n_args; ++i)
      if (inputs[i].defined() && g.inputs()[i + 1]->type()->cast<c10::TensorType>())
        g.inputs()[i + 1]->setType(c10::TensorType::create(inputs[i]));
    jit::Stack stack{module._ivalue()};
    for (const auto& t : inputs) stack.emplace_back(t);
    stack.insert(stack.end(), param_values.begin(), param_values.end());
    try {
      OuterTraceGuard outer;
      ScriptEvalGuard eval(module);
      torch::NoGradGuard no_grad;
      record_shapes_by_running(g, std::move(stack));
    } catch (const std::exception&) {
      // Shapes are a nicety: the graph itself does not depend on this run.
    }
  }
  std::vector<const jit::Node*> order(g.nodes().begin(), g.nodes().end());
  for (const jit::Node* n : order) {
    auto it = getattr_paths.find(n);
    sg.paths[n] = it != getattr_paths.end() ? it->second : script_node_path(n);
  }
  // Constants folded by constant propagation lost their call stack: they go with their users.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const jit::Node* n = *it;
    if (n->kind() != c10::prim::Constant) continue;
    std::optional<std::string> users;
    for (const jit::Value* o : n->outputs())
      for (const auto& use : o->uses())
        if (auto found = sg.paths.find(use.user); found != sg.paths.end())
          users = users ? common_path(*users, found->second) : found->second;
    if (users) sg.paths[n] = *users;
  }
  ModuleScopes scopes;
  for (const auto& item : module.named_modules())
    scopes.add(item.name, short_type_name(item.value.type()->name()->name()));
  GraphDefData graph;
  graph.nodes = to_graph_nodes(sg, scopes, device_of(inputs));
  return graph;
}

// ---------------------------------------------------------------------------------------
// Structural fallback: one node per module, edges parent -> child.

struct ModuleEntry {
  std::string path, type, description;
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // own parameters and buffers
};

GraphDefData structural_graph(const std::vector<ModuleEntry>& modules, const std::vector<at::Tensor>& inputs) {
  const std::string device = device_of(inputs);
  ModuleScopes scopes;
  std::unordered_set<std::string> parents;
  for (const auto& m : modules) {
    scopes.add(m.path, m.type);
    if (!m.path.empty())
      parents.insert(m.path.rfind('.') == std::string::npos ? "" : m.path.substr(0, m.path.rfind('.')));
  }
  GraphDefData graph;
  NameTable table;
  std::vector<std::string> input_names;
  for (size_t i = 0; i < inputs.size(); ++i) {
    GraphNode in;
    in.name = table.claim("input/input." + std::to_string(i + 1));
    in.op = "IO Node";
    in.device = device;
    in.attrs.emplace("attr", GraphAttr::string(""));
    if (inputs[i].defined()) in.attrs.emplace("_output_shapes", GraphAttr::shape_list({inputs[i].sizes().vec()}));
    input_names.push_back(in.name);
    graph.nodes.push_back(std::move(in));
  }
  std::unordered_map<std::string, std::string> node_of;
  for (const auto& m : modules) {
    GraphNode node;
    const std::string scope = scopes.scope(m.path);
    // A module with children is also a group in TensorBoard: its own node sits inside it.
    node.name = table.claim(parents.count(m.path) ? scope + "/" + m.type : scope);
    node.op = m.type;
    node.device = device;
    if (m.path.empty()) {
      node.inputs = input_names;
    } else {
      const auto dot = m.path.rfind('.');
      node.inputs.push_back(node_of[dot == std::string::npos ? "" : m.path.substr(0, dot)]);
    }
    node.attrs.emplace("attr", GraphAttr::string(m.description));
    std::vector<std::string> names;
    std::vector<GraphShape> shapes;
    for (const auto& [name, t] : m.tensors) {
      names.push_back(name);
      shapes.push_back(t.defined() ? t.sizes().vec() : GraphShape{});
    }
    if (!names.empty()) {
      node.attrs.emplace("parameter_names", GraphAttr::string_list(std::move(names)));
      node.attrs.emplace("parameter_shapes", GraphAttr::shape_list(std::move(shapes)));
    }
    node_of[m.path] = node.name;
    graph.nodes.push_back(std::move(node));
  }
  return graph;
}

std::vector<ModuleEntry> module_entries(torch::nn::Module& module) {
  std::vector<ModuleEntry> out;
  for (const auto& item : module.named_modules()) {
    ModuleEntry e;
    e.path = item.key();
    e.type = short_type_name(item.value()->name());
    std::ostringstream os;
    item.value()->pretty_print(os);
    e.description = os.str();
    for (const auto& p : item.value()->named_parameters(false)) e.tensors.emplace_back(p.key(), p.value());
    for (const auto& b : item.value()->named_buffers(false)) e.tensors.emplace_back(b.key(), b.value());
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<ModuleEntry> module_entries(const jit::Module& module) {
  std::vector<ModuleEntry> out;
  for (const auto& item : module.named_modules()) {
    ModuleEntry e;
    e.path = item.name;
    e.type = short_type_name(item.value.type()->name()->name());
    e.description = item.value.type()->name()->qualifiedName();
    for (const auto& p : item.value.named_parameters(false)) e.tensors.emplace_back(p.name, p.value);
    for (const auto& b : item.value.named_buffers(false)) e.tensors.emplace_back(b.name, b.value);
    out.push_back(std::move(e));
  }
  return out;
}

// Builds the graph with `build`; on failure writes the structural graph from `entries` and
// prints one note. Never throws.
template <typename Build, typename Entries>
void write_graph(EventWriter& writer, const std::string& what, const std::vector<at::Tensor>& inputs, Build&& build,
                 Entries&& entries) {
  GraphDefData graph;
  try {
    graph = build();
  } catch (const std::exception& e) {
    try {
      graph = structural_graph(entries(), inputs);
      std::cerr << "trainscope: add_graph: tracing " << what << " failed (" << error_text(e)
                << "); wrote a structural graph of its " << graph.nodes.size() - inputs.size() << " modules instead\n";
    } catch (const std::exception& e2) {
      std::cerr << "trainscope: add_graph: tracing " << what << " failed (" << error_text(e)
                << ") and so did listing its modules (" << error_text(e2) << "); no graph written\n";
      return;
    }
  }
  try {
    writer.add("", 0, RawEventData{RawEventData::Field::kGraphDef, detail::encode_graph_def(graph)});
  } catch (const std::exception& e) {
    std::cerr << "trainscope: add_graph: " << what << ": could not encode the graph (" << error_text(e) << ")\n";
  }
}

}  // namespace

void SummaryWriter::add_graph(torch::jit::Module& module, const std::vector<at::Tensor>& inputs) {
  write_graph(
      *writer_, short_type_name(module.type()->name()->name()), inputs,
      [&] { return script_module_graph(module, inputs); }, [&] { return module_entries(module); });
}

void SummaryWriter::add_graph(torch::nn::Module& module, const std::vector<at::Tensor>& inputs,
                              const std::function<at::Tensor(const std::vector<at::Tensor>&)>& forward) {
  write_graph(
      *writer_, short_type_name(module.name()), inputs, [&] { return trace_module_graph(module, inputs, forward); },
      [&] { return module_entries(module); });
}

}  // namespace trainscope
