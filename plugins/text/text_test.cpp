// The text plugin in a real Trainer run. The markdown of each text summary (the string of its
// tensor) is parsed back into rows and compared with the model's own modules and parameters,
// and with output shapes computed here by running the layers directly.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

// Every string of every tensor logged under `tag`, in order.
std::vector<std::string> texts(const PluginRun& run, const std::string& tag) {
  std::vector<std::string> out;
  for (const auto& [step, v] : run.values(tag)) out.insert(out.end(), v->tensor_strings.begin(), v->tensor_strings.end());
  return out;
}

// ---- The table, parsed back -------------------------------------------------------------------

struct Row {
  std::string type, shape, trainable;
  int64_t params = -1;
};

std::string trim(std::string s) {
  const size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

int64_t number(std::string s) {
  std::string digits;
  for (char c : s) {
    if (c >= '0' && c <= '9') digits += c;
  }
  return digits.empty() ? -1 : std::stoll(digits);
}

struct Table {
  std::map<std::string, Row> rows;  // by layer name ("(model)" for the root)
  std::vector<std::string> order;
  int64_t total = -1, trainable_total = -1;
  std::string rest;  // the lines after the table
};

Table parse_table(const std::string& md) {
  Table t;
  std::istringstream in(md);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.rfind("|", 0) != 0) {
      t.rest += line + "\n";
      continue;
    }
    if (n++ < 2) continue;  // header and alignment rows
    std::vector<std::string> cells;
    std::string cur;
    for (size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|' && line[i - 1] != '\\') {
        cells.push_back(trim(cur));
        cur.clear();
      } else {
        cur += line[i];
      }
    }
    EXPECT_EQ(cells.size(), 5u) << line;
    if (cells.size() != 5) continue;
    if (cells[0] == "**total**") {
      t.total = number(cells[3]);
      t.trainable_total = number(cells[4]);
      continue;
    }
    t.rows[cells[0]] = Row{cells[1], cells[2], cells[4], number(cells[3])};
    t.order.push_back(cells[0]);
  }
  return t;
}

std::string shape_of(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t d = 0; d < t.dim(); ++d) out += (d ? ", " : "") + std::to_string(t.size(d));
  return out + "]";
}

// Rows and counts the table must have, from the model's own modules and parameters.
void expect_rows_match_model(const Table& t, torch::nn::Module& model) {
  int64_t total = 0, trainable = 0;
  for (const auto& p : model.parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  EXPECT_EQ(t.total, total);
  EXPECT_EQ(t.trainable_total, trainable);
  size_t modules = 0;
  for (const auto& item : model.named_modules()) {
    ++modules;
    const std::string name = item.key().empty() ? "(model)" : item.key();
    ASSERT_TRUE(t.rows.count(name)) << "no row for " << name;
    int64_t own = 0;
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) own += p.value().numel();
    EXPECT_EQ(t.rows.at(name).params, own) << name;
    EXPECT_EQ(t.rows.at(name).trainable, own == 0 ? "-" : "yes") << name;
  }
  EXPECT_EQ(t.rows.size(), modules);
}

constexpr const char* kPlugin = R"(
[[plugin]]
name = "text"
on_error = "abort"
)";

TEST(TextPlugin, ConfigIsTheRunsConfigurationText) {
  const PluginRun run = run_plugins(kPlugin);
  const auto config = texts(run, "config/text_summary");
  ASSERT_EQ(config.size(), 1u);
  ASSERT_FALSE(run.config.text.empty());
  const std::string& md = config[0];
  const std::string open = "```toml\n", close = "```";
  ASSERT_EQ(md.rfind(open, 0), 0u) << md;
  ASSERT_EQ(md.substr(md.size() - close.size()), close) << md;
  std::string body = md.substr(open.size(), md.size() - open.size() - close.size());
  EXPECT_EQ(body, run.config.text.back() == '\n' ? run.config.text : run.config.text + "\n");
  // The plugin's metadata says "text", which is what TensorBoard's text tab lists.
  EXPECT_EQ(run.values("config/text_summary").at(0).second->plugin_name, "text");
}

TEST(TextPlugin, EmptyConfigurationSaysSo) {
  trainscope::testing::Setup setup;
  setup.customize = [](Trainer& t) { t.set_config_text(""); };
  const PluginRun run = run_plugins(kPlugin, setup);
  const auto config = texts(run, "config/text_summary");
  ASSERT_EQ(config.size(), 1u);
  EXPECT_NE(config[0].find("No configuration file"), std::string::npos) << config[0];
}

