// Tests of the gradcam plugin and of its CAM function (cam.h):
//  - cam_from equals a plain-loop Grad-CAM (weights, ReLU, bilinear upsampling, min-max);
//  - the logged panels equal the input, jet(CAM) and their blend for the fixed validation
//    samples, the logged class is the predicted one, and training is undisturbed (the same
//    parameters after a fit with and without the plugin, .grad and train mode untouched);
//  - acceptance: on synthetic images with a bright square in one quadrant (class = quadrant),
//    a small CNN trained for a few epochs gets CAMs with most of their mass in that quadrant;
//  - acceptance on ResNet-18 scripted in Python, `layer4` by module path: with one of four
//    shapes in a random quadrant (class = shape), the CAMs find the shape's quadrant.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cam.h"
#include "plugin_harness.h"
#include "png_rgb.h"
#include "trainer_fixtures.h"
#include "trainscope/models.h"

namespace trainscope::testing {
namespace {

using PluginSetup = trainscope::testing::Setup;  // inside TEST bodies, Setup is gtest's

double at2(const at::Tensor& t, int64_t i, int64_t j) { return t[i][j].item<double>(); }

// ---- cam_from against plain loops -----------------------------------------------------------

// Bilinear resize with PyTorch's align_corners=false convention, written out.
std::vector<std::vector<double>> resize(const std::vector<std::vector<double>>& in, int64_t oh, int64_t ow) {
  const int64_t ih = static_cast<int64_t>(in.size()), iw = static_cast<int64_t>(in[0].size());
  auto src = [](int64_t dst, int64_t insz, int64_t outsz) {
    const double s = (static_cast<double>(dst) + 0.5) * static_cast<double>(insz) / static_cast<double>(outsz) - 0.5;
    return std::max(s, 0.0);
  };
  std::vector<std::vector<double>> out(static_cast<size_t>(oh), std::vector<double>(static_cast<size_t>(ow)));
  for (int64_t y = 0; y < oh; ++y) {
    const double sy = src(y, ih, oh);
    const int64_t y0 = static_cast<int64_t>(std::floor(sy)), y1 = std::min(y0 + 1, ih - 1);
    const double ly = sy - static_cast<double>(y0);
    for (int64_t x = 0; x < ow; ++x) {
      const double sx = src(x, iw, ow);
      const int64_t x0 = static_cast<int64_t>(std::floor(sx)), x1 = std::min(x0 + 1, iw - 1);
      const double lx = sx - static_cast<double>(x0);
      out[y][x] = (1 - ly) * ((1 - lx) * in[y0][x0] + lx * in[y0][x1]) + ly * ((1 - lx) * in[y1][x0] + lx * in[y1][x1]);
    }
  }
  return out;
}

TEST(GradCam, CamFromEqualsAPlainLoopGradCam) {
  torch::manual_seed(11);
  const int64_t n = 3, k = 4, h = 5, w = 6, oh = 17, ow = 13;
  const at::Tensor a = torch::randn({n, k, h, w}).relu();
  at::Tensor g = torch::randn({n, k, h, w});
  g[2] = -g[2].abs() * (a[2] > 0);  // sample 2: negative evidence only, so its CAM is all 0
  const at::Tensor cam = gradcam::cam_from(a, g, oh, ow);
  ASSERT_EQ(cam.sizes(), (std::vector<int64_t>{n, oh, ow}));
  for (int64_t s = 0; s < n; ++s) {
    std::vector<std::vector<double>> m(static_cast<size_t>(h), std::vector<double>(static_cast<size_t>(w), 0.0));
    for (int64_t c = 0; c < k; ++c) {
      double alpha = 0;
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) alpha += g[s][c][y][x].item<double>();
      }
      alpha /= static_cast<double>(h * w);
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) m[y][x] += alpha * a[s][c][y][x].item<double>();
      }
    }
    for (auto& row : m) {
      for (double& v : row) v = std::max(v, 0.0);
    }
    const auto up = resize(m, oh, ow);
    double lo = up[0][0], hi = up[0][0];
    for (const auto& row : up) {
      for (double v : row) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    for (int64_t y = 0; y < oh; ++y) {
      for (int64_t x = 0; x < ow; ++x) {
        const double want = hi > lo ? (up[y][x] - lo) / (hi - lo) : 0.0;
        ASSERT_NEAR(cam[s][y][x].item<double>(), want, 1e-5) << "sample " << s << " (" << y << ", " << x << ")";
      }
    }
    if (s == 2) {
      EXPECT_EQ(hi, 0.0) << "the all-negative sample should give a zero map";
    }
  }
  EXPECT_TRUE(at::equal(cam[2], at::zeros({oh, ow})));
}

