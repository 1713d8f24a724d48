// add_graph: scoped names and op kinds of traced C++ modules (custom, Sequential, nested
// blocks), the TorchScript path, the structural fallback (throwing and data-dependent
// forwards) with the tracer left usable, and the GraphDef encoder's round trip.
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/frontend/tracer.h>
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_util.h"
#include "trainscope/summary_writer.h"
#include "trainscope/wire/dashboards/graphs.h"

namespace trainscope {
namespace {

using detail::GraphAttr;
using detail::GraphDefData;
using detail::GraphNode;
using testing::fresh_dir;

// The one GraphDef written to `dir`.
GraphDefData read_graph(const std::string& dir) {
  GraphDefData out;
  int found = 0;
  for (const auto& path : list_event_files(dir)) {
    RecordReader reader(path);
    std::string payload, graph_def;
    while (reader.next(payload)) {
      if (!detail::graph_def_of_event(payload, graph_def)) continue;
      EXPECT_TRUE(detail::decode_graph_def(graph_def, out));
      ++found;
    }
  }
  EXPECT_EQ(found, 1) << "graph events in " << dir;
  return out;
}

// Writes the graph of `module` through SummaryWriter::add_graph and reads it back.
template <typename Write>
GraphDefData write_and_read(Write&& write, std::string* err = nullptr) {
  const std::string dir = fresh_dir();
  {
    SummaryWriter w(dir);
    ::testing::internal::CaptureStderr();
    write(w);
    const std::string captured = ::testing::internal::GetCapturedStderr();
    if (err) *err = captured;
    EXPECT_TRUE(w.close());
  }
  return read_graph(dir);
}

std::multiset<std::string> ops_with_prefix(const GraphDefData& g, const std::string& prefix) {
  std::multiset<std::string> out;
  for (const auto& n : g.nodes)
    if (n.op.rfind(prefix, 0) == 0) out.insert(n.op);
  return out;
}

const GraphNode* find_node(const GraphDefData& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

std::vector<const GraphNode*> nodes_with_op(const GraphDefData& g, const std::string& op) {
  std::vector<const GraphNode*> out;
  for (const auto& n : g.nodes)
    if (n.op == op) out.push_back(&n);
  return out;
}

std::string scope_of(const std::string& name) { return name.substr(0, name.rfind('/')); }

std::vector<int64_t> output_shape(const GraphNode& n) {
  auto it = n.attrs.find("_output_shapes");
  if (it == n.attrs.end() || it->second.shapes.size() != 1) return {};
  return it->second.shapes[0];
}

// Every input names a node of the graph; names are unique.
void expect_well_formed(const GraphDefData& g) {
  std::set<std::string> names;
  for (const auto& n : g.nodes) EXPECT_TRUE(names.insert(n.name).second) << "duplicate " << n.name;
  for (const auto& n : g.nodes) {
    EXPECT_TRUE(n.attrs.count("attr")) << n.name;
    for (const auto& in : n.inputs) EXPECT_TRUE(names.count(in)) << n.name << " reads missing " << in;
  }
}

// The CNN of PyTorch's tutorial; the same architecture as tests/conformance/test_graph.py.
struct SimpleCNNImpl : torch::nn::Module {
  SimpleCNNImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(3, 6, 5))),
        pool(register_module("pool", torch::nn::MaxPool2d(2))),
        conv2(register_module("conv2", torch::nn::Conv2d(6, 16, 5))),
        fc1(register_module("fc1", torch::nn::Linear(16 * 5 * 5, 120))),
        fc2(register_module("fc2", torch::nn::Linear(120, 84))),
        fc3(register_module("fc3", torch::nn::Linear(84, 10))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = pool(torch::relu(conv1(x)));
    x = pool(torch::relu(conv2(x)));
    x = torch::flatten(x, 1);
    x = torch::relu(fc1(x));
    x = torch::relu(fc2(x));
    return fc3(x);
  }
  torch::nn::Conv2d conv1;
  torch::nn::MaxPool2d pool;
  torch::nn::Conv2d conv2;
  torch::nn::Linear fc1, fc2, fc3;
};
TORCH_MODULE(SimpleCNN);

TEST(AddGraph, CustomCnnHasScopedNamesOpsAndShapes) {
  SimpleCNN net;
  net->train();
  const auto g = write_and_read([&](SummaryWriter& w) { w.add_graph(net, torch::randn({1, 3, 32, 32})); });
  expect_well_formed(g);
  EXPECT_EQ(g.producer, 22);
  const std::multiset<std::string> want{
      "aten::_convolution", "aten::_convolution", "aten::relu",    "aten::relu",   "aten::relu",   "aten::relu",
      "aten::max_pool2d",   "aten::max_pool2d",   "aten::flatten", "aten::linear", "aten::linear", "aten::linear"};
  EXPECT_EQ(ops_with_prefix(g, "aten::"), want);

  auto convs = nodes_with_op(g, "aten::_convolution");
  ASSERT_EQ(convs.size(), 2u);
  EXPECT_EQ(scope_of(convs[0]->name), "SimpleCNN/Conv2d[conv1]");
  EXPECT_EQ(scope_of(convs[1]->name), "SimpleCNN/Conv2d[conv2]");
  EXPECT_EQ(output_shape(*convs[0]), (std::vector<int64_t>{1, 6, 28, 28}));
  EXPECT_EQ(convs[0]->device, "/device:CPU:0");
  auto linears = nodes_with_op(g, "aten::linear");
  ASSERT_EQ(linears.size(), 3u);
  EXPECT_EQ(scope_of(linears[0]->name), "SimpleCNN/Linear[fc1]");
  EXPECT_EQ(scope_of(linears[2]->name), "SimpleCNN/Linear[fc3]");
  EXPECT_EQ(output_shape(*linears[0]), (std::vector<int64_t>{1, 120}));
  // Parameter-free ops called from SimpleCNN::forward sit in the root scope.
  for (const auto* n : nodes_with_op(g, "aten::relu")) EXPECT_EQ(scope_of(n->name), "SimpleCNN");
  for (const auto* n : nodes_with_op(g, "aten::max_pool2d")) EXPECT_EQ(scope_of(n->name), "SimpleCNN");
  // Constants sit with their consumer.
  for (const auto& in : convs[0]->inputs)
    if (in.rfind("input/", 0) != 0) {
      EXPECT_EQ(in.rfind("SimpleCNN/Conv2d[conv1]/", 0), 0u) << in;
    }

  // Parameters: prim::GetAttr in their module, with their shape.
  const GraphNode* w = nullptr;
  for (const auto* n : nodes_with_op(g, "prim::GetAttr"))
    if (n->name.rfind("SimpleCNN/Conv2d[conv1]/weight/", 0) == 0) w = n;
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(output_shape(*w), (std::vector<int64_t>{6, 3, 5, 5}));
  EXPECT_EQ(w->attrs.at("attr").s, "{ name :  weight }");
  EXPECT_NE(std::find(convs[0]->inputs.begin(), convs[0]->inputs.end(), w->name), convs[0]->inputs.end());
  EXPECT_EQ(nodes_with_op(g, "prim::GetAttr").size(), 10u);

  // IO nodes as PyTorch writes them.
  auto io = nodes_with_op(g, "IO Node");
  ASSERT_EQ(io.size(), 2u);
  EXPECT_EQ(io[0]->name.rfind("input/", 0), 0u);
  EXPECT_EQ(output_shape(*io[0]), (std::vector<int64_t>{1, 3, 32, 32}));
  EXPECT_EQ(io[1]->name, "output/output.1");
  EXPECT_EQ(io[1]->inputs, std::vector<std::string>{linears[2]->name});
  EXPECT_EQ(output_shape(*io[1]), (std::vector<int64_t>{1, 10}));
  EXPECT_EQ(find_node(g, io[0]->name)->attrs.at("attr").s, "");

  // A constant's attribute string reads like PyTorch's.
  bool saw_value = false;
  for (const auto* n : nodes_with_op(g, "prim::Constant")) saw_value |= n->attrs.at("attr").s == "{ value : 1}";
  EXPECT_TRUE(saw_value);

  EXPECT_TRUE(net->is_training());
  EXPECT_TRUE(net->conv1->is_training());
  EXPECT_FALSE(torch::jit::tracer::isTracing());
}

// A Sequential that can sit inside another (AnyModule needs a non-template forward).
struct StageImpl : torch::nn::SequentialImpl {
  using SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Stage);

TEST(AddGraph, SequentialChildrenGetTheirOwnScopes) {
  torch::nn::Sequential seq(torch::nn::Conv2d(3, 4, 3), torch::nn::ReLU(), torch::nn::MaxPool2d(2),
                            torch::nn::Flatten(), Stage(torch::nn::Linear(4 * 3 * 3, 8), torch::nn::ReLU()),
                            torch::nn::Linear(8, 2));
  std::string err;
  const auto g = write_and_read([&](SummaryWriter& w) { w.add_graph(seq, torch::randn({2, 3, 8, 8})); }, &err);
  EXPECT_EQ(err, "");
  expect_well_formed(g);
  auto one = [&](const std::string& op) {
    auto v = nodes_with_op(g, op);
    return v.empty() ? std::string() : scope_of(v[0]->name);
  };
  EXPECT_EQ(one("aten::_convolution"), "Sequential/Conv2d[0]");
  EXPECT_EQ(one("aten::relu"), "Sequential/ReLU[1]");
  EXPECT_EQ(one("aten::max_pool2d"), "Sequential/MaxPool2d[2]");
  EXPECT_EQ(one("aten::flatten"), "Sequential/Flatten[3]");
  auto linears = nodes_with_op(g, "aten::linear");
  ASSERT_EQ(linears.size(), 2u);
  EXPECT_EQ(scope_of(linears[0]->name), "Sequential/Stage[4]/Linear[0]");
  EXPECT_EQ(scope_of(linears[1]->name), "Sequential/Linear[5]");
  auto relus = nodes_with_op(g, "aten::relu");
  ASSERT_EQ(relus.size(), 2u);
  EXPECT_EQ(scope_of(relus[1]->name), "Sequential/Stage[4]/ReLU[1]");
  EXPECT_EQ(output_shape(*linears[1]), (std::vector<int64_t>{2, 2}));
}

TEST(AddGraph, SequentialWithAnotherForwardIsTracedAsGiven) {
  torch::nn::Sequential seq(torch::nn::Linear(3, 4), torch::nn::ReLU());
  const auto g = write_and_read([&](SummaryWriter& w) {
    w.add_graph(*seq, {torch::randn({2, 3})},
                [&](const std::vector<at::Tensor>& in) { return torch::softmax(seq->forward(in[0]), 1); });
  });
  expect_well_formed(g);
  EXPECT_EQ(ops_with_prefix(g, "aten::"), (std::multiset<std::string>{"aten::linear", "aten::relu", "aten::softmax"}));
  EXPECT_EQ(scope_of(nodes_with_op(g, "aten::linear")[0]->name), "Sequential/Linear[0]");
}

// conv -> bn -> relu -> conv inside a submodule, like a ResNet block.
struct BlockImpl : torch::nn::Module {
  BlockImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).padding(1)))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(4))),
        conv2(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).padding(1)))) {}
  torch::Tensor forward(torch::Tensor x) { return conv2(torch::relu(bn1(conv1(x)))) + x; }
  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
};
TORCH_MODULE(Block);

