// The pr_curves dashboard's plugin content and summary (see pr_curves.h).
#include "trainscope/wire/dashboards/pr_curves.h"

#include "trainscope/proto/pr_mesh.pb.h"
#include "trainscope/proto/summary.pb.h"

namespace trainscope::detail {
namespace {

constexpr int kProtoVersion = 0;  // plugins/pr_curve/metadata.py's PROTO_VERSION

}  // namespace

std::string encode_pr_curve_plugin_data(uint32_t num_thresholds) {
  proto::PrCurvePluginData data;
  data.set_version(kProtoVersion);
  data.set_num_thresholds(num_thresholds);
  return data.SerializeAsString();
}

TensorData pr_curve_tensor(const std::vector<float>& rows, int64_t columns, uint32_t num_thresholds) {
  TensorData t;
  t.dtype = WireDType::kFloat;
  t.shape = {6, columns};
  t.content.assign(reinterpret_cast<const char*>(rows.data()), rows.size() * sizeof(float));
  t.plugin_name = std::string(kPrCurvesPluginName);
  t.plugin_content = encode_pr_curve_plugin_data(num_thresholds);
  t.data_class = proto::DATA_CLASS_TENSOR;  // what TensorBoard's dataclass_compat assigns pr_curves
  return t;
}

}  // namespace trainscope::detail
