// The mesh dashboard's plugin content and Summary (see mesh.h).
#include "trainscope/wire/dashboards/mesh.h"

#include <stdexcept>

#include "trainscope/proto/pr_mesh.pb.h"
#include "trainscope/proto/summary.pb.h"

namespace trainscope::detail {
namespace {

namespace pb = ::trainscope::proto;

constexpr int kProtoVersion = 0;  // plugins/mesh/metadata.py's PROTO_VERSION

}  // namespace

const char* mesh_content_name(MeshContent type) {
  switch (type) {
    case MeshContent::kVertex:
      return "VERTEX";
    case MeshContent::kFace:
      return "FACE";
    case MeshContent::kColor:
      return "COLOR";
  }
  return "UNDEFINED";
}

std::string encode_mesh_plugin_data(std::string_view name, MeshContent type, uint32_t components,
                                    const std::vector<int64_t>& shape, std::string_view json_config) {
  pb::MeshPluginData data;
  data.set_version(kProtoVersion);
  data.set_name(std::string(name));
  data.set_content_type(static_cast<pb::MeshPluginData::ContentType>(type));
  data.set_json_config(std::string(json_config));
  for (int64_t d : shape) data.add_shape(static_cast<int32_t>(d));
  data.set_components(components);
  return data.SerializeAsString();
}

std::string encode_mesh_summary(std::string_view name, const std::vector<MeshPart>& parts,
                                std::string_view json_config) {
  uint32_t components = 0;
  for (const auto& p : parts) components |= 1u << static_cast<int>(p.type);
  const std::string_view config = json_config.empty() ? std::string_view("{}") : json_config;
  pb::Summary summary;
  for (const auto& p : parts) {
    if (p.shape.size() != 3 || static_cast<size_t>(p.shape[0] * p.shape[1] * p.shape[2]) * 4 != p.content.size())
      throw std::invalid_argument("mesh part " + std::string(mesh_content_name(p.type)) +
                                  ": content does not match a [B, N, 3] float32 shape");
    auto* v = summary.add_value();
    v->set_tag(std::string(name) + "_" + mesh_content_name(p.type));
    auto* md = v->mutable_metadata();
    md->mutable_plugin_data()->set_plugin_name(std::string(kMeshPluginName));
    md->mutable_plugin_data()->set_content(encode_mesh_plugin_data(name, p.type, components, p.shape, config));
    md->set_data_class(pb::DATA_CLASS_TENSOR);
    auto* t = v->mutable_tensor();
    t->set_dtype(pb::DT_FLOAT);
    for (int64_t d : p.shape) t->mutable_tensor_shape()->add_dim()->set_size(d);
    t->set_tensor_content(p.content);
  }
  return summary.SerializeAsString();
}

}  // namespace trainscope::detail