struct NetImpl : torch::nn::Module {
  NetImpl() : stem(register_module("stem", torch::nn::Conv2d(3, 4, 1))), block(register_module("block", Block())) {}
  torch::Tensor forward(torch::Tensor x) { return torch::relu(block(torch::relu(stem(x)))).mean(); }
  torch::nn::Conv2d stem;
  Block block;
};
TORCH_MODULE(Net);

TEST(AddGraph, OpsBetweenLayersOfABlockLandInTheBlock) {
  Net net;
  const auto g = write_and_read([&](SummaryWriter& w) { w.add_graph(net, torch::randn({1, 3, 6, 6})); });
  expect_well_formed(g);
  auto bn = nodes_with_op(g, "aten::batch_norm");
  ASSERT_EQ(bn.size(), 1u);
  EXPECT_EQ(scope_of(bn[0]->name), "Net/Block[block]/BatchNorm2d[bn1]");
  auto relus = nodes_with_op(g, "aten::relu");
  ASSERT_EQ(relus.size(), 3u);
  EXPECT_EQ(scope_of(relus[0]->name), "Net");               // between stem and block
  EXPECT_EQ(scope_of(relus[1]->name), "Net/Block[block]");  // between bn1 and conv2
  EXPECT_EQ(scope_of(relus[2]->name), "Net");               // after the block
  // Buffers are inputs too.
  bool running_mean = false;
  for (const auto* n : nodes_with_op(g, "prim::GetAttr"))
    running_mean |= n->name.rfind("Net/Block[block]/BatchNorm2d[bn1]/running_mean/", 0) == 0;
  EXPECT_TRUE(running_mean);
}

