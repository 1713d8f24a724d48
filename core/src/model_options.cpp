// The zoo models' option schemas (model_options.h). models.cpp builds from the same keys.
#include "trainscope/model_options.h"

#include <map>
#include <string>

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
  };
  auto it = schemas.find(model);
  return it == schemas.end() ? nullptr : &it->second;
}

}  // namespace trainscope
