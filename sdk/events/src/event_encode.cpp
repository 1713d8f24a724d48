// Event serialization: each payload goes to its dashboard's encoder (dashboards/), a
// TensorData (any plugin's tensor summary) and a RawEventData are written here.
#include "trainscope/wire/event_encode.h"

#include <stdexcept>
#include <type_traits>

#include "trainscope/proto/event.pb.h"
#include "trainscope/wire/dashboards/audio.h"
#include "trainscope/wire/dashboards/histograms.h"
#include "trainscope/wire/dashboards/images.h"
#include "trainscope/wire/dashboards/scalars.h"
#include "trainscope/wire/dashboards/text.h"

namespace trainscope::detail {
namespace {

namespace pb = ::trainscope::proto;

// A tensor summary with the metadata its producer chose (pr_curves, custom_scalars, or a
// plugin's own).
void fill_value(pb::Summary::Value* v, const TensorData& t) {
  if (!t.plugin_name.empty() || !t.plugin_content.empty() || t.data_class != 0 || !t.display_name.empty() ||
      !t.description.empty()) {
    auto* md = v->mutable_metadata();
    md->mutable_plugin_data()->set_plugin_name(t.plugin_name);
    md->mutable_plugin_data()->set_content(t.plugin_content);
    md->set_data_class(static_cast<pb::DataClass>(t.data_class));
    md->set_display_name(t.display_name);
    md->set_summary_description(t.description);
  }
  auto* tensor = v->mutable_tensor();
  tensor->set_dtype(static_cast<pb::DataType>(t.dtype));
  auto* shape = tensor->mutable_tensor_shape();
  for (int64_t d : t.shape) shape->add_dim()->set_size(d);
  if (t.dtype == WireDType::kString) {
    for (const auto& s : t.strings) tensor->add_string_val(s);
  } else {
    tensor->set_tensor_content(t.content);
  }
}

}  // namespace

std::string encode_payload_event(double wall_time, int64_t step, std::string_view tag, const SummaryPayload& payload) {
  pb::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  if (const auto* raw = std::get_if<RawEventData>(&payload)) {
    using F = RawEventData::Field;
    switch (raw->field) {
      case F::kGraphDef:
        event.set_graph_def(raw->bytes);
        break;
      case F::kSessionLogStart:
      case F::kSessionLogStop:
      case F::kSessionLogCheckpoint: {
        auto* log = event.mutable_session_log();
        log->set_status(raw->field == F::kSessionLogStart  ? pb::SessionLog::START
                        : raw->field == F::kSessionLogStop ? pb::SessionLog::STOP
                                                           : pb::SessionLog::CHECKPOINT);
        log->set_checkpoint_path(raw->bytes);
        break;
      }
      case F::kSerializedSummary:
        if (!event.mutable_summary()->ParseFromString(raw->bytes))
          throw std::invalid_argument("serialized Summary does not parse");
        break;
    }
    return event.SerializeAsString();
  }
  auto* value = event.mutable_summary()->add_value();
  value->set_tag(std::string(tag));
  std::visit(
      [&](const auto& p) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(p)>, RawEventData>) fill_value(value, p);
      },
      payload);
  return event.SerializeAsString();
}

std::string encode_file_version_event(double wall_time) {
  pb::Event event;
  event.set_wall_time(wall_time);
  event.set_file_version("brain.Event:2");
  return event.SerializeAsString();
}

std::string encode_session_start_event(double wall_time, int64_t step) {
  pb::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  event.mutable_session_log()->set_status(pb::SessionLog::START);
  return event.SerializeAsString();
}

}  // namespace trainscope::detail