TEST(AddGraph, LinearOnThreeDimensionalInputFoldsMatmulAdd) {
  torch::nn::Linear with_bias(3, 4), without_bias(torch::nn::LinearOptions(4, 2).bias(false));
  torch::nn::Sequential seq(with_bias, without_bias);
  const auto g = write_and_read([&](SummaryWriter& w) { w.add_graph(seq, torch::randn({2, 5, 3})); });
  expect_well_formed(g);
  EXPECT_EQ(ops_with_prefix(g, "aten::"), (std::multiset<std::string>{"aten::linear", "aten::linear"}));
  EXPECT_EQ(output_shape(*nodes_with_op(g, "aten::linear")[1]), (std::vector<int64_t>{2, 5, 2}));
}

struct ThrowingImpl : torch::nn::Module {
  ThrowingImpl()
      : fc(register_module("fc", torch::nn::Linear(3, 2))),
        inner(register_module("inner", torch::nn::Sequential(torch::nn::Linear(2, 2)))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = fc(x);
    if (boom) throw std::runtime_error("kaboom");
    if (branch && x.sum().item<double>() > 0) return inner->forward(x);
    return x;
  }
  bool boom = true, branch = false;
  torch::nn::Linear fc;
  torch::nn::Sequential inner;
};
TORCH_MODULE(Throwing);

