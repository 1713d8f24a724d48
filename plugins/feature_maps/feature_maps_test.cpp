// Tests of the feature_maps plugin: the grid images have the documented size and their pixels
// equal an independent per-channel normalisation of the feature maps of the fixed sample
// (captured by a probe plugin from the first training batch and run through the model at the
// same epoch end); the model's mode is restored; bad layers and options are refused.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "plugin_harness.h"
#include "png_rgb.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

using PluginSetup = trainscope::testing::Setup;  // inside TEST bodies, Setup is gtest's

// What the probe sees: the fixed sample and, at every epoch end, that sample's activations.
struct Capture {
  Probe probe;
  int64_t sample_index = 0;
  at::Tensor sample;
  std::map<int64_t, std::map<std::string, at::Tensor>> maps;  // step -> layer -> [C, H, W]
  std::vector<bool> training_at_epoch_end;
  Capture() {
    probe.on_hook = [this](HookContext& c) {
      if (c.hook() == Hook::kTrainBatchBegin && !sample.defined()) {
        sample = c.inputs().narrow(0, sample_index, 1).clone();
      } else if (c.hook() == Hook::kEpochEnd) {
        training_at_epoch_end.push_back(c.model().is_training());  // after the plugin ran
        at::NoGradGuard no_grad;
        c.model().eval();
        TapSet taps;
        taps.request_all(true);
        c.forward(sample, &taps);
        c.model().train();
        for (const auto& [name, value] : taps.values()) maps[c.step()][name] = value[0].clone();
      }
    };
  }
};

// Expected 8-bit value of one normalised pixel: (v - min) / (max - min), scaled by 255 and
// truncated as the writer does; computed in double with plain loops.
struct ChannelRange {
  double lo, hi;
};
ChannelRange range_of(const at::Tensor& hw) {
  const at::Tensor d = hw.to(at::kDouble).contiguous();
  const double* p = d.data_ptr<double>();
  ChannelRange r{p[0], p[0]};
  for (int64_t i = 0; i < d.numel(); ++i) r.lo = std::min(r.lo, p[i]), r.hi = std::max(r.hi, p[i]);
  return r;
}

// Checks one logged grid against the captured [C, H, W] map: size, tiles, white padding.
void check_grid(const Rgb& img, const at::Tensor& chw, int64_t channels, int64_t pad) {
  const int64_t k = std::min(channels, chw.size(0)), h = chw.size(1), w = chw.size(2);
  const int64_t cols = std::min<int64_t>(k, 8), rows = (k + cols - 1) / cols;
  ASSERT_EQ(img.width, cols * w + (cols - 1) * pad);
  ASSERT_EQ(img.height, rows * h + (rows - 1) * pad);
  std::vector<bool> covered(static_cast<size_t>(img.width * img.height), false);
  int64_t off_by_one = 0;
  for (int64_t c = 0; c < k; ++c) {
    const at::Tensor ch = chw[c].to(at::kDouble).contiguous();
    const ChannelRange r = range_of(ch);
    const int64_t y0 = (c / cols) * (h + pad), x0 = (c % cols) * (w + pad);
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const double v = ch[y][x].item<double>();
        const double norm = r.hi > r.lo ? (v - r.lo) / (r.hi - r.lo) : 0.0;
        const int want = static_cast<int>(std::clamp(norm * 255.0, 0.0, 255.0));
        const int got = img.at(y0 + y, x0 + x, 0);
        // float32 on the plugin's side: a value right at a step of 1/255 may land one lower/higher.
        ASSERT_LE(std::abs(got - want), 1) << "channel " << c << " pixel (" << y << ", " << x << ")";
        off_by_one += got != want;
        EXPECT_EQ(img.at(y0 + y, x0 + x, 1), got);
        EXPECT_EQ(img.at(y0 + y, x0 + x, 2), got);
        covered[static_cast<size_t>((y0 + y) * img.width + x0 + x)] = true;
      }
    }
  }
  EXPECT_LT(off_by_one, 2 + k * h * w / 100);  // rounding, not a systematic shift
  for (int64_t y = 0; y < img.height; ++y) {
    for (int64_t x = 0; x < img.width; ++x) {
      if (!covered[static_cast<size_t>(y * img.width + x)]) {
        ASSERT_EQ(img.at(y, x, 0), 255) << "padding or empty cell at (" << y << ", " << x << ") is not white";
      }
    }
  }
}

