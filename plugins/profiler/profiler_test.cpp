// The profiler plugin in a real fit (8 steps: 4 batches x 2 epochs): the trace files its
// schedule asks for, their ProfilerStep ranges and operators, the top-operators table against
// the model's structure, and the phase timings bracketed by probes that run just before and
// just after the plugin at every hook. The trace's JSON itself is parsed in
// tests/conformance/test_profiler_trace.py.
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "plugin_harness.h"
#include "trainer_fixtures.h"

namespace trainscope::testing {
namespace {

using RunSetup = Setup;  // inside a TEST, `Setup` names gtest's misspelling guard

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> traces(const std::string& run_dir) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(run_dir) / "plugins" / "profile";
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Occurrences of `"ProfilerStep#<n>"` in a trace, by n.
std::map<int64_t, int> profiler_steps(const std::string& trace) {
  std::map<int64_t, int> out;
  const std::regex re("\"ProfilerStep#([0-9]+)\"");
  for (auto it = std::sregex_iterator(trace.begin(), trace.end(), re); it != std::sregex_iterator(); ++it) {
    ++out[std::stoll((*it)[1].str())];
  }
  return out;
}

// The raw bytes of every event file of a run (text summaries are stored verbatim).
std::string event_bytes(const std::string& run_dir) {
  std::string all;
  for (const auto& f : list_event_files(run_dir)) all += read_file(f);
  return all;
}

template <typename Impl>
int64_t count_modules(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& child : m.modules(/*include_self=*/true)) n += child->as<Impl>() != nullptr;
  return n;
}

constexpr const char* kCycle = R"([[plugin]]
name = "profiler"
on_error = "abort"
wait = 1
warmup = 1
active = 2
repeat = 1
top_ops = 500
)";

TEST(Profiler, OneCycleWritesOneTraceWithItsActiveSteps) {
  int64_t convs = 0, linears = 0;
  RunSetup setup;
  setup.model = [&](const Datasets& d) {
    Model m = make_model(ModelSection{}, {d.train.sample_shape(), d.train.num_classes()});
    convs = count_modules<torch::nn::Conv2dImpl>(m.module());
    linears = count_modules<torch::nn::LinearImpl>(m.module());
    return m;
  };
  const auto run = run_plugins(kCycle, setup);
  ASSERT_GT(convs, 0);
  ASSERT_GT(linears, 0);

  // wait 1, warmup 1, active 2 over the plugin's steps 0, 1, 2, 3 -> optimizer steps 3 and 4.
  const auto files = traces(run.run_dir);
  ASSERT_EQ(files.size(), 1u);
  std::smatch m;
  const std::string name = files[0].filename().string();
  ASSERT_TRUE(std::regex_match(name, m, std::regex(R"((.+)_([0-9]+)\.([0-9]+)\.pt\.trace\.json)"))) << name;
  EXPECT_EQ(std::stoll(m[2].str()), static_cast<long long>(getpid()));
  const auto now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(std::stoll(m[3].str()), now_ns);

  const std::string trace = read_file(files[0]);
  ASSERT_FALSE(trace.empty());
  EXPECT_EQ(trace[trace.find_first_not_of(" \n\t")], '{');
  const auto steps = profiler_steps(trace);
  ASSERT_EQ(steps.size(), 2u) << trace.substr(0, 2000);
  EXPECT_TRUE(steps.count(3));
  EXPECT_TRUE(steps.count(4));
  EXPECT_NE(trace.find("\"aten::conv2d\""), std::string::npos);
  EXPECT_NE(trace.find("\"aten::addmm\""), std::string::npos);  // the C++ Linear's op

  // The table: logged once, at the cycle's last step, with one conv2d per Conv2d module and
  // one addmm per Linear module in each of the two recorded forwards.
  const auto text = run.values("profiler/top_ops/text_summary");
  ASSERT_EQ(text.size(), 1u);
  EXPECT_EQ(text[0].first, 4);
  const std::string bytes = event_bytes(run.run_dir);
  EXPECT_NE(bytes.find("Steps 3-4, trace `plugins/profile/" + name + "`"), std::string::npos);
  const std::regex row(R"(\| `([^`]+)` \| ([0-9]+) \| ([0-9.]+) \| ([0-9.]+) \|)");
  std::map<std::string, int64_t> calls;
  for (auto it = std::sregex_iterator(bytes.begin(), bytes.end(), row); it != std::sregex_iterator(); ++it) {
    const auto& r = *it;
    calls[r[1].str()] = std::stoll(r[2].str());
    EXPECT_LE(std::stod(r[3].str()), std::stod(r[4].str()) + 1e-3) << r[0].str();  // self <= total
  }
  ASSERT_GT(calls.size(), 15u);  // top_ops = 500: every operator
  EXPECT_EQ(calls["aten::conv2d"], 2 * convs);
  EXPECT_EQ(calls["aten::addmm"], 2 * linears);
  EXPECT_FALSE(calls.count("ProfilerStep#3"));
}

