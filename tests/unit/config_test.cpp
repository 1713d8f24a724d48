// TOML configuration: values and defaults, plugin order and options (against the real test
// plugins' schemas), and every kind of error with file:line:column.
#include "trainscope/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "trainscope/plugin_loader.h"

namespace trainscope {
namespace {

const PluginCatalog& catalog() {
  static const PluginCatalog c = discover_plugins({TRAINSCOPE_TEST_PLUGIN_DIR});
  return c;
}

// The problems of a config expected to fail.
std::vector<std::string> problems(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(text, "cfg.toml", catalog(), overrides);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

// The single problem of a config expected to fail with exactly one.
std::string problem(const std::string& text, const std::vector<std::string>& overrides = {}) {
  auto p = problems(text, overrides);
  EXPECT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  return p.empty() ? "" : p.front();
}

TEST(Config, ParsesEverySection) {
  const std::string text = R"([run]
name = "baseline"
log_dir = "logs"
seed = 42
device = "cuda:1"

[trainer]
epochs = 5
batch_size = 128
optimizer = "sgd"
lr = 1      # an int is accepted for a float
momentum = 0.8
scheduler = "cosine"
precision = "bf16"
clip_grad_norm = 1.5

[data]
dataset = "synthetic"
normalize_mean = [0.5, 1]
normalize_std = [0.25, 0.25]
synthetic_classes = 3

[model]
name = "mlp"
hidden = 256
dropout = 0     # an int is accepted for a float option of the model

[hparams]
note = "first try"
dropout = 0.1
layers = 3
augment = true
)";
  const RunConfig c = parse_config(text, "run.toml", catalog());
  EXPECT_EQ(c.file, "run.toml");
  EXPECT_EQ(c.text, text);
  EXPECT_EQ(c.run.name, "baseline");
  EXPECT_EQ(c.run.log_dir, "logs");
  EXPECT_EQ(c.run.seed, 42);
  EXPECT_EQ(c.run.device, "cuda:1");
  EXPECT_EQ(c.trainer.epochs, 5);
  EXPECT_EQ(c.trainer.batch_size, 128);
  EXPECT_EQ(c.trainer.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(c.trainer.lr, 1.0);
  EXPECT_DOUBLE_EQ(c.trainer.momentum, 0.8);
  EXPECT_EQ(c.trainer.scheduler, "cosine");
  EXPECT_EQ(c.trainer.precision, "bf16");
  EXPECT_DOUBLE_EQ(c.trainer.clip_grad_norm, 1.5);
  EXPECT_EQ(c.trainer.max_steps, 0);  // default kept
  EXPECT_EQ(c.data.dataset, "synthetic");
  EXPECT_EQ(c.data.normalize_mean, (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(c.data.synthetic_classes, 3);
  EXPECT_EQ(c.model.name, "mlp");
  EXPECT_EQ(std::get<int64_t>(c.model.options.at("hidden")), 256);
  EXPECT_EQ(std::get<double>(c.model.options.at("dropout")), 0.0);
  EXPECT_EQ(std::get<std::string>(c.hparams.at("note")), "first try");
  EXPECT_DOUBLE_EQ(std::get<double>(c.hparams.at("dropout")), 0.1);
  EXPECT_EQ(std::get<int64_t>(c.hparams.at("layers")), 3);
  EXPECT_EQ(std::get<bool>(c.hparams.at("augment")), true);
  EXPECT_EQ(c.locations.at("trainer.lr"), "run.toml:11:6");
  EXPECT_EQ(c.locations.at("hparams.dropout"), "run.toml:30:11");
  EXPECT_TRUE(c.plugins.empty());
}

TEST(Config, EmptyFileGivesTheDefaults) {
  const RunConfig c = parse_config("", "empty.toml", catalog());
  const RunConfig d;
  EXPECT_EQ(c.trainer.epochs, d.trainer.epochs);
  EXPECT_EQ(c.trainer.optimizer, d.trainer.optimizer);
  EXPECT_EQ(c.data.dataset, d.data.dataset);
  EXPECT_TRUE(c.plugins.empty());
}

TEST(Config, PluginsKeepFileOrderAndGetValidatedOptions) {
  const RunConfig c = parse_config(R"(
[[plugin]]
name = "recorder"
out = "/tmp/x.txt"
every_n_steps = 10
at_steps = [1, 5]
phases = ["train"]
on_error = "abort"

[[plugin]]
name = "noop"
level = 3
scale = 2          # int for a float option
tags = ["a", "b"]

[[plugin]]
name = "one_hook"
enabled = false
every_n_epochs = 2
)",
                                   "p.toml", catalog());
  ASSERT_EQ(c.plugins.size(), 3u);
  // File order, not TOML++'s sorted key order.
  EXPECT_EQ(c.plugins[0].name, "recorder");
  EXPECT_EQ(c.plugins[1].name, "noop");
  EXPECT_EQ(c.plugins[2].name, "one_hook");

  const PluginConfig& rec = c.plugins[0];
  EXPECT_EQ(rec.source, "p.toml:2:1");
  EXPECT_EQ(rec.cadence.every_n_steps, 10);
  EXPECT_EQ(rec.cadence.at_steps, (std::vector<int64_t>{1, 5}));
  EXPECT_TRUE(rec.cadence.train);
  EXPECT_FALSE(rec.cadence.validation);
  EXPECT_EQ(rec.on_error, ErrorPolicy::kAbort);
  EXPECT_EQ(rec.options.get<std::string>("out"), "/tmp/x.txt");
  EXPECT_EQ(rec.options.get<std::string>("tag"), "");  // default filled in

  const PluginConfig& noop = c.plugins[1];
  EXPECT_TRUE(noop.enabled);
  EXPECT_EQ(noop.on_error, ErrorPolicy::kDisable);
  EXPECT_EQ(noop.cadence.every_n_steps, 0);
  EXPECT_EQ(noop.options.get<int64_t>("level"), 3);
  EXPECT_EQ(std::get<double>(noop.options.values().at("scale")), 2.0);  // stored as a float
  EXPECT_EQ(noop.options.get<bool>("verbose"), false);
  EXPECT_EQ(noop.options.get<std::string>("mode"), "fast");
  EXPECT_EQ(noop.options.get<std::vector<std::string>>("tags"), (std::vector<std::string>{"a", "b"}));

  EXPECT_FALSE(c.plugins[2].enabled);
  EXPECT_EQ(c.plugins[2].cadence.every_n_epochs, 2);
}

TEST(Config, PluginOptionNamedLikeACoreKeyIsRefused) {
  const PluginCatalog clashing = discover_plugins({std::string(TRAINSCOPE_TEST_PLUGIN_DIR) + "/clashing"});
  ASSERT_NE(clashing.find("clashing_option"), nullptr);
  std::string p;
  try {
    parse_config("[[plugin]]\nname = \"clashing_option\"\n", "cfg.toml", clashing);
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 1u) << e.what();
    p = e.problems().front();
  }
  EXPECT_NE(p.find("cfg.toml:2:"), std::string::npos) << p;
  EXPECT_NE(p.find("declares an option named 'every_n_steps'"), std::string::npos) << p;
  EXPECT_NE(p.find("rename the option in the plugin"), std::string::npos) << p;
}

TEST(Config, SyntaxErrorHasLineAndColumn) {
  const std::string p = problem("[trainer]\nepochs = = 3\n");
  EXPECT_EQ(p.rfind("cfg.toml:2:", 0), 0u) << p;
  EXPECT_NE(p.find("TOML syntax error"), std::string::npos) << p;
}

TEST(Config, WrongType) {
  EXPECT_EQ(problem("[trainer]\nepochs = \"three\"\n"), "cfg.toml:2:10: trainer.epochs: expected int, got string");
  EXPECT_EQ(problem("[trainer]\nlr = \"fast\"\n"), "cfg.toml:2:6: trainer.lr: expected float, got string");
  EXPECT_EQ(problem("[run]\nplugin_path = \"/x\"\n"),
            "cfg.toml:2:15: run.plugin_path: expected array of strings, got string");
  EXPECT_EQ(problem("trainer = 3\n"), "cfg.toml:1:11: 'trainer' must be a table ([trainer]), got int");
}

TEST(Config, UnknownKeySuggestsTheNearestOne) {
  EXPECT_EQ(problem("[trainer]\nepochs = 3\nbatchsize = 32\n"),
            "cfg.toml:3:1: unknown key 'batchsize' in [trainer]; did you mean 'batch_size'?");
  EXPECT_EQ(problem("[run]\n  devcie = \"cpu\"\n"),
            "cfg.toml:2:3: unknown key 'devcie' in [run]; did you mean 'device'?");
}

TEST(Config, UnknownKeyWithoutACloseOneListsTheValidKeys) {
  const std::string p = problem("[data]\ncolour = true\n");
  EXPECT_EQ(p.rfind("cfg.toml:2:1: unknown key 'colour' in [data] (valid keys: dataset, path, ", 0), 0u) << p;
}

TEST(Config, UnknownTable) {
  EXPECT_EQ(problem("[trainr]\nepochs = 3\n"), "cfg.toml:1:2: unknown table 'trainr'; did you mean 'trainer'?");
}

TEST(Config, UnknownPluginListsTheAvailableOnes) {
  EXPECT_EQ(problem("[[plugin]]\nname = \"noopp\"\n"),
            "cfg.toml:2:8: unknown plugin 'noopp'; did you mean 'noop'? (available: noop, one_hook, recorder, "
            "throwing_ctor, throwing_hook)");
}

TEST(Config, PluginWhoseLibraryWasRefusedSaysWhy) {
  const std::string p = problem("[[plugin]]\nname = \"bad_fingerprint\"\n");
  EXPECT_EQ(p.rfind("cfg.toml:2:8: unknown plugin 'bad_fingerprint'", 0), 0u) << p;
  EXPECT_NE(p.find("a library for it was refused: "), std::string::npos) << p;
  EXPECT_NE(p.find("libtest_bad_fingerprint.so"), std::string::npos) << p;
}

TEST(Config, PluginOptionsAreCheckedAgainstTheSchema) {
  const auto p = problems(R"([[plugin]]
name = "noop"
level = "high"
scael = 2.0
verbose = 1
mode = "fast"
)");
  ASSERT_EQ(p.size(), 3u) << ::testing::PrintToString(p);
  // TOML++ iterates a table's keys sorted: level, scael, verbose.
  EXPECT_EQ(p[0], "cfg.toml:3:9: plugin.noop.level: expected int, got string");
  EXPECT_EQ(p[1], "cfg.toml:4:1: unknown option 'scael' for plugin 'noop'; did you mean 'scale'?");
  EXPECT_EQ(p[2], "cfg.toml:5:11: plugin.noop.verbose: expected bool, got int");
}

TEST(Config, UnknownOptionWithoutACloseOneListsThePluginsOptions) {
  EXPECT_EQ(problem("[[plugin]]\nname = \"one_hook\"\nwhatever = 1\n"),
            "cfg.toml:3:1: unknown option 'whatever' for plugin 'one_hook' (its options: none)");
}

TEST(Config, PluginCadenceAndPolicyErrors) {
  const auto p = problems(R"([[plugin]]
name = "noop"
every_n_steps = 0
phases = ["training"]
on_error = "ignore"
every_n_epochs = 0
at_steps = [0]
)");
  ASSERT_EQ(p.size(), 5u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "cfg.toml:3:17: plugin.noop.every_n_steps must be >= 1 (got 0)");
  EXPECT_EQ(p[1],
            "cfg.toml:4:10: plugin.noop.phases: unknown phase 'training' (expected \"train\" or \"validation\"); did "
            "you mean 'train'?");
  EXPECT_EQ(p[2], "cfg.toml:5:12: plugin.noop.on_error: unknown policy 'ignore' (expected \"disable\" or \"abort\")");
  EXPECT_EQ(p[3], "cfg.toml:6:18: plugin.noop.every_n_epochs must be >= 1 (got 0)");
  EXPECT_EQ(p[4], "cfg.toml:7:12: plugin.noop.at_steps entries must be >= 1: steps are counted from 1 (got 0)");
}

TEST(Config, PluginMistakes) {
  EXPECT_EQ(problem("[plugin]\nname = \"noop\"\n"),
            "cfg.toml:1:1: 'plugin' must be an array of tables: write each plugin as a [[plugin]] table");
  EXPECT_EQ(
      problem("[[plugin]]\nevery_n_steps = 3\n"),
      "cfg.toml:1:1: [[plugin]] needs a name (name = \"...\"; available: noop, one_hook, recorder, throwing_ctor, "
      "throwing_hook)");
  EXPECT_EQ(problem("[[plugin]]\nname = \"noop\"\n[[plugin]]\nname = \"noop\"\n"),
            "cfg.toml:4:8: plugin 'noop' is configured twice (first at cfg.toml:2:8)");
}

TEST(Config, SchedulerTableAndCustomScalars) {
  const RunConfig c = parse_config(R"([trainer]
lr = 0.2
[trainer.scheduler]
name = "one_cycle"
interval = "step"
max_lr = 0.5
anneal = "linear"

[[custom_scalars]]
category = "a"
title = "exact"
tags = ["x.y", "val/loss"]
[[custom_scalars]]
category = "b"
title = "band"
margin = [{value = "v", lower = "l", upper = "u"}]
[[custom_scalars]]
category = "a"
title = "re"
regex = ["^lr/", "^z"]
closed = true
)",
                                   "cfg.toml", catalog());
  EXPECT_EQ(c.trainer.scheduler, "one_cycle");
  EXPECT_EQ(c.trainer.schedule.interval, "step");
  EXPECT_DOUBLE_EQ(c.trainer.schedule.max_lr, 0.5);
  EXPECT_EQ(c.trainer.schedule.anneal, "linear");
  EXPECT_EQ(c.locations.at("trainer.scheduler.max_lr"), "cfg.toml:6:10");
  const auto& cats = c.custom_scalars.categories;
  ASSERT_EQ(cats.size(), 2u);
  EXPECT_EQ(cats[0].title, "a");
  EXPECT_TRUE(cats[0].closed);
  ASSERT_EQ(cats[0].charts.size(), 2u);
  EXPECT_EQ(std::get<MultilineChart>(cats[0].charts[0].content).tags,
            (std::vector<std::string>{"^x\\.y$", "^val/loss$"}));
  EXPECT_EQ(std::get<MultilineChart>(cats[0].charts[1].content).tags, (std::vector<std::string>{"^lr/", "^z"}));
  const auto& series = std::get<MarginChart>(cats[1].charts[0].content).series;
  ASSERT_EQ(series.size(), 1u);
  EXPECT_EQ(series[0].upper, "u");
  // The table's step_size belongs in the table; [trainer] step_size next to it is refused.
  EXPECT_EQ(problem("[trainer]\nstep_size = 2\n[trainer.scheduler]\nname = \"step\"\n"),
            "cfg.toml:2:13: trainer.step_size belongs to the string form (scheduler = \"step\"): with a "
            "[trainer.scheduler] table, write step_size in that table");
}

TEST(Config, BadEnumValues) {
  EXPECT_EQ(problem("[trainer]\noptimizer = \"adm\"\n"),
            "cfg.toml:2:13: trainer.optimizer: unknown optimizer 'adm' (expected one of: adam, adamw, sgd); did you "
            "mean 'adam'?");
  EXPECT_EQ(problem("[trainer]\nscheduler = \"linear\"\n"),
            "cfg.toml:2:13: trainer.scheduler: unknown scheduler 'linear' (expected one of: none, step, exponential, "
            "cosine, one_cycle, plateau)");
  EXPECT_EQ(problem("[trainer]\nprecision = \"fp61\"\n"),
            "cfg.toml:2:13: trainer.precision: unknown precision 'fp61' (expected one of: fp32, bf16, fp16); did you "
            "mean 'fp16'?");
  EXPECT_EQ(problem("[run]\ndevice = \"cuda:x\"\n"),
            "cfg.toml:2:10: run.device: unknown device 'cuda:x' (expected auto, cpu, cuda or cuda:N); did you mean "
            "'cuda:0'?");
  EXPECT_EQ(problem("[data]\ndataset = \"fashion-mnist\"\n"),
            "cfg.toml:2:11: data.dataset: unknown dataset 'fashion-mnist' (expected one of: fashion_mnist, mnist_idx, "
            "cifar10, synthetic); did you mean 'fashion_mnist'?");
  EXPECT_EQ(problem("[model]\nname = \"resnet50\"\n"),
            "cfg.toml:2:8: model.name: unknown model 'resnet50' (expected one of: simple_cnn, mlp, resnet, "
            "transformer_encoder); did you mean 'resnet'?");
}

TEST(Config, ValueRanges) {
  const auto p = problems("[trainer]\nepochs = 0\nbatch_size = 0\nlr = -0.5\n");
  ASSERT_EQ(p.size(), 3u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "cfg.toml:2:10: trainer.epochs must be >= 1 (got 0)");
  EXPECT_EQ(p[1], "cfg.toml:3:14: trainer.batch_size must be >= 1 (got 0)");
  EXPECT_EQ(p[2], "cfg.toml:4:6: trainer.lr must be > 0 (got -0.5)");
}

TEST(Config, EveryProblemIsReportedOnePerLine) {
  try {
    parse_config("[trainer]\nepochs = \"x\"\nbatchsize = 1\nlr = 0\n[[plugin]]\nname = \"nope\"\n", "cfg.toml",
                 catalog());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 4u) << e.what();
    std::string joined;
    for (const auto& p : e.problems()) joined += (joined.empty() ? "" : "\n") + p;
    EXPECT_EQ(std::string(e.what()), joined);
    for (const auto& p : e.problems()) EXPECT_EQ(p.rfind("cfg.toml:", 0), 0u) << p;
  }
}

TEST(Config, HparamsTakeScalarsOnly) {
  EXPECT_EQ(problem("[hparams]\nlayers = [1, 2]\n"),
            "cfg.toml:2:10: hparams.layers: expected string, bool, int or float, got array");
}

TEST(Config, OverridesFromTheCommandLine) {
  const RunConfig c =
      parse_config("[trainer]\nlr = 0.1\n[[plugin]]\nname = \"noop\"\nlevel = 2\n", "cfg.toml", catalog(),
                   {"trainer.lr=0.5", "run.device=cuda:1", "trainer.epochs=7", "plugin.noop.level=9",
                    "plugin.recorder.out=/tmp/rec.txt", "hparams.note=\"quoted text\""});
  EXPECT_DOUBLE_EQ(c.trainer.lr, 0.5);
  EXPECT_EQ(c.run.device, "cuda:1");  // a bare word is a string
  EXPECT_EQ(c.trainer.epochs, 7);
  ASSERT_EQ(c.plugins.size(), 2u);
  EXPECT_EQ(c.plugins[0].options.get<int64_t>("level"), 9);
  EXPECT_EQ(c.plugins[1].name, "recorder");  // appended by the override
  EXPECT_EQ(c.plugins[1].options.get<std::string>("out"), "/tmp/rec.txt");
  EXPECT_EQ(std::get<std::string>(c.hparams.at("note")), "quoted text");
  EXPECT_EQ(c.locations.at("trainer.lr"), "--set trainer.lr=0.5");
}

TEST(Config, APluginOverrideAddsTheFirstPluginTableToAFileWithoutOne) {
  // docs/plugins.md: --set plugin.<name>.<option>=value adds a [[plugin]] table when the file
  // has none; a file with no [[plugin]] at all used to fail ("'plugin' is not an array ...").
  const RunConfig c = parse_config("[trainer]\nepochs = 2\n", "cfg.toml", catalog(),
                                   {"plugin.noop.level=4", "plugin.recorder.out=/tmp/rec.txt"});
  ASSERT_EQ(c.plugins.size(), 2u);
  EXPECT_EQ(c.plugins[0].name, "noop");
  EXPECT_EQ(c.plugins[0].options.get<int64_t>("level"), 4);
  EXPECT_EQ(c.plugins[1].name, "recorder");
  const auto p = problems("plugin = 3\n", {"plugin.noop.level=4"});
  EXPECT_NE(std::find(p.begin(), p.end(), "--set plugin.noop.level=4: 'plugin' is not an array of [[plugin]] tables"),
            p.end())
      << ::testing::PrintToString(p);
}

TEST(Config, BadOverridesAreReportedAsSuch) {
  EXPECT_EQ(problem("", {"trainer.epochs=many"}),
            "--set trainer.epochs=many: trainer.epochs: expected int, got string");
  EXPECT_EQ(problem("", {"epochs"}),
            "--set epochs: expected section.key=value (e.g. trainer.lr=0.01 or plugin.<name>.<option>=value)");
  EXPECT_EQ(problem("", {"trainer.epoch=3"}),
            "--set trainer.epoch=3: unknown key 'epoch' in [trainer]; did you mean 'epochs'?");
  EXPECT_EQ(problem("", {"trainer.lr=-1"}), "--set trainer.lr=-1: trainer.lr must be > 0 (got -1)");
}

class ConfigOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/trainscope-config-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  std::string write(const std::string& text) {
    path_ = dir_ + "/run.toml";
    std::ofstream(path_) << text;
    return path_;
  }
  std::string dir_, path_;
};