TEST(GradCam, JetIsMatlabsColourMap) {
  const at::Tensor t = at::tensor({0.0, 0.125, 0.375, 0.5, 0.625, 0.875, 1.0}, at::kDouble);
  const at::Tensor rgb = gradcam::jet(t);
  // Dark blue, blue, cyan, (0.5, 1, 0.5), yellow, red, dark red.
  const double want[7][3] = {{0, 0, 0.5}, {0, 0, 1}, {0, 1, 1}, {0.5, 1, 0.5}, {1, 1, 0}, {1, 0, 0}, {0.5, 0, 0}};
  for (int i = 0; i < 7; ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(at2(rgb, i, c), want[i][c], 1e-12) << i << " " << c;
  }
}

// ---- The plugin in a real fit ---------------------------------------------------------------

// Holds on to the model the harness trains.
struct ModelKeeper {
  Model model;
};

PluginSetup keep_model(ModelKeeper& keeper) {
  PluginSetup s;
  s.model = [&keeper](const Datasets& d) {
    ModelSection section;
    Model m = make_model(section, {d.train.sample_shape(), d.train.num_classes()});
    keeper.model = m;
    return m;
  };
  return s;
}

at::Tensor flat_params(torch::nn::Module& m) {
  std::vector<at::Tensor> ps;
  for (const auto& p : m.parameters()) ps.push_back(p.detach().reshape(-1));
  return at::cat(ps).clone();
}

TEST(GradCam, PanelsShowInputHeatmapAndOverlayAndTrainingIsUndisturbed) {
  // Baseline: the same fit without the plugin.
  ModelKeeper base;
  run_plugins("", keep_model(base));
  const at::Tensor baseline = flat_params(base.model.module());

  ModelKeeper with;
  PluginSetup setup = keep_model(with);
  Probe before, after;
  std::vector<at::Tensor> grads_before;
  at::Tensor val_x;
  struct Expected {
    at::Tensor cam, classes;
  };
  std::map<int64_t, Expected> expected;  // by step
  std::vector<bool> training_after;
  before.on_hook = [&](HookContext& c) {
    if (c.hook() != Hook::kEpochEnd) return;
    grads_before.clear();
    for (const auto& p : c.model().parameters()) grads_before.push_back(p.grad().clone());
  };
  after.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kValidationBatchEnd && c.batch_index() == 0 && !val_x.defined()) {
      val_x = c.inputs().narrow(0, 0, 3).clone();
    }
    if (c.hook() != Hook::kEpochEnd) return;
    training_after.push_back(c.model().is_training());
    const auto params = c.model().parameters();
    ASSERT_EQ(params.size(), grads_before.size());
    for (size_t i = 0; i < params.size(); ++i) {
      ASSERT_TRUE(params[i].grad().defined());
      EXPECT_TRUE(at::equal(params[i].grad(), grads_before[i])) << "gradcam changed .grad of parameter " << i;
    }
    c.model().eval();
    auto r = gradcam::grad_cam([&c](const at::Tensor& x, TapSet* t) { return c.forward(x, t); }, val_x, "conv2");
    c.model().train();
    expected[c.step()] = {r.cam, r.classes};
  };
  setup.add_before = [&](HookBus& bus) { add_probe(bus, before, "before"); };
  setup.add_after = [&](HookBus& bus) { add_probe(bus, after, "after"); };
  const PluginRun run = run_plugins(R"([[plugin]]
name = "gradcam"
samples = 3
on_error = "abort"
)",
                                    setup);
  EXPECT_TRUE(at::equal(flat_params(with.model.module()), baseline)) << "training with gradcam must match training without";
  EXPECT_EQ(training_after, (std::vector<bool>{true, true}));
  ASSERT_EQ(expected.size(), 2u);
  const auto tags = run.tags_with_prefix("gradcam/");
  EXPECT_EQ(tags, (std::vector<std::string>{"gradcam/sample_0", "gradcam/sample_0/class", "gradcam/sample_1",
                                            "gradcam/sample_1/class", "gradcam/sample_2", "gradcam/sample_2/class"}));
  ASSERT_TRUE(val_x.defined());
  for (int64_t i = 0; i < 3; ++i) {
    const std::string tag = "gradcam/sample_" + std::to_string(i);
    const auto images = run.values(tag);
    ASSERT_EQ(images.size(), 2u);
    const auto classes = run.scalars(tag + "/class");
    ASSERT_EQ(classes.size(), 2u);
    // The input panel: min-max of the sample.
    const at::Tensor xi = val_x[i][0].to(at::kDouble);
    const double lo = xi.min().item<double>(), hi = xi.max().item<double>();
    for (size_t e = 0; e < images.size(); ++e) {
      const auto& [step, v] = images[e];
      SCOPED_TRACE(tag + " at step " + std::to_string(step));
      ASSERT_TRUE(expected.count(step));
      EXPECT_EQ(classes[e].first, step);
      EXPECT_EQ(classes[e].second, expected.at(step).classes[i].item<double>());
      const Rgb img = decode_rgb(v->encoded);
      ASSERT_EQ(img.height, 28);
      ASSERT_EQ(img.width, 3 * 28 + 2 * gradcam::kPanelGap);
      const at::Tensor cam = expected.at(step).cam[i];
      const at::Tensor heat = gradcam::jet(cam.to(at::kDouble));
      int64_t worst = 0;
      for (int64_t y = 0; y < 28; ++y) {
        for (int64_t x = 0; x < 28; ++x) {
          const double g = (xi[y][x].item<double>() - lo) / (hi - lo);
          for (int c = 0; c < 3; ++c) {
            const double hv = heat[y][x][c].item<double>();
            const int want[3] = {static_cast<int>(g * 255), static_cast<int>(hv * 255),
                                 static_cast<int>((0.5 * g + 0.5 * hv) * 255)};
            const int got[3] = {img.at(y, x, c), img.at(y, 28 + 2 + x, c), img.at(y, 2 * (28 + 2) + x, c)};
            for (int p = 0; p < 3; ++p) worst = std::max<int64_t>(worst, std::abs(got[p] - want[p]));
          }
        }
        for (int64_t gx : {28, 29, 58, 59}) EXPECT_EQ(img.at(y, gx, 0), 255) << "gap column " << gx;
      }
      EXPECT_LE(worst, 1) << "largest 8-bit difference from the independent panels";
    }
  }
}

