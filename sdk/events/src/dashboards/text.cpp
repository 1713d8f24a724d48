// The text dashboard's encoder (see text.h).
#include "trainscope/wire/dashboards/text.h"

#include "trainscope/proto/plugin_data.pb.h"
#include "trainscope/proto/summary.pb.h"

namespace trainscope::detail {

void fill_value(proto::Summary_Value* value, const TextData& text) {
  auto* md = value->mutable_metadata()->mutable_plugin_data();
  md->set_plugin_name(std::string(kTextPluginName));
  md->set_content(proto::TextPluginData().SerializeAsString());
  auto* tensor = value->mutable_tensor();
  tensor->set_dtype(proto::DT_STRING);
  tensor->add_string_val(text.text);
  tensor->mutable_tensor_shape()->add_dim()->set_size(1);
}

}  // namespace trainscope::detail
