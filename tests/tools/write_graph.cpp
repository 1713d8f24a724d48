// write_graph <run_dir> <model> [<file>]
//
// Writes one model graph with SummaryWriter::add_graph into <run_dir>, for the Python
// conformance tests (tests/conformance/test_graph.py). Models:
//
//   cnn         SimpleCNN (PyTorch's tutorial CNN: conv1 3->6 k5, pool 2, conv2 6->16 k5,
//               fc1 400->120, fc2 120->84, fc3 84->10) on a 1x3x32x32 input
//   sequential  the same layers as a torch::nn::Sequential
//   throwing    a module whose forward throws (structural fallback)
//   datadep     a module whose forward branches on a tensor value (structural fallback)
//   script      the TorchScript module saved at <file> (torch.jit.save), on a 1x3x32x32 input
//
// Exit status: 0 on success, 2 for a usage error, 3 when the SDK throws, 4 when close()
// reports an error.
#include <torch/script.h>
#include <torch/torch.h>

#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>

#include "trainscope/summary_writer.h"

namespace {

struct SimpleCNNImpl : torch::nn::Module {
  SimpleCNNImpl()
      : conv1(register_module("conv1", torch::nn::Conv2d(3, 6, 5))),
        pool(register_module("pool", torch::nn::MaxPool2d(2))),
        conv2(register_module("conv2", torch::nn::Conv2d(6, 16, 5))),
        fc1(register_module("fc1", torch::nn::Linear(16 * 5 * 5, 120))),
        fc2(register_module("fc2", torch::nn::Linear(120, 84))),
        fc3(register_module("fc3", torch::nn::Linear(84, 10))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = pool(torch::relu(conv1(x)));
    x = pool(torch::relu(conv2(x)));
    x = torch::flatten(x, 1);
    x = torch::relu(fc1(x));
    x = torch::relu(fc2(x));
    return fc3(x);
  }
  torch::nn::Conv2d conv1;
  torch::nn::MaxPool2d pool;
  torch::nn::Conv2d conv2;
  torch::nn::Linear fc1, fc2, fc3;
};
TORCH_MODULE(SimpleCNN);

// fc, then a failure or a branch on the data.
struct FragileImpl : torch::nn::Module {
  explicit FragileImpl(bool throws) : throws(throws), fc(register_module("fc", torch::nn::Linear(4, 2))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = fc(x);
    if (throws) throw std::runtime_error("forward failed on purpose");
    return x.sum().item<double>() > 0 ? x : -x;
  }
  bool throws;
  torch::nn::Linear fc;
};
TORCH_MODULE(Fragile);

int usage() {
  std::cerr << "usage: write_graph <run_dir> cnn|sequential|throwing|datadep|script [<file.pt>]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string dir = argv[1], model = argv[2];
  torch::manual_seed(0);
  const auto image = torch::randn({1, 3, 32, 32});
  try {
    trainscope::SummaryWriter writer(dir);
    if (model == "cnn") {
      SimpleCNN net;
      writer.add_graph(net, image);
    } else if (model == "sequential") {
      torch::nn::Sequential net(torch::nn::Conv2d(3, 6, 5), torch::nn::ReLU(), torch::nn::MaxPool2d(2),
                                torch::nn::Conv2d(6, 16, 5), torch::nn::ReLU(), torch::nn::MaxPool2d(2),
                                torch::nn::Flatten(), torch::nn::Linear(400, 120), torch::nn::ReLU(),
                                torch::nn::Linear(120, 84), torch::nn::ReLU(), torch::nn::Linear(84, 10));
      writer.add_graph(net, image);
    } else if (model == "throwing" || model == "datadep") {
      Fragile net(model == "throwing");
      writer.add_graph(net, torch::randn({2, 4}));
    } else if (model == "script") {
      if (argc < 4) return usage();
      torch::jit::Module net = torch::jit::load(argv[3]);
      writer.add_graph(net, std::vector<at::Tensor>{image});
    } else {
      return usage();
    }
    const auto status = writer.close();
    if (!status) {
      std::cerr << "close: " << status.message << "\n";
      return 4;
    }
  } catch (const std::exception& e) {
    std::cerr << "write_graph: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