TEST_F(ConfigOnDisk, LoadsAFile) {
  const std::string path = write("[trainer]\nepochs = 2\n[run]\nplugin_path = [\"plugins\", \"/abs\"]\n");
  const RunConfig c = load_config(path, catalog());
  EXPECT_EQ(c.file, path);
  EXPECT_EQ(c.trainer.epochs, 2);
  EXPECT_EQ(c.locations.at("trainer.epochs"), path + ":2:10");
  // Relative plugin directories are relative to the file.
  EXPECT_EQ(c.run.plugin_path, (std::vector<std::string>{dir_ + "/plugins", "/abs"}));
  EXPECT_EQ(ConfigFile::load(path).plugin_path(), c.run.plugin_path);
  EXPECT_EQ(ConfigFile::load(path, {"run.plugin_path=[\"x\"]"}).plugin_path(), std::vector<std::string>{dir_ + "/x"});
}

// One read and one parse give the plugin path (before any catalog exists) and the whole
// configuration: once loaded, the file is not needed any more.
TEST_F(ConfigOnDisk, IsReadAndParsedOnce) {
  const std::string path =
      write("[run]\nplugin_path = [\"plugins\"]\n[trainer]\nepochs = 2\n[[plugin]]\nname = \"noop\"\n");
  const ConfigFile file = ConfigFile::load(path, {"trainer.epochs=5"});
  EXPECT_EQ(file.source_name(), path);
  EXPECT_EQ(file.plugin_path(), std::vector<std::string>{dir_ + "/plugins"});
  ASSERT_EQ(unlink(path.c_str()), 0);
  const RunConfig c = file.read(catalog());
  EXPECT_EQ(c.file, path);
  EXPECT_EQ(c.trainer.epochs, 5);
  EXPECT_EQ(c.locations.at("trainer.epochs"), "--set trainer.epochs=5");
  EXPECT_EQ(c.locations.at("run.plugin_path"), path + ":2:15");
  ASSERT_EQ(c.plugins.size(), 1u);
  EXPECT_EQ(c.plugins[0].source, path + ":5:1");
  EXPECT_EQ(c.run.plugin_path, file.plugin_path());
  // Read twice from the same parse: the same configuration.
  EXPECT_EQ(file.read(catalog()).trainer.epochs, 5);
}

