// Part of config_test: the configuration's input limits (issue 14, item 5). Each case is a
// failure once seen in the field: a directory or special file taken as a config, non-finite
// numbers, an absurd device index, unknown [model] keys, a batch larger than the data set, and
// plugin option values that validate accepted but the plugin refused at run time.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "trainscope/config.h"
#include "trainscope/model_options.h"
#include "trainscope/plugin_loader.h"

namespace trainscope {
namespace {

const PluginCatalog& no_plugins() {
  static const PluginCatalog c;
  return c;
}

std::vector<std::string> problems_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(text, "cfg.toml", no_plugins(), overrides);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

std::string only_problem(const std::string& text, const std::vector<std::string>& overrides = {}) {
  auto p = problems_of(text, overrides);
  EXPECT_EQ(p.size(), 1u) << ::testing::PrintToString(p);
  return p.empty() ? "" : p.front();
}

std::string load_problem(const std::string& path) {
  try {
    load_config(path, no_plugins());
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.problems().size(), 1u) << e.what();
    return e.what();
  }
  ADD_FAILURE() << path << " accepted";
  return {};
}

TEST(ConfigLimits, ANotEmptyListRefusesAnEmptyItem) {
  // hparams.metrics = [""] passed validate and then stopped the plugin at run time.
  const auto spec = option<std::vector<std::string>>("metrics", {"val/loss"}, "").not_empty();
  EXPECT_FALSE(check_option(spec, OptionValue{std::vector<std::string>{"a", "b"}}));
  const auto bad = check_option(spec, OptionValue{std::vector<std::string>{"a", ""}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->item, 1);
  EXPECT_EQ(bad->message, "item \"\" is not allowed: must be a non-empty list");
}

// ---- Only regular files are configurations ----

TEST(ConfigLimits, ADirectoryIsNotAConfig) {
  const std::string dir = testing::fresh_dir();
  EXPECT_EQ(load_problem(dir), dir + ": is a directory, not a configuration file: give the path of a .toml file");
}

TEST(ConfigLimits, SpecialFilesAreNotConfigs) {
  // /proc/self/mem used to read as an empty config (defaults), /dev/zero as std::bad_alloc.
  EXPECT_EQ(load_problem("/proc/self/mem"),
            "/proc/self/mem: is a file of the kernel's /proc file system, not a configuration file: give the path of "
            "a .toml file");
  EXPECT_EQ(load_problem("/dev/zero"),
            "/dev/zero: is a device, not a configuration file: give the path of a .toml file");
  const std::string fifo = testing::fresh_dir() + "/cfg.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(load_problem(fifo),
            fifo + ": is a FIFO (named pipe), not a configuration file: give the path of a .toml file");
}

TEST(ConfigLimits, AFileOver16MiBIsRefusedUnread) {
  const std::string path = testing::fresh_dir() + "/huge.toml";
  std::filesystem::resize_file((std::ofstream(path), path), (size_t{16} << 20) + 1);  // sparse: costs no disk
  EXPECT_EQ(load_problem(path), path + ": is 16777217 bytes; a configuration file may have at most 16777216 (16 MiB)");
  // At the cap exactly it is read (and is TOML: 16 MiB of NUL bytes is not).
  std::filesystem::resize_file(path, size_t{16} << 20);
  EXPECT_NE(load_problem(path).find("TOML syntax error"), std::string::npos);
}

TEST(ConfigLimits, ASymlinkToARegularFileIsFollowed) {
  const std::string dir = testing::fresh_dir();
  std::ofstream(dir + "/real.toml") << "[trainer]\nepochs = 2\n";
  std::filesystem::create_symlink(dir + "/real.toml", dir + "/link.toml");
  EXPECT_EQ(load_config(dir + "/link.toml", no_plugins()).trainer.epochs, 2);
}

// ---- Numbers: finite and in range, at file:line:column ----

TEST(ConfigLimits, NonFiniteTrainerNumbersAreRefusedWhereWritten) {
  for (const char* key : {"lr", "momentum", "gamma", "weight_decay", "clip_grad_norm"}) {
    for (const char* value : {"inf", "-inf", "nan", "+nan"}) {
      SCOPED_TRACE(std::string(key) + " = " + value);
      const std::string text = std::string("[trainer]\n") + key + " = " + value + "\n";
      const int column = static_cast<int>(std::string(key).size()) + 4;
      const double parsed = std::string(value).find("nan") != std::string::npos ? std::nan("")
                            : value[0] == '-'                                   ? -INFINITY
                                                                                : INFINITY;
      std::ostringstream got;
      got << parsed;
      EXPECT_EQ(only_problem(text), "cfg.toml:2:" + std::to_string(column) + ": trainer." + key +
                                        " must be a finite number (got " + got.str() + ")");
    }
  }
  // From the command line too, named by the override.
  EXPECT_EQ(only_problem("", {"trainer.lr=inf"}), "--set trainer.lr=inf: trainer.lr must be a finite number (got inf)");
}

TEST(ConfigLimits, AbsurdButFiniteTrainerNumbers) {
  EXPECT_EQ(only_problem("[trainer]\nlr = 0.0\n"), "cfg.toml:2:6: trainer.lr must be > 0 (got 0)");
  EXPECT_EQ(only_problem("[trainer]\nmomentum = 1.5\n"), "cfg.toml:2:12: trainer.momentum must be <= 1 (got 1.5)");
  EXPECT_EQ(only_problem("[trainer]\ngamma = -0.1\n"), "cfg.toml:2:9: trainer.gamma must be > 0 (got -0.1)");
  EXPECT_NO_THROW(parse_config("[trainer]\nlr = 1e3\nmomentum = 1.0\ngamma = 2\n", "cfg.toml", no_plugins()));
}

TEST(ConfigLimits, NonFiniteNormalisationIsRefused) {
  EXPECT_EQ(only_problem("[data]\nnormalize_mean = [0.5, nan]\nnormalize_std = [1, 1]\n"),
            "cfg.toml:2:18: data.normalize_mean entries must be finite numbers (got nan)");
  EXPECT_EQ(only_problem("[data]\nnormalize_mean = [0.5]\nnormalize_std = [inf]\n"),
            "cfg.toml:3:17: data.normalize_std entries must be finite numbers > 0 (got inf)");
}

TEST(ConfigLimits, DeviceIndexMustBeAddressable) {
  EXPECT_EQ(only_problem("[run]\ndevice = \"cuda:99999999999999999999\"\n"),
            "cfg.toml:2:10: run.device: device index 99999999999999999999 in 'cuda:99999999999999999999' is out of "
            "range: CUDA device indices are 0..127 (and below the number of GPUs of the machine)");
  EXPECT_NE(only_problem("[run]\ndevice = \"cuda:128\"\n").find("device index 128 in 'cuda:128' is out of range"),
            std::string::npos);
  EXPECT_NE(only_problem("[run]\ndevice = \"cuda:-1\"\n").find("unknown device 'cuda:-1'"), std::string::npos);
  for (const char* ok : {"cpu", "cuda", "auto", "cuda:0", "cuda:127", "cuda:0007"}) {
    EXPECT_NO_THROW(parse_config(std::string("[run]\ndevice = \"") + ok + "\"\n", "cfg.toml", no_plugins())) << ok;
  }
}

TEST(ConfigLimits, BatchLargerThanAKnownDataSetIsRefused) {
  // batch_size = INT64_MAX used to run every epoch with 0 steps and exit 0.
  EXPECT_EQ(only_problem("[trainer]\nbatch_size = 9223372036854775807\n[data]\ndataset = \"synthetic\"\n"),
            "cfg.toml:2:14: trainer.batch_size = 9223372036854775807 is larger than the training set (2048 "
            "samples): no batch would be made; use at most 2048");
  EXPECT_EQ(only_problem("[trainer]\nbatch_size = 65\n[data]\ntrain_limit = 64\n"),
            "cfg.toml:2:14: trainer.batch_size = 65 is larger than the training set (64 samples): no batch would be "
            "made; use at most 64");
  EXPECT_NO_THROW(parse_config("[trainer]\nbatch_size = 64\n[data]\ntrain_limit = 64\n", "cfg.toml", no_plugins()));
}

// ---- [model]: the keys the chosen model takes, in range ----

TEST(ConfigLimits, UnknownModelKeysAreRefusedListingTheModelsOwn) {
  EXPECT_EQ(only_problem("[model]\nname = \"mlp\"\nhiden = 128\n"),
            "cfg.toml:3:1: unknown key 'hiden' in [model]: model 'mlp' takes hidden, layers, dropout; did you mean "
            "'hidden'?");
  // A key of another model is unknown to this one.
  EXPECT_EQ(only_problem("[model]\nwidth = 32\n"),
            "cfg.toml:2:1: unknown key 'width' in [model]: model 'simple_cnn' takes conv1, conv2, fc1, fc2, dropout");
  EXPECT_EQ(only_problem("[model]\nname = \"resnet\"\nblocks = 2.5\n"),
            "cfg.toml:3:10: model.blocks: expected int, got float");
}

TEST(ConfigLimits, ModelOptionsOutOfRange) {
  for (const char* model : {"simple_cnn", "mlp", "resnet"}) {
    for (const OptionSpec& spec : *model_options(model)) {
      for (const OptionConstraint& c : spec.constraints) {
        // A value just outside the bound, of the option's type.
        const bool integer = spec.type == OptionType::kInt;
        double v = c.bound;
        if (c.kind == ConstraintKind::kAtLeast) v = c.bound - (integer ? 1 : 0.5);
        if (c.kind == ConstraintKind::kAtMost) v = c.bound + 1;
        std::string value = integer ? std::to_string(static_cast<int64_t>(v)) : std::to_string(v);
        SCOPED_TRACE(std::string(model) + "." + spec.name + " = " + value);
        const std::string p =
            only_problem(std::string("[model]\nname = \"") + model + "\"\n" + spec.name + " = " + value + "\n");
        EXPECT_EQ(p.rfind("cfg.toml:3:" + std::to_string(spec.name.size() + 4) + ": model." + spec.name + " = ", 0), 0u)
            << p;
        EXPECT_NE(p.find("is out of range: must be " + describe_constraints(spec)), std::string::npos) << p;
      }
    }
  }
  // And in code, without TOML.
  RunConfig c;
  c.model.name = "mlp";
  c.model.options["dropout"] = 1.0;
  c.model.options["depth"] = int64_t{3};
  const auto p = validate(c);
  ASSERT_EQ(p.size(), 2u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0], "config: unknown key 'depth' in [model]: model 'mlp' takes hidden, layers, dropout");
  EXPECT_EQ(p[1], "config: model.dropout = 1 is out of range: must be a number >= 0 and < 1");
}

}  // namespace
}  // namespace trainscope

