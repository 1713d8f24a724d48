// HookBus with real plugin libraries (tests/plugins): dispatch only to overriders, call order,
// cadence (every_n_steps, at_steps, every_n_epochs, phases), error policies, timing.
#include "trainscope/hook_bus.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "trainscope/plugin_loader.h"

namespace trainscope {
namespace {

constexpr Hook kStepHooks[] = {Hook::kTrainBatchBegin,     Hook::kAfterForward,       Hook::kAfterBackward,
                               Hook::kBeforeOptimizerStep, Hook::kAfterOptimizerStep, Hook::kTrainBatchEnd};
constexpr Hook kEpochHooks[] = {Hook::kEpochBegin, Hook::kValidationBegin, Hook::kValidationBatchEnd,
                                Hook::kValidationEnd, Hook::kEpochEnd};

class HookBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    catalog_ = discover_plugins({TRAINSCOPE_TEST_PLUGIN_DIR});
    ctx_.metrics_ = &metrics_;
    char path[] = "/tmp/trainscope-hookbus-XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    out_ = path;
  }
  void TearDown() override { unlink(out_.c_str()); }

  // An instance of plugin `name` with its schema defaults, `values` on top.
  std::unique_ptr<PluginInstance> make(const std::string& name, std::map<std::string, OptionValue> values = {}) {
    auto library = catalog_.find(name);
    EXPECT_NE(library, nullptr) << name;
    Options options;
    for (const auto& spec : library->options()) options.set(spec.name, spec.default_value);
    for (auto& [k, v] : values) options.set(k, v);
    return std::make_unique<PluginInstance>(library, options);
  }
  std::unique_ptr<PluginInstance> recorder(const std::string& tag = "") {
    return make("recorder", {{"out", out_}, {"tag", tag}});
  }
  static PluginConfig config(const std::string& name, Cadence cadence = {},
                             ErrorPolicy policy = ErrorPolicy::kDisable) {
    PluginConfig c;
    c.name = name;
    c.cadence = std::move(cadence);
    c.on_error = policy;
    return c;
  }
  std::vector<std::string> lines() const {
    std::ifstream in(out_);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  // One training batch making optimizer step s (ctx.step() advances before train_batch_end).
  void batch(HookBus& bus, int64_t s, int64_t epoch = 0) {
    ctx_.phase_ = Phase::kTrain;
    ctx_.epoch_ = epoch;
    ctx_.batch_index_ = s - 1;
    ctx_.step_ = s - 1;
    for (Hook h : kStepHooks) {
      if (h == Hook::kTrainBatchEnd) ctx_.step_ = s;
      bus.emit(h, ctx_);
    }
  }
  // The epoch hooks of one epoch (validation hooks in the validation phase).
  void epoch(HookBus& bus, int64_t e) {
    ctx_.epoch_ = e;
    for (Hook h : kEpochHooks) {
      const bool validation =
          h == Hook::kValidationBegin || h == Hook::kValidationBatchEnd || h == Hook::kValidationEnd;
      ctx_.phase_ = validation ? Phase::kValidation : Phase::kTrain;
      bus.emit(h, ctx_);
    }
  }

  PluginCatalog catalog_;
  std::map<std::string, double> metrics_;
  HookContext ctx_;
  std::string out_;
};

TEST_F(HookBusTest, EmptyBusDoesNothing) {
  HookBus bus;
  for (int h = 0; h < kHookCount; ++h) {
    EXPECT_FALSE(bus.has_subscribers(static_cast<Hook>(h)));
    bus.emit(static_cast<Hook>(h), ctx_);
  }
  EXPECT_EQ(bus.size(), 0u);
  EXPECT_TRUE(bus.timings().empty());
}

TEST_F(HookBusTest, DispatchesOnlyTheHooksAPluginOverrides) {
  HookBus bus;
  bus.add(make("one_hook"), config("one_hook"));  // overrides epoch_end only
  for (int h = 0; h < kHookCount; ++h) {
    EXPECT_EQ(bus.has_subscribers(static_cast<Hook>(h)), static_cast<Hook>(h) == Hook::kEpochEnd) << h;
    bus.emit(static_cast<Hook>(h), ctx_);
  }
  EXPECT_EQ(metrics_["one_hook.calls"], 1);
  const auto timings = bus.timings();
  ASSERT_EQ(timings.size(), 1u);
  EXPECT_EQ(timings[0].plugin, "one_hook");
  EXPECT_EQ(timings[0].hook, Hook::kEpochEnd);
  EXPECT_EQ(timings[0].calls, 1u);
}

TEST_F(HookBusTest, RecorderSeesEveryHookWithItsCounters) {
  HookBus bus;
  bus.add(recorder(), config("recorder"));
  ctx_.step_ = 7;
  ctx_.epoch_ = 2;
  ctx_.batch_index_ = 3;
  std::vector<std::string> expected;
  for (int h = 0; h < kHookCount; ++h) {
    bus.emit(static_cast<Hook>(h), ctx_);
    expected.push_back(std::string(hook_name(static_cast<Hook>(h))) + " 7 2 3");
  }
  EXPECT_EQ(lines(), expected);
  EXPECT_EQ(ctx_.plugin_name(), "recorder");
  EXPECT_EQ(ctx_.options().get<std::string>("out"), out_);
}

TEST_F(HookBusTest, PluginsAreCalledInTheOrderTheyWereAdded) {
  HookBus bus;
  bus.add(recorder("A"), config("recorder"));
  bus.add(recorder("B"), config("recorder"));
  bus.add(make("one_hook"), config("one_hook", {}, ErrorPolicy::kDisable));
  bus.emit(Hook::kFitBegin, ctx_);
  bus.emit(Hook::kEpochEnd, ctx_);
  EXPECT_EQ(lines(), (std::vector<std::string>{"A fit_begin 0 0 0", "B fit_begin 0 0 0", "A epoch_end 0 0 0",
                                               "B epoch_end 0 0 0"}));
  EXPECT_EQ(bus.plugin_names(), (std::vector<std::string>{"recorder", "recorder", "one_hook"}));
}

TEST_F(HookBusTest, DisabledConfigIsNotAdded) {
  HookBus bus;
  PluginConfig off = config("recorder");
  off.enabled = false;
  bus.add(recorder(), off);
  EXPECT_EQ(bus.size(), 0u);
  EXPECT_FALSE(bus.has_subscribers(Hook::kFitBegin));
}

TEST_F(HookBusTest, ThrowingHookIsDisabledAndTheBusGoesOn) {
  HookBus bus;
  bus.add(make("throwing_hook"), config("throwing_hook"));
  bus.add(recorder(), config("recorder"));
  ::testing::internal::CaptureStderr();
  for (int64_t s = 1; s <= 3; ++s) {
    ctx_.step_ = s;
    bus.emit(Hook::kTrainBatchEnd, ctx_);
  }
  bus.emit(Hook::kException, ctx_);  // it overrides this too, but is disabled now
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "[trainscope] plugin 'throwing_hook' failed in train_batch_end: boom at step 1; disabled (set on_error = "
            "\"abort\" to stop the run)\n");
  EXPECT_EQ(metrics_["throwing_hook.calls"], 1);  // never called again
  EXPECT_EQ(lines(), (std::vector<std::string>{"train_batch_end 1 0 0", "train_batch_end 2 0 0",
                                               "train_batch_end 3 0 0", "exception 3 0 0"}));
  const auto disabled = bus.disabled();
  ASSERT_EQ(disabled.size(), 1u);
  EXPECT_EQ(disabled[0].first, "throwing_hook");
  EXPECT_EQ(disabled[0].second, "boom at step 1");
  EXPECT_NE(bus.timing_report().find("throwing_hook (disabled)"), std::string::npos);
}