TEST(Profiler, RepeatWritesOneTracePerCycle) {
  const auto run = run_plugins(R"([[plugin]]
name = "profiler"
on_error = "abort"
wait = 1
warmup = 1
active = 1
repeat = 2
timing_every_n_steps = 0
)");
  // Cycles of 3 steps: the third of each is recorded -> steps 3 and 6.
  const auto files = traces(run.run_dir);
  ASSERT_EQ(files.size(), 2u);
  std::set<int64_t> recorded;
  for (const auto& f : files) {
    const auto steps = profiler_steps(read_file(f));
    ASSERT_EQ(steps.size(), 1u) << f;
    recorded.insert(steps.begin()->first);
  }
  EXPECT_EQ(recorded, (std::set<int64_t>{3, 6}));
  std::vector<int64_t> text_steps;
  for (const auto& [step, v] : run.values("profiler/top_ops/text_summary")) text_steps.push_back(step);
  EXPECT_EQ(text_steps, (std::vector<int64_t>{3, 6}));
  EXPECT_TRUE(run.tags_with_prefix("time/").empty());
}

TEST(Profiler, CycleCutShortByTheEndOfTheFitIsSaved) {
  // 8 steps; the cycle records from step 7 (skip 4, wait 1, warmup 1) and would end at 10.
  const auto run = run_plugins(R"([[plugin]]
name = "profiler"
on_error = "abort"
skip_first = 4
active = 4
timing_every_n_steps = 0
)");
  const auto files = traces(run.run_dir);
  ASSERT_EQ(files.size(), 1u);
  const auto steps = profiler_steps(read_file(files[0]));
  EXPECT_EQ(steps.size(), 2u);
  EXPECT_TRUE(steps.count(7) && steps.count(8));
  EXPECT_NE(event_bytes(run.run_dir).find("Steps 7-8 (cycle cut short)"), std::string::npos);
}

// Host times of each hook, taken by a probe right before and one right after the plugin.
struct HookTimes {
  std::map<std::pair<Hook, int64_t>, double> before, after;  // (hook, step) -> ms since start
};

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t step_of(const HookContext& c) { return c.hook() == Hook::kTrainBatchEnd ? c.step() : c.step() + 1; }

