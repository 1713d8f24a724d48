// Pruners of trainscope::sweep on small hand-built histories whose answers follow from the
// definitions (Optuna's MedianPruner and SuccessiveHalvingPruner). Decisions on many random
// histories are compared with Python optuna 5.0.0 in tests/conformance/test_optuna_pruners.py.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "trainscope/sweep/pruner.h"

namespace trainscope::sweep {
namespace {

Trial trial(int64_t number, TrialState state, std::map<int64_t, double> values) {
  Trial t;
  t.number = t.trial_id = number;
  t.state = state;
  t.intermediate_values = std::move(values);
  if (state == TrialState::kComplete && !t.intermediate_values.empty())
    t.value = t.intermediate_values.rbegin()->second;
  return t;
}

PrunerOptions median(int startup = 5, int warmup = 0, int interval = 1, int min_trials = 1) {
  PrunerOptions o;
  o.kind = "median";
  o.n_startup_trials = startup;
  o.n_warmup_steps = warmup;
  o.interval_steps = interval;
  o.n_min_trials = min_trials;
  return o;
}

// Five completed trials whose values at step 3 are 1..5 (median 3).
std::vector<Trial> five_completed() {
  std::vector<Trial> h;
  for (int i = 0; i < 5; ++i) h.push_back(trial(i, TrialState::kComplete, {{0, 10.0}, {3, 1.0 + i}, {6, 0.5 + i}}));
  return h;
}

TEST(SweepMedianPruner, PrunesWhenTheBestSoFarIsWorseThanTheMedian) {
  auto p = make_pruner(median());
  auto h = five_completed();
  EXPECT_TRUE(p->prune(h, trial(5, TrialState::kRunning, {{0, 9.0}, {3, 3.5}}), Direction::kMinimize, nullptr));
  EXPECT_FALSE(p->prune(h, trial(5, TrialState::kRunning, {{0, 9.0}, {3, 2.5}}), Direction::kMinimize, nullptr));
  // The best value so far counts, not the latest: 2.0 at step 0 beats the median 3.
  EXPECT_FALSE(p->prune(h, trial(5, TrialState::kRunning, {{0, 2.0}, {3, 3.5}}), Direction::kMinimize, nullptr));
  // Maximize: the median is still 3; 2.5 is worse, 3.5 is better.
  EXPECT_TRUE(p->prune(h, trial(5, TrialState::kRunning, {{3, 2.5}}), Direction::kMaximize, nullptr));
  EXPECT_FALSE(p->prune(h, trial(5, TrialState::kRunning, {{3, 3.5}}), Direction::kMaximize, nullptr));
  // Even number of values: the median interpolates (1..4 -> 2.5).
  h.pop_back();
  h.push_back(trial(4, TrialState::kPruned, {{3, 100.0}}));  // pruned trials do not count
  auto p4 = make_pruner(median(4));
  EXPECT_TRUE(p4->prune(h, trial(5, TrialState::kRunning, {{3, 2.6}}), Direction::kMinimize, nullptr));
  EXPECT_FALSE(p4->prune(h, trial(5, TrialState::kRunning, {{3, 2.4}}), Direction::kMinimize, nullptr));
}

TEST(SweepMedianPruner, WaitsForStartupTrialsWarmupIntervalAndMinTrials) {
  auto h = five_completed();
  const Trial bad = trial(5, TrialState::kRunning, {{3, 50.0}});
  EXPECT_FALSE(make_pruner(median(6))->prune(h, bad, Direction::kMinimize, nullptr));     // 5 < 6 complete
  EXPECT_FALSE(make_pruner(median(5, 4))->prune(h, bad, Direction::kMinimize, nullptr));  // step 3 < warmup 4
  EXPECT_TRUE(make_pruner(median(5, 3))->prune(h, bad, Direction::kMinimize, nullptr));
  EXPECT_FALSE(make_pruner(median(5, 0, 1, 6))->prune(h, bad, Direction::kMinimize, nullptr));  // 5 < 6 values
  // interval 3, warmup 0: pruning steps 0, 3, 6; a report at step 3 after one at step 1 is the
  // first of its window and is judged; after one at step 3 already (a later report at step 4
  // of the same window) it is not.
  auto every3 = make_pruner(median(5, 0, 3));
  EXPECT_TRUE(every3->prune(h, trial(5, TrialState::kRunning, {{1, 50.0}, {3, 50.0}}), Direction::kMinimize, nullptr));
  EXPECT_FALSE(every3->prune(h, trial(5, TrialState::kRunning, {{3, 50.0}, {4, 50.0}}), Direction::kMinimize, nullptr));
  // A step no completed trial reported: nothing to compare with.
  EXPECT_FALSE(
      make_pruner(median())->prune(h, trial(5, TrialState::kRunning, {{4, 50.0}}), Direction::kMinimize, nullptr));
  // Only NaN so far: pruned.
  EXPECT_TRUE(
      make_pruner(median())->prune(h, trial(5, TrialState::kRunning, {{3, NAN}}), Direction::kMinimize, nullptr));
}

PrunerOptions sha(int64_t min_resource, int factor, int rate = 0) {
  PrunerOptions o;
  o.kind = "successive_halving";
  o.min_resource = min_resource;
  o.reduction_factor = factor;
  o.min_early_stopping_rate = rate;
  return o;
}

TEST(SweepSuccessiveHalving, PromotesTheTopFractionOfEachRungAndRecordsIt) {
  // min_resource 2, reduction factor 2: rungs at steps 2, 4, 8, ...
  std::vector<Trial> h;
  for (int i = 0; i < 4; ++i) {
    Trial t = trial(i, TrialState::kComplete, {{2, 1.0 + i}});
    t.system_attrs["completed_rung_0"] = std::to_string(1.0 + i);  // 1, 2, 3, 4
    h.push_back(t);
  }
  auto p = make_pruner(sha(2, 2));
  PrunerAttrs attrs;
  EXPECT_FALSE(p->prune(h, trial(4, TrialState::kRunning, {{1, 0.1}}), Direction::kMinimize, &attrs));
  EXPECT_TRUE(attrs.empty()) << "step 1 is below the first rung";
  // Five values at rung 0 (1, 2, 3, 4 and ours): the best 5 / 2 = 2 go on.
  EXPECT_FALSE(p->prune(h, trial(4, TrialState::kRunning, {{2, 1.5}}), Direction::kMinimize, &attrs));
  ASSERT_EQ(attrs.size(), 1u);
  EXPECT_EQ(attrs[0].first, "completed_rung_0");
  EXPECT_DOUBLE_EQ(std::stod(attrs[0].second), 1.5);
  attrs.clear();
  EXPECT_TRUE(p->prune(h, trial(4, TrialState::kRunning, {{2, 2.5}}), Direction::kMinimize, &attrs));
  EXPECT_EQ(attrs.size(), 1u) << "the rung value is recorded even when pruned";
  // Maximize: 2.5 is third of (4, 3, 2.5, 2, 1): pruned; 3.5 is second: promoted.
  EXPECT_TRUE(p->prune(h, trial(4, TrialState::kRunning, {{2, 2.5}}), Direction::kMaximize, nullptr));
  EXPECT_FALSE(p->prune(h, trial(4, TrialState::kRunning, {{2, 3.5}}), Direction::kMaximize, nullptr));
  // A trial that skipped to step 4 passes rung 0 and is judged at rung 1 too (alone there).
  attrs.clear();
  EXPECT_FALSE(p->prune(h, trial(4, TrialState::kRunning, {{4, 0.5}}), Direction::kMinimize, &attrs));
  ASSERT_EQ(attrs.size(), 2u);
  EXPECT_EQ(attrs[1].first, "completed_rung_1");
  // Rungs already recorded on the trial are not judged again.
  Trial done = trial(4, TrialState::kRunning, {{2, 9.0}, {3, 9.0}});
  done.system_attrs["completed_rung_0"] = "9.0";
  EXPECT_FALSE(p->prune(h, done, Direction::kMinimize, nullptr));
}

TEST(SweepSuccessiveHalving, MinEarlyStoppingRateAndAutoMinResource) {
  // rate 1: the first rung is at min_resource * factor = 3 * 2 = 6.
  auto p = make_pruner(sha(3, 2, 1));
  std::vector<Trial> h = {trial(0, TrialState::kComplete, {{6, 1.0}})};
  h[0].system_attrs["completed_rung_0"] = "1.0";
  EXPECT_FALSE(p->prune(h, trial(1, TrialState::kRunning, {{5, 5.0}}), Direction::kMinimize, nullptr));
  EXPECT_TRUE(p->prune(h, trial(1, TrialState::kRunning, {{6, 5.0}}), Direction::kMinimize, nullptr));

  // auto: nothing completed yet -> no decision; then max(last step / 100, 1) = 3 from a trial
  // completed at step 399, kept from then on.
  auto a = make_pruner(sha(0, 2));
  std::vector<Trial> none = {trial(0, TrialState::kPruned, {{500, 1.0}})};
  EXPECT_FALSE(a->prune(none, trial(1, TrialState::kRunning, {{1000, 9.0}}), Direction::kMinimize, nullptr));
  std::vector<Trial> one = {trial(0, TrialState::kComplete, {{399, 1.0}})};
  one[0].system_attrs["completed_rung_0"] = "1.0";
  PrunerAttrs attrs;
  EXPECT_FALSE(a->prune(one, trial(1, TrialState::kRunning, {{2, 9.0}}), Direction::kMinimize, &attrs));
  EXPECT_TRUE(attrs.empty()) << "step 2 < min_resource 3";
  EXPECT_TRUE(a->prune(one, trial(1, TrialState::kRunning, {{3, 9.0}}), Direction::kMinimize, &attrs));
  EXPECT_EQ(attrs.at(0).first, "completed_rung_0");
}

TEST(SweepPruners, NoneNeverPrunesAndBadOptionsAreRefused) {
  auto none = make_pruner(PrunerOptions{});
  EXPECT_FALSE(
      none->prune(five_completed(), trial(5, TrialState::kRunning, {{3, 1e9}}), Direction::kMinimize, nullptr));
  PrunerOptions bad;
  bad.kind = "hyperband";
  EXPECT_THROW(make_pruner(bad), std::invalid_argument);
  EXPECT_THROW(make_pruner(median(5, 0, 0)), std::invalid_argument);
  EXPECT_THROW(make_pruner(sha(1, 1)), std::invalid_argument);
}

}  // namespace
}  // namespace trainscope::sweep
