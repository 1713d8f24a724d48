// GraphDef encoding for the graphs dashboard (see graphs.h); the wire half of add_graph.
#include "trainscope/wire/dashboards/graphs.h"

#include <stdexcept>
#include <unordered_set>

#include "trainscope/proto/event.pb.h"
#include "trainscope/proto/graph.pb.h"

namespace trainscope::detail {
namespace {

namespace pb = ::trainscope::proto;

void fill_shape(pb::TensorShapeProto* out, const GraphShape& shape) {
  for (int64_t d : shape) out->add_dim()->set_size(d);
}

void fill_attr(pb::AttrValue* out, const GraphAttr& a) {
  using K = GraphAttr::Kind;
  switch (a.kind) {
    case K::kString:
      out->set_s(a.s);
      break;
    case K::kInt:
      out->set_i(a.i);
      break;
    case K::kIntList: {
      auto* list = out->mutable_list();  // an empty list still marks the attr as a list
      for (int64_t v : a.ints) list->add_i(v);
      break;
    }
    case K::kStringList: {
      auto* list = out->mutable_list();
      for (const auto& v : a.strings) list->add_s(v);
      break;
    }
    case K::kShapeList: {
      auto* list = out->mutable_list();
      for (const auto& shape : a.shapes) fill_shape(list->add_shape(), shape);
      break;
    }
  }
}

GraphShape read_shape(const pb::TensorShapeProto& shape) {
  GraphShape out;
  for (const auto& d : shape.dim()) out.push_back(d.size());
  return out;
}

// The attr as one of GraphAttr's kinds; false for kinds this side never writes.
bool read_attr(const pb::AttrValue& v, GraphAttr& out) {
  switch (v.value_case()) {
    case pb::AttrValue::kS:
      out = GraphAttr::string(v.s());
      return true;
    case pb::AttrValue::kI:
      out = GraphAttr::integer(v.i());
      return true;
    case pb::AttrValue::kList: {
      const auto& list = v.list();
      if (list.shape_size() > 0) {
        std::vector<GraphShape> shapes;
        for (const auto& s : list.shape()) shapes.push_back(read_shape(s));
        out = GraphAttr::shape_list(std::move(shapes));
      } else if (list.s_size() > 0) {
        out = GraphAttr::string_list({list.s().begin(), list.s().end()});
      } else {
        out = GraphAttr::int_list({list.i().begin(), list.i().end()});
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

std::string encode_graph_def(const GraphDefData& graph) {
  pb::GraphDef def;
  std::unordered_set<std::string_view> names;
  names.reserve(graph.nodes.size());
  for (const auto& n : graph.nodes) {
    if (n.name.empty()) throw std::invalid_argument("graph node with an empty name (op '" + n.op + "')");
    if (!names.insert(n.name).second) throw std::invalid_argument("two graph nodes are named '" + n.name + "'");
    auto* node = def.add_node();
    node->set_name(n.name);
    node->set_op(n.op);
    for (const auto& in : n.inputs) node->add_input(in);
    if (!n.device.empty()) node->set_device(n.device);
    auto& attrs = *node->mutable_attr();
    for (const auto& [key, value] : n.attrs) fill_attr(&attrs[key], value);
  }
  def.mutable_versions()->set_producer(graph.producer);
  return def.SerializeAsString();
}

bool decode_graph_def(std::string_view bytes, GraphDefData& out) {
  pb::GraphDef def;
  if (!def.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  out = {};
  out.producer = def.versions().producer();
  out.nodes.reserve(def.node_size());
  for (const auto& node : def.node()) {
    GraphNode n;
    n.name = node.name();
    n.op = node.op();
    n.inputs.assign(node.input().begin(), node.input().end());
    n.device = node.device();
    for (const auto& [key, value] : node.attr()) {
      GraphAttr a;
      if (read_attr(value, a)) n.attrs.emplace(key, std::move(a));
    }
    out.nodes.push_back(std::move(n));
  }
  return true;
}

bool graph_def_of_event(std::string_view event_bytes, std::string& graph_def) {
  pb::Event event;
  if (!event.ParseFromArray(event_bytes.data(), static_cast<int>(event_bytes.size()))) return false;
  if (event.what_case() != pb::Event::kGraphDef) return false;
  graph_def = event.graph_def();
  return true;
}

}  // namespace trainscope::detail