TEST(TextPlugin, SummaryOfTheZooCnnMatchesItsModules) {
  std::shared_ptr<torch::nn::Module> module;
  trainscope::testing::Setup setup;
  setup.model = [&module](const Datasets& data) {
    ModelSection section;
    section.name = "simple_cnn";
    Model m = make_model(section, {data.train.sample_shape(), data.train.num_classes()});
    module = m.ptr();
    return m;
  };
  const PluginRun run = run_plugins(kPlugin, setup);
  const auto summary = texts(run, "model/summary/text_summary");
  ASSERT_EQ(summary.size(), 1u);
  const Table t = parse_table(summary[0]);
  expect_rows_match_model(t, *module);

  // Shapes, computed here from the layers themselves on one 1x28x28 sample.
  at::NoGradGuard no_grad;
  auto children = module->named_children();
  auto conv1 = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(children["conv1"]);
  auto fc1 = std::dynamic_pointer_cast<torch::nn::LinearImpl>(children["fc1"]);
  auto fc2 = std::dynamic_pointer_cast<torch::nn::LinearImpl>(children["fc2"]);
  ASSERT_TRUE(conv1 && fc1 && fc2);
  EXPECT_EQ(t.rows.at("conv1").shape, shape_of(conv1->forward(at::zeros({1, 1, 28, 28}))));
  EXPECT_EQ(t.rows.at("fc1").shape, "[1, " + std::to_string(fc1->options.out_features()) + "]");
  EXPECT_EQ(t.rows.at("(model)").shape, "[1, " + std::to_string(run.config.data.synthetic_classes) + "]");
  EXPECT_EQ(t.rows.at("fc2").shape, "-");  // tapped as "features", not under its module name
  EXPECT_EQ(t.rows.at("conv1").type, "Conv2d");
  EXPECT_EQ(t.rows.at("fc1").type, "Linear");
  EXPECT_NE(t.rest.find("`features` [1, " + std::to_string(fc2->options.out_features()) + "]"), std::string::npos)
      << t.rest;
}

// A Sequential with BatchNorm and Dropout: every child's shape is captured, and the summary's
// extra forward pass (eval mode, no grad) leaves training exactly as it is without the plugin.
torch::nn::Sequential bn_mlp(int64_t classes) {
  seed_everything(11);
  torch::nn::Sequential seq;
  seq->push_back("flatten", torch::nn::Flatten());
  seq->push_back("hidden", torch::nn::Linear(28 * 28, 24));
  seq->push_back("bn", torch::nn::BatchNorm1d(24));
  seq->push_back("relu", torch::nn::ReLU());
  seq->push_back("drop", torch::nn::Dropout(0.3));
  seq->push_back("head", torch::nn::Linear(24, classes));
  return seq;
}

TEST(TextPlugin, SequentialShapesAndNoEffectOnTraining) {
  torch::nn::Sequential with_plugin{nullptr}, without_plugin{nullptr};
  trainscope::testing::Setup a, b;
  a.model = [&](const Datasets& d) { return Model(with_plugin = bn_mlp(d.train.num_classes())); };
  b.model = [&](const Datasets& d) { return Model(without_plugin = bn_mlp(d.train.num_classes())); };
  const PluginRun run = run_plugins(kPlugin, a);
  const PluginRun base = run_plugins("", b);

  const auto summary = texts(run, "model/summary/text_summary");
  ASSERT_EQ(summary.size(), 1u);
  const Table t = parse_table(summary[0]);
  expect_rows_match_model(t, *with_plugin);
  // Every child's output shape, by running the children one by one on a zero sample.
  at::NoGradGuard no_grad;
  with_plugin->eval();
  at::Tensor x = at::zeros({1, 1, 28, 28});
  const auto names = with_plugin->named_children();
  size_t i = 0;
  for (auto& child : *with_plugin) {
    x = child.forward(x);
    const std::string name = names[i++].key();
    EXPECT_EQ(t.rows.at(name).shape, shape_of(x)) << name;
  }
  EXPECT_EQ(t.rows.at("(model)").shape, shape_of(x));
  EXPECT_EQ(t.rows.at("bn").type, "BatchNorm1d");

  // Same seed, same data: identical results and parameters (BatchNorm buffers included).
  EXPECT_EQ(run.fit.metrics, base.fit.metrics);
  const auto pa = with_plugin->named_buffers(), pb = without_plugin->named_buffers();
  for (const auto& item : pa) EXPECT_TRUE(at::equal(item.value(), pb[item.key()])) << item.key();
  const auto wa = with_plugin->named_parameters(), wb = without_plugin->named_parameters();
  for (const auto& item : wa) EXPECT_TRUE(at::equal(item.value(), wb[item.key()])) << item.key();
}

}  // namespace
}  // namespace trainscope::testing