TEST_F(HookBusTest, AbortPolicyThrowsPluginAbort) {
  HookBus bus;
  bus.add(make("throwing_hook"), config("throwing_hook", {}, ErrorPolicy::kAbort));
  bus.add(recorder(), config("recorder"));
  ctx_.step_ = 7;
  try {
    bus.emit(Hook::kTrainBatchEnd, ctx_);
    FAIL() << "no PluginAbort";
  } catch (const PluginAbort& e) {
    EXPECT_EQ(e.plugin(), "throwing_hook");
    EXPECT_EQ(e.hook(), Hook::kTrainBatchEnd);
    EXPECT_EQ(e.message(), "boom at step 7");
    EXPECT_STREQ(e.what(), "plugin 'throwing_hook' failed in train_batch_end: boom at step 7");
  }
  EXPECT_TRUE(lines().empty());  // the run stops: later plugins are not called
  // The loop's exception hook that follows does not re-enter the failed plugin.
  bus.emit(Hook::kException, ctx_);
  EXPECT_EQ(metrics_["throwing_hook.calls"], 1);
  EXPECT_EQ(lines(), std::vector<std::string>{"exception 7 0 0"});
}

TEST_F(HookBusTest, FailureInTheExceptionHookNeverAborts) {
  HookBus bus;
  bus.add(make("throwing_hook"), config("throwing_hook", {}, ErrorPolicy::kAbort));
  ::testing::internal::CaptureStderr();
  EXPECT_NO_THROW(bus.emit(Hook::kException, ctx_));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("plugin 'throwing_hook' failed in exception: boom in the exception hook; disabled"),
            std::string::npos)
      << err;
  EXPECT_EQ(bus.disabled().size(), 1u);
}

