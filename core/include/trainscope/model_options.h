// The options each zoo model (models.h) takes in [model], besides `name`, as option schemas
// with their ranges: validate refuses a key the chosen model does not take (listing those it
// takes) and a value out of range, at file:line:column, before anything is built.
//   simple_cnn: conv1, conv2 (channels, 1..4096), fc1, fc2 (units, 1..65536), dropout (0 <= p < 1)
//   mlp:        hidden (units, 1..65536), layers (1..64), dropout (0 <= p < 1)
//   resnet:     width (channels of the first stage, 1..1024), blocks (per stage, 1..64)
//   transformer_encoder: d_model (1..4096, a multiple of nhead), nhead (1..256), num_layers
//               (1..64), dim_feedforward (1..65536), dropout (0 <= p < 1)
// Torch-free.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/options.h"

namespace trainscope {

// The schema of `model`, or nullptr for a name that is not in the zoo.
TRAINSCOPE_API const std::vector<OptionSpec>* model_options(std::string_view model);

// A constraint between two options of one model that the per-option ranges cannot express
// (transformer_encoder: nhead must divide d_model). `key` is the option to blame.
struct ModelOptionProblem {
  std::string key, message;
};
// Checks `options` (already in range) of `model`; nullopt when they fit together.
TRAINSCOPE_API std::optional<ModelOptionProblem> check_model_option_pairs(
    std::string_view model, const std::map<std::string, OptionValue>& options);

}  // namespace trainscope