// ---- Acceptance: Grad-CAM localises ---------------------------------------------------------

// 1x28x28 images of noise (sd 0.3) with a bright 6x6 square (+1.5) somewhere inside one
// quadrant (1 to 7 pixels from the quadrant's corner, so wholly inside it); class = quadrant
// (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right).
TensorDataset quadrant_squares(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  TensorDataset d;
  d.inputs = at::randn({n, 1, 28, 28}, gen) * 0.3;
  d.targets = at::randint(0, 4, {n}, gen, at::kLong);
  const at::Tensor offsets = at::randint(1, 8, {n, 2}, gen, at::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t q = d.targets[i].item<int64_t>();
    const int64_t top = (q / 2) * 14 + offsets[i][0].item<int64_t>();
    const int64_t left = (q % 2) * 14 + offsets[i][1].item<int64_t>();
    d.inputs[i][0].narrow(0, top, 6).narrow(1, left, 6).add_(1.5);
  }
  d.class_names = {"top-left", "top-right", "bottom-left", "bottom-right"};
  return d;
}

// The zoo's simple_cnn (conv 6 k5, pool, conv 16 k5 -> "conv2" 16x8x8, pool, three linear
// layers), trained 3 epochs with Adam at lr 0.001, with the plugin on. Its fully connected head
// sees positions, so part of a class's evidence can be "no square elsewhere", which Grad-CAM
// (positive evidence only) does not show: the maps are not perfect, and the thresholds below
// are set against chance, with margin from a sweep over 8 seeds of the same setup in PyTorch
// (share of samples with more than half the mass in the right quadrant: 0.82 to 1.0; peak in
// the right quadrant: 0.975 to 1.0). At lr 0.01 the head leans more on negative evidence and
// the maps get less reliable (0.69 to 1.0), hence the lower rate here.
TEST(GradCam, LocalisesTheObjectsQuadrant) {
  ModelKeeper keeper;
  PluginSetup setup = keep_model(keeper);
  setup.overrides = {"trainer.epochs=3", "trainer.lr=0.001"};
  setup.data = [] { return Datasets{quadrant_squares(512, 1), quadrant_squares(128, 2), "quadrant squares"}; };
  const PluginRun run = run_plugins(R"([[plugin]]
name = "gradcam"
layer = "conv2"
on_error = "abort"
)",
                                    setup);
  EXPECT_EQ(run.values("gradcam/sample_0").size(), 3u);  // one per epoch

  // Held-out samples the model never trained on.
  const TensorDataset test = quadrant_squares(200, 3);
  Model& model = keeper.model;
  model.module().eval();
  const auto forward = [&model](const at::Tensor& x, TapSet* taps) {
    TapScope scope(taps);
    return model.forward(x);
  };
  const gradcam::CamResult r = gradcam::grad_cam(forward, test.inputs, "conv2");  // predicted classes
  const double accuracy = r.classes.eq(test.targets).to(at::kDouble).mean().item<double>();
  ASSERT_GT(accuracy, 0.9) << "the CNN did not learn the quadrants, so its CAMs mean little";

  // Share of each CAM's mass in the object's quadrant: a map spread evenly gives 0.25, one that
  // marks only the object ~1. More than half means the map points there rather than anywhere
  // else (no other quadrant can then hold as much). Chance levels: a map pointing at a random
  // quadrant passes for ~25% of the samples, an even one for none.
  const int64_t n = test.size();
  int64_t most_mass = 0, peak_inside = 0;
  double mean_share = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t q = test.targets[i].item<int64_t>();
    const at::Tensor cam = r.cam[i].to(at::kDouble);
    const double total = cam.sum().item<double>();
    const double inside = cam.narrow(0, (q / 2) * 14, 14).narrow(1, (q % 2) * 14, 14).sum().item<double>();
    const double share = total > 0 ? inside / total : 0.0;
    mean_share += share / static_cast<double>(n);
    most_mass += share > 0.5 ? 1 : 0;
    const int64_t peak = cam.argmax().item<int64_t>();
    peak_inside += (peak / 28 / 14) * 2 + (peak % 28 / 14) == q ? 1 : 0;
  }
  std::cout << "[ gradcam  ] accuracy " << accuracy << "; share of CAM mass in the object's quadrant: mean "
            << mean_share << ", more than half for " << most_mass << "/" << n << "; peak inside for " << peak_inside
            << "/" << n << "\n";
  EXPECT_GE(most_mass * 4, n * 3) << "more than half of the mass in the right quadrant for at least 75% of samples";
  EXPECT_GE(peak_inside * 10, n * 9) << "the CAM's maximum in the right quadrant for at least 90% of samples";
  EXPECT_GT(mean_share, 0.5);
}