TEST_F(HookBusTest, EveryNStepsDecidesAllStepHooksOfABatchTogether) {
  HookBus bus;
  Cadence c;
  c.every_n_steps = 2;
  bus.add(recorder(), config("recorder", c));
  for (int64_t s = 1; s <= 5; ++s) batch(bus, s);
  // Batches making steps 2 and 4: every step hook, before (step s-1) and after (step s) the advance.
  EXPECT_EQ(lines(), (std::vector<std::string>{
                         "train_batch_begin 1 0 1", "after_forward 1 0 1", "after_backward 1 0 1",
                         "before_optimizer_step 1 0 1", "after_optimizer_step 1 0 1", "train_batch_end 2 0 1",
                         "train_batch_begin 3 0 3", "after_forward 3 0 3", "after_backward 3 0 3",
                         "before_optimizer_step 3 0 3", "after_optimizer_step 3 0 3", "train_batch_end 4 0 3"}));
}

TEST_F(HookBusTest, AtStepsAndEveryNStepsCombine) {
  HookBus bus;
  Cadence c;
  c.every_n_steps = 4;
  c.at_steps = {6, 1};  // unsorted on purpose
  bus.add(recorder(), config("recorder", c));
  for (int64_t s = 1; s <= 9; ++s) {
    ctx_.step_ = s;
    bus.emit(Hook::kTrainBatchEnd, ctx_);
  }
  EXPECT_EQ(lines(), (std::vector<std::string>{"train_batch_end 1 0 0", "train_batch_end 4 0 0",
                                               "train_batch_end 6 0 0", "train_batch_end 8 0 0"}));
  EXPECT_TRUE(bus.fires(Hook::kTrainBatchEnd, 8, 0));
  EXPECT_FALSE(bus.fires(Hook::kTrainBatchEnd, 7, 0));
  EXPECT_TRUE(bus.fires(Hook::kTrainBatchBegin, 5, 0));  // the batch that makes step 6
  EXPECT_FALSE(bus.fires(Hook::kTrainBatchBegin, 6, 0));
}

TEST_F(HookBusTest, AtStepsAlone) {
  HookBus bus;
  Cadence c;
  c.at_steps = {3};
  bus.add(recorder(), config("recorder", c));
  for (int64_t s = 1; s <= 5; ++s) {
    ctx_.step_ = s;
    bus.emit(Hook::kTrainBatchEnd, ctx_);
  }
  EXPECT_EQ(lines(), std::vector<std::string>{"train_batch_end 3 0 0"});
}

TEST_F(HookBusTest, EveryNEpochsGatesEpochAndValidationHooks) {
  HookBus bus;
  Cadence c;
  c.every_n_epochs = 2;
  bus.add(recorder(), config("recorder", c));
  for (int64_t e = 0; e < 4; ++e) epoch(bus, e);
  std::vector<std::string> expected;
  for (int e : {1, 3}) {
    for (Hook h : kEpochHooks) expected.push_back(std::string(hook_name(h)) + " 0 " + std::to_string(e) + " 0");
  }
  EXPECT_EQ(lines(), expected);
  EXPECT_TRUE(bus.fires(Hook::kEpochEnd, 0, 1));
  EXPECT_FALSE(bus.fires(Hook::kEpochEnd, 0, 2));
}

TEST_F(HookBusTest, PhasesValidationOnly) {
  HookBus bus;
  Cadence c;
  c.train = false;
  bus.add(recorder(), config("recorder", c));
  batch(bus, 1);
  epoch(bus, 0);
  std::vector<std::string> expected;
  for (Hook h : kEpochHooks) expected.push_back(std::string(hook_name(h)) + " 1 0 0");
  EXPECT_EQ(lines(), expected);  // epoch and validation hooks, no step hook
  EXPECT_FALSE(bus.fires(Hook::kTrainBatchEnd, 1, 0));
  EXPECT_TRUE(bus.fires(Hook::kValidationEnd, 1, 0));
}