TEST(FeatureMaps, GridsHaveTheDocumentedSizeAndEqualAnIndependentNormalisation) {
  Capture cap;
  cap.sample_index = 3;
  PluginSetup setup;
  setup.add_after = [&](HookBus& bus) { add_probe(bus, cap.probe); };
  const PluginRun run = run_plugins(R"([[plugin]]
name = "feature_maps"
channels = 10
sample_index = 3
padding = 2
on_error = "abort"
)",
                                    setup);
  // Default layers ["*"]: simple_cnn's 4-D taps only (conv1 [6, 24, 24], conv2 [16, 8, 8]).
  const auto tags = run.tags_with_prefix("feature_maps/");
  EXPECT_EQ(tags, (std::vector<std::string>{"feature_maps/conv1", "feature_maps/conv2"}));
  EXPECT_EQ(cap.training_at_epoch_end, (std::vector<bool>{true, true})) << "train mode must be restored";
  ASSERT_EQ(cap.maps.size(), 2u);  // steps 4 and 8
  for (const std::string layer : {"conv1", "conv2"}) {
    const auto logged = run.values("feature_maps/" + layer);
    ASSERT_EQ(logged.size(), 2u) << layer;
    for (const auto& [step, v] : logged) {
      SCOPED_TRACE(layer + " at step " + std::to_string(step));
      ASSERT_TRUE(cap.maps.count(step));
      const at::Tensor& chw = cap.maps.at(step).at(layer);
      const Rgb img = decode_rgb(v->encoded);
      EXPECT_EQ(v->image_width, img.width);
      EXPECT_EQ(v->image_height, img.height);
      check_grid(img, chw, 10, 2);
    }
  }
  // The maps change as the model trains, and the grid follows them.
  EXPECT_FALSE(at::equal(cap.maps.at(4).at("conv1"), cap.maps.at(8).at("conv1")));
}

TEST(FeatureMaps, NamedLayersAndEveryNEpochs) {
  Capture cap;
  PluginSetup setup;
  setup.overrides = {"trainer.epochs=2"};
  setup.add_after = [&](HookBus& bus) { add_probe(bus, cap.probe); };
  const PluginRun run = run_plugins(R"([[plugin]]
name = "feature_maps"
layers = ["conv2"]
channels = 3
every_n_epochs = 2
on_error = "abort"
)",
                                    setup);
  EXPECT_EQ(run.tags_with_prefix("feature_maps/"), (std::vector<std::string>{"feature_maps/conv2"}));
  const auto logged = run.values("feature_maps/conv2");
  ASSERT_EQ(logged.size(), 1u);  // the 2nd epoch only
  EXPECT_EQ(logged[0].first, 8);
  check_grid(decode_rgb(logged[0].second->encoded), cap.maps.at(8).at("conv2"), 3, 1);
}

TEST(FeatureMaps, ANonConvolutionalLayerIsAnErrorNamingIt) {
  PluginSetup setup;
  setup.overrides = {"trainer.epochs=1"};
  try {
    run_plugins(R"([[plugin]]
name = "feature_maps"
layers = ["fc1"]
on_error = "abort"
)",
                setup);
    ADD_FAILURE() << "layers = [\"fc1\"] was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'fc1' has a 2-D activation"), std::string::npos) << e.what();
  }
  try {
    run_plugins(R"([[plugin]]
name = "feature_maps"
layers = ["nope"]
on_error = "abort"
)",
                setup);
    ADD_FAILURE() << "layers = [\"nope\"] was accepted";
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no activation named 'nope'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("conv1 (4-D)"), std::string::npos) << msg;  // lists what there is
  }
}

TEST(FeatureMaps, BadOptionsAreRefusedNamingTheOption) {
  for (const auto& [toml, message] : std::vector<std::pair<std::string, std::string>>{
           {"channels = 0", "'channels' = 0 is out of range: must be an integer >= 1"},
           {"sample_index = -1", "'sample_index' = -1 is out of range: must be an integer >= 0"},
           {"padding = -1", "'padding' = -1 is out of range: must be an integer >= 0"},
           {"layers = []", "'layers' = [] is not allowed: must be a non-empty list of glob patterns"}}) {
    const auto problems = config_problems("[[plugin]]\nname = \"feature_maps\"\n" + toml + "\n");
    ASSERT_EQ(problems.size(), 1u) << toml << ::testing::PrintToString(problems);
    EXPECT_NE(problems[0].find("plugin 'feature_maps' option " + message), std::string::npos) << problems[0];
  }
}

}  // namespace
}  // namespace trainscope::testing