void expect_structural(const GraphDefData& g) {
  expect_well_formed(g);
  // input, Throwing (a group: its node is Throwing/Throwing), fc, inner (group), inner.0
  ASSERT_EQ(g.nodes.size(), 5u);
  const GraphNode* root = find_node(g, "Throwing/Throwing");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->op, "Throwing");
  EXPECT_EQ(root->inputs, std::vector<std::string>{"input/input.1"});
  const GraphNode* fc = find_node(g, "Throwing/Linear[fc]");
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->op, "Linear");
  EXPECT_EQ(fc->inputs, std::vector<std::string>{"Throwing/Throwing"});
  EXPECT_EQ(fc->attrs.at("parameter_names").strings, (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(fc->attrs.at("parameter_shapes").shapes, (std::vector<std::vector<int64_t>>{{2, 3}, {2}}));
  EXPECT_NE(fc->attrs.at("attr").s.find("Linear(in_features=3"), std::string::npos);
  const GraphNode* leaf = find_node(g, "Throwing/Sequential[inner]/Linear[0]");
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(leaf->inputs, std::vector<std::string>{"Throwing/Sequential[inner]/Sequential"});
}

TEST(AddGraph, ThrowingForwardWritesStructuralGraphAndOneNote) {
  Throwing net;
  std::string err;
  const auto g = write_and_read([&](SummaryWriter& w) { w.add_graph(net, torch::randn({1, 3})); }, &err);
  expect_structural(g);
  EXPECT_NE(err.find("tracing Throwing failed (kaboom)"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(torch::jit::tracer::isTracing());
  EXPECT_TRUE(net->is_training());

  // The tracer is still usable: the same module traces once it stops throwing.
  net->boom = false;
  const auto ok = write_and_read([&](SummaryWriter& w) { w.add_graph(net, torch::randn({1, 3})); });
  EXPECT_EQ(ops_with_prefix(ok, "aten::"), std::multiset<std::string>{"aten::linear"});
}

TEST(AddGraph, DataDependentBranchFallsBack) {
  Throwing net;
  net->boom = false;
  net->branch = true;
  std::string err;
  const auto g = write_and_read([&](SummaryWriter& w) { w.add_graph(net, torch::ones({1, 3})); }, &err);
  expect_structural(g);
  EXPECT_NE(err.find("data-dependent"), std::string::npos) << err;
  EXPECT_FALSE(torch::jit::tracer::isTracing());
}

TEST(AddGraph, MissingForwardOrBadInputFallsBack) {
  SimpleCNN net;
  std::string err;
  auto g = write_and_read([&](SummaryWriter& w) { w.add_graph(*net, {torch::randn({1, 3, 32, 32})}, nullptr); }, &err);
  EXPECT_NE(err.find("no forward function"), std::string::npos) << err;
  EXPECT_EQ(g.nodes.size(), 1u + 7u);
  g = write_and_read([&](SummaryWriter& w) { w.add_graph(net, torch::randn({1, 3, 7, 7})); }, &err);
  EXPECT_NE(err.find("tracing SimpleCNN failed"), std::string::npos) << err;
  EXPECT_FALSE(torch::jit::tracer::isTracing());
}

TEST(AddGraph, CalledDuringAnotherTraceLeavesItIntact) {
  SimpleCNN net;
  const std::string dir = fresh_dir();
  SummaryWriter w(dir);
  auto x = torch::randn({2, 3});
  auto [state, out] = torch::jit::tracer::trace(
      {x},
      [&](torch::jit::Stack in) {
        auto y = in[0].toTensor() * 2;
        w.add_graph(net, torch::randn({1, 3, 32, 32}));
        return torch::jit::Stack{y + 1};
      },
      [](const torch::autograd::Variable&) { return std::string(); });
  std::multiset<std::string> kinds;
  for (auto* n : state->graph->nodes()) kinds.insert(n->kind().toQualString());
  EXPECT_EQ(kinds.count("aten::mul"), 1u);
  EXPECT_EQ(kinds.count("aten::add"), 1u);
  EXPECT_EQ(kinds.count("aten::_convolution"), 0u);
  ASSERT_TRUE(w.close());
  EXPECT_EQ(ops_with_prefix(read_graph(dir), "aten::_convolution").size(), 2u);
}

// A TorchScript module made in C++: Net { fc: Linear } with forward relu(fc(x)).
torch::jit::Module script_net() {
  torch::jit::Module fc("Linear");
  fc.register_parameter("weight", torch::randn({4, 3}), false);
  fc.register_parameter("bias", torch::randn({4}), false);
  fc.define(R"JIT(
def forward(self, x):
    return torch.linear(x, self.weight, self.bias)
)JIT");
  torch::jit::Module net("Net");
  net.register_module("fc", fc);
  net.define(R"JIT(
def forward(self, x):
    return torch.relu(self.fc.forward(x))
)JIT");
  return net;
}

TEST(AddGraph, TorchScriptModuleUsesCallStackScopes) {
  auto net = script_net();
  std::string err;
  const auto g = write_and_read(
      [&](SummaryWriter& w) {
        w.add_graph(net, std::vector<at::Tensor>{torch::randn({2, 3})});
      },
      &err);
  EXPECT_EQ(err, "");
  expect_well_formed(g);
  auto lin = nodes_with_op(g, "aten::linear");
  ASSERT_EQ(lin.size(), 1u);
  EXPECT_EQ(scope_of(lin[0]->name), "Net/Linear[fc]");
  EXPECT_EQ(output_shape(*lin[0]), (std::vector<int64_t>{2, 4}));
  auto relu = nodes_with_op(g, "aten::relu");
  ASSERT_EQ(relu.size(), 1u);
  EXPECT_EQ(scope_of(relu[0]->name), "Net");
  auto params = nodes_with_op(g, "prim::GetAttr");
  ASSERT_EQ(params.size(), 2u);
  for (const auto* p : params) EXPECT_EQ(p->name.rfind("Net/Linear[fc]/", 0), 0u) << p->name;
  EXPECT_EQ(nodes_with_op(g, "IO Node").size(), 2u);
}

TEST(AddGraph, TorchScriptModuleWithoutForwardFallsBack) {
  torch::jit::Module m("Bare");
  m.register_parameter("w", torch::randn({2}), false);
  std::string err;
  const auto g = write_and_read([&](SummaryWriter& w) { w.add_graph(m, std::vector<at::Tensor>{}); }, &err);
  EXPECT_NE(err.find("no forward method"), std::string::npos) << err;
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].name, "Bare");
  EXPECT_EQ(g.nodes[0].attrs.at("parameter_shapes").shapes, (std::vector<std::vector<int64_t>>{{2}}));
}

TEST(GraphEncode, RoundTripsAndRejectsDuplicateNames) {
  GraphDefData g;
  GraphNode a;
  a.name = "A/x";
  a.op = "aten::relu";
  a.device = "/device:CPU:0";
  a.attrs["attr"] = GraphAttr::string("{}");
  a.attrs["_output_shapes"] = GraphAttr::shape_list({{1, -1, 3}});
  a.attrs["ints"] = GraphAttr::int_list({1, 2});
  a.attrs["names"] = GraphAttr::string_list({"p", "q"});
  a.attrs["n"] = GraphAttr::integer(-7);
  GraphNode b;
  b.name = "B";
  b.op = "IO Node";
  b.inputs = {"A/x"};
  g.nodes = {a, b};
  GraphDefData back;
  ASSERT_TRUE(detail::decode_graph_def(detail::encode_graph_def(g), back));
  EXPECT_EQ(back.producer, 22);
  EXPECT_EQ(back.nodes, g.nodes);
  g.nodes.push_back(a);
  EXPECT_THROW(detail::encode_graph_def(g), std::invalid_argument);
}

}  // namespace
}  // namespace trainscope
