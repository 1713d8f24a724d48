// Meshes: SummaryWriter::add_mesh, as PyTorch's summary.mesh / _get_tensor_summary
// (torch/utils/tensorboard/summary.py): one Event whose Summary holds `<tag>_VERTEX`,
// `<tag>_FACE` and `<tag>_COLOR` (those given, in that order), each a DT_FLOAT [B, N, 3]
// tensor with MeshPluginData. Device tensors are converted on the device and copied to
// the host on the writer thread; the caller never waits for the GPU.
#include "trainscope/wire/dashboards/mesh.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <vector>

#include "tensor_payloads.h"
#include "trainscope/summary_writer.h"

namespace trainscope {
namespace {

// PyTorch stores every part through Python numbers in float_val: integers become float64
// first, then float32 (round to nearest); float64 rounds to float32 directly.
at::Tensor to_wire_float(const at::Tensor& t) {
  const at::Tensor x = t.detach();
  if (at::isFloatingType(x.scalar_type())) return x.to(at::kFloat);
  return x.to(at::kDouble).to(at::kFloat);
}

class DeferredMesh final : public DeferredPayload {
 public:
  struct Part {
    detail::MeshContent type;
    detail::HostSnapshot snap;
    bool converted;  // already float32 (device path)
  };
  DeferredMesh(std::string name, std::vector<Part> parts, std::string json_config)
      : name_(std::move(name)), parts_(std::move(parts)), json_config_(std::move(json_config)) {}

  SummaryPayload resolve() override {
    std::vector<detail::MeshPart> parts;
    for (auto& p : parts_) {
      at::Tensor t = p.snap.wait();
      if (!p.converted) t = to_wire_float(t);
      t = t.contiguous();
      detail::MeshPart part;
      part.type = p.type;
      part.shape.assign(t.sizes().begin(), t.sizes().end());
      part.content.assign(static_cast<const char*>(t.data_ptr()), t.numel() * sizeof(float));
      parts.push_back(std::move(part));
    }
    return RawEventData{RawEventData::Field::kSerializedSummary,
                        detail::encode_mesh_summary(name_, parts, json_config_)};
  }
  size_t held_bytes() const override {
    size_t n = json_config_.size();
    for (const auto& p : parts_) n += p.snap.nbytes();
    return n;
  }

 private:
  std::string name_;
  std::vector<Part> parts_;
  std::string json_config_;
};

void check_part(std::string_view tag, const char* name, const at::Tensor& t, const char* layout) {
  TORCH_CHECK_VALUE(t.dim() == 3 && t.size(2) == 3, "add_mesh: tag '", tag, "': ", name, " must be ", layout,
                    ", got shape ", t.sizes());
  TORCH_CHECK_VALUE(t.numel() > 0, "add_mesh: tag '", tag, "': ", name, " is empty (shape ", t.sizes(), ")");
  TORCH_CHECK_VALUE(!t.is_complex() && t.scalar_type() != at::kBool, "add_mesh: tag '", tag, "': ", name,
                    " must be a real number tensor, got ", t.scalar_type());
}

}  // namespace

void SummaryWriter::add_mesh(std::string_view tag, const at::Tensor& vertices, const at::Tensor& colors,
                             const at::Tensor& faces, std::string_view config_json, int64_t step) {
  TORCH_CHECK_VALUE(!tag.empty(), "add_mesh: tag is empty");
  TORCH_CHECK_VALUE(vertices.defined(), "add_mesh: tag '", tag, "': vertices are undefined");
  check_part(tag, "vertices", vertices, "[B, N, 3]");
  if (colors.defined()) {
    check_part(tag, "colors", colors, "[B, N, 3]");
    TORCH_CHECK_VALUE(colors.sizes() == vertices.sizes(), "add_mesh: tag '", tag,
                      "': colors must match vertices [B, N, 3] = ", vertices.sizes(), ", got shape ", colors.sizes());
  }
  if (faces.defined()) {
    check_part(tag, "faces", faces, "[B, F, 3] vertex indices");
    TORCH_CHECK_VALUE(faces.size(0) == vertices.size(0), "add_mesh: tag '", tag, "': faces have batch size ",
                      faces.size(0), " but vertices have ", vertices.size(0));
  }

  std::vector<DeferredMesh::Part> parts;
  const auto add = [&](detail::MeshContent type, const at::Tensor& t) {
    if (!t.defined()) return;
    if (t.device().is_cpu()) {
      parts.push_back({type, detail::HostSnapshot::take(t), false});
    } else {
      parts.push_back({type, detail::HostSnapshot::take(to_wire_float(t)), true});
    }
  };
  add(detail::MeshContent::kVertex, vertices);
  add(detail::MeshContent::kFace, faces);
  add(detail::MeshContent::kColor, colors);
  writer_->add_deferred(tag, step,
                        std::make_unique<DeferredMesh>(std::string(tag), std::move(parts), std::string(config_json)));
}

}  // namespace trainscope