TEST_F(HookBusTest, PhasesTrainOnly) {
  HookBus bus;
  Cadence c;
  c.validation = false;
  bus.add(recorder(), config("recorder", c));
  epoch(bus, 0);
  EXPECT_EQ(lines(), (std::vector<std::string>{"epoch_begin 0 0 0", "epoch_end 0 0 0"}));
  batch(bus, 1);
  EXPECT_EQ(lines().size(), 2u + 6u);
}

TEST_F(HookBusTest, FitExceptionAndCheckpointHooksIgnoreCadence) {
  HookBus bus;
  Cadence c;
  c.every_n_steps = 1000;
  c.every_n_epochs = 1000;
  c.validation = false;
  bus.add(recorder(), config("recorder", c));
  ctx_.step_ = 3;
  for (Hook h : {Hook::kFitBegin, Hook::kSaveCheckpoint, Hook::kLoadCheckpoint, Hook::kException, Hook::kFitEnd}) {
    bus.emit(h, ctx_);
  }
  EXPECT_EQ(lines(), (std::vector<std::string>{"fit_begin 3 0 0", "save_checkpoint 3 0 0", "load_checkpoint 3 0 0",
                                               "exception 3 0 0", "fit_end 3 0 0"}));
}

TEST_F(HookBusTest, TimingReportAndOverhead) {
  HookBus bus;
  bus.add(recorder(), config("recorder"));
  for (int i = 0; i < 10; ++i) bus.emit(Hook::kTrainBatchEnd, ctx_);
  const std::string report = bus.timing_report();
  EXPECT_NE(report.find("plugin"), std::string::npos) << report;
  EXPECT_NE(report.find("calls"), std::string::npos) << report;
  EXPECT_NE(report.find("total ms"), std::string::npos) << report;
  EXPECT_NE(report.find("mean us/call"), std::string::npos) << report;
  EXPECT_NE(report.find("recorder"), std::string::npos) << report;
  EXPECT_NE(report.find(" 10 "), std::string::npos) << report;
  auto overhead = bus.take_overhead();
  ASSERT_EQ(overhead.size(), 1u);
  EXPECT_EQ(overhead[0].first, "recorder");
  EXPECT_GT(overhead[0].second, 0.0);
  EXPECT_LT(overhead[0].second, 1.0);
  EXPECT_EQ(bus.take_overhead()[0].second, 0.0);  // nothing since the last take
  const auto timings = bus.timings();
  ASSERT_EQ(timings.size(), 1u);
  EXPECT_EQ(timings[0].calls, 10u);
}

TEST_F(HookBusTest, AddFromConfigStopsOnAConstructorThatThrowsWhateverTheErrorPolicy) {
  // on_error is about hooks: a plugin that cannot be created stops the run before training
  // (a run silently without it would look complete), under kDisable as under kAbort.
  for (const ErrorPolicy policy : {ErrorPolicy::kDisable, ErrorPolicy::kAbort}) {
    std::vector<PluginConfig> plugins;
    plugins.push_back(config("one_hook"));
    plugins.push_back(config("throwing_ctor"));
    plugins.back().options.set("reason", std::string("bad"));
    plugins.back().on_error = policy;
    plugins.back().source = "run.toml:7:1";
    HookBus bus;
    try {
      bus.add_from_config(plugins, catalog_);
      FAIL() << "no error";
    } catch (const PluginLoadError& e) {
      EXPECT_EQ(e.kind(), PluginLoadError::Kind::kCreateFailed);
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("run.toml:7:1: ", 0), 0u) << what;
      EXPECT_NE(what.find("throwing_ctor refuses to start: bad"), std::string::npos) << what;
      EXPECT_NE(what.find("the run stops before training"), std::string::npos) << what;
    }
    EXPECT_TRUE(bus.disabled().empty());
  }

  // A disabled plugin is not created at all.
  std::vector<PluginConfig> plugins;
  plugins.push_back(config("one_hook"));
  PluginConfig off = config("throwing_ctor");
  off.options.set("reason", std::string("bad"));
  off.enabled = false;
  plugins.push_back(off);
  HookBus bus;
  bus.add_from_config(plugins, catalog_);
  EXPECT_EQ(bus.plugin_names(), std::vector<std::string>{"one_hook"});

  HookBus unknown;
  try {
    unknown.add_from_config({config("nope")}, catalog_);
    FAIL() << "no error";
  } catch (const PluginLoadError& e) {
    EXPECT_EQ(e.kind(), PluginLoadError::Kind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("plugin 'nope' is not on the plugin search path"), std::string::npos);
  }
}

