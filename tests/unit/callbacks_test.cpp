// Inline callbacks (HookBus::on, HookBus::add_plugin, Trainer::callbacks), several named
// models with a user train step (Trainer::set_models / set_optimizers / set_train_step), and
// the checkpoint of every named model and optimizer, on a real Trainer of tiny synthetic data.
#include <gtest/gtest.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "trainer_fixtures.h"
#include "trainscope/checkpoint.h"
#include "trainscope/hook_bus.h"
#include "trainscope/trainer.h"

namespace trainscope {
namespace {

using testing::fresh_dir;
using testing::run_section;
using testing::tiny_data;
using testing::tiny_mlp;
using testing::trainer_section;

constexpr int64_t kSamples = 64, kBatch = 16, kEpochs = 4;  // 4 steps per epoch, 16 in all

std::unique_ptr<Trainer> make_trainer(const std::string& dir, int64_t epochs = kEpochs) {
  auto t = std::make_unique<Trainer>(Model(tiny_mlp()), run_section(dir), trainer_section(epochs, kBatch));
  t->set_train_data(tiny_data(kSamples)).set_progress(nullptr);
  return t;
}

TEST(Callbacks, LambdasFollowTheirCadence) {
  auto trainer = make_trainer(fresh_dir("cb_cadence"));
  trainer->set_val_data(tiny_data(16, 4, 1));
  std::vector<int64_t> every3, epochs2, all_steps, val_epochs;
  std::set<std::string> names;
  HookBus& bus = trainer->callbacks();
  bus.on(Hook::kTrainBatchEnd, [&](HookContext& ctx) { every3.push_back(ctx.step()); }, {.every_n_steps = 3});
  bus.on(Hook::kEpochEnd,
         [&](HookContext& ctx) {
           epochs2.push_back(ctx.epoch());
           names.insert(ctx.plugin_name());
         },
         {.name = "every_other_epoch", .every_n_epochs = 2});
  bus.on(Hook::kTrainBatchEnd, [&](HookContext& ctx) { all_steps.push_back(ctx.step()); });
  bus.on(Hook::kValidationEnd, [&](HookContext& ctx) { val_epochs.push_back(ctx.epoch()); }, {.validation = false});
  const FitResult r = trainer->fit();
  ASSERT_EQ(r.steps, kEpochs * kSamples / kBatch);

  std::vector<int64_t> want3, want_all;
  for (int64_t s = 1; s <= r.steps; ++s) {
    want_all.push_back(s);
    if (s % 3 == 0) want3.push_back(s);
  }
  EXPECT_EQ(every3, want3);
  EXPECT_EQ(all_steps, want_all);
  EXPECT_EQ(epochs2, (std::vector<int64_t>{1, 3}));  // after the 2nd and 4th epoch
  EXPECT_TRUE(val_epochs.empty());                   // validation = false gates validation_*
  EXPECT_EQ(names, std::set<std::string>{"every_other_epoch"});
  const auto listed = bus.plugin_names();
  EXPECT_EQ(listed.size(), 4u);
  EXPECT_EQ(listed[1], "every_other_epoch");
}

// A small class with the plugin interface, no shared library.
class StepCounter final : public Plugin {
 public:
  void on_train_batch_end(HookContext& ctx) override { steps.push_back(ctx.step()); }
  void on_fit_end(HookContext&) override { ++fit_ends; }
  std::vector<int64_t> steps;
  int fit_ends = 0;
};

TEST(Callbacks, PluginClassGetsOnlyItsHooksAtItsCadence) {
  auto trainer = make_trainer(fresh_dir("cb_class"));
  auto counter = std::make_unique<StepCounter>();
  StepCounter* c = counter.get();
  HookBus& bus = trainer->callbacks();
  EXPECT_EQ(bus.add_plugin(std::move(counter), {.name = "counter", .every_n_steps = 4}), "counter");
  EXPECT_TRUE(bus.has_subscribers(Hook::kTrainBatchEnd));
  EXPECT_TRUE(bus.has_subscribers(Hook::kFitEnd));
  EXPECT_FALSE(bus.has_subscribers(Hook::kEpochBegin));  // not overridden: never called
  // A second callback of the same name gets a suffix instead of sharing checkpoint state.
  EXPECT_EQ(bus.on(Hook::kFitBegin, [](HookContext&) {}, {.name = "counter"}), "counter#2");
  trainer->fit();
  EXPECT_EQ(c->steps, (std::vector<int64_t>{4, 8, 12, 16}));
  EXPECT_EQ(c->fit_ends, 1);
  bool timed = false;
  for (const auto& t : bus.timings()) timed = timed || (t.plugin == "counter" && t.hook == Hook::kTrainBatchEnd);
  EXPECT_TRUE(timed);  // in the plugin cost table like a library's plugin
}

// Checkpoint state under the callback's name, as a plugin's: counts steps across a resume.
class Tally final : public Plugin {
 public:
  void on_train_batch_end(HookContext&) override { ++steps; }
  void on_save_checkpoint(HookContext& ctx) override { ctx.state() = std::to_string(steps); }
  void on_load_checkpoint(HookContext& ctx) override { loaded = ctx.state(); }
  int64_t steps = 0;
  std::string loaded = "(not called)";
};

TEST(Callbacks, ClassStateRoundTripsThroughACheckpoint) {
  const std::string dir = fresh_dir("cb_state");
  const auto trainer_with = [&](int64_t epochs, Tally*& out) {
    auto cfg = trainer_section(epochs, kBatch);
    cfg.checkpoint_every_n_epochs = 1;
    cfg.resume = "auto";
    auto t = std::make_unique<Trainer>(Model(tiny_mlp()), run_section(dir), cfg);
    t->set_train_data(tiny_data(kSamples)).set_progress(nullptr);
    auto tally = std::make_unique<Tally>();
    out = tally.get();
    t->callbacks().add_plugin(std::move(tally), {.name = "tally"});
    return t;
  };
  Tally* first = nullptr;
  auto t1 = trainer_with(2, first);  // keeps `first` alive: the Trainer owns the callback
  t1->fit();
  EXPECT_EQ(first->steps, 2 * kSamples / kBatch);
  EXPECT_EQ(first->loaded, "(not called)");  // a fresh run loads nothing
  Tally* second = nullptr;
  auto t = trainer_with(3, second);
  t->fit();
  EXPECT_EQ(second->loaded, std::to_string(2 * kSamples / kBatch));  // what "tally" saved at epoch 2
  EXPECT_EQ(second->steps, kSamples / kBatch);                       // the resumed epoch only
}

TEST(Callbacks, AnExceptionDisablesOnlyThatCallbackAsForAPlugin) {
  auto trainer = make_trainer(fresh_dir("cb_throw"));
  HookBus& bus = trainer->callbacks();
  int thrower_calls = 0, others = 0;
  bus.on(Hook::kTrainBatchEnd,
         [&](HookContext& ctx) {
           ++thrower_calls;
           if (ctx.step() == 2) throw std::runtime_error("kaput at step 2");
         },
         {.name = "boom"});
  bus.on(Hook::kTrainBatchEnd, [&](HookContext&) { ++others; });
  ::testing::internal::CaptureStderr();
  const FitResult r = trainer->fit();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.epochs_completed, kEpochs);  // training went on
  EXPECT_EQ(thrower_calls, 2);             // disabled after its failure
  EXPECT_EQ(others, r.steps);              // the next callback was called at every step
  const auto disabled = bus.disabled();
  ASSERT_EQ(disabled.size(), 1u);
  EXPECT_EQ(disabled[0].first, "boom");
  EXPECT_EQ(disabled[0].second, "kaput at step 2");
  // The bus's report, word for word the one of a plugin library.
  EXPECT_NE(err.find("[trainscope] plugin 'boom' failed in train_batch_end: kaput at step 2; disabled"),
            std::string::npos)
      << err;
}

TEST(Callbacks, OnErrorAbortStopsTheFitAndTheExceptionHookRuns) {
  auto trainer = make_trainer(fresh_dir("cb_abort"));
  HookBus& bus = trainer->callbacks();
  std::string seen;
  bus.on(Hook::kEpochEnd, [](HookContext&) { throw std::runtime_error("no good"); },
         {.name = "strict", .on_error = ErrorPolicy::kAbort});
  bus.on(Hook::kException, [&](HookContext& ctx) { seen = ctx.exception_message(); });
  ::testing::internal::CaptureStderr();
  try {
    trainer->fit();
    ADD_FAILURE() << "fit() returned";
  } catch (const PluginAbort& e) {
    EXPECT_EQ(e.plugin(), "strict");
    EXPECT_EQ(e.hook(), Hook::kEpochEnd);
  }
  ::testing::internal::GetCapturedStderr();
  EXPECT_NE(seen.find("no good"), std::string::npos) << seen;
}

// ---- Several models, a user step, their checkpoints ----------------------------------------

struct Gan {
  std::shared_ptr<torch::nn::Module> a, b;  // a: the primary (the constructor's model)
  std::shared_ptr<torch::optim::SGD> opt_a;
  std::shared_ptr<torch::optim::Adam> opt_b;
};

// Two models trained by one user step; `b` gets noise from the default generator, so a
// resume that did not restore the generators (or Adam's moments) would not match.
std::unique_ptr<Trainer> make_two_model_trainer(const std::string& dir, int64_t epochs, uint64_t init_seed, Gan& gan,
                                                bool with_b = true) {
  auto mlp = tiny_mlp(4, init_seed);
  gan.a = mlp.ptr();
  seed_everything(init_seed + 100);
  gan.b = torch::nn::Linear(64, 4).ptr();
  TrainerSection cfg = trainer_section(epochs, kBatch);
  cfg.checkpoint_every_n_epochs = 1;
  cfg.resume = "auto";
  auto t = std::make_unique<Trainer>(Model(mlp), run_section(dir), cfg);
  t->set_train_data(tiny_data(kSamples)).set_progress(nullptr);
  gan.opt_a = std::make_shared<torch::optim::SGD>(gan.a->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  gan.opt_b = std::make_shared<torch::optim::Adam>(gan.b->parameters(), torch::optim::AdamOptions(0.01));
  if (with_b) {
    t->set_models({{"a", gan.a}, {"b", gan.b}});
    t->set_optimizers({{"a", gan.opt_a}, {"b", gan.opt_b}});
  } else {
    t->set_models({{"a", gan.a}});
    t->set_optimizers({{"a", gan.opt_a}});
  }
  t->set_train_step([with_b](TrainStep& s) {
    auto& a = s.model("a");
    auto& opt_a = s.optimizer("a");
    opt_a.zero_grad();
    const auto out_a = a.as<torch::nn::Sequential>()->forward(s.inputs());
    const auto loss_a = torch::nn::functional::cross_entropy(out_a, s.targets());
    loss_a.backward();
    opt_a.step();
    s.report_loss("a", loss_a);
    s.report_output("logits_a", out_a);
    if (!with_b) return;
    auto& b = *s.model("b").as<torch::nn::Linear>();
    auto& opt_b = s.optimizer("b");
    opt_b.zero_grad();
    const auto x = s.inputs().flatten(1);
    const auto out_b = b.forward(x + 0.1 * torch::randn_like(x));
    const auto loss_b = torch::nn::functional::cross_entropy(out_b, s.targets());
    loss_b.backward();
    opt_b.step();
    s.report_loss("b", loss_b);
  });
  return t;
}

TEST(MultiModel, HooksSeeEveryModelOptimizerAndLoss) {
  Gan gan;
  auto trainer = make_two_model_trainer(fresh_dir("mm_ctx"), 1, 1, gan);
  std::vector<std::string> problems;
  int checked = 0;
  double loss_sum_a = 0;
  trainer->callbacks().on(Hook::kTrainBatchEnd, [&](HookContext& ctx) {
    if (ctx.models().size() != 2 || ctx.model("a") != gan.a.get() || ctx.model("b") != gan.b.get())
      problems.push_back("models");
    if (&ctx.model() != gan.a.get() || ctx.model("c") != nullptr) problems.push_back("primary model");
    if (ctx.optimizer() != gan.opt_a.get() || ctx.optimizer("b") != gan.opt_b.get()) problems.push_back("optimizers");
    if (ctx.losses().size() != 2 || !ctx.loss().defined() || !ctx.loss().equal(ctx.losses().at("a")))
      problems.push_back("losses");
    if (ctx.named_outputs().count("logits_a") == 0 || !ctx.outputs().equal(ctx.named_outputs().at("logits_a")))
      problems.push_back("outputs");
    loss_sum_a += ctx.losses().at("a").item<double>();
    ++checked;
  });
  const FitResult r = trainer->fit();
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(checked, r.steps);
  // train/<name>: each loss's epoch mean; train/loss: the first one's.
  EXPECT_NEAR(r.metrics.at("train/a"), loss_sum_a / static_cast<double>(r.steps), 1e-6);
  EXPECT_NEAR(r.metrics.at("train/loss"), r.metrics.at("train/a"), 1e-6);
  EXPECT_TRUE(r.metrics.count("train/b"));
}

std::vector<at::Tensor> state_of(const Gan& gan) {
  std::vector<at::Tensor> out;
  for (const auto& p : gan.a->parameters()) out.push_back(p.detach().clone());
  for (const auto& p : gan.b->parameters()) out.push_back(p.detach().clone());
  return out;
}

TEST(MultiModel, ResumeRestoresEveryModelAndOptimizer) {
  at::set_num_threads(1);
  // Reference: 4 epochs in one go.
  Gan ref;
  make_two_model_trainer(fresh_dir("mm_ref"), kEpochs, 1, ref)->fit();
  const auto want = state_of(ref);

  // 2 epochs, then a new process's trainer (other initial weights) resumes to 4.
  const std::string dir = fresh_dir("mm_resume");
  Gan first;
  const FitResult r1 = make_two_model_trainer(dir, 2, 1, first)->fit();
  ASSERT_EQ(r1.epochs_completed, 2);
  Gan second;
  auto resumed = make_two_model_trainer(dir, kEpochs, 99, second);
  const FitResult r2 = resumed->fit();
  ASSERT_FALSE(r2.resumed_from.empty());
  EXPECT_EQ(r2.steps, kEpochs * kSamples / kBatch);
  const auto got = state_of(second);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(got[i].equal(want[i])) << "parameter " << i;
  // Both optimizers came back too: their next steps match the reference's.
  EXPECT_EQ(second.opt_b->state().size(), ref.opt_b->state().size());
  for (const auto& p : second.b->parameters()) {
    const auto& st = static_cast<torch::optim::AdamParamState&>(*second.opt_b->state().at(p.unsafeGetTensorImpl()));
    EXPECT_EQ(st.step(), r2.steps);  // Adam's step count was restored, not restarted at epoch 2
  }
}

TEST(MultiModel, ACheckpointWithoutANamedModelIsAnErrorNamingIt) {
  const std::string dir = fresh_dir("mm_missing");
  Gan only_a;
  make_two_model_trainer(dir, 1, 1, only_a, /*with_b=*/false)->fit();
  Gan both;
  auto t = make_two_model_trainer(dir, 2, 1, both);
  try {
    t->fit();
    ADD_FAILURE() << "fit() resumed a checkpoint without model 'b'";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no model named 'b'"), std::string::npos) << what;
    EXPECT_NE(what.find("epoch_0001.pt"), std::string::npos) << what;
  }
}

TEST(MultiModel, AStepEmitsInBatchHooksWithTheModelItNames) {
  auto trainer = make_trainer(fresh_dir("mm_emit"), 1);
  auto other = torch::nn::Linear(64, 4);
  const Model* primary = &trainer->model();
  auto opt = std::make_shared<torch::optim::SGD>(other->parameters(), torch::optim::SGDOptions(0.1));
  trainer->set_models({{"other", other.ptr()}}).set_optimizers({{"other", opt}});
  std::vector<std::string> seen;
  std::string refused;
  trainer->set_train_step([&](TrainStep& s) {
    auto& o = *s.model("other").as<torch::nn::Linear>();
    s.optimizer("other").zero_grad();
    const auto loss = torch::nn::functional::cross_entropy(o.forward(s.inputs().flatten(1)), s.targets());
    s.report_loss("other", loss);
    loss.backward();
    s.emit(Hook::kAfterBackward, "other", "other");
    s.optimizer("other").step();
    try {
      s.emit(Hook::kEpochEnd);
    } catch (const std::invalid_argument& e) {
      refused = e.what();
    }
  });
  HookBus& bus = trainer->callbacks();
  bus.on(Hook::kAfterBackward, [&](HookContext& ctx) {
    const bool named = &ctx.model() == other.get() && ctx.optimizer() == opt.get();
    const bool loss = ctx.loss().defined() && ctx.loss().equal(ctx.losses().at("other"));
    const bool grads = other->weight.grad().defined();
    seen.push_back(std::string(named ? "named" : "primary") + (loss ? "+loss" : "") + (grads ? "+grads" : ""));
  });
  bus.on(Hook::kTrainBatchEnd,
         [&](HookContext& ctx) { seen.push_back(&ctx.model() == &primary->module() ? "end:primary" : "end:other"); });
  const FitResult r = trainer->fit();
  ASSERT_EQ(r.steps, kSamples / kBatch);
  std::vector<std::string> want;
  for (int64_t i = 0; i < r.steps; ++i) {
    want.push_back("named+loss+grads");
    want.push_back("end:primary");  // restored after the emit
  }
  EXPECT_EQ(seen, want);
  EXPECT_NE(refused.find("epoch_end is not a hook inside a batch"), std::string::npos) << refused;
}

TEST(MultiModel, UserStepRefusesSettingsItWouldIgnore) {
  auto clip = std::make_unique<Trainer>(Model(tiny_mlp()), run_section(fresh_dir("mm_clip")), [] {
    TrainerSection c = trainer_section(1, kBatch);
    c.clip_grad_norm = 1.0;
    return c;
  }());
  clip->set_train_data(tiny_data(kSamples)).set_progress(nullptr).set_train_step([](TrainStep&) {});
  try {
    clip->fit();
    ADD_FAILURE() << "fit() ignored clip_grad_norm";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("clip_grad_norm"), std::string::npos) << e.what();
  }
  TrainStep s;
  std::map<std::string, torch::nn::Module*> none;
  s.models_ = &none;
  EXPECT_THROW(s.model("discriminator"), std::out_of_range);
}

// A per-step lr schedule drives the primary optimizer under a user step as in the built-in
// loop: each batch runs with the lr the schedule gives its step.
TEST(MultiModel, PerStepScheduleSetsThePrimaryLrBeforeEveryUserStep) {
  struct PerStep final : LrScheduler {
    LrInterval interval() const override { return LrInterval::kStep; }
    double lr(size_t, double base, int64_t t, const LrClock&) const override {
      return base / static_cast<double>(1 + t);
    }
  };
  auto trainer = make_trainer(fresh_dir("mm_sched"), 2);
  trainer->set_scheduler(std::make_unique<PerStep>());
  std::vector<double> lrs;
  torch::optim::Optimizer& opt = trainer->optimizer();  // the primary one, which the schedule drives
  torch::nn::Module& model = trainer->model().module();
  trainer->set_train_step([&](TrainStep& s) {
    lrs.push_back(opt.param_groups()[0].options().get_lr());
    opt.zero_grad();
    const auto loss =
        torch::nn::functional::cross_entropy(model.as<torch::nn::Sequential>()->forward(s.inputs()), s.targets());
    s.report_loss("loss", loss);
    loss.backward();
    opt.step();
  });
  const FitResult r = trainer->fit();
  ASSERT_EQ(r.steps, 2 * kSamples / kBatch);
  ASSERT_EQ(static_cast<int64_t>(lrs.size()), r.steps);
  const double base = trainer->config().lr;
  for (int64_t i = 0; i < r.steps; ++i) EXPECT_DOUBLE_EQ(lrs[i], base / static_cast<double>(1 + i)) << "step " << i;
}

}  // namespace
}  // namespace trainscope