// ---- Acceptance on ResNet-18 from Python (TorchScript, layer by module path) ----------------

// What, not where: 1x28x28 noise (sd 0.3) with one of four 6x6 shapes (+1.5; class 0 filled
// square, 1 outline, 2 plus, 3 diagonal cross) somewhere inside a random quadrant (1 to 7 pixels
// from its corner), bilinearly upsampled to 56x56 so that ResNet-18's layer4 is 7x7 (4x4 at
// 28x28: one cell would span half a quadrant). A network that pools globally (ResNet) cannot
// tell quadrants apart except through padding, so the quadrant-as-class task above does not
// suit it: its maps for "top-left" may sit anywhere (the shape decides the class here, and the
// map should find the shape). `quadrant` holds each object's quadrant.
struct ShapeSamples {
  TensorDataset data;
  at::Tensor quadrant;
};

ShapeSamples shapes_in_quadrants(int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor x = at::randn({n, 1, 28, 28}, gen) * 0.3;
  ShapeSamples s;
  s.data.targets = at::randint(0, 4, {n}, gen, at::kLong);
  s.quadrant = at::randint(0, 4, {n}, gen, at::kLong);
  const at::Tensor offsets = at::randint(1, 8, {n, 2}, gen, at::kLong);
  std::vector<at::Tensor> masks;
  for (int k = 0; k < 4; ++k) masks.push_back(at::zeros({6, 6}));
  masks[0].fill_(1);
  masks[1].fill_(1).narrow(0, 1, 4).narrow(1, 1, 4).zero_();
  masks[2].narrow(0, 2, 2).fill_(1), masks[2].narrow(1, 2, 2).fill_(1);
  for (int64_t i = 0; i < 6; ++i) masks[3][i][i] = 1, masks[3][i][5 - i] = 1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t q = s.quadrant[i].item<int64_t>();
    const int64_t top = (q / 2) * 14 + offsets[i][0].item<int64_t>();
    const int64_t left = (q % 2) * 14 + offsets[i][1].item<int64_t>();
    x[i][0].narrow(0, top, 6).narrow(1, left, 6).add_(masks[s.data.targets[i].item<int64_t>()] * 1.5);
  }
  s.data.inputs = at::upsample_bilinear2d(x, {56, 56}, /*align_corners=*/false);
  s.data.class_names = {"square", "outline", "plus", "cross"};
  return s;
}

