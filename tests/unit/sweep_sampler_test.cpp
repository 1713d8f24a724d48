// Samplers of trainscope::sweep: grid coverage (one worker and interleaved workers), every
// proposal inside its distribution, seeded reproducibility, and TPE's advantage over random
// search on a 1-D function. Optuna conformance of TPE's scoring: tests/conformance/
// test_optuna_tpe.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <stdexcept>

#include "trainscope/sweep/sampler.h"

namespace trainscope::sweep {
namespace {

SamplerOptions options(const std::string& kind, std::optional<uint64_t> seed = 7) {
  SamplerOptions o;
  o.kind = kind;
  o.seed = seed;
  return o;
}

SearchSpace mixed_space() {
  return {
      {"x", FloatDistribution{-3.0, 5.0, false, std::nullopt}},
      {"lr", FloatDistribution{1e-5, 1.0, true, std::nullopt}},
      {"drop", FloatDistribution{0.0, 0.5, false, 0.05}},
      {"layers", IntDistribution{1, 8, false, 1}},
      {"width", IntDistribution{16, 1024, true, 1}},
      {"batch", IntDistribution{16, 250, false, 16}},  // 250 is off the grid: 240 is the top
      {"opt", CategoricalDistribution{{std::string("adam"), std::string("sgd"), std::monostate{}, int64_t{3}}}},
  };
}

// Appends the proposal as a trial in `state` (value from `objective` when COMPLETE).
Trial record(std::vector<Trial>& history, const NewTrial& nt, TrialState state,
             const std::function<double(const NewTrial&)>& objective = nullptr) {
  Trial t;
  t.number = t.trial_id = static_cast<int64_t>(history.size());
  t.state = state;
  t.params = nt.params;
  t.distributions = nt.distributions;
  t.system_attrs = nt.system_attrs;
  if (state == TrialState::kComplete) t.value = objective ? objective(nt) : 0.0;
  history.push_back(t);
  return t;
}

// Runs `n` sequential trials of `sampler` on `f`; returns the history.
std::vector<Trial> optimize(Sampler& sampler, const SearchSpace& space, int n,
                            const std::function<double(const NewTrial&)>& f) {
  std::vector<Trial> history;
  for (int i = 0; i < n; ++i) {
    const auto nt = sampler.sample(history, space, Direction::kMinimize, i);
    if (!nt) break;
    record(history, *nt, TrialState::kComplete, f);
  }
  return history;
}

double best_value(const std::vector<Trial>& history) {
  double best = INFINITY;
  for (const Trial& t : history) best = std::min(best, t.value.value_or(INFINITY));
  return best;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

SearchSpace grid_space() {
  return {
      {"opt", CategoricalDistribution{{std::string("adam"), std::string("sgd"), true}}},
      {"n", IntDistribution{1, 7, false, 3}},           // 1, 4, 7
      {"p", FloatDistribution{0.0, 0.6, false, 0.25}},  // 0, 0.25, 0.5
      {"m", IntDistribution{10, 11, false, 1}},         // 10, 11
  };
}

// Every point of grid_space(), computed here from the definition.
std::set<std::vector<double>> grid_points() {
  std::set<std::vector<double>> points;
  for (double opt : {0.0, 1.0, 2.0}) {
    for (double n : {1.0, 4.0, 7.0}) {
      for (double p : {0.0, 0.25, 0.5}) {
        for (double m : {10.0, 11.0}) points.insert({opt, n, p, m});
      }
    }
  }
  return points;
}

std::vector<double> as_point(const NewTrial& nt) {
  return {nt.params.at("opt"), nt.params.at("n"), nt.params.at("p"), nt.params.at("m")};
}

TEST(SweepGrid, VisitsEveryPointOnceThenStops) {
  auto sampler = make_sampler(options("grid"));
  const SearchSpace space = grid_space();
  ASSERT_EQ(sampler->size(space), 54);
  std::vector<Trial> history;
  std::set<std::vector<double>> seen;
  for (int i = 0; i < 54; ++i) {
    const auto nt = sampler->sample(history, space, Direction::kMinimize, i);
    ASSERT_TRUE(nt) << "grid ended early at trial " << i;
    EXPECT_TRUE(seen.insert(as_point(*nt)).second) << "point proposed twice at trial " << i;
    EXPECT_EQ(nt->system_attrs.count("grid_id"), 1u);
    EXPECT_EQ(nt->system_attrs.count("search_space"), 1u);
    // Failed and pruned trials hold their point too (Optuna counts every finished trial).
    record(history, *nt, i % 5 == 0 ? TrialState::kFail : i % 7 == 0 ? TrialState::kPruned : TrialState::kComplete);
  }
  EXPECT_EQ(seen, grid_points());
  EXPECT_FALSE(sampler->sample(history, space, Direction::kMinimize, 54));
}

TEST(SweepGrid, InterleavedWorkersShareTheGridWithoutDuplicates) {
  // Two workers (separate sampler objects, as two processes would have; one even with another
  // seed) take turns on one history; each leaves its trial RUNNING while the other samples.
  auto a = make_sampler(options("grid", 1));
  auto b = make_sampler(options("grid", 99));
  const SearchSpace space = grid_space();
  std::vector<Trial> history;
  std::multiset<std::vector<double>> seen;
  for (int i = 0;; ++i) {
    Sampler& worker = i % 2 ? *b : *a;
    const auto nt = worker.sample(history, space, Direction::kMinimize, i);
    if (!nt) break;
    seen.insert(as_point(*nt));
    record(history, *nt, TrialState::kRunning);
    if (i >= 1) history[static_cast<size_t>(i - 1)].state = TrialState::kComplete;  // the other finishes
    ASSERT_LT(i, 60) << "grid never ended";
  }
  EXPECT_EQ(seen.size(), 54u);
  EXPECT_EQ(std::set<std::vector<double>>(seen.begin(), seen.end()), grid_points());
}

TEST(SweepGrid, ASeedShufflesTheOrderButNotTheSet) {
  const SearchSpace space = grid_space();
  auto first = [&](uint64_t seed) {
    auto s = make_sampler(options("grid", seed));
    std::vector<std::vector<double>> order;
    std::vector<Trial> history;
    for (int i = 0; i < 54; ++i) {
      const auto nt = s->sample(history, space, Direction::kMinimize, i);
      order.push_back(as_point(*nt));
      record(history, *nt, TrialState::kComplete);
    }
    return order;
  };
  EXPECT_EQ(first(3), first(3));
  EXPECT_NE(first(3), first(4));
}

TEST(SweepGrid, RefusesAFloatWithoutStep) {
  auto sampler = make_sampler(options("grid"));
  const SearchSpace space = {{"lr", FloatDistribution{1e-4, 1e-1, true, std::nullopt}}};
  try {
    sampler->sample({}, space, Direction::kMinimize, 0);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("lr"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("step"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("choices"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)sampler->size(space), std::invalid_argument);
}

TEST(SweepSamplers, RejectMalformedSpaces) {
  for (const std::string kind : {"random", "tpe", "grid"}) {
    auto s = make_sampler(options(kind));
    EXPECT_THROW(s->sample({}, {{"a", FloatDistribution{2.0, 1.0, false, std::nullopt}}}, Direction::kMinimize, 0),
                 std::invalid_argument);
    EXPECT_THROW(s->sample({}, {{"a", FloatDistribution{0.0, 1.0, true, std::nullopt}}}, Direction::kMinimize, 0),
                 std::invalid_argument);
    EXPECT_THROW(s->sample({}, {{"a", CategoricalDistribution{}}}, Direction::kMinimize, 0), std::invalid_argument);
  }
  EXPECT_THROW(make_sampler(options("bayes")), std::invalid_argument);
}

TEST(SweepSamplers, EveryProposalIsInsideItsDistribution) {
  const SearchSpace space = mixed_space();
  auto objective = [](const NewTrial& nt) {
    return std::pow(nt.params.at("x") - 1, 2) + std::pow(std::log10(nt.params.at("lr")) + 3, 2) + nt.params.at("drop") +
           nt.params.at("opt");
  };
  for (const std::string kind : {"random", "tpe"}) {
    auto sampler = make_sampler(options(kind));
    std::vector<Trial> history;
    for (int i = 0; i < 80; ++i) {
      const auto nt = sampler->sample(history, space, Direction::kMinimize, i);
      ASSERT_TRUE(nt);
      ASSERT_EQ(nt->params.size(), space.size());
      for (const Parameter& p : space) {
        EXPECT_EQ(nt->distributions.at(p.name), p.distribution) << p.name;
        EXPECT_TRUE(contains(p.distribution, nt->params.at(p.name)))
            << kind << " trial " << i << ": " << p.name << " = " << nt->params.at(p.name);
      }
      EXPECT_LE(nt->params.at("batch"), 240.0);
      // A mix of states, as a real study has.
      record(history, *nt,
             i % 9 == 4    ? TrialState::kPruned
             : i % 11 == 5 ? TrialState::kFail
             : i % 13 == 6 ? TrialState::kRunning
                           : TrialState::kComplete,
             objective);
      if (history.back().state == TrialState::kPruned) history.back().intermediate_values[i % 4] = objective(*nt);
    }
  }
}

TEST(SweepRandom, LogScaleIsLogUniformAndChoicesAreUniform) {
  auto sampler = make_sampler(options("random", 11));
  const SearchSpace space = {{"lr", FloatDistribution{1e-5, 1.0, true, std::nullopt}},
                             {"c", CategoricalDistribution{{int64_t{0}, int64_t{1}, int64_t{2}, int64_t{3}}}}};
  int below = 0;
  std::vector<int> counts(4);
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const auto nt = sampler->sample({}, space, Direction::kMinimize, i);
    below += nt->params.at("lr") < 1e-3;
    ++counts[static_cast<size_t>(nt->params.at("c"))];
  }
  // log-uniform: P(lr < 1e-3) = 2/5 (uniform would give 0.001); 4 sigma bounds.
  EXPECT_NEAR(below / double(n), 0.4, 4 * std::sqrt(0.24 / n));
  for (int c : counts) EXPECT_NEAR(c / double(n), 0.25, 4 * std::sqrt(0.1875 / n));
}

TEST(SweepSamplers, SameSeedSameProposalsWhicheverWorkerAsks) {
  const SearchSpace space = mixed_space();
  auto objective = [](const NewTrial& nt) { return std::pow(nt.params.at("x") - 1, 2) + nt.params.at("opt"); };
  for (const std::string kind : {"random", "tpe"}) {
    auto a = make_sampler(options(kind, 5));
    auto b = make_sampler(options(kind, 5));
    auto c = make_sampler(options(kind, 6));
    const auto ha = optimize(*a, space, 30, objective);
    const auto hb = optimize(*b, space, 30, objective);
    const auto hc = optimize(*c, space, 30, objective);
    for (size_t i = 0; i < ha.size(); ++i) EXPECT_EQ(ha[i].params, hb[i].params) << kind << " trial " << i;
    EXPECT_NE(ha.back().params, hc.back().params) << kind;
    // A fresh sampler (another worker) asked for trial 30 after the same history agrees.
    auto d = make_sampler(options(kind, 5));
    EXPECT_EQ(a->sample(ha, space, Direction::kMinimize, 30)->params,
              d->sample(ha, space, Direction::kMinimize, 30)->params)
        << kind;
  }
}

TEST(SweepTpe, ConcentratesNearTheOptimumBetterThanRandom) {
  // f(x) = (x - 1.3)^2 on [-10, 10], 40 trials, 15 fixed seeds. A statistical check: with
  // fixed seeds it is deterministic, but a broken TPE (e.g. l and g swapped, kernels in the
  // wrong place) fails it.
  const SearchSpace space = {{"x", FloatDistribution{-10.0, 10.0, false, std::nullopt}}};
  auto f = [](const NewTrial& nt) { return std::pow(nt.params.at("x") - 1.3, 2); };
  std::vector<double> tpe_best, random_best, tpe_late_distance, random_late_distance;
  for (uint64_t seed = 0; seed < 15; ++seed) {
    for (const std::string kind : {"tpe", "random"}) {
      auto s = make_sampler(options(kind, seed));
      const auto h = optimize(*s, space, 40, f);
      double distance = 0;
      for (size_t i = 20; i < h.size(); ++i) distance += std::fabs(h[i].params.at("x") - 1.3) / 20;
      (kind == "tpe" ? tpe_best : random_best).push_back(best_value(h));
      (kind == "tpe" ? tpe_late_distance : random_late_distance).push_back(distance);
    }
  }
  EXPECT_LT(median(tpe_best), 0.25 * median(random_best));
  // Random search's later trials average |x - 1.3| around 5; TPE's gather nearer the optimum
  // (Optuna 5.0.0's TPESampler, same setup: median 2.43).
  EXPECT_LT(median(tpe_late_distance), 0.65 * median(random_late_distance));
}

TEST(SweepTpe, MaximizeLooksForLargeValues) {
  const SearchSpace space = {{"x", FloatDistribution{0.0, 1.0, false, std::nullopt}}};
  auto sampler = make_sampler(options("tpe", 3));
  std::vector<Trial> history;
  for (int i = 0; i < 40; ++i) {
    const auto nt = sampler->sample(history, space, Direction::kMaximize, i);
    record(history, *nt, TrialState::kComplete, [](const NewTrial& t) { return t.params.at("x"); });
  }
  double late = 0;
  for (int i = 20; i < 40; ++i) late += history[static_cast<size_t>(i)].params.at("x") / 20;
  EXPECT_GT(late, 0.7);  // random search would average 0.5
}

TEST(SweepTpe, UsesTrialsRecordedUnderAnotherSpaceWhereTheyFit) {
  // A study whose space changed: older trials lack "b", recorded "a" as a wider int range and
  // "c" with other choices. TPE keeps what still fits and proposes inside the new space.
  const SearchSpace old_space = {{"a", IntDistribution{0, 100, false, 1}},
                                 {"c", CategoricalDistribution{{std::string("x"), std::string("y")}}}};
  const SearchSpace space = {{"a", IntDistribution{0, 10, false, 1}},
                             {"b", FloatDistribution{0.0, 1.0, false, std::nullopt}},
                             {"c", CategoricalDistribution{{std::string("y"), std::string("z")}}}};
  std::vector<Trial> history;
  auto random = make_sampler(options("random", 2));
  for (int i = 0; i < 30; ++i) {
    const auto nt = random->sample(history, old_space, Direction::kMinimize, i);
    record(history, *nt, TrialState::kComplete, [](const NewTrial& t) { return t.params.at("a"); });
  }
  auto tpe = make_sampler(options("tpe", 2));
  for (int i = 30; i < 50; ++i) {
    const auto nt = tpe->sample(history, space, Direction::kMinimize, i);
    ASSERT_TRUE(nt);
    for (const Parameter& p : space) EXPECT_TRUE(contains(p.distribution, nt->params.at(p.name))) << p.name;
    record(history, *nt, TrialState::kComplete, [](const NewTrial& t) { return t.params.at("a"); });
  }
  // Old trials with a <= 10 near 0 were the best: the later proposals lean to small a.
  double late = 0;
  for (int i = 40; i < 50; ++i) late += history[static_cast<size_t>(i)].params.at("a") / 10;
  EXPECT_LT(late, 4.0);  // uniform over 0..10 would average 5
}

TEST(SweepTpe, SingleValueParametersKeepTheirValue) {
  auto sampler = make_sampler(options("tpe", 1));
  const SearchSpace space = {{"a", IntDistribution{4, 4, false, 1}},
                             {"b", CategoricalDistribution{{std::string("only")}}},
                             {"x", FloatDistribution{0.0, 1.0, false, std::nullopt}}};
  const auto h = optimize(*sampler, space, 15, [](const NewTrial& t) { return t.params.at("x"); });
  for (const Trial& t : h) {
    EXPECT_EQ(t.params.at("a"), 4.0);
    EXPECT_EQ(t.params.at("b"), 0.0);
  }
}

}  // namespace
}  // namespace trainscope::sweep
