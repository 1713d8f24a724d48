// Grad-CAM of a TorchScript module's layer, by module path, as the gradcam plugin computes it
// (plugins/gradcam/cam.h through the instrumented forward), for test_torchscript.py to compare
// with Grad-CAM computed in PyTorch with forward hooks.
// Usage: torchscript_gradcam MODEL.pt INPUT.f32 N C H W LAYER OUT.f32
//   INPUT.f32: N*C*H*W float32 (native order); OUT.f32: the N*H*W CAMs, then the N classes.
#include <ATen/ATen.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "../../plugins/gradcam/cam.h"
#include "trainscope/models.h"
#include "trainscope/scripted_module.h"

int main(int argc, char** argv) {
  if (argc != 9) {
    std::cerr << "usage: torchscript_gradcam MODEL.pt INPUT.f32 N C H W LAYER OUT.f32\n";
    return 2;
  }
  try {
    trainscope::Model model = trainscope::load_torchscript_model(argv[1]);
    const int64_t n = std::stoll(argv[3]), c = std::stoll(argv[4]), h = std::stoll(argv[5]), w = std::stoll(argv[6]);
    at::Tensor x = at::empty({n, c, h, w}, at::kFloat);
    std::ifstream in(argv[2], std::ios::binary);
    in.read(reinterpret_cast<char*>(x.data_ptr<float>()), static_cast<std::streamsize>(x.numel() * sizeof(float)));
    if (!in) throw std::runtime_error(std::string(argv[2]) + ": too short");
    model.module().eval();
    const auto forward = [&model](const at::Tensor& t, trainscope::TapSet* taps) {
      trainscope::TapScope scope(taps);
      return model.forward_tapped(t);
    };
    const auto r = trainscope::gradcam::grad_cam(forward, x, argv[7]);
    const at::Tensor cam = r.cam.contiguous();
    const at::Tensor classes = r.classes.to(at::kFloat).contiguous();
    std::ofstream out(argv[8], std::ios::binary);
    out.write(reinterpret_cast<const char*>(cam.data_ptr<float>()), static_cast<std::streamsize>(cam.numel() * 4));
    out.write(reinterpret_cast<const char*>(classes.data_ptr<float>()), static_cast<std::streamsize>(n * 4));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "torchscript_gradcam: " << e.what() << "\n";
    return 1;
  }
}
