// The projector (embeddings) dashboard: files, not events. Laid out as PyTorch's
// add_embedding writes them and TensorBoard's projector plugin reads them:
//   <log_dir>/<step dir>/<tag dir>/tensors.tsv, metadata.tsv, sprite.png
//   <log_dir>/projector_config.pbtxt   one `embeddings { ... }` block per embedding
// This unit owns the names and the config text; the torch half (embedding.cpp) formats the
// matrix, tiles the sprite and writes the files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "trainscope/export.h"

namespace trainscope::detail {

// TensorBoard's name of the dashboard (plugins/projector/metadata.py); not written.
inline constexpr std::string_view kProjectorPluginName = "projector";
inline constexpr std::string_view kProjectorConfigFile = "projector_config.pbtxt";
inline constexpr std::string_view kProjectorTensorsFile = "tensors.tsv";
inline constexpr std::string_view kProjectorMetadataFile = "metadata.tsv";
inline constexpr std::string_view kProjectorSpriteFile = "sprite.png";

// str(step).zfill(5): at least five characters, the sign counted, zeros after the sign.
TRAINSCOPE_API std::string projector_step_dir(int64_t step);

// The tag as a directory name (PyTorch's SummaryWriter._encode: only '%', '/' and '\' are
// escaped).
TRAINSCOPE_API std::string projector_tag_dir(std::string_view tag);

// One `embeddings { ... }` block of projector_config.pbtxt, fields in number order as
// protobuf's text_format prints them: tensor_name "<tag>:<step_dir>", the metadata path if
// `has_metadata`, the sprite (path, then width and height) if `sprite_wh`, the tensor path.
// `subdir` is "<step_dir>/<tag dir>", relative to the log dir.
TRAINSCOPE_API std::string projector_config_entry(std::string_view tag, std::string_view step_dir,
                                                  std::string_view subdir, bool has_metadata,
                                                  std::optional<std::pair<int64_t, int64_t>> sprite_wh);

}  // namespace trainscope::detail
