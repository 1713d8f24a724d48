// Event serialization: a hand-written fast path for scalars, protobuf for everything else.
#include "trainscope/wire/event_encode.h"

#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "trainscope/encode.h"
#include "trainscope/proto/event.pb.h"
#include "trainscope/proto/plugin_data.pb.h"

namespace trainscope::detail {
namespace {

namespace pb = ::trainscope::proto;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
template <typename T>
void put_fixed(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // x86-64/aarch64 are little-endian, as the wire is
  out.append(buf, sizeof(T));
}

void set_tensor_shape(pb::TensorProto* t, const std::vector<int64_t>& shape) {
  auto* s = t->mutable_tensor_shape();
  for (int64_t d : shape) s->add_dim()->set_size(d);
}

void fill_value(pb::Summary::Value* v, const ScalarData& s) { v->set_simple_value(s.value); }

void fill_value(pb::Summary::Value* v, const HistogramData& h) {
  auto* histo = v->mutable_histo();
  histo->set_min(h.min);
  histo->set_max(h.max);
  histo->set_num(h.num);
  histo->set_sum(h.sum);
  histo->set_sum_squares(h.sum_squares);
  histo->mutable_bucket_limit()->Add(h.bucket_limit.begin(), h.bucket_limit.end());
  histo->mutable_bucket()->Add(h.bucket.begin(), h.bucket.end());
}

void fill_value(pb::Summary::Value* v, const ImageData& img) {
  auto* out = v->mutable_image();
  out->set_height(img.height);
  out->set_width(img.width);
  out->set_colorspace(img.channels);
  out->set_encoded_image_string(encode_png(img));
}

void fill_value(pb::Summary::Value* v, const AudioData& a) {
  auto* out = v->mutable_audio();
  out->set_sample_rate(a.sample_rate);
  out->set_num_channels(1);
  out->set_length_frames(static_cast<int64_t>(a.samples.size()));
  out->set_encoded_audio_string(encode_wav(a));
  out->set_content_type("audio/wav");
}

void fill_value(pb::Summary::Value* v, const TextData& t) {
  // As PyTorch: tag + "/text_summary" (set by the caller), plugin "text", 1-element string tensor.
  auto* md = v->mutable_metadata()->mutable_plugin_data();
  md->set_plugin_name("text");
  md->set_content(pb::TextPluginData().SerializeAsString());
  auto* tensor = v->mutable_tensor();
  tensor->set_dtype(pb::DT_STRING);
  tensor->add_string_val(t.text);
  set_tensor_shape(tensor, {1});
}

void fill_value(pb::Summary::Value* v, const VideoData& video) {
  auto* out = v->mutable_image();
  out->set_height(video.height);
  out->set_width(video.width);
  out->set_colorspace(video.channels);
  out->set_encoded_image_string(encode_gif(video));
}

void fill_value(pb::Summary::Value* v, const TensorData& t) {
  if (!t.plugin_name.empty() || !t.plugin_content.empty() || t.data_class != 0 ||
      !t.display_name.empty() || !t.description.empty()) {
    auto* md = v->mutable_metadata();
    md->mutable_plugin_data()->set_plugin_name(t.plugin_name);
    md->mutable_plugin_data()->set_content(t.plugin_content);
    md->set_data_class(static_cast<pb::DataClass>(t.data_class));
    md->set_display_name(t.display_name);
    md->set_summary_description(t.description);
  }
  auto* tensor = v->mutable_tensor();
  tensor->set_dtype(static_cast<pb::DataType>(t.dtype));
  set_tensor_shape(tensor, t.shape);
  if (t.dtype == WireDType::kString) {
    for (const auto& s : t.strings) tensor->add_string_val(s);
  } else {
    tensor->set_tensor_content(t.content);
  }
}

}  // namespace

void encode_scalar_event(std::string& out, double wall_time, int64_t step, std::string_view tag,
                         float value) {
  // Value{1: tag, 2: simple_value}; Summary{1: value}; Event{1: wall_time, 2: step, 5: summary}.
  const size_t value_len = 1 + varint_size(tag.size()) + tag.size() + 1 + 4;
  const size_t summary_len = 1 + varint_size(value_len) + value_len;
  if (wall_time != 0.0) {
    out.push_back(0x09);
    put_fixed(out, wall_time);
  }
  if (step != 0) {
    out.push_back(0x10);
    put_varint(out, static_cast<uint64_t>(step));
  }
  out.push_back(0x2a);
  put_varint(out, summary_len);
  out.push_back(0x0a);
  put_varint(out, value_len);
  out.push_back(0x0a);
  put_varint(out, tag.size());
  out.append(tag);
  out.push_back(0x15);
  put_fixed(out, value);
}

std::string encode_payload_event(double wall_time, int64_t step, std::string_view tag,
                                 const SummaryPayload& payload) {
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