TEST(Profiler, PhaseTimesLieBetweenProbesAroundThePlugin) {
  HookTimes t;
  Probe first, last;
  first.on_hook = [&](HookContext& c) { t.before[{c.hook(), step_of(c)}] = now_ms(); };
  last.on_hook = [&](HookContext& c) { t.after[{c.hook(), step_of(c)}] = now_ms(); };
  RunSetup setup;
  setup.add_before = [&](HookBus& bus) { add_probe(bus, first, "first"); };
  setup.add_after = [&](HookBus& bus) { add_probe(bus, last, "last"); };
  const auto run = run_plugins(R"([[plugin]]
name = "profiler"
on_error = "abort"
trace = false
)",
                               setup);
  ASSERT_FALSE(fs::exists(fs::path(run.run_dir) / "plugins" / "profile"));

  // [lo, hi] for the plugin's time from hook `a` of step sa to hook `b` of step sb: its stamp
  // at a hook lies between the two probes' stamps there.
  auto check = [&](const std::string& tag, Hook a, Hook b, int64_t expected_count, int64_t step_offset_a = 0) {
    const auto values = run.scalars(tag);
    EXPECT_EQ(static_cast<int64_t>(values.size()), expected_count) << tag;
    for (const auto& [s, v] : values) {
      const int64_t sa = s + step_offset_a;
      const double lo = t.before.at({b, s}) - t.after.at({a, sa});
      const double hi = t.after.at({b, s}) - t.before.at({a, sa});
      // Scalars are stored as float32: allow a relative 1e-6.
      EXPECT_GT(v, 0.0) << tag << " step " << s;
      EXPECT_GE(v, lo - 1e-6 * std::abs(lo) - 1e-9) << tag << " step " << s;
      EXPECT_LE(v, hi + 1e-6 * std::abs(hi) + 1e-9) << tag << " step " << s;
    }
    return values;
  };
  check("time/forward_ms", Hook::kTrainBatchBegin, Hook::kAfterForward, 8);
  check("time/backward_ms", Hook::kAfterForward, Hook::kAfterBackward, 8);
  check("time/optimizer_ms", Hook::kBeforeOptimizerStep, Hook::kAfterOptimizerStep, 8);
  check("time/step_ms", Hook::kTrainBatchBegin, Hook::kTrainBatchEnd, 8);
  // Data: from the end of the previous batch of the same epoch (none for an epoch's first).
  const auto data = check("time/data_ms", Hook::kTrainBatchEnd, Hook::kTrainBatchBegin, 6, -1);
  std::set<int64_t> data_steps;
  for (const auto& [s, v] : data) data_steps.insert(s);
  EXPECT_EQ(data_steps, (std::set<int64_t>{2, 3, 4, 6, 7, 8}));

  // The three phases fit inside the step as the outer probes saw it.
  const auto f = run.scalars("time/forward_ms"), b = run.scalars("time/backward_ms"),
             o = run.scalars("time/optimizer_ms");
  for (size_t i = 0; i < f.size(); ++i) {
    const int64_t s = f[i].first;
    const double wall = t.after.at({Hook::kTrainBatchEnd, s}) - t.before.at({Hook::kTrainBatchBegin, s});
    EXPECT_LE(f[i].second + b[i].second + o[i].second, wall * (1 + 1e-6)) << "step " << s;
  }
}

TEST(Profiler, TimingCadence) {
  const auto run = run_plugins(R"([[plugin]]
name = "profiler"
on_error = "abort"
trace = false
timing_every_n_steps = 3
)");
  std::vector<int64_t> steps;
  for (const auto& [s, v] : run.scalars("time/forward_ms")) steps.push_back(s);
  EXPECT_EQ(steps, (std::vector<int64_t>{3, 6}));
  EXPECT_FALSE(run.has("profiler/top_ops/text_summary"));
}

TEST(Profiler, RejectsBadOptions) {
  for (const auto& [bad, message] : std::vector<std::pair<std::string, std::string>>{
           {"active = 0", "'active' = 0 is out of range: must be an integer >= 1"},
           {"wait = -1", "'wait' = -1 is out of range: must be an integer >= 0"},
           {"repeat = -2", "'repeat' = -2 is out of range: must be an integer >= 0"},
           {"timing_every_n_steps = -1", "'timing_every_n_steps' = -1 is out of range: must be an integer >= 0"}}) {
    const auto problems = config_problems("[[plugin]]\nname = \"profiler\"\n" + bad + "\n");
    ASSERT_EQ(problems.size(), 1u) << bad << ::testing::PrintToString(problems);
    EXPECT_NE(problems[0].find("plugin 'profiler' option " + message), std::string::npos) << problems[0];
  }
}

}  // namespace
}  // namespace trainscope::testing