// ---- Through the CLI, with the bundled plugins ----
#if defined(TRAINSCOPE_CLI) && defined(TRAINSCOPE_BUNDLED_PLUGIN_DIR)

namespace trainscope {
namespace {

struct Cli {
  int status = -1;
  std::string output;
};

Cli run_cli(const std::string& args) {
  Cli r;
  FILE* pipe = popen((std::string(TRAINSCOPE_CLI) + " " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

TEST(ConfigLimitsCli, ValidateOfADirectoryIsNotOk) {
  const std::string dir = testing::fresh_dir();
  const Cli r = run_cli("validate " + dir);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(r.output, dir + ": is a directory, not a configuration file: give the path of a .toml file\n" + dir +
                          ": 1 problem\n");
}

TEST(ConfigLimitsCli, RunWithAnInfiniteLearningRateStopsBeforeTraining) {
  // It used to train on a -nan loss and exit 0.
  const std::string dir = testing::fresh_dir();
  const std::string cfg = dir + "/run.toml";
  std::ofstream(cfg) << "[run]\nlog_dir = \"" << dir
                     << "/logs\"\n[trainer]\nlr = inf\n[data]\ndataset = \"synthetic\"\n";
  const Cli r = run_cli("run " + cfg);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(cfg + ":4:6: trainer.lr must be a finite number (got inf)"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/logs")) << r.output;
}

TEST(ConfigLimitsCli, RunWithABatchLargerThanTheLoadedDataStopsBeforeTraining) {
  // mnist_idx from a directory of two tiny IDX files: its size is known only once loaded.
  const std::string dir = testing::fresh_dir();
  auto idx = [&](const std::string& name, std::vector<uint8_t> header, size_t payload) {
    std::ofstream f(dir + "/" + name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
    for (size_t i = 0; i < payload; ++i) f.put(static_cast<char>(i % 4));
  };
  for (const std::string split : {"train", "t10k"}) {
    idx(split + "-images-idx3-ubyte", {0, 0, 8, 3, 0, 0, 0, 8, 0, 0, 0, 28, 0, 0, 0, 28}, 8 * 28 * 28);
    idx(split + "-labels-idx1-ubyte", {0, 0, 8, 1, 0, 0, 0, 8}, 8);
  }
  const std::string cfg = dir + "/run.toml";
  std::ofstream(cfg) << "[run]\nlog_dir = \"" << dir << "/logs\"\n[trainer]\nbatch_size = 9223372036854775807\n"
                     << "[data]\ndataset = \"mnist_idx\"\npath = \"" << dir << "\"\n";
  const Cli r = run_cli("run " + cfg);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(cfg + ":4:14: trainer.batch_size = 9223372036854775807 is larger than the training set (8 "
                                "samples of mnist_idx): no batch would be made; use at most 8"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/logs")) << r.output;
}

TEST(ConfigLimitsCli, RunStopsWhenAPluginCannotBeCreatedWhateverOnError) {
  // A value only the constructor can judge (hparams' ":avg" suffix) used to disable the plugin
  // and let the run exit 0 without it.
  const std::string dir = testing::fresh_dir();
  const std::string cfg = dir + "/run.toml";
  std::ofstream(cfg) << "[run]\nlog_dir = \"" << dir << "/logs\"\n[data]\ndataset = \"synthetic\"\n"
                     << "[[plugin]]\nname = \"hparams\"\non_error = \"disable\"\nmetrics = [\"val/loss:avg\"]\n";
  EXPECT_EQ(run_cli(std::string("validate --path ") + TRAINSCOPE_BUNDLED_PLUGIN_DIR + " " + cfg).status, 0);
  const Cli r = run_cli(std::string("run --path ") + TRAINSCOPE_BUNDLED_PLUGIN_DIR + " " + cfg);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(cfg + ":5:1: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("hparams: metrics entry 'val/loss:avg'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the run stops before training"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/logs")) << r.output;
}

// ---- Plugin options: what validate accepts, the plugin must accept ----

const PluginCatalog& bundled_plugins() {
  static const PluginCatalog c = discover_plugins({TRAINSCOPE_BUNDLED_PLUGIN_DIR});
  return c;
}

// Values of the option's type to probe: the usual suspects plus each constraint's bounds.
std::vector<OptionValue> probes(const OptionSpec& spec) {
  std::vector<double> numbers = {-1e300, -1, 0, 1e-300, 0.5, 1, 2, 3, 7, 1000, 1e6, 1e300};
  for (const auto& c : spec.constraints) {
    if (c.kind <= ConstraintKind::kBelow) {
      for (double d : {-1.0, -0.5, 0.0, 0.5, 1.0}) numbers.push_back(c.bound + d);
    }
  }
  std::vector<OptionValue> out;
  switch (spec.type) {
    case OptionType::kBool:
      return {OptionValue{true}, OptionValue{false}};
    case OptionType::kInt:
      out = {OptionValue{std::numeric_limits<int64_t>::max()}, OptionValue{std::numeric_limits<int64_t>::min()}};
      for (double d : numbers) {
        if (d == std::floor(d) && std::abs(d) < 9e18) out.emplace_back(static_cast<int64_t>(d));
      }
      return out;
    case OptionType::kDouble:
      out = {OptionValue{INFINITY}, OptionValue{-INFINITY}, OptionValue{std::nan("")}};
      for (double d : numbers) out.emplace_back(d);
      return out;
    case OptionType::kString:
      out = {OptionValue{std::string()}, OptionValue{std::string("x")}, OptionValue{std::string("*")}};
      for (const auto& c : spec.constraints) {
        for (const auto& w : c.words) out.emplace_back(w);
      }
      return out;
    case OptionType::kStringList:
      out = {OptionValue{std::vector<std::string>{}},     OptionValue{std::vector<std::string>{""}},
             OptionValue{std::vector<std::string>{"x"}},  OptionValue{std::vector<std::string>{"*"}},
             OptionValue{std::vector<std::string>{"1"}},  OptionValue{std::vector<std::string>{"0"}},
             OptionValue{std::vector<std::string>{"-1"}}, OptionValue{std::vector<std::string>{"0.5", "0.5"}}};
      for (const auto& c : spec.constraints) {
        for (const auto& w : c.words) out.push_back(std::vector<std::string>{w});
      }
      return out;
  }
  return out;
}

std::string show(const OptionValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    std::ostringstream s;
    s << *d;
    return s.str();
  }
  if (const auto* s = std::get_if<std::string>(&v)) return "\"" + *s + "\"";
  std::string out = "[";
  for (const auto& s : std::get<std::vector<std::string>>(v)) out += (out.size() > 1 ? ", \"" : "\"") + s + "\"";
  return out + "]";
}

TEST(PluginOptionHoles, EveryValueValidateAcceptsTheBundledPluginAccepts) {
  // Item 5 of issue 14 counted 14 option values that passed validate and at run time only
  // disabled their plugin. The constructor of a plugin is where it refuses a value; the schema
  // (options.h constraints) is what validate checks. They must agree: any value the schema
  // accepts, alone with the other defaults, must construct the plugin.
  ASSERT_FALSE(bundled_plugins().libraries.empty());
  size_t tried = 0;
  std::vector<std::string> holes;
  for (const auto& library : bundled_plugins().libraries) {
    Options defaults;
    for (const auto& spec : library->options()) defaults.set(spec.name, spec.default_value);
    for (const auto& spec : library->options()) {
      for (const OptionValue& v : probes(spec)) {
        if (check_option(spec, v)) continue;  // validate refuses it: no hole
        Options options = defaults;
        options.set(spec.name, v);
        ++tried;
        try {
          PluginInstance instance(library, options);
        } catch (const std::exception& e) {
          holes.push_back(library->descriptor().name + std::string(".") + spec.name + " = " + show(v) + ": " +
                          e.what());
        }
      }
    }
  }
  EXPECT_GT(tried, 100u);
  EXPECT_TRUE(holes.empty()) << holes.size() << " values pass validate but the plugin refuses them:\n"
                             << ::testing::PrintToString(holes);
}

}  // namespace
}  // namespace trainscope

#endif  // TRAINSCOPE_CLI && TRAINSCOPE_BUNDLED_PLUGIN_DIR