// A trial of a search: the base's overrides, then its own; the base is unchanged.
TEST(ConfigFileText, WithOverridesAddsToTheBase) {
  const ConfigFile base =
      ConfigFile::from_text("[trainer]\nlr = 0.1\nepochs = 2\n", "search.toml", {"trainer.epochs=3"});
  const ConfigFile trial = base.with_overrides({"trainer.lr=0.5", "run.name=\"t1\""});
  const RunConfig c = trial.read(catalog());
  EXPECT_EQ(c.trainer.epochs, 3);
  EXPECT_EQ(c.trainer.lr, 0.5);
  EXPECT_EQ(c.run.name, "t1");
  EXPECT_EQ(c.file, "search.toml");
  EXPECT_EQ(c.locations.at("trainer.lr"), "--set trainer.lr=0.5");
  EXPECT_EQ(base.read(catalog()).trainer.lr, 0.1);
  // The trial's own bad override is reported against it, with the base's position info kept.
  try {
    base.with_overrides({"trainer.batch_size=0"}).read(catalog());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "--set trainer.batch_size=0: trainer.batch_size must be >= 1 (got 0)");
  }
}

// Problems wait for read(): plugin_path() gives what could be read, read() reports them all
// with file:line:column.
TEST_F(ConfigOnDisk, ProblemsAreReportedByRead) {
  const std::string path = write("[run]\nplugin_path = [\"p\"]\n[trainer]\nepochs = = 3\n");
  const ConfigFile file = ConfigFile::load(path);
  EXPECT_TRUE(file.plugin_path().empty());
  try {
    file.read(catalog());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].rfind(path + ":4:10: TOML syntax error: ", 0), 0u) << e.what();
  }
  // A plugin_path of the wrong type: no directories, and one problem at its position.
  const std::string bad = write("[run]\nplugin_path = \"plugins\"\n");
  const ConfigFile typed = ConfigFile::load(bad);
  EXPECT_TRUE(typed.plugin_path().empty());
  try {
    typed.read(catalog());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), bad + ":2:15: run.plugin_path: expected array of strings, got string");
  }
}

