// Checkpoints: the file round trip, finding the latest, and resumed fits (exact hook
// sequence with the recorder plugin, same weights as an uninterrupted run, plugin state,
// the purge step that makes TensorBoard show each step once).
#include "trainscope/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/optim/adam.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "trainer_fixtures.h"
#include "trainscope/event_reader.h"
#include "trainscope/hook_bus.h"
#include "trainscope/summary_writer.h"
#include "trainscope/trainer.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;
using testing::add_probe;
using testing::add_recorder;
using testing::fresh_dir;
using testing::Probe;
using testing::read_lines;
using testing::run_section;
using testing::tiny_data;
using testing::tiny_mlp;
using testing::trainer_section;

void train_steps(torch::nn::Module& m, torch::optim::Optimizer& opt, int steps) {
  const auto data = tiny_data(16);
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    softmax_cross_entropy(m.as<torch::nn::SequentialImpl>()->forward(data.inputs), data.targets).backward();
    opt.step();
  }
}

TEST(Checkpoint, RoundTripRestoresModelOptimizerCountersAndStates) {
  const std::string dir = fresh_dir();
  auto a = tiny_mlp(4, 1);
  torch::optim::Adam opt_a(a->parameters(), torch::optim::AdamOptions(0.01));
  train_steps(*a, opt_a, 3);

  TrainingState saved;
  saved.step = 7;
  saved.epoch = 2;
  saved.base_lrs = {0.01};
  saved.grad_scale = at::full({1}, 1024.0);
  saved.growth_tracker = at::full({1}, 5, at::kInt);
  saved.plugin_states = {{"alpha", "x=1"}, {"beta.v2", std::string("bin\0ary", 7)}};
  capture_rng(saved);
  const std::string path = dir + "/ck/epoch_0002.pt";
  save_checkpoint(path, *a, &opt_a, saved);
  EXPECT_TRUE(fs::is_regular_file(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const at::Tensor draw = at::rand({4});

  auto b = tiny_mlp(4, 99);  // other initial weights
  torch::optim::Adam opt_b(b->parameters(), torch::optim::AdamOptions(0.01));
  const TrainingState loaded = load_checkpoint(path, *b, &opt_b, c10::Device(c10::kCPU));
  EXPECT_EQ(loaded.step, 7);
  EXPECT_EQ(loaded.epoch, 2);
  EXPECT_EQ(loaded.base_lrs, std::vector<double>{0.01});
  EXPECT_EQ(loaded.plugin_states, saved.plugin_states);
  EXPECT_TRUE(at::equal(loaded.grad_scale, saved.grad_scale));
  EXPECT_TRUE(at::equal(loaded.growth_tracker, saved.growth_tracker));
  for (size_t i = 0; i < a->parameters().size(); ++i) EXPECT_TRUE(at::equal(a->parameters()[i], b->parameters()[i]));

  // Adam's moments came back: the next step is the same on both.
  train_steps(*a, opt_a, 1);
  train_steps(*b, opt_b, 1);
  for (size_t i = 0; i < a->parameters().size(); ++i) EXPECT_TRUE(at::equal(a->parameters()[i], b->parameters()[i]));

  // The generator state came back: the same draw again.
  restore_rng(loaded);
  EXPECT_TRUE(at::equal(at::rand({4}), draw));
}

TEST(Checkpoint, LatestIsTheOneOfMostEpochs) {
  const std::string dir = fresh_dir();
  EXPECT_EQ(latest_checkpoint(dir + "/missing"), "");
  EXPECT_EQ(latest_checkpoint(dir), "");
  for (const char* name : {"epoch_0002.pt", "epoch_0010.pt", "epoch_0003.pt", "other.pt", "epoch_0099.pt.tmp"}) {
    std::ofstream(dir + "/" + name) << "x";
  }
  EXPECT_EQ(latest_checkpoint(dir), dir + "/epoch_0010.pt");
  EXPECT_EQ(checkpoint_path(dir, 3), dir + "/epoch_0003.pt");
}

TEST(Checkpoint, RefusesWhatIsNotACheckpoint) {
  const std::string dir = fresh_dir();
  auto m = tiny_mlp();
  EXPECT_THROW(load_checkpoint(dir + "/nope.pt", *m, nullptr, c10::kCPU), std::runtime_error);
  std::ofstream(dir + "/junk.pt") << "not a zip archive";
  try {
    load_checkpoint(dir + "/junk.pt", *m, nullptr, c10::kCPU);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.pt"), std::string::npos) << e.what();
  }
}

// One fit of `epochs` into <dir>/run with the recorder writing to `rec` and a probe that logs
// a scalar at each batch end and at each validation end.
FitResult fit_with_logging(const std::string& dir, int64_t epochs, const std::string& rec, const std::string& resume,
                           uint64_t init_seed = 1) {
  HookBus bus;
  Probe probe;
  probe.on_hook = [](HookContext& c) {
    if (c.hook() == Hook::kTrainBatchEnd) c.writer().add_scalar("probe/batch_end", c.loss(), c.step());
    if (c.hook() == Hook::kAfterForward) c.writer().add_scalar("probe/after_forward", c.loss(), c.step());
    if (c.hook() == Hook::kValidationEnd) c.writer().add_scalar("probe/val_loss", c.metrics().at("val/loss"), c.step());
  };
  add_probe(bus, probe);
  if (!rec.empty()) add_recorder(bus, rec);
  auto cfg = trainer_section(epochs);
  cfg.resume = resume;
  Trainer trainer(tiny_mlp(4, init_seed), run_section(dir), cfg);
  trainer.set_train_data(tiny_data(48)).set_val_data(tiny_data(20, 4, 1)).set_bus(&bus).set_progress(nullptr);
  return trainer.fit();
}

TEST(Checkpoint, ResumedFitHookSequence) {
  const std::string dir = fresh_dir();
  fit_with_logging(dir, 2, dir + "/first.txt", "");
  const FitResult r = fit_with_logging(dir, 3, dir + "/second.txt", "auto", /*init_seed=*/99);
  EXPECT_EQ(r.resumed_from, dir + "/run/checkpoints/epoch_0002.pt");
  EXPECT_EQ(r.steps, 9);
  EXPECT_EQ(r.epochs_completed, 3);

  std::vector<std::string> want{"load_checkpoint 6 2 0", "fit_begin 6 2 0", "epoch_begin 6 2 0"};
  int64_t step = 6;
  for (int64_t b = 0; b < 3; ++b) {
    for (const char* h :
         {"train_batch_begin", "after_forward", "after_backward", "before_optimizer_step", "after_optimizer_step"}) {
      want.push_back(std::string(h) + " " + std::to_string(step) + " 2 " + std::to_string(b));
    }
    ++step;
    want.push_back("train_batch_end " + std::to_string(step) + " 2 " + std::to_string(b));
  }
  for (const char* l : {"validation_begin 9 2 0", "validation_batch_end 9 2 0", "validation_batch_end 9 2 1",
                        "validation_end 9 2 0", "epoch_end 9 2 0", "save_checkpoint 9 2 0", "fit_end 9 2 0"}) {
    want.push_back(l);
  }
  EXPECT_EQ(read_lines(dir + "/second.txt"), want);

  // Nothing left to do: a resumed fit at its last epoch only begins and ends.
  const FitResult again = fit_with_logging(dir, 3, dir + "/third.txt", "auto");
  EXPECT_EQ(again.steps, 9);
  EXPECT_EQ(read_lines(dir + "/third.txt"),
            (std::vector<std::string>{"load_checkpoint 9 3 0", "fit_begin 9 3 0", "fit_end 9 3 0"}));
}

TEST(Checkpoint, ResumedRunEndsWithTheWeightsOfAnUninterruptedOne) {
  auto cfg = trainer_section(4);
  cfg.optimizer = "sgd";
  cfg.scheduler = "cosine";
  auto train = [](const std::string& dir, const TrainerSection& c, uint64_t init_seed) {
    auto model = tiny_mlp(4, init_seed);
    Trainer t(model, run_section(dir), c);
    t.set_train_data(tiny_data(48)).set_val_data(tiny_data(20, 4, 1)).set_progress(nullptr);
    t.fit();
    return model;
  };
  auto whole = train(fresh_dir("whole"), cfg, 1);
  // The same run interrupted after epoch 2 (max_steps, as a time limit would), then resumed
  // from a model of other initial weights: the checkpoint restores everything that matters.
  const std::string dir = fresh_dir("parts");
  auto first_half = cfg;
  first_half.max_steps = 6;
  train(dir, first_half, 1);
  auto resumed_cfg = cfg;
  resumed_cfg.resume = "auto";
  auto resumed = train(dir, resumed_cfg, 42);
  for (size_t i = 0; i < whole->parameters().size(); ++i) {
    EXPECT_TRUE(at::equal(whole->parameters()[i], resumed->parameters()[i])) << "parameter " << i;
  }
}

TEST(Checkpoint, PluginStateRoundTrips) {
  const std::string dir = fresh_dir();
  std::vector<std::string> loaded;
  for (const std::string resume : {"", "auto"}) {
    HookBus bus;
    Probe probe;
    probe.on_hook = [&](HookContext& c) {
      if (c.hook() == Hook::kSaveCheckpoint) c.state() = "seen epochs " + std::to_string(c.epoch() + 1);
      if (c.hook() == Hook::kLoadCheckpoint) loaded.push_back(c.state());
    };
    add_probe(bus, probe);
    auto cfg = trainer_section(resume.empty() ? 2 : 3);
    cfg.resume = resume;
    Trainer trainer(tiny_mlp(), run_section(dir), cfg);
    trainer.set_train_data(tiny_data(16)).set_bus(&bus).set_progress(nullptr);
    trainer.fit();
  }
  EXPECT_EQ(loaded, std::vector<std::string>{"seen epochs 2"});
}

TEST(Checkpoint, CadenceAndExplicitResumePath) {
  const std::string dir = fresh_dir();
  auto cfg = trainer_section(3);
  cfg.checkpoint_every_n_epochs = 2;
  {
    Trainer t(tiny_mlp(), run_section(dir), cfg);
    t.set_train_data(tiny_data(16)).set_progress(nullptr);
    t.fit();
  }
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir + "/run/checkpoints")) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"epoch_0002.pt", "epoch_0003.pt"}));  // every 2nd and the last

  cfg.epochs = 4;
  cfg.resume = dir + "/run/checkpoints/epoch_0002.pt";
  Trainer t(tiny_mlp(), run_section(dir), cfg);
  t.set_train_data(tiny_data(16)).set_progress(nullptr);
  const FitResult r = t.fit();
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(r.resumed_from, cfg.resume);

  cfg.resume = dir + "/nothing.pt";
  Trainer missing(tiny_mlp(), run_section(dir), cfg);
  missing.set_train_data(tiny_data(16)).set_progress(nullptr);
  EXPECT_THROW(missing.fit(), std::invalid_argument);

  cfg.resume = "";
  cfg.checkpoint_every_n_epochs = 0;
  const std::string other = fresh_dir("off");
  Trainer off(tiny_mlp(), run_section(other), cfg);
  off.set_train_data(tiny_data(16)).set_progress(nullptr);
  EXPECT_TRUE(off.fit().last_checkpoint.empty());
  EXPECT_FALSE(fs::exists(other + "/run/checkpoints"));
}

