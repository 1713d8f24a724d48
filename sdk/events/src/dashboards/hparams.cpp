// The HParams dashboard's payloads (Experiment, SessionStartInfo, SessionEndInfo) and the
// Summary that carries them (see hparams.h).
#include "trainscope/wire/dashboards/hparams.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/struct.pb.h>

#include <stdexcept>

#include "trainscope/proto/hparams.pb.h"
#include "trainscope/proto/summary.pb.h"

namespace trainscope::detail {
namespace {

namespace pb = ::trainscope::proto;
using google::protobuf::Value;

// TensorBoard 2.21 refuses any other version (plugins/hparams/metadata.py).
constexpr int kPluginDataVersion = 0;

// Map entries in key order, so equal inputs give equal bytes.
std::string serialize(const google::protobuf::MessageLite& msg) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&coded);
  }
  return out;
}

void set_value(Value* out, const HParamValue& v) {
  switch (v.type()) {
    case HParamValue::Type::kNumber:
      out->set_number_value(v.number());
      return;
    case HParamValue::Type::kBool:
      out->set_bool_value(v.boolean());
      return;
    case HParamValue::Type::kString:
      out->set_string_value(v.string());
      return;
    case HParamValue::Type::kNone:
      break;
  }
  throw std::invalid_argument("hparam value has no type");
}

pb::HParamDataType data_type(const HParamValue& v) {
  switch (v.type()) {
    case HParamValue::Type::kNumber:
      return pb::DATA_TYPE_FLOAT64;
    case HParamValue::Type::kBool:
      return pb::DATA_TYPE_BOOL;
    case HParamValue::Type::kString:
      return pb::DATA_TYPE_STRING;
    case HParamValue::Type::kNone:
      break;
  }
  return pb::DATA_TYPE_UNSET;
}

pb::Status status_proto(SessionStatus s) {
  switch (s) {
    case SessionStatus::kSuccess:
      return pb::STATUS_SUCCESS;
    case SessionStatus::kFailure:
      return pb::STATUS_FAILURE;
    case SessionStatus::kRunning:
      return pb::STATUS_RUNNING;
    case SessionStatus::kUnknown:
      break;
  }
  return pb::STATUS_UNKNOWN;
}

}  // namespace

std::string hparams_experiment_content(const HParams& hparams, const std::vector<std::string>& metric_tags,
                                       const HParamsOptions& options, double time_created_secs) {
  pb::HParamsPluginData data;
  data.set_version(kPluginDataVersion);
  pb::Experiment* exp = data.mutable_experiment();
  exp->set_description(options.description);
  exp->set_time_created_secs(time_created_secs);
  for (const auto& [name, value] : hparams) {
    pb::HParamInfo* info = exp->add_hparam_infos();
    info->set_name(name);
    info->set_type(data_type(value));
    if (auto it = options.domain_discrete.find(name); it != options.domain_discrete.end()) {
      auto* list = info->mutable_domain_discrete();
      for (const HParamValue& d : it->second) set_value(list->add_values(), d);
    } else if (auto iv = options.domain_interval.find(name); iv != options.domain_interval.end()) {
      info->mutable_domain_interval()->set_min_value(iv->second.first);
      info->mutable_domain_interval()->set_max_value(iv->second.second);
    }
  }
  for (const std::string& tag : metric_tags) exp->add_metric_infos()->mutable_name()->set_tag(tag);
  return serialize(data);
}

std::string hparams_session_start_content(const HParams& hparams, std::string_view group_name, double start_time_secs) {
  pb::HParamsPluginData data;
  data.set_version(kPluginDataVersion);
  pb::SessionStartInfo* start = data.mutable_session_start_info();
  for (const auto& [name, value] : hparams) set_value(&(*start->mutable_hparams())[name], value);
  start->set_group_name(std::string(group_name));
  start->set_start_time_secs(start_time_secs);
  return serialize(data);
}

std::string hparams_session_end_content(SessionStatus status, double end_time_secs) {
  pb::HParamsPluginData data;
  data.set_version(kPluginDataVersion);
  pb::SessionEndInfo* end = data.mutable_session_end_info();
  end->set_status(status_proto(status));
  end->set_end_time_secs(end_time_secs);
  return serialize(data);
}

std::string hparams_summary(std::string_view tag, std::string_view content) {
  pb::Summary summary;
  pb::Summary::Value* value = summary.add_value();
  value->set_tag(std::string(tag));
  auto* plugin = value->mutable_metadata()->mutable_plugin_data();
  plugin->set_plugin_name(std::string(kHParamsPluginName));
  plugin->set_content(std::string(content));
  return serialize(summary);
}

}  // namespace trainscope::detail
