// Plain-data summaries: what a summary holds before it is encoded on the writer thread.
// Torch-free and protobuf-free, so both the tensor-facing API and the wire layer can see it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

// One float32 scalar, stored as simple_value.
struct ScalarData {
  float value = 0;
};

// A histogram in TensorBoard's form: right bucket edges and a count per bucket.
struct HistogramData {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit;
  std::vector<double> bucket;
  int64_t nonfinite = 0;  // values left out because they were NaN or +-inf
};

// Interleaved 8-bit pixels, row-major HWC. channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
struct ImageData {
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Mono audio, samples in [-1, 1] (clipped when encoded), encoded as 16-bit PCM WAV.
struct AudioData {
  float sample_rate = 44100.f;
  std::vector<double> samples;
  bool single_precision = true;  // scale in float32 (float32 input) or float64, as PyTorch does
};

// Markdown text for the text dashboard. `tag` gets PyTorch's "/text_summary" suffix.
struct TextData {
  std::string text;
};

// Frames of one animation, each HWC 8-bit; encoded as an animated GIF.
struct VideoData {
  int frames = 0, height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // frames * height * width * channels
  double fps = 4.0;
};

// Tensor element type on the wire (values are TensorBoard's DataType numbers).
enum class WireDType : int { kFloat = 1, kDouble = 2, kInt32 = 3, kUInt8 = 4, kString = 7, kInt64 = 9, kBool = 10 };

// A generic tensor summary with plugin metadata (text, pr_curves, mesh, hparams, ...).
struct TensorData {
  WireDType dtype = WireDType::kFloat;
  std::vector<int64_t> shape;
  std::string content;                   // raw little-endian elements (non-string dtypes)
  std::vector<std::string> strings;      // elements of a kString tensor
  std::string plugin_name;               // SummaryMetadata.plugin_data.plugin_name
  std::string plugin_content;            // SummaryMetadata.plugin_data.content
  int data_class = 0;                    // 0 unknown, 1 scalar, 2 tensor, 3 blob sequence
  std::string display_name, description;
};

// An Event payload prepared elsewhere, written as is (graph_def bytes, session logs, ...).
struct RawEventData {
  enum class Field { kGraphDef, kSessionLogStart, kSessionLogStop, kSessionLogCheckpoint, kSerializedSummary };
  Field field = Field::kGraphDef;
  std::string bytes;
};

using SummaryPayload =
    std::variant<ScalarData, HistogramData, ImageData, AudioData, TextData, VideoData, TensorData, RawEventData>;

// A payload whose data is not ready yet (e.g. a GPU result still being copied to pinned host
// memory). The writer thread calls resolve() when it reaches the record, so waiting happens
// there and never on the thread that logged. resolve() may throw; the record is then dropped
// and the error counted.
class TRAINSCOPE_API DeferredPayload {
 public:
  virtual ~DeferredPayload();
  virtual SummaryPayload resolve() = 0;
  // Rough bytes held while queued, for the queue's byte bound.
  virtual size_t held_bytes() const = 0;
};

}  // namespace trainscope