// TensorBoard's rule: a run's first SessionLog START begins the session; each later START
// at step S is a restart that hides the events read so far with step >= S. Applied here to
// the raw files; tests/conformance/test_resume.py checks the same with TensorBoard itself.
TEST(Checkpoint, ResumedRunPurgesFromTheNextStepAndShowsEachStepOnce) {
  const std::string dir = fresh_dir();
  // First run: 3 epochs configured, a crash in epoch 3 simulated by max_steps = 8 after the
  // epoch-2 checkpoint (step 6): steps 7 and 8 were logged but are not in any checkpoint.
  {
    HookBus bus;
    Probe probe;
    probe.on_hook = [](HookContext& c) {
      if (c.hook() == Hook::kTrainBatchEnd) c.writer().add_scalar("probe/batch_end", c.loss(), c.step());
      if (c.hook() == Hook::kValidationEnd) c.writer().add_scalar("probe/val_loss", 1.0, c.step());
    };
    add_probe(bus, probe);
    auto cfg = trainer_section(3);
    cfg.checkpoint_every_n_epochs = 2;
    cfg.max_steps = 8;
    Trainer t(tiny_mlp(), run_section(dir), cfg);
    t.set_train_data(tiny_data(48)).set_val_data(tiny_data(20, 4, 1)).set_bus(&bus).set_progress(nullptr);
    t.fit();
    // max_steps ended epoch 3 early: its checkpoint is not written, epoch 2's is the latest.
    ASSERT_EQ(latest_checkpoint(dir + "/run/checkpoints"), dir + "/run/checkpoints/epoch_0002.pt");
  }
  fit_with_logging(dir, 3, "", "auto");

  const auto files = list_event_files(dir + "/run");
  ASSERT_EQ(files.size(), 2u);
  std::vector<std::vector<EventView>> per_file;
  for (const auto& f : files) {
    RecordReader reader(f);
    std::vector<EventView> events;
    std::string payload;
    while (reader.next(payload)) {
      EventView ev;
      ASSERT_TRUE(decode_event(payload, ev));
      events.push_back(ev);
    }
    ASSERT_FALSE(reader.error().has_value());
    per_file.push_back(events);
  }
  for (const auto& events : per_file) {
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events[1].kind, "session_log");
    EXPECT_EQ(events[1].session_status, 1);  // START
  }
  EXPECT_EQ(per_file[0][1].step, 0);  // the session begins
  EXPECT_EQ(per_file[1][1].step, 7);  // a restart at the checkpoint's step + 1

  std::map<std::string, std::vector<std::pair<int64_t, size_t>>> seen;  // tag -> (step, file)
  bool session_started = false;
  for (size_t f = 0; f < per_file.size(); ++f) {
    for (const auto& ev : per_file[f]) {
      if (ev.kind == "session_log" && ev.session_status == 1) {
        if (session_started) {
          for (auto& [tag, points] : seen) {
            std::erase_if(points, [&](const auto& p) { return p.first >= ev.step; });
          }
        }
        session_started = true;
      }
      for (const auto& v : ev.values) seen[v.tag].emplace_back(ev.step, f);
    }
  }
  std::map<std::string, std::vector<int64_t>> shown;
  for (const auto& [tag, points] : seen) {
    for (const auto& [step, file] : points) shown[tag].push_back(step);
  }
  EXPECT_EQ(shown["probe/batch_end"], (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(shown["probe/val_loss"], (std::vector<int64_t>{3, 6, 9}));
}

}  // namespace
}  // namespace trainscope
