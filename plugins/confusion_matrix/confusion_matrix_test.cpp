// confusion_matrix: the counts written as text equal a confusion matrix computed here from
// the final model's predictions on the validation set; the image has the documented size.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <sstream>

#include "plugin_harness.h"

namespace trainscope {
namespace {

using testing::capture;
using testing::Captured;
using testing::PluginRun;
using testing::config_problems;
using testing::run_plugins;

// The table rows of the markdown ("| name | n | n | ... |"), header and separator skipped.
std::vector<std::vector<std::string>> table_rows(const std::string& md) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(md);
  std::string line;
  int seen = 0;
  while (std::getline(in, line)) {
    if (line.rfind("|", 0) != 0) continue;
    if (seen++ < 2) continue;  // header, separator
    std::vector<std::string> cells;
    std::string cell;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
        cell += '|';  // an escaped pipe inside a cell
        ++i;
      } else if (line[i] == '|') {
        cell.erase(0, cell.find_first_not_of(' '));
        cell.erase(cell.find_last_not_of(' ') + 1);
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += line[i];
      }
    }
    rows.push_back(cells);
  }
  return rows;
}

// counts[t][p]: samples of true class t predicted as p, by the final model, one by one.
std::vector<std::vector<int64_t>> expected_counts(const Captured& cap) {
  at::NoGradGuard no_grad;
  cap.model.module().eval();
  const int64_t classes = cap.data.train.num_classes();
  std::vector<std::vector<int64_t>> m(static_cast<size_t>(classes), std::vector<int64_t>(static_cast<size_t>(classes)));
  const at::Tensor& x = cap.data.val.inputs;
  for (int64_t i = 0; i < x.size(0); ++i) {
    const at::Tensor scores = cap.model.forward(x.narrow(0, i, 1)).reshape({-1});
    const int64_t pred = scores.argmax().item<int64_t>();
    const int64_t truth = cap.data.val.targets[i].item<int64_t>();
    ++m[static_cast<size_t>(truth)][static_cast<size_t>(pred)];
  }
  return m;
}

// The README's layout: cell = max(4, value digits) * 12 + 8; label = min(12, longest name) * 12
// + 8; each side = 24 + label + C * cell + 8.
int64_t documented_side(const std::vector<std::string>& names, size_t value_chars) {
  size_t longest = 1;
  for (const auto& n : names) longest = std::max(longest, std::min<size_t>(12, n.size()));
  const int64_t cell = static_cast<int64_t>(std::max<size_t>(4, value_chars)) * 12 + 8;
  const int64_t label = static_cast<int64_t>(longest) * 12 + 8;
  return 24 + label + static_cast<int64_t>(names.size()) * cell + 8;
}

