// Record reader with CRC checks, and Event decoding into plain structs.
#include "trainscope/event_reader.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
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

// IEEE 754 binary16 bits to a double.
double half_to_double(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v = 0;
  if (exponent == 0) v = std::ldexp(mantissa, -24);  // zero or subnormal
  else if (exponent == 31) v = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else v = std::ldexp(mantissa + 1024, exponent - 25);
  return (h & 0x8000) ? -v : v;
}

// bfloat16 bits (the upper half of a float32) to a double.
double bfloat16_to_double(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

// tensor_content holds the elements little-endian, as this (little-endian) host stores them.
static_assert(std::endian::native == std::endian::little, "tensor_content decoding assumes a little-endian host");

template <typename T, typename Convert>
void append_content(const std::string& content, std::vector<double>& out, Convert convert) {
  if (content.size() % sizeof(T) != 0) return;  // not a whole number of elements: leave empty
  out.reserve(content.size() / sizeof(T));
  for (size_t i = 0; i < content.size(); i += sizeof(T)) {
    T x;
    std::memcpy(&x, content.data() + i, sizeof(T));
    out.push_back(convert(x));
  }
}
template <typename T>
void append_content(const std::string& content, std::vector<double>& out) {
  append_content<T>(content, out, [](T x) { return static_cast<double>(x); });
}

template <typename Field, typename Convert>
void append_field(const Field& field, std::vector<double>& out, Convert convert) {
  out.reserve(static_cast<size_t>(field.size()));
  for (const auto& x : field) out.push_back(convert(x));
}
template <typename Field>
void append_field(const Field& field, std::vector<double>& out) {
  append_field(field, out, [](auto x) { return static_cast<double>(x); });
}

// A tensor's numeric elements: from tensor_content when it is set, else the dtype's typed field.
std::vector<double> tensor_values(const proto::TensorProto& t) {
  std::vector<double> out;
  const std::string& c = t.tensor_content();
  const bool raw = !c.empty();
  const auto half = [](int32_t x) { return half_to_double(static_cast<uint16_t>(x)); };
  const auto bf16 = [](int32_t x) { return bfloat16_to_double(static_cast<uint16_t>(x)); };
  switch (t.dtype()) {
    case proto::DT_FLOAT: raw ? append_content<float>(c, out) : append_field(t.float_val(), out); break;
    case proto::DT_DOUBLE: raw ? append_content<double>(c, out) : append_field(t.double_val(), out); break;
    case proto::DT_INT32: raw ? append_content<int32_t>(c, out) : append_field(t.int_val(), out); break;
    case proto::DT_UINT8: raw ? append_content<uint8_t>(c, out) : append_field(t.int_val(), out); break;
    case proto::DT_INT16: raw ? append_content<int16_t>(c, out) : append_field(t.int_val(), out); break;
    case proto::DT_INT8: raw ? append_content<int8_t>(c, out) : append_field(t.int_val(), out); break;
    case proto::DT_INT64: raw ? append_content<int64_t>(c, out) : append_field(t.int64_val(), out); break;
    case proto::DT_BOOL:
      raw ? append_content<uint8_t>(c, out, [](uint8_t x) { return x ? 1.0 : 0.0; })
          : append_field(t.bool_val(), out, [](bool x) { return x ? 1.0 : 0.0; });
      break;
    case proto::DT_HALF:
      raw ? append_content<uint16_t>(c, out, half_to_double) : append_field(t.half_val(), out, half);
      break;
    case proto::DT_BFLOAT16:
      raw ? append_content<uint16_t>(c, out, bfloat16_to_double) : append_field(t.half_val(), out, bf16);
      break;
    default: break;  // strings (tensor_strings) and dtypes this reader does not know
  }
  return out;
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

std::unique_ptr<RecordReader> RecordReader::from_bytes(std::string bytes, std::string name) {
  std::unique_ptr<RecordReader> r(new RecordReader());
  r->path_ = std::move(name);
  r->bytes_ = std::move(bytes);
  // fmemopen refuses a zero-length buffer on older C libraries: an empty stream is /dev/null.
  r->file_ = r->bytes_.empty() ? std::fopen("/dev/null", "rb") : fmemopen(r->bytes_.data(), r->bytes_.size(), "rb");
  if (!r->file_) throw std::runtime_error("trainscope: cannot read '" + r->path_ + "': " + std::strerror(errno));
  return r;
}

RecordReader::~RecordReader() {
  if (file_) std::fclose(file_);
}

bool RecordReader::next(std::string& payload) {
  if (error_) return false;
  auto fail = [&](RecordError::Kind kind, const std::string& detail = "") {
    error_ = RecordError{kind, offset_,
                         path_ + ": " + to_string(kind) + " at offset " + std::to_string(offset_) + detail};
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
  // Compared without arithmetic on `len`: a length near 2^64 must not wrap around.
  if (here < 0 || end < here) return fail(RecordError::Kind::kIo);
  const uint64_t remaining = static_cast<uint64_t>(end - here);
  if (remaining < 4 || len > remaining - 4) {
    return fail(RecordError::Kind::kTruncatedData, " (the length field says " + std::to_string(len) +
                                                       " bytes of data, but only " + std::to_string(remaining) +
                                                       " bytes, CRC included, are left in the file)");
  }
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
        vv.plugin_content = v.metadata().plugin_data().content();
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
            vv.tensor_dtype = static_cast<int>(t.dtype());
            vv.tensor_content = t.tensor_content();
            vv.tensor_values = tensor_values(t);
            vv.tensor_strings.assign(t.string_val().begin(), t.string_val().end());
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