TEST_F(ConfigOnDisk, ErrorsNameTheFile) {
  const std::string path = write("[trainer]\nepochs = 0\n");
  try {
    load_config(path, catalog());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), path + ":2:10: trainer.epochs must be >= 1 (got 0)");
  }
}

TEST_F(ConfigOnDisk, MissingFile) {
  try {
    load_config(dir_ + "/nope.toml", catalog());
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir_ + "/nope.toml: cannot read: No such file or directory");
  }
  EXPECT_TRUE(ConfigFile::load(dir_ + "/nope.toml").plugin_path().empty());
}

TEST(Config, ValidateAConfigBuiltInCode) {
  RunConfig c;
  EXPECT_TRUE(validate(c).empty()) << ::testing::PrintToString(validate(c));
  c.trainer.epochs = 0;
  c.trainer.optimizer = "adamw";
  c.data.normalize_mean = {0.5, 0.5};
  c.data.normalize_std = {0.5};
  PluginConfig p;
  p.name = "noop";
  p.cadence.every_n_epochs = 0;
  c.plugins.push_back(p);
  EXPECT_EQ(validate(c), (std::vector<std::string>{
                             "config: trainer.epochs must be >= 1 (got 0)",
                             "config: data.normalize_std must have as many entries as data.normalize_mean (1 vs 2)",
                             "config: plugin.noop.every_n_epochs must be >= 1 (got 0)"}));
}

TEST(Config, NearestKey) {
  EXPECT_EQ(edit_distance("grad_nrom", "grad_norm"), 1u);  // a transposition is one edit
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(nearest("batchsize", {"epochs", "batch_size", "lr"}), "batch_size");
  EXPECT_EQ(nearest("LR", {"epochs", "lr"}), "lr");  // case-insensitive
  EXPECT_EQ(nearest("xyz", {"epochs", "lr"}), "");
  EXPECT_EQ(nearest("learning_rate", {"lr", "momentum"}), "");
  EXPECT_EQ(nearest("training", {"train", "validation"}), "train");  // a prefix
  EXPECT_EQ(nearest("valid", {"train", "validation"}), "validation");
}

}  // namespace
}  // namespace trainscope
