// Record reader with CRC checks, and Event decoding into plain structs.
#include "trainscope/event_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "trainscope/crc32c.h"
#include "trainscope/proto/event.pb.h"

namespace trainscope {
namespace {
uint32_t get_u32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
}  // namespace

const char* to_string(RecordError::Kind kind) {
  switch (kind) {
    case RecordError::Kind::kTruncatedHeader: return "truncated record header";
    case RecordError::Kind::kBadLengthCrc: return "bad length CRC";
    case RecordError::Kind::kTruncatedData: return "truncated record data";
    case RecordError::Kind::kBadDataCrc: return "bad data CRC";
    case RecordError::Kind::kIo: return "read error";
  }
  return "unknown";
}

RecordReader::RecordReader(std::string path) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), "rb");
  if (!file_) throw std::runtime_error("trainscope: cannot open '" + path_ + "': " + std::strerror(errno));
}

RecordReader::~RecordReader() {
  if (file_) std::fclose(file_);
}

bool RecordReader::next(std::string& payload) {
  if (error_) return false;
  auto fail = [&](RecordError::Kind kind) {
    error_ = RecordError{kind, offset_,
                         path_ + ": " + to_string(kind) + " at offset " + std::to_string(offset_)};
    return false;
  };
  unsigned char header[12];
  const size_t got = std::fread(header, 1, sizeof(header), file_);
  if (got == 0 && std::feof(file_)) return false;  // clean end
  if (std::ferror(file_)) return fail(RecordError::Kind::kIo);
  if (got < sizeof(header)) return fail(RecordError::Kind::kTruncatedHeader);
  if (mask_crc(crc32c_extend(0, header, 8)) != get_u32(header + 8)) return fail(RecordError::Kind::kBadLengthCrc);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | header[i];
  // A length beyond the end of the file is a truncated record, not a reason to allocate.
  const long here = std::ftell(file_);
  std::fseek(file_, 0, SEEK_END);
  const long end = std::ftell(file_);
  std::fseek(file_, here, SEEK_SET);
  if (here < 0 || end < 0 || len + 4 > static_cast<uint64_t>(end - here)) return fail(RecordError::Kind::kTruncatedData);
  payload.resize(len);
  unsigned char footer[4];
  if ((len && std::fread(payload.data(), 1, len, file_) != len) || std::fread(footer, 1, 4, file_) != 4)
    return fail(RecordError::Kind::kTruncatedData);
  if (masked_crc32c(payload) != get_u32(footer)) return fail(RecordError::Kind::kBadDataCrc);
  last_offset_ = offset_;
  offset_ += 12 + len + 4;
  return true;
}

bool decode_event(std::string_view payload, EventView& out, std::string* error) {
  proto::Event ev;
  if (!ev.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    if (error) *error = "record is not a serialized Event";
    return false;
  }
  out = EventView{};
  out.wall_time = ev.wall_time();
  out.step = ev.step();
  switch (ev.what_case()) {
    case proto::Event::kFileVersion:
      out.kind = "file_version";
      out.file_version = ev.file_version();
      break;
    case proto::Event::kGraphDef: out.kind = "graph_def"; break;
    case proto::Event::kSessionLog:
      out.kind = "session_log";
      out.session_status = ev.session_log().status();
      break;
    case proto::Event::kLogMessage: out.kind = "log_message"; break;
    case proto::Event::kTaggedRunMetadata: out.kind = "tagged_run_metadata"; break;
    case proto::Event::kMetaGraphDef: out.kind = "meta_graph_def"; break;
    case proto::Event::kSummary: {
      out.kind = "summary";
      for (const auto& v : ev.summary().value()) {
        ValueView vv;
        vv.tag = v.tag();
        vv.plugin_name = v.metadata().plugin_data().plugin_name();
        switch (v.value_case()) {
          case proto::Summary::Value::kSimpleValue:
            vv.kind = "simple_value";
            vv.simple_value = v.simple_value();
            break;
          case proto::Summary::Value::kHisto:
            vv.kind = "histo";
            vv.histo_min = v.histo().min();
            vv.histo_max = v.histo().max();
            vv.histo_num = v.histo().num();
            break;
          case proto::Summary::Value::kImage:
            vv.kind = "image";
            vv.image_width = v.image().width();
            vv.image_height = v.image().height();
            vv.encoded = v.image().encoded_image_string();
            break;
          case proto::Summary::Value::kAudio:
            vv.kind = "audio";
            vv.encoded = v.audio().encoded_audio_string();
            break;
          case proto::Summary::Value::kTensor: {
            vv.kind = "tensor";
            const auto& t = v.tensor();
            for (const auto& d : t.tensor_shape().dim()) vv.tensor_shape.push_back(d.size());
            if (vv.tensor_shape.empty()) {
              if (t.float_val_size()) vv.simple_value = t.float_val(0);
              else if (t.double_val_size()) vv.simple_value = t.double_val(0);
              else if (t.tensor_content().size() == 4 && t.dtype() == proto::DT_FLOAT) {
                float f;
                std::memcpy(&f, t.tensor_content().data(), 4);
                vv.simple_value = f;
              }
            }
            break;
          }
          default: vv.kind = "other"; break;
        }
        out.values.push_back(std::move(vv));
      }
      break;
    }
    default: out.kind = "empty"; break;
  }
  return true;
}

std::vector<std::string> list_event_files(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().filename().string().find("tfevents") != std::string::npos)
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace trainscope
