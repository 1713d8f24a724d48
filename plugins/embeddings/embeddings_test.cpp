// embeddings: the projector files land where TensorBoard looks, their rows equal the features
// computed here from the final model for the same samples, and the labels are the classes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "plugin_harness.h"
#include "trainscope/tap.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using testing::PluginRun;
using testing::config_problems;
using testing::run_plugins;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// tensors.tsv: tab-separated rows of decimal floats.
at::Tensor read_tsv(const fs::path& p) {
  std::vector<std::vector<double>> rows;
  for (const auto& l : lines(slurp(p))) {
    std::vector<double> row;
    const char* s = l.c_str();
    char* end = nullptr;
    for (double v = std::strtod(s, &end); end != s; v = std::strtod(s, &end)) {
      row.push_back(v);
      s = end;
    }
    rows.push_back(row);
  }
  if (rows.empty()) return at::Tensor();
  at::Tensor t = at::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, at::kDouble);
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_EQ(rows[r].size(), rows[0].size()) << "row " << r;
    for (size_t c = 0; c < rows[r].size() && c < rows[0].size(); ++c)
      t[static_cast<int64_t>(r)][static_cast<int64_t>(c)] = rows[r][c];
  }
  return t;
}

// Width and height from a PNG's IHDR chunk.
std::pair<int64_t, int64_t> png_size(const std::string& png) {
  EXPECT_GE(png.size(), 24u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  auto be32 = [&](size_t at) {
    int64_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(png[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

std::string step_dir(int64_t step) {
  std::string s = std::to_string(step);
  return std::string(5 - std::min<size_t>(5, s.size()), '0') + s;
}

TEST(EmbeddingsPlugin, ProjectorFilesHoldTheFinalModelsFeaturesLabelsAndThumbnails) {
  testing::Captured cap;
  const testing::Setup setup = testing::capture(cap);
  const int64_t samples = 10;  // fewer than the 16 validation samples: the first 10
  const PluginRun run = run_plugins(
      "[[plugin]]\nname = \"embeddings\"\non_error = \"abort\"\nsamples = " + std::to_string(samples) + "\n", setup);
  const int64_t per_epoch = (cap.data.train.size() + 15) / 16;
  const fs::path dir = run.run_dir;

  // Both epochs are in the projector's config, each with metadata and a sprite.
  const std::string config = slurp(dir / "projector_config.pbtxt");
  for (int64_t step : {per_epoch, 2 * per_epoch}) {
    const std::string sub = step_dir(step) + "/embeddings%2ffeatures";
    EXPECT_NE(config.find("tensor_name: \"embeddings/features:" + step_dir(step) + "\""), std::string::npos) << config;
    EXPECT_NE(config.find("tensor_path: \"" + sub + "/tensors.tsv\""), std::string::npos) << config;
    EXPECT_NE(config.find("metadata_path: \"" + sub + "/metadata.tsv\""), std::string::npos) << config;
    EXPECT_NE(config.find("image_path: \"" + sub + "/sprite.png\""), std::string::npos) << config;
    for (const char* f : {"tensors.tsv", "metadata.tsv", "sprite.png"}) EXPECT_TRUE(fs::is_regular_file(dir / sub / f));
  }
  EXPECT_NE(config.find("single_image_dim: 28"), std::string::npos) << config;

  // The last epoch's rows: the "features" tap of the final model on the first 10 samples.
  const fs::path last = dir / (step_dir(2 * per_epoch) + "/embeddings%2ffeatures");
  const at::Tensor x = cap.data.val.inputs.narrow(0, 0, samples);
  at::Tensor want;
  {
    at::NoGradGuard no_grad;
    cap.model.module().eval();
    TapSet taps;
    taps.request("features", false);
    TapScope scope(&taps);
    cap.model.forward(x);
    ASSERT_EQ(taps.values().count("features"), 1u);
    want = taps.values().at("features").to(at::kDouble);
  }
  const at::Tensor got = read_tsv(last / "tensors.tsv");
  ASSERT_TRUE(got.defined());
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_TRUE(at::allclose(got, want, 1e-6, 1e-7)) << (got - want).abs().max();
  EXPECT_GT(want.abs().sum().item<double>(), 0.0);  // not all zero: the comparison means something

  // Labels: the class names of those samples, one per line.
  const auto labels = lines(slurp(last / "metadata.tsv"));
  ASSERT_EQ(static_cast<int64_t>(labels.size()), samples);
  for (int64_t i = 0; i < samples; ++i) {
    const int64_t y = cap.data.val.targets[i].item<int64_t>();
    EXPECT_EQ(labels[static_cast<size_t>(i)], cap.data.train.class_names.at(static_cast<size_t>(y))) << i;
  }

  // Sprite: ceil(sqrt(10)) = 4 thumbnails of 28 x 28 a row, square.
  const auto [w, h] = png_size(slurp(last / "sprite.png"));
  const int64_t side = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(samples)))) * 28;
  EXPECT_EQ(w, side);
  EXPECT_EQ(h, side);
}

TEST(EmbeddingsPlugin, ASequentialChildIsTheLayerAndNumericLabelsWithoutNames) {
  torch::nn::Sequential seq;
  testing::Setup setup;
  Datasets data;
  setup.data = [&data] {
    data.train = make_synthetic(64, 4, 3);
    data.val = make_synthetic(16, 4, 3, 1, 28, 0.5, 1);
    data.train.class_names.clear();
    data.val.class_names.clear();
    return data;
  };
  setup.model = [&seq](const Datasets&) {
    seq = torch::nn::Sequential();
    seq->push_back("flatten", torch::nn::Flatten());
    seq->push_back("hidden", torch::nn::Linear(28 * 28, 8));
    seq->push_back("act", torch::nn::ReLU());
    seq->push_back("head", torch::nn::Linear(8, 4));
    return Model(seq);
  };
  const PluginRun run = run_plugins(
      "[[plugin]]\nname = \"embeddings\"\non_error = \"abort\"\nlayer = \"act\"\nthumbnails = false\n", setup);
  const int64_t last_step = 2 * ((data.train.size() + 15) / 16);
  const fs::path sub = fs::path(run.run_dir) / (step_dir(last_step) + "/embeddings%2fact");
  ASSERT_TRUE(fs::is_regular_file(sub / "tensors.tsv"));
  EXPECT_FALSE(fs::exists(sub / "sprite.png"));
  EXPECT_EQ(slurp(fs::path(run.run_dir) / "projector_config.pbtxt").find("sprite"), std::string::npos);

  // relu(W x + b) with the trained weights, computed from the parameters directly.
  at::Tensor want;
  {
    at::NoGradGuard no_grad;
    auto hidden = seq->named_children()["hidden"]->as<torch::nn::Linear>();
    want = at::relu(at::linear(data.val.inputs.flatten(1), hidden->weight, hidden->bias)).to(at::kDouble);
  }
  const at::Tensor got = read_tsv(sub / "tensors.tsv");
  ASSERT_TRUE(got.defined());
  ASSERT_EQ(got.sizes(), want.sizes());  // samples = 256 > 16: every validation sample
  EXPECT_TRUE(at::allclose(got, want, 1e-5, 1e-6)) << (got - want).abs().max();

  const auto labels = lines(slurp(sub / "metadata.tsv"));
  ASSERT_EQ(static_cast<int64_t>(labels.size()), data.val.size());
  for (int64_t i = 0; i < data.val.size(); ++i)
    EXPECT_EQ(labels[static_cast<size_t>(i)], std::to_string(data.val.targets[i].item<int64_t>()));
}

TEST(EmbeddingsPlugin, AnUnknownLayerNamesTheTapsTheModelOffers) {
  try {
    run_plugins("[[plugin]]\nname = \"embeddings\"\non_error = \"abort\"\nlayer = \"penultimate\"\n");
    ADD_FAILURE() << "an unknown layer was accepted";
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no tap or Sequential child named 'penultimate'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("conv1, conv2, fc1, features"), std::string::npos) << msg;
  }
}

TEST(EmbeddingsPlugin, RejectsBadOptions) {
  for (const auto& [toml, needle] : std::vector<std::pair<std::string, std::string>>{
           {"samples = 0\n", "plugin 'embeddings' option 'samples' = 0 is out of range: must be an integer >= 1"},
           {"layer = \"\"\n",
            "plugin 'embeddings' option 'layer' = \"\" is not allowed: must be a non-empty string"}}) {
    const auto problems = config_problems("[[plugin]]\nname = \"embeddings\"\n" + toml);
    ASSERT_EQ(problems.size(), 1u) << toml << ::testing::PrintToString(problems);
    EXPECT_NE(problems[0].find(needle), std::string::npos) << problems[0];
  }
}

}  // namespace
}  // namespace trainscope
