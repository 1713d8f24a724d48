// images plugin: a real fit; an in-process probe keeps its own copy of the samples the grid
// should show, and the logged PNG, decoded with libpng, is compared pixel by pixel with the
// de-normalised samples placed as PyTorch's make_grid places them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "png_rgb.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

struct Grid {
  int64_t nrow, padding;
  double pad_value, mean, std;
};

// Checks every pixel of `img` against `samples` ([N, 1, H, W] on the CPU, as the model saw
// them) laid out as make_grid does, each value x shown as trunc(clamp(x * std + mean) * 255).
void expect_grid(const Rgb& img, const at::Tensor& samples, const Grid& g) {
  const int64_t n = samples.size(0), h = samples.size(2), w = samples.size(3), p = g.padding;
  const int64_t ncols = std::min(g.nrow, n), nrows = (n + ncols - 1) / ncols;
  ASSERT_EQ(img.width, ncols * (w + p) + p);
  ASSERT_EQ(img.height, nrows * (h + p) + p);
  const at::Tensor s = samples.to(at::kDouble).contiguous();
  const double* v = s.data_ptr<double>();
  const int pad = static_cast<int>(g.pad_value * 255.0);
  int64_t checked = 0, off_by_one = 0;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      int expected = pad;
      const int64_t r = y / (h + p), c = x / (w + p), iy = y % (h + p) - p, ix = x % (w + p) - p;
      const int64_t k = r * ncols + c;
      if (iy >= 0 && ix >= 0 && r < nrows && c < ncols && k < n) {
        const double value = v[(k * h + iy) * w + ix] * g.std + g.mean;
        expected = static_cast<int>(std::clamp(value, 0.0, 1.0) * 255.0);
      }
      for (int ch = 0; ch < 3; ++ch) {
        const int got = img.at(y, x, ch);
        // float32 in the plugin, float64 here: a value on an integer edge may truncate either way.
        ASSERT_LE(std::abs(got - expected), 1) << "pixel (" << x << ", " << y << ") channel " << ch;
        off_by_one += got != expected;
        ++checked;
      }
    }
  }
  EXPECT_LT(off_by_one * 100, checked) << "more than 1% of the pixels differ by one level";
}

TEST(ImagesPlugin, FirstValidationBatchDenormalisedOnAPaddedGrid) {
  at::Tensor samples;
  std::vector<int64_t> epoch_end_steps;
  Probe probe;
  probe.on_hook = [&](HookContext& ctx) {
    if (ctx.hook() == Hook::kValidationBatchEnd && ctx.batch_index() == 0 && !samples.defined())
      samples = ctx.inputs().narrow(0, 0, 10).to(at::kCPU).clone();
    if (ctx.hook() == Hook::kEpochEnd) epoch_end_steps.push_back(ctx.step());
  };
  trainscope::testing::Setup setup;
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun run = run_plugins(
      "[[plugin]]\nname = \"images\"\nnum_images = 10\nnrow = 4\npadding = 3\npad_value = 1.0\n"
      "mean = [\"0.5\"]\nstd = [\"0.25\"]\n",
      setup);
  ASSERT_TRUE(samples.defined());
  const auto logged = run.values("images/inputs");
  ASSERT_EQ(logged.size(), 2u);
  for (size_t i = 0; i < logged.size(); ++i) {
    EXPECT_EQ(logged[i].first, epoch_end_steps[i]);
    const ValueView& v = *logged[i].second;
    EXPECT_EQ(v.kind, "image");
    const Rgb img = decode_rgb(v.encoded);
    EXPECT_EQ(img.width, v.image_width);
    EXPECT_EQ(img.height, v.image_height);
    // 10 images of 28x28, 4 per row: 3 rows, the last one half empty (pad colour).
    expect_grid(img, samples, {4, 3, 1.0, 0.5, 0.25});
  }
}

TEST(ImagesPlugin, DefaultsUseFashionMnistStatisticsAndEveryNEpochs) {
  at::Tensor samples;
  Probe probe;
  probe.on_hook = [&](HookContext& ctx) {
    if (ctx.hook() == Hook::kValidationBatchEnd && ctx.batch_index() == 0 && !samples.defined())
      samples = ctx.inputs().narrow(0, 0, std::min<int64_t>(16, ctx.inputs().size(0))).to(at::kCPU).clone();
  };
  trainscope::testing::Setup setup;
  setup.overrides = {"trainer.epochs=3"};
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun run = run_plugins("[[plugin]]\nname = \"images\"\nlog_every_n_epochs = 2\n", setup);
  const auto logged = run.values("images/inputs");
  ASSERT_EQ(logged.size(), 1u) << "only the 2nd of 3 epochs";
  EXPECT_EQ(logged[0].first, 8);  // 4 steps per epoch
  // Defaults: 16 images, 8 per row, 2 px black padding, mean 0.2860, std 0.3530.
  expect_grid(decode_rgb(logged[0].second->encoded), samples, {8, 2, 0.0, 0.2860, 0.3530});
}

TEST(ImagesPlugin, WithoutValidationTheFirstTrainingBatchIsKept) {
  at::Tensor samples;
  Probe probe;
  probe.on_hook = [&](HookContext& ctx) {
    if (ctx.hook() == Hook::kTrainBatchBegin && !samples.defined())
      samples = ctx.inputs().narrow(0, 0, 5).to(at::kCPU).clone();
  };
  trainscope::testing::Setup setup;
  setup.data = [] {
    RunConfig c = parse_config(base_config(fresh_dir("cfg")), "data.toml", bundled_catalog());
    Datasets d = load_datasets(c.data, static_cast<uint64_t>(c.run.seed));
    d.val = TensorDataset{};
    return d;
  };
  setup.add_after = [&](HookBus& bus) { add_probe(bus, probe); };
  const PluginRun run =
      run_plugins("[[plugin]]\nname = \"images\"\nnum_images = 5\nmean = [\"0\"]\nstd = [\"1\"]\n", setup);
  const auto logged = run.values("images/inputs");
  ASSERT_EQ(logged.size(), 2u);
  for (const auto& [step, v] : logged) expect_grid(decode_rgb(v->encoded), samples, {8, 2, 0.0, 0.0, 1.0});
}

}  // namespace
}  // namespace trainscope::testing