// torchvision's ResNet-18 as examples/torchscript_resnet/make_resnet18.py writes it (3x3
// stride-1 stem, no max-pool), scripted in Python at build time with --width 16 (channels
// 16/32/64/128 instead of 64/128/256/512: the same topology and module paths at 1/16 of the
// compute, so it trains here in seconds) and 4 classes. Trained 3 epochs, Adam lr 0.001,
// batch 16, with the plugin on `layer4` by module path; the CAMs of held-out samples are then
// computed with the plugin's own function on the same tap. Thresholds: the same setup in
// PyTorch (register_forward_hook, its own random data) over 6 seeds gave a mean share of 0.54
// to 0.69, more than half of the mass in the object's quadrant for 135 to 174 of 200 held-out
// samples, the peak there for 148 to 200 (chance: 0.25 and 50), held-out accuracy 0.84 to 1.0
// (in eval mode; it moves from epoch to epoch: a 4th gave 0.71 to 1.0, with better maps); the
// thresholds pass for all six. At 28x28 (layer4 4x4) the mean share
// was 0.43 to 0.46 (3 seeds), and with the quadrant as the class (the test above) 0.21 to 0.25
// (2 seeds): the reasons for the 56x56 input and for this task.
TEST(GradCam, LocalisesTheObjectOnAScriptedResNet18) {
#ifndef TRAINSCOPE_GRADCAM_RESNET18
  GTEST_SKIP() << "no Python with torchvision at configure time, so no scripted ResNet-18 was written";
#else
  ModelKeeper keeper;
  PluginSetup setup;
  setup.model = [&keeper](const Datasets&) {
    keeper.model = load_torchscript_model(TRAINSCOPE_GRADCAM_RESNET18);
    return keeper.model;
  };
  setup.overrides = {"trainer.epochs=3", "trainer.lr=0.001"};
  setup.data = [] {
    return Datasets{shapes_in_quadrants(512, 1).data, shapes_in_quadrants(64, 2).data, "shapes in quadrants"};
  };
  const PluginRun run = run_plugins(R"([[plugin]]
name = "gradcam"
layer = "layer4"
samples = 2
on_error = "abort"
)",
                                    setup);
  const auto images = run.values("gradcam/sample_0");
  ASSERT_EQ(images.size(), 3u);  // one per epoch
  const Rgb img = decode_rgb(images.back().second->encoded);
  EXPECT_EQ(img.height, 56);
  EXPECT_EQ(img.width, 3 * 56 + 2 * gradcam::kPanelGap);

  const ShapeSamples test = shapes_in_quadrants(200, 3);  // held out
  Model& model = keeper.model;
  model.module().eval();
  const auto forward = [&model](const at::Tensor& x, TapSet* taps) {
    TapScope scope(taps);
    return model.forward_tapped(x);  // what HookContext::forward runs for a TorchScript model
  };
  const gradcam::CamResult r = gradcam::grad_cam(forward, test.data.inputs, "layer4");
  const double accuracy = r.classes.eq(test.data.targets).to(at::kDouble).mean().item<double>();
  ASSERT_GT(accuracy, 0.8) << "the ResNet did not learn the shapes, so its CAMs mean little";
  ASSERT_EQ(r.cam.sizes(), (std::vector<int64_t>{200, 56, 56}));

  const int64_t n = test.data.size();
  int64_t most_mass = 0, peak_inside = 0;
  double mean_share = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t q = test.quadrant[i].item<int64_t>();
    const at::Tensor cam = r.cam[i].to(at::kDouble);
    const double total = cam.sum().item<double>();
    const double inside = cam.narrow(0, (q / 2) * 28, 28).narrow(1, (q % 2) * 28, 28).sum().item<double>();
    const double share = total > 0 ? inside / total : 0.0;
    mean_share += share / static_cast<double>(n);
    most_mass += share > 0.5 ? 1 : 0;
    const int64_t peak = cam.argmax().item<int64_t>();
    peak_inside += (peak / 56 / 28) * 2 + (peak % 56 / 28) == q ? 1 : 0;
  }
  std::cout << "[ gradcam  ] ResNet-18 (TorchScript, width 16, layer4 7x7): accuracy " << accuracy
            << "; share of CAM mass in the object's quadrant: mean " << mean_share << ", more than half for "
            << most_mass << "/" << n << "; peak inside for " << peak_inside << "/" << n << "\n";
  EXPECT_GT(mean_share, 0.5) << "on average more than half of the heat on the object's quadrant";
  EXPECT_GE(most_mass * 2, n) << "more than half of the mass in the right quadrant for at least half the samples";
  EXPECT_GE(peak_inside * 10, n * 7) << "the CAM's maximum in the right quadrant for at least 70% of samples";
#endif
}

}  // namespace
}  // namespace trainscope::testing
