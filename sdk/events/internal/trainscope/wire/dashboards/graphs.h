// The graphs dashboard: a model graph as plain data (what TensorBoard reads from
// Event.graph_def), and its GraphDef encoder. Torch-free and protobuf-free: graph.cpp walks
// a torch::jit::Graph and fills these structs; dashboards/graphs.cpp, on the wire side, is
// the only place that sees the GraphDef message.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"

namespace trainscope::detail {

// TensorBoard's name of the dashboard (plugins/graph/metadata.py); not written: the graph
// is an Event of its own (graph_def), not a Summary.Value.
inline constexpr std::string_view kGraphsPluginName = "graphs";

// GraphDef.versions.producer that PyTorch writes (taken from TensorFlow-logged graphs).
inline constexpr int kGraphProducer = 22;

// A tensor shape: one size per dimension, -1 where a size is unknown.
using GraphShape = std::vector<int64_t>;

// One NodeDef attr (an AttrValue): a string, an int, or a list of ints, strings or shapes.
struct GraphAttr {
  enum class Kind { kString, kInt, kIntList, kStringList, kShapeList };
  Kind kind = Kind::kString;
  std::string s;
  int64_t i = 0;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<GraphShape> shapes;

  static GraphAttr string(std::string v) {
    GraphAttr a;
    a.s = std::move(v);
    return a;
  }
  static GraphAttr integer(int64_t v) {
    GraphAttr a;
    a.kind = Kind::kInt;
    a.i = v;
    return a;
  }
  static GraphAttr int_list(std::vector<int64_t> v) {
    GraphAttr a;
    a.kind = Kind::kIntList;
    a.ints = std::move(v);
    return a;
  }
  static GraphAttr string_list(std::vector<std::string> v) {
    GraphAttr a;
    a.kind = Kind::kStringList;
    a.strings = std::move(v);
    return a;
  }
  static GraphAttr shape_list(std::vector<GraphShape> v) {
    GraphAttr a;
    a.kind = Kind::kShapeList;
    a.shapes = std::move(v);
    return a;
  }
  bool operator==(const GraphAttr&) const = default;
};

// One NodeDef. `name` is unique in its graph; '/' separates the scopes TensorBoard folds
// into groups. `inputs` name other nodes of the same graph.
struct GraphNode {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;
  std::string device;  // "/device:CPU:0", or empty
  std::map<std::string, GraphAttr> attrs;
  bool operator==(const GraphNode&) const = default;
};

struct GraphDefData {
  std::vector<GraphNode> nodes;
  int producer = kGraphProducer;
};

// The serialized GraphDef{node..., versions{producer}}. Throws std::invalid_argument when two
// nodes share a name or a node has an empty name (TensorBoard would mis-draw the graph).
TRAINSCOPE_API std::string encode_graph_def(const GraphDefData& graph);

// Parses a serialized GraphDef back (attrs of kinds other than the ones above are skipped).
// Returns false when `bytes` is not a GraphDef. For tests and tools.
TRAINSCOPE_API bool decode_graph_def(std::string_view bytes, GraphDefData& out);

// Extracts Event.graph_def from one serialized Event. Returns false when the record is not
// an Event or holds no graph.
TRAINSCOPE_API bool graph_def_of_event(std::string_view event_bytes, std::string& graph_def);

}  // namespace trainscope::detail
