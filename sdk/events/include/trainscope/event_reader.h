// Reads TFRecord event files, verifying both CRCs of every record, and decodes Events into
// plain structs (protobuf stays inside the SDK). Used by tests and `trainscope inspect`.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

struct RecordError {
  enum class Kind { kTruncatedHeader, kBadLengthCrc, kTruncatedData, kBadDataCrc, kIo };
  Kind kind;
  uint64_t offset = 0;  // byte offset of the record that failed
  std::string message;  // "<file>: <what> at offset N"
};

TRAINSCOPE_API const char* to_string(RecordError::Kind kind);

class TRAINSCOPE_API RecordReader {
 public:
  // Throws std::runtime_error naming the path and OS reason when the file cannot be opened.
  explicit RecordReader(std::string path);
  // Reads records held in memory (a MemorySink's bytes); `name` stands for the path in messages.
  static std::unique_ptr<RecordReader> from_bytes(std::string bytes, std::string name);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  // Reads the next record's payload. Returns false at the end of the file or at the first
  // corrupt record; error() then says which (nullopt at a clean end).
  bool next(std::string& payload);
  uint64_t offset() const { return offset_; }          // offset of the next record
  uint64_t last_offset() const { return last_offset_; }  // offset of the record just read
  const std::optional<RecordError>& error() const { return error_; }
  const std::string& path() const { return path_; }

 private:
  RecordReader() = default;

  std::string path_;
  std::string bytes_;  // from_bytes: the stream's buffer (file_ reads it through fmemopen)
  std::FILE* file_ = nullptr;
  uint64_t offset_ = 0;
  uint64_t last_offset_ = 0;
  std::optional<RecordError> error_;
};

// One Summary.Value, flattened.
struct ValueView {
  std::string tag;
  std::string kind;            // simple_value, histo, image, audio, tensor
  std::string plugin_name;     // from metadata, when present
  std::string plugin_content;  // SummaryMetadata.plugin_data.content (e.g. a serialized HParamsPluginData)
  double simple_value = 0;     // simple_value, or a rank-0 numeric tensor's value
  int64_t image_width = 0, image_height = 0;
  std::string encoded;  // image (PNG/GIF) or audio (WAV) bytes
  double histo_min = 0, histo_max = 0, histo_num = 0;

  // Tensors (kind "tensor"); empty / 0 for the other kinds.
  std::vector<int64_t> tensor_shape;
  int tensor_dtype = 0;        // TensorBoard's DataType number: 1 float, 2 double, 3 int32, 4 uint8,
                               // 5 int16, 6 int8, 7 string, 9 int64, 10 bool, 14 bfloat16, 19 half
  std::string tensor_content;  // TensorProto.tensor_content as stored (little-endian elements)
  // The numeric elements in row-major order, from tensor_content or, when that is empty, from
  // the typed field of the dtype (float_val, double_val, int_val, int64_val, bool_val, half_val).
  // As stored: a typed field shorter than the shape (TensorFlow repeats its last element) is
  // not expanded. int64 beyond 2^53 loses precision. Empty for strings, for an unknown dtype,
  // and when tensor_content is not a whole number of elements.
  std::vector<double> tensor_values;
  std::vector<std::string> tensor_strings;  // TensorProto.string_val (DT_STRING tensors)
};

struct EventView {
  double wall_time = 0;
  int64_t step = 0;
  std::string kind;  // file_version, summary, graph_def, session_log, log_message, ...
  std::string file_version;
  int session_status = 0;
  std::vector<ValueView> values;
};

// Decodes one record payload. Returns false (and sets *error) when it is not an Event.
TRAINSCOPE_API bool decode_event(std::string_view payload, EventView& out, std::string* error = nullptr);

// Event file names under `dir` (not recursive), sorted.
TRAINSCOPE_API std::vector<std::string> list_event_files(const std::string& dir);

}  // namespace trainscope
