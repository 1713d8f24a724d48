// The zoo models' option schemas (model_options.h). models.cpp builds from the same keys.
#include "trainscope/model_options.h"

#include <map>
#include <string>
#include <variant>

namespace trainscope {

const std::vector<OptionSpec>* model_options(std::string_view model) {
  static const std::map<std::string, std::vector<OptionSpec>, std::less<>> schemas = {
      {"simple_cnn",
       {option<int64_t>("conv1", 6, "channels of the first convolution").range(1, 4096),
        option<int64_t>("conv2", 16, "channels of the second convolution").range(1, 4096),
        option<int64_t>("fc1", 120, "units of the first fully connected layer").range(1, 65536),
        option<int64_t>("fc2", 84, "units of the second fully connected layer (the features tap)").range(1, 65536),
        option<double>("dropout", 0.0, "dropout after the fc1 and fc2 activations (training only)").min(0).less_than(1)}},
      {"mlp",
       {option<int64_t>("hidden", 256, "units of every hidden layer").range(1, 65536),
        option<int64_t>("layers", 2, "hidden layers").range(1, 64),
        option<double>("dropout", 0.0, "dropout after each hidden layer").min(0).less_than(1)}},
      {"resnet",
       {option<int64_t>("width", 16, "channels of the first stage (then 2x, 4x)").range(1, 1024),
        option<int64_t>("blocks", 1, "basic blocks per stage").range(1, 64)}},
      {"transformer_encoder",
       {option<int64_t>("d_model", 64, "width of the token embeddings (a multiple of nhead)").range(1, 4096),
        option<int64_t>("nhead", 4, "attention heads per layer").range(1, 256),
        option<int64_t>("num_layers", 2, "encoder layers").range(1, 64),
        option<int64_t>("dim_feedforward", 128, "hidden units of each layer's feed-forward block").range(1, 65536),
        option<double>("dropout", 0.0, "dropout on attention weights and sublayer outputs (training only)")
            .min(0)
            .less_than(1)}},
  };
  auto it = schemas.find(model);
  return it == schemas.end() ? nullptr : &it->second;
}

std::optional<ModelOptionProblem> check_model_option_pairs(std::string_view model,
                                                           const std::map<std::string, OptionValue>& options) {
  auto integer = [&](const char* key, int64_t def) {
    auto it = options.find(key);
    const int64_t* v = it == options.end() ? nullptr : std::get_if<int64_t>(&it->second);
    return v ? *v : def;
  };
  if (model == "transformer_encoder") {
    const int64_t d_model = integer("d_model", 64), nhead = integer("nhead", 4);
    if (d_model > 0 && nhead > 0 && d_model % nhead != 0) {
      // Blame the key the user wrote (nhead when both or neither are written).
      const std::string key = options.count("nhead") || !options.count("d_model") ? "nhead" : "d_model";
      return ModelOptionProblem{
          key, "= " + std::to_string(key == "nhead" ? nhead : d_model) + ": nhead (" + std::to_string(nhead) +
                   ") must divide d_model (" + std::to_string(d_model) +
                   ") into equal heads; e.g. d_model = " + std::to_string((d_model / nhead + 1) * nhead)};
    }
  }
  return std::nullopt;
}

}  // namespace trainscope