// The hook table (hook_table.h) is the one source of the enum, the names, the Plugin virtuals,
// the overrider masks, the dispatch and the cadence classes: for every row, each generated
// piece must agree with the row. A probe type per row overrides only that row's virtual.
namespace table_check {

struct Row {
  Hook hook;
  const char* name;
  HookCadence cadence;
};
constexpr Row kRows[] = {
#define TRAINSCOPE_TEST_ROW_(E, n, c, doc) {Hook::k##E, #n, HookCadence::c},
    TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_TEST_ROW_)
#undef TRAINSCOPE_TEST_ROW_
};
static_assert(std::size(kRows) == kHookCount, "one enum value per table row");

#define TRAINSCOPE_TEST_PROBE_(E, n, c, doc)                     \
  struct Probe_##n final : Plugin {                              \
    explicit Probe_##n(const Options&) {}                        \
    void on_##n(HookContext&) override { called.push_back(#n); } \
    std::vector<std::string> called;                             \
  };
TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_TEST_PROBE_)
#undef TRAINSCOPE_TEST_PROBE_

// Every hook of the enum dispatched to probe T; returns the names of the overrides it ran.
template <typename T>
std::vector<std::string> dispatch_all(HookContext& ctx) {
  T probe{Options{}};
  for (int h = 0; h < kHookCount; ++h) {
    std::string error;
    EXPECT_EQ(detail::invoke_hook<T>(&probe, static_cast<Hook>(h), ctx, &error), 0) << error;
  }
  return probe.called;
}

}  // namespace table_check

TEST_F(HookBusTest, EnumNamesMasksDispatchAndCadenceAgreeWithTheHookTable) {
  using namespace table_check;
  HookMask seen = 0;
  for (int i = 0; i < kHookCount; ++i) {
    const Row& row = kRows[i];
    SCOPED_TRACE(row.name);
    EXPECT_EQ(static_cast<int>(row.hook), i);  // the row's position is its ABI number
    EXPECT_STREQ(hook_name(row.hook), row.name);
    Hook parsed = Hook::kCount;
    ASSERT_TRUE(hook_from_name(row.name, &parsed));
    EXPECT_EQ(parsed, row.hook);
    EXPECT_EQ(hook_cadence(row.hook), row.cadence);
    EXPECT_EQ(seen & hook_bit(row.hook), 0u);  // one distinct bit per hook
    seen |= hook_bit(row.hook);
  }
  EXPECT_EQ(seen, (HookMask{1} << kHookCount) - 1);
  EXPECT_FALSE(hook_from_name("no_such_hook", nullptr));
  EXPECT_STREQ(hook_name(Hook::kCount), "unknown");

  // Per row: the mask of a type overriding only that row's virtual is that row's bit, and
  // dispatching every hook to it runs exactly that override, once.
  std::map<std::string, std::pair<HookMask, std::vector<std::string>>> got;
#define TRAINSCOPE_TEST_CHECK_(E, n, c, doc) got[#n] = {detail::hooks_of<Probe_##n>(), dispatch_all<Probe_##n>(ctx_)};
  TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_TEST_CHECK_)
#undef TRAINSCOPE_TEST_CHECK_
  ASSERT_EQ(got.size(), static_cast<size_t>(kHookCount));
  for (const Row& row : kRows) {
    EXPECT_EQ(got[row.name].first, hook_bit(row.hook)) << row.name;
    EXPECT_EQ(got[row.name].second, std::vector<std::string>{row.name}) << row.name;
  }
  // The cadence classes the bus applies: step hooks follow every_n_steps, the rest do not.
  for (const Row& row : kRows) {
    HookBus bus;
    bus.add(recorder(), config("recorder", Cadence{.every_n_steps = 2}));
    ctx_.phase_ = row.cadence == HookCadence::kValidation ? Phase::kValidation : Phase::kTrain;
    ctx_.step_ = 0;  // step hooks of the batch making step 1 (train_batch_end sees step 1)
    if (row.hook == Hook::kTrainBatchEnd) ctx_.step_ = 1;
    bus.emit(row.hook, ctx_);
    EXPECT_EQ(lines().size(), row.cadence == HookCadence::kStep ? 0u : 1u) << row.name;
    std::ofstream(out_, std::ios::trunc).flush();
  }
}

}  // namespace
}  // namespace trainscope