void check_run(const PluginRun& run, const Captured& cap, const std::vector<int64_t>& steps, bool counts_shown) {
  const auto& names = cap.data.train.class_names;
  ASSERT_FALSE(names.empty());
  const auto logged = run.texts("confusion_matrix/counts/text_summary");
  std::vector<int64_t> got_steps;
  for (const auto& [s, _] : logged) got_steps.push_back(s);
  EXPECT_EQ(got_steps, steps);
  ASSERT_FALSE(logged.empty());
  const auto want = expected_counts(cap);
  const auto rows = table_rows(logged.back().second);
  ASSERT_EQ(rows.size(), names.size()) << logged.back().second;
  for (size_t t = 0; t < rows.size(); ++t) {
    ASSERT_EQ(rows[t].size(), names.size() + 1) << logged.back().second;
    EXPECT_EQ(rows[t][0], names[t]);
    for (size_t p = 0; p < names.size(); ++p) {
      EXPECT_EQ(rows[t][p + 1], std::to_string(want[t][p])) << "true " << t << ", predicted " << p;
    }
  }

  // accuracy/class/<name>: the final model's diagonal cell over its row, at every validation.
  for (size_t t = 0; t < names.size(); ++t) {
    int64_t row = 0;
    for (int64_t v : want[t]) row += v;
    const auto accuracy = run.scalars("accuracy/class/" + names[t]);
    if (row == 0) {
      EXPECT_TRUE(accuracy.empty()) << names[t] << " has no validation samples";
      continue;
    }
    ASSERT_EQ(accuracy.size(), steps.size()) << names[t];
    EXPECT_EQ(accuracy.back().first, steps.back());
    EXPECT_NEAR(accuracy.back().second, static_cast<double>(want[t][t]) / static_cast<double>(row), 1e-6) << names[t];
  }

  const auto images = run.values("confusion_matrix");
  ASSERT_EQ(images.size(), steps.size());
  int64_t max_count = 0;
  for (const auto& r : want) max_count = std::max(max_count, *std::max_element(r.begin(), r.end()));
  for (const auto& [step, v] : images) {
    EXPECT_EQ(v->kind, "image");
    // Normalised values print as "0.00"; counts with their digits (known here for the last epoch).
    if (counts_shown && step != steps.back()) continue;
    const size_t chars = counts_shown ? std::to_string(max_count).size() : 4;
    EXPECT_EQ(v->image_width, documented_side(names, chars)) << "step " << step;
    EXPECT_EQ(v->image_height, documented_side(names, chars)) << "step " << step;
  }
}

const char* kPlugin = "[[plugin]]\nname = \"confusion_matrix\"\non_error = \"abort\"\n";

TEST(ConfusionMatrixPlugin, CountsEqualTheFinalModelsConfusionMatrixAndTheImageHasTheDocumentedSize) {
  Captured cap;
  const PluginRun run = run_plugins(kPlugin, capture(cap));
  const int64_t per_epoch = (cap.data.train.size() + 15) / 16;
  check_run(run, cap, {per_epoch, 2 * per_epoch}, false);
}

TEST(ConfusionMatrixPlugin, CountsAreUnnormalisedWithNormalizeNoneAndTheCadenceIsHonoured) {
  Captured cap;
  const PluginRun run = run_plugins(std::string(kPlugin) + "normalize = \"none\"\nevery_n_epochs = 2\n", capture(cap));
  const int64_t per_epoch = (cap.data.train.size() + 15) / 16;
  check_run(run, cap, {2 * per_epoch}, true);
}

TEST(ConfusionMatrixPlugin, LongClassNamesAreCutInTheImageAndPipesEscapedInTheText) {
  // 120 validation samples of 3 classes, one name longer than 12 characters, one with a '|'.
  Captured cap;
  trainscope::testing::Setup s = capture(cap);
  s.data = [] {
    Datasets d;
    d.train = make_synthetic(64, 3, 5);
    d.val = make_synthetic(120, 3, 5, 1, 28, 0.5, 1);
    d.train.class_names = d.val.class_names = {"a very long class name", "b", "c|pipe"};
    return d;
  };
  const PluginRun run = run_plugins(std::string(kPlugin) + "every_n_epochs = 2\n", s);
  check_run(run, cap, {2 * ((cap.data.train.size() + 15) / 16)}, false);
}

TEST(ConfusionMatrixPlugin, PerClassAccuracyCanBeTurnedOff) {
  const PluginRun run = run_plugins(std::string(kPlugin) + "per_class_accuracy = false\n");
  EXPECT_TRUE(run.has("confusion_matrix"));
  for (const auto& tag : run.tags()) EXPECT_EQ(tag.rfind("accuracy/class/", 0), std::string::npos) << tag;
}

TEST(ConfusionMatrixPlugin, RejectsAnUnknownNormalization) {
  const auto problems = config_problems(std::string(kPlugin) + "normalize = \"rows\"\n");
  ASSERT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  EXPECT_NE(problems[0].find("plugin 'confusion_matrix' option 'normalize' = \"rows\" is not allowed: must be one "
                             "of: \"true\", \"pred\", \"all\", \"none\""),
            std::string::npos)
      << problems[0];
}

}  // namespace
}  // namespace trainscope
