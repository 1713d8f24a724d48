// The mesh dashboard: MeshPluginData and the one Summary of a mesh's parts, as PyTorch's
// summary.mesh writes them. The tensor half (mesh.cpp) converts and copies the parts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"

namespace trainscope::detail {

// plugins/mesh/metadata.py's PLUGIN_NAME.
inline constexpr std::string_view kMeshPluginName = "mesh";

// MeshPluginData.ContentType.
enum class MeshContent : int { kVertex = 1, kFace = 2, kColor = 3 };

// "VERTEX", "FACE", "COLOR": the suffix of each part's tag (`<tag>_VERTEX`).
TRAINSCOPE_API const char* mesh_content_name(MeshContent type);

// One part of a mesh: float32 elements (little-endian) of shape [B, N, 3].
struct MeshPart {
  MeshContent type = MeshContent::kVertex;
  std::vector<int64_t> shape;
  std::string content;
};

// MeshPluginData{version 0, name, content_type, json_config, shape, components}, where
// components has bit (1 << type) set for every part present, as TensorBoard's
// metadata.get_components_bitmask.
TRAINSCOPE_API std::string encode_mesh_plugin_data(std::string_view name, MeshContent type, uint32_t components,
                                                   const std::vector<int64_t>& shape, std::string_view json_config);

// A serialized Summary holding every part as one DT_FLOAT tensor value tagged
// `<name>_<TYPE>` (plugin "mesh", data class TENSOR), in the order given: the one Event
// PyTorch's summary.mesh writes. json_config empty means "{}" (PyTorch's default).
TRAINSCOPE_API std::string encode_mesh_summary(std::string_view name, const std::vector<MeshPart>& parts,
                                               std::string_view json_config);

}  // namespace trainscope::detail
