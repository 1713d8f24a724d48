// pr_curves: the logged curves equal PyTorch's compute_curve done here by hand (a plain loop
// over the samples) on the final model's softmax probabilities over the validation set.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "plugin_harness.h"

namespace trainscope {
namespace {

using testing::capture;
using testing::Captured;
using testing::PluginRun;
using testing::config_problems;
using testing::run_plugins;

// ---- the independent computation ----------------------------------------------------------

// Softmax probabilities [N, C] of `model` on `data`, in batches of `batch` as validation runs.
at::Tensor probabilities(const Model& model, const TensorDataset& data, int64_t batch) {
  at::NoGradGuard no_grad;
  model.module().eval();
  std::vector<at::Tensor> parts;
  for (int64_t s = 0; s < data.size(); s += batch) {
    const int64_t n = std::min(batch, data.size() - s);
    parts.push_back(at::softmax(model.forward(data.inputs.narrow(0, s, n)).to(at::kFloat), 1));
  }
  return at::cat(parts).contiguous();
}

// compute_curve for class c: labels = (target == c), predictions = prob[:, c], T thresholds.
std::vector<float> expected_curve(const at::Tensor& prob, const at::Tensor& targets, int64_t c, int64_t T) {
  const at::Tensor t = targets.to(at::kLong).contiguous();
  const int64_t n = prob.size(0), classes = prob.size(1);
  std::vector<double> tpb(static_cast<size_t>(T)), fpb(static_cast<size_t>(T));
  for (int64_t i = 0; i < n; ++i) {
    const float p = prob.data_ptr<float>()[i * classes + c];
    const float b = std::floor(p * static_cast<float>(T - 1));
    if (!(b >= 0 && b <= static_cast<float>(T - 1))) continue;
    (t.data_ptr<int64_t>()[i] == c ? tpb : fpb)[static_cast<size_t>(b)] += 1;
  }
  std::vector<double> tp(static_cast<size_t>(T)), fp(static_cast<size_t>(T));
  double run_tp = 0, run_fp = 0;
  for (int64_t k = T - 1; k >= 0; --k) {
    run_tp += tpb[static_cast<size_t>(k)];
    run_fp += fpb[static_cast<size_t>(k)];
    tp[static_cast<size_t>(k)] = run_tp;
    fp[static_cast<size_t>(k)] = run_fp;
  }
  std::vector<float> rows(static_cast<size_t>(6 * T));
  for (int64_t k = 0; k < T; ++k) {
    const size_t i = static_cast<size_t>(k);
    const double tn = fp[0] - fp[i], fn = tp[0] - tp[i];
    rows[i] = static_cast<float>(tp[i]);
    rows[T + i] = static_cast<float>(fp[i]);
    rows[2 * T + i] = static_cast<float>(tn);
    rows[3 * T + i] = static_cast<float>(fn);
    rows[4 * T + i] = static_cast<float>(tp[i] / std::max(1e-7, tp[i] + fp[i]));
    rows[5 * T + i] = static_cast<float>(tp[i] / std::max(1e-7, tp[i] + fn));
  }
  return rows;
}

void check_curves(const PluginRun& run, const Captured& cap, int64_t T, const std::set<int64_t>& steps) {
  const int64_t batch = run.config.trainer.batch_size;
  const int64_t last = *steps.rbegin();
  const at::Tensor prob = probabilities(cap.model, cap.data.val, batch);
  const auto& names = cap.data.train.class_names;
  ASSERT_EQ(static_cast<int64_t>(names.size()), prob.size(1));
  std::set<std::string> want_tags;
  for (const auto& n : names) want_tags.insert("pr_curves/" + n);
  const auto got_tags = run.tags_with_prefix("pr_curves/");
  EXPECT_EQ(std::set<std::string>(got_tags.begin(), got_tags.end()), want_tags);

  for (int64_t c = 0; c < prob.size(1); ++c) {
    const std::string tag = "pr_curves/" + names[static_cast<size_t>(c)];
    std::set<int64_t> got_steps;
    const auto tensors = run.values(tag);
    for (const auto& [step, v] : tensors) {
      got_steps.insert(step);
      EXPECT_EQ(v->plugin_name, "pr_curves");
      EXPECT_EQ(v->tensor_shape, (std::vector<int64_t>{6, T})) << tag;
      EXPECT_EQ(v->tensor_dtype, 1) << tag;  // DT_FLOAT
    }
    EXPECT_EQ(got_steps, steps) << tag;
    ASSERT_EQ(tensors.size(), steps.size()) << tag;
    ASSERT_EQ(tensors.back().first, last);
    const std::vector<double>& rows = tensors.back().second->tensor_values;  // float32 values, exact in double
    const auto want = expected_curve(prob, cap.data.val.targets, c, T);
    ASSERT_EQ(rows.size(), want.size()) << tag;
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(rows[i], static_cast<double>(want[i])) << tag << " row " << i / T << " threshold " << i % T;
    }
    // Sanity of the data itself: at threshold 0 every sample is counted, as positive or not.
    EXPECT_EQ(rows[0] + rows[T], static_cast<double>(cap.data.val.size())) << tag;
  }
}

TEST(PrCurvesPlugin, EachClassCurveEqualsComputeCurveOnTheFinalModelsProbabilities) {
  Captured cap;
  const PluginRun run = run_plugins("[[plugin]]\nname = \"pr_curves\"\non_error = \"abort\"\n", capture(cap));
  const int64_t per_epoch = (cap.data.train.size() + 15) / 16;  // batch_size 16, drop_last off
  check_curves(run, cap, 127, {per_epoch, 2 * per_epoch});
}

TEST(PrCurvesPlugin, HonoursNumThresholdsAndTheEpochCadence) {
  Captured cap;
  const PluginRun run =
      run_plugins("[[plugin]]\nname = \"pr_curves\"\non_error = \"abort\"\nevery_n_epochs = 2\nnum_thresholds = 10\n",
                  capture(cap));
  const int64_t per_epoch = (cap.data.train.size() + 15) / 16;
  check_curves(run, cap, 10, {2 * per_epoch});
}

TEST(PrCurvesPlugin, RejectsNumThresholdsOutsideTwoTo127) {
  for (const std::string bad : {"1", "128"}) {
    const auto problems = config_problems("[[plugin]]\nname = \"pr_curves\"\nnum_thresholds = " + bad + "\n");
    ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
    EXPECT_NE(problems[0].find("plugin 'pr_curves' option 'num_thresholds' = " + bad +
                               " is out of range: must be an integer >= 2 and <= 127"),
              std::string::npos)
        << problems[0];
  }
}

}  // namespace
}  // namespace trainscope
