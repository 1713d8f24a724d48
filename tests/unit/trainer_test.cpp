// Trainer: the exact hook sequence (recorder plugin loaded from its .so), exception and stop
// handling, the context plugins see, taps, clipping, mixed precision on CPU, schedulers,
// overhead scalars, progress output, devices, the model zoo and run assembly (run.h).
#include "trainscope/trainer.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "trainer_fixtures.h"
#include "trainscope/event_reader.h"
#include "trainscope/hook_bus.h"
#include "trainscope/progress.h"
#include "trainscope/run.h"
#include "trainscope/summary_writer.h"

namespace trainscope {
namespace {

using testing::add_probe;
using testing::add_recorder;
using testing::fresh_dir;
using testing::Probe;
using testing::read_lines;
using testing::run_section;
using testing::tiny_data;
using testing::tiny_mlp;
using testing::trainer_section;

std::string line(const char* hook, int64_t step, int64_t epoch, int64_t batch) {
  return std::string(hook) + " " + std::to_string(step) + " " + std::to_string(epoch) + " " + std::to_string(batch);
}

// What the recorder writes for one epoch of `batches` training batches (and `val_batches`
// validation batches), starting at `step`.
void expect_epoch(std::vector<std::string>& out, int64_t epoch, int64_t& step, int64_t batches, int64_t val_batches,
                  bool checkpoint) {
  out.push_back(line("epoch_begin", step, epoch, 0));
  for (int64_t b = 0; b < batches; ++b) {
    for (const char* h :
         {"train_batch_begin", "after_forward", "after_backward", "before_optimizer_step", "after_optimizer_step"}) {
      out.push_back(line(h, step, epoch, b));
    }
    ++step;
    out.push_back(line("train_batch_end", step, epoch, b));
  }
  if (val_batches > 0) {
    out.push_back(line("validation_begin", step, epoch, 0));
    for (int64_t b = 0; b < val_batches; ++b) out.push_back(line("validation_batch_end", step, epoch, b));
    out.push_back(line("validation_end", step, epoch, 0));
  }
  out.push_back(line("epoch_end", step, epoch, 0));
  if (checkpoint) out.push_back(line("save_checkpoint", step, epoch, 0));
}

double grad_norm(torch::nn::Module& m) {
  double sq = 0;
  for (const auto& p : m.parameters()) {
    if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
  }
  return std::sqrt(sq);
}

TEST(Trainer, HookSequenceOfAFitWithValidation) {
  const std::string dir = fresh_dir();
  const std::string rec = dir + "/hooks.txt";
  HookBus bus;
  add_recorder(bus, rec);
  Trainer trainer(tiny_mlp(), run_section(dir), trainer_section(2));
  // 48 training samples in batches of 16: 3 batches; 20 validation samples: 2 batches.
  trainer.set_train_data(tiny_data(48)).set_val_data(tiny_data(20, 4, 1)).set_bus(&bus).set_progress(nullptr);
  const FitResult r = trainer.fit();

  std::vector<std::string> want{line("fit_begin", 0, 0, 0)};
  int64_t step = 0;
  expect_epoch(want, 0, step, 3, 2, true);
  expect_epoch(want, 1, step, 3, 2, true);
  want.push_back(line("fit_end", 6, 1, 0));
  EXPECT_EQ(read_lines(rec), want);
  // Spelled out once, so the generator above is checked too.
  const auto got = read_lines(rec);
  ASSERT_GE(got.size(), 9u);
  EXPECT_EQ(got[1], "epoch_begin 0 0 0");
  EXPECT_EQ(got[2], "train_batch_begin 0 0 0");
  EXPECT_EQ(got[6], "after_optimizer_step 0 0 0");
  EXPECT_EQ(got[7], "train_batch_end 1 0 0");
  EXPECT_EQ(got[8], "train_batch_begin 1 0 1");

  EXPECT_EQ(r.steps, 6);
  EXPECT_EQ(r.epochs_completed, 2);
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.run_dir, dir + "/run");
  EXPECT_TRUE(std::filesystem::is_regular_file(r.last_checkpoint)) << r.last_checkpoint;
  EXPECT_TRUE(r.metrics.count("val/loss") && r.metrics.count("val/accuracy") && r.metrics.count("train/loss"));
  EXPECT_EQ(r.metrics.count("val/top5"), 0u);  // 4 classes: no top5
}

TEST(Trainer, NoPluginsNoBusStillTrainsAndWritesARun) {
  const std::string dir = fresh_dir();
  Trainer trainer(tiny_mlp(), run_section(dir), trainer_section(1));
  trainer.set_train_data(tiny_data(32)).set_progress(nullptr);
  const FitResult r = trainer.fit();
  EXPECT_EQ(r.steps, 2);
  EXPECT_EQ(list_event_files(dir + "/run").size(), 1u);
  EXPECT_TRUE(r.metrics.count("train/loss"));
  EXPECT_EQ(r.metrics.count("val/loss"), 0u);
}

TEST(Trainer, LogOffWritesNoEventFileAndKeepsCheckpoints) {
  const std::string dir = fresh_dir();
  RunSection run = run_section(dir);
  run.log = false;  // trainscope run --no-log
  TrainerSection tr = trainer_section(1);
  tr.checkpoint_dir = fresh_dir("-ckpt");
  HookBus bus;
  Probe probe;
  bool discards = true;
  int logged = 0;
  probe.on_hook = [&](HookContext& ctx) {
    discards = discards && ctx.writer().discards();
    ctx.writer().add_scalar("probe/x", 1.0, ctx.step());  // goes to the null sink
    ++logged;
  };
  add_probe(bus, probe);
  Trainer trainer(tiny_mlp(), run, tr);
  trainer.set_train_data(tiny_data(32)).set_val_data(tiny_data(16)).set_bus(&bus).set_progress(nullptr);
  const FitResult r = trainer.fit();
  EXPECT_EQ(r.steps, 2);
  EXPECT_GT(logged, 0);
  EXPECT_TRUE(discards);  // plugins see a writer that keeps nothing
  EXPECT_TRUE(std::filesystem::is_empty(dir)) << "the log dir must stay untouched";
  EXPECT_TRUE(std::filesystem::is_regular_file(r.last_checkpoint)) << r.last_checkpoint;
  EXPECT_EQ(std::filesystem::path(r.last_checkpoint).parent_path(), tr.checkpoint_dir);
}

// A model whose forward throws on its n-th call.
class ThrowingImpl : public torch::nn::Module {
 public:
  explicit ThrowingImpl(int at) : at_(at) { lin_ = register_module("lin", torch::nn::Linear(64, 4)); }
  at::Tensor forward(const at::Tensor& x) {
    if (++calls_ == at_) throw std::runtime_error("boom in forward");
    return lin_->forward(x.flatten(1));
  }

 private:
  int at_, calls_ = 0;
  torch::nn::Linear lin_{nullptr};
};
TORCH_MODULE(Throwing);

TEST(Trainer, ExceptionInTheModelReachesTheExceptionHookAndClosesTheFiles) {
  const std::string dir = fresh_dir();
  const std::string rec = dir + "/hooks.txt";
  HookBus bus;
  add_recorder(bus, rec);
  Probe probe;
  std::string seen_message;
  probe.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kTrainBatchEnd) c.writer().add_scalar("probe/loss", c.loss(), c.step());
    if (c.hook() == Hook::kException) seen_message = c.exception_message();
  };
  add_probe(bus, probe);
  // Calls 1-3: epoch 0's batches, 4-5: its validation, 6: epoch 1 batch 0, 7 throws (batch 1).
  Trainer trainer(Throwing(7), run_section(dir), trainer_section(3));
  trainer.set_train_data(tiny_data(48)).set_val_data(tiny_data(20, 4, 1)).set_bus(&bus).set_progress(nullptr);
  EXPECT_THROW(
      {
        try {
          trainer.fit();
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "boom in forward");
          throw;
        }
      },
      std::runtime_error);

  const auto got = read_lines(rec);
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[got.size() - 2], "train_batch_begin 4 1 1");
  EXPECT_EQ(got.back(), "exception 4 1 1");
  EXPECT_EQ(seen_message, "boom in forward");
  for (const auto& l : got) EXPECT_NE(l.rfind("fit_end", 0), 0u) << "fit_end after an exception";

  // The writer was closed: every record is complete and verifies, the scalars are there.
  const auto files = list_event_files(dir + "/run");
  ASSERT_EQ(files.size(), 1u);
  RecordReader reader(files[0]);
  std::string payload;
  int64_t probe_values = 0, records = 0;
  while (reader.next(payload)) {
    ++records;
    EventView ev;
    ASSERT_TRUE(decode_event(payload, ev));
    for (const auto& v : ev.values) probe_values += v.tag == "probe/loss";
  }
  EXPECT_FALSE(reader.error().has_value()) << reader.error()->message;
  EXPECT_EQ(probe_values, 4);  // steps 1..4
  EXPECT_GT(records, 4);
}

TEST(Trainer, StopRequestEndsTheFitAfterTheBatch) {
  const std::string dir = fresh_dir();
  const std::string rec = dir + "/hooks.txt";
  HookBus bus;
  Probe probe;
  probe.on_hook = [](HookContext& c) {
    if (c.hook() == Hook::kTrainBatchEnd && c.step() == 2) c.request_stop("enough");
  };
  add_probe(bus, probe);
  add_recorder(bus, rec);
  Trainer trainer(tiny_mlp(), run_section(dir), trainer_section(5));
  trainer.set_train_data(tiny_data(48)).set_val_data(tiny_data(20, 4, 1)).set_bus(&bus).set_progress(nullptr);
  const FitResult r = trainer.fit();
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_reason, "probe: enough");
  EXPECT_EQ(r.steps, 2);
  EXPECT_EQ(r.epochs_completed, 0);
  const auto got = read_lines(rec);
  ASSERT_GE(got.size(), 3u);
  // The stopping batch still ends for every plugin; no validation, no checkpoint.
  EXPECT_EQ(got[got.size() - 3], "train_batch_end 2 0 1");
  EXPECT_EQ(got[got.size() - 2], "epoch_end 2 0 0");
  EXPECT_EQ(got.back(), "fit_end 2 0 0");
  EXPECT_TRUE(r.last_checkpoint.empty());
}

TEST(Trainer, StopAtEpochEndKeepsTheEpochAndCheckpointsIt) {
  const std::string dir = fresh_dir();
  const std::string rec = dir + "/hooks.txt";
  HookBus bus;
  add_recorder(bus, rec);
  Probe probe;
  probe.on_hook = [](HookContext& c) {
    if (c.hook() == Hook::kEpochEnd && c.epoch() == 0) c.request_stop("plateau");
  };
  add_probe(bus, probe);
  Trainer trainer(tiny_mlp(), run_section(dir), trainer_section(5));
  trainer.set_train_data(tiny_data(48)).set_val_data(tiny_data(20, 4, 1)).set_bus(&bus).set_progress(nullptr);
  const FitResult r = trainer.fit();
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.epochs_completed, 1);
  const auto got = read_lines(rec);
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[got.size() - 2], "save_checkpoint 3 0 0");
  EXPECT_EQ(got.back(), "fit_end 3 0 0");
  EXPECT_EQ(std::filesystem::path(r.last_checkpoint).filename(), "epoch_0001.pt");
}

TEST(Trainer, MaxStepsStops) {
  const std::string dir = fresh_dir();
  auto cfg = trainer_section(5);
  cfg.max_steps = 4;
  Trainer trainer(tiny_mlp(), run_section(dir), cfg);
  trainer.set_train_data(tiny_data(48)).set_progress(nullptr);
  const FitResult r = trainer.fit();
  EXPECT_EQ(r.steps, 4);
  EXPECT_TRUE(r.stopped);
}

TEST(Trainer, ContextCarriesBatchModelMetricsAndHparams) {
  const std::string dir = fresh_dir();
  HookBus bus;
  Probe probe;
  int checked_forward = 0, checked_val_end = 0, checked_fit_begin = 0;
  probe.on_hook = [&](HookContext& c) {
    switch (c.hook()) {
      case Hook::kFitBegin: {
        ++checked_fit_begin;
        EXPECT_EQ(c.run_dir(), dir + "/run");
        EXPECT_EQ(c.epochs(), 2);
        EXPECT_EQ(c.device(), c10::Device(c10::kCPU));
        EXPECT_NE(c.optimizer(), nullptr);
        EXPECT_EQ(c.class_names().size(), 10u);
        EXPECT_EQ(c.plugin_name(), "probe");
        EXPECT_EQ(c.config_text(), "[trainer]\nepochs = 2\n");
        const auto& h = c.hparams();
        EXPECT_DOUBLE_EQ(std::get<double>(h.at("lr")), 0.01);
        EXPECT_EQ(std::get<int64_t>(h.at("batch_size")), 16);
        EXPECT_EQ(std::get<std::string>(h.at("optimizer")), "adam");
        EXPECT_EQ(std::get<int64_t>(h.at("epochs")), 2);
        EXPECT_DOUBLE_EQ(std::get<double>(h.at("dropout")), 0.25);
        break;
      }
      case Hook::kAfterForward:
        ++checked_forward;
        EXPECT_EQ(c.phase(), Phase::kTrain);
        EXPECT_EQ(c.inputs().sizes(), (std::vector<int64_t>{16, 1, 8, 8}));
        EXPECT_EQ(c.targets().sizes(), (std::vector<int64_t>{16}));
        EXPECT_EQ(c.outputs().sizes(), (std::vector<int64_t>{16, 10}));
        EXPECT_EQ(c.loss().dim(), 0);
        EXPECT_EQ(c.batches_per_epoch(), 3);
        EXPECT_EQ(c.batch_size(), 16);
        break;
      case Hook::kValidationBatchEnd:
        EXPECT_EQ(c.phase(), Phase::kValidation);
        EXPECT_TRUE(c.outputs().defined() && c.loss().defined());
        break;
      case Hook::kValidationEnd: {
        ++checked_val_end;
        EXPECT_EQ(c.phase(), Phase::kValidation);
        auto& m = c.metrics();
        EXPECT_TRUE(m.count("val/loss") && m.count("val/accuracy") && m.count("val/top5") && m.count("train/loss"));
        EXPECT_GE(m["val/top5"], m["val/accuracy"]);
        EXPECT_GE(m["val/accuracy"], 0.0);
        EXPECT_LE(m["val/top5"], 1.0);
        m["probe/extra"] = 1.0;  // plugins may add metrics
        break;
      }
      default:
        break;
    }
  };
  add_probe(bus, probe);
  Trainer trainer(tiny_mlp(10), run_section(dir), trainer_section(2));
  trainer.set_train_data(tiny_data(48, 10))
      .set_val_data(tiny_data(40, 10, 1))
      .set_bus(&bus)
      .set_hparams({{"dropout", 0.25}})
      .set_config_text("[trainer]\nepochs = 2\n")
      .set_progress(nullptr);
  const FitResult r = trainer.fit();
  EXPECT_EQ(checked_fit_begin, 1);
  EXPECT_EQ(checked_forward, 6);
  EXPECT_EQ(checked_val_end, 2);
  EXPECT_EQ(r.metrics.count("probe/extra"), 1u);
}

TEST(Trainer, ValidationMetricsMatchAHandComputation) {
  const std::string dir = fresh_dir();
  Trainer trainer(tiny_mlp(10), run_section(dir), trainer_section(1));
  const TensorDataset val = tiny_data(40, 10, 1);
  trainer.set_train_data(tiny_data(48, 10)).set_val_data(val).set_progress(nullptr);
  const FitResult r = trainer.fit();
  at::NoGradGuard no_grad;
  trainer.model().module().eval();
  at::Tensor out = trainer.model().forward(val.inputs);
  const double loss = softmax_cross_entropy(out, val.targets).item<double>();
  const double acc = out.argmax(1).eq(val.targets).to(at::kDouble).mean().item<double>();
  const double top5 =
      std::get<1>(out.topk(5, 1)).eq(val.targets.unsqueeze(1)).any(1).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(r.metrics.at("val/loss"), loss, 1e-5);
  EXPECT_DOUBLE_EQ(r.metrics.at("val/accuracy"), acc);
  EXPECT_DOUBLE_EQ(r.metrics.at("val/top5"), top5);
  const auto ev = trainer.evaluate(val);
  EXPECT_NEAR(ev.at("loss"), loss, 1e-5);
  EXPECT_DOUBLE_EQ(ev.at("accuracy"), acc);
}

TEST(Trainer, LearnsSyntheticDataWithTheSimpleCnn) {
  const std::string dir = fresh_dir();
  DataSection data;
  data.dataset = "synthetic";
  data.synthetic_samples = 1024;
  const Datasets ds = load_datasets(data, 5);
  seed_everything(5);
  ModelSection model;
  Trainer trainer(make_model(model, {ds.train.sample_shape(), ds.train.num_classes()}), run_section(dir),
                  trainer_section(3, 32));
  trainer.set_train_data(ds.train).set_val_data(ds.val).set_progress(nullptr);
  const FitResult r = trainer.fit();
  EXPECT_GT(r.metrics.at("val/accuracy"), 0.9);
}

TEST(Trainer, GradientClippingIsAppliedBeforeTheOptimizerStep) {
  const std::string dir = fresh_dir();
  HookBus bus;
  Probe probe;
  std::vector<double> before, after;
  probe.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kAfterBackward) before.push_back(grad_norm(c.model()));
    if (c.hook() == Hook::kBeforeOptimizerStep) after.push_back(grad_norm(c.model()));
  };
  add_probe(bus, probe);
  auto cfg = trainer_section(1);
  cfg.clip_grad_norm = 1e-3;
  Trainer trainer(tiny_mlp(), run_section(dir), cfg);
  trainer.set_train_data(tiny_data(48)).set_bus(&bus).set_progress(nullptr);
  trainer.fit();
  ASSERT_EQ(before.size(), 3u);
  ASSERT_EQ(after.size(), 3u);
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_GT(before[i], 1e-2);
    EXPECT_NEAR(after[i], 1e-3, 1e-6);
  }
}

TEST(Trainer, ClipGradNormMatchesLibtorch) {
  seed_everything(11);
  auto a = tiny_mlp(), b = tiny_mlp();
  for (auto& p : a->parameters()) p.mutable_grad() = at::randn_like(p) * 3;
  for (size_t i = 0; i < a->parameters().size(); ++i)
    b->parameters()[i].mutable_grad() = a->parameters()[i].grad().clone();
  const at::Tensor norm = clip_grad_norm(a->parameters(), 0.5);
  const double ref = torch::nn::utils::clip_grad_norm_(b->parameters(), 0.5);
  EXPECT_NEAR(norm.item<double>(), ref, 1e-4 * ref);
  for (size_t i = 0; i < a->parameters().size(); ++i) {
    EXPECT_TRUE(at::allclose(a->parameters()[i].grad(), b->parameters()[i].grad(), 1e-5, 1e-7));
  }
  // Below the threshold nothing changes.
  const at::Tensor g = a->parameters()[0].grad().clone();
  clip_grad_norm(a->parameters(), 1e6);
  EXPECT_TRUE(at::equal(g, a->parameters()[0].grad()));
}

TEST(Trainer, SequentialChildrenAreTappedByName) {
  const std::string dir = fresh_dir();
  HookBus bus;
  Probe probe;
  std::vector<std::set<std::string>> names_per_step;
  std::vector<int64_t> relu_grad_sizes;
  probe.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kTrainBatchBegin) {
      if (c.step() == 0) c.request_all_activations();
      if (c.step() == 1) c.request_activation("relu", /*with_grad=*/true);
    }
    if (c.hook() == Hook::kAfterForward) {
      std::set<std::string> names;
      for (const auto& [k, v] : c.activations()) names.insert(k);
      names_per_step.push_back(names);
      if (c.step() == 0) {
        EXPECT_EQ(c.activation("flatten").sizes(), (std::vector<int64_t>{16, 64}));
        EXPECT_EQ(c.activation("hidden").sizes(), (std::vector<int64_t>{16, 16}));
        EXPECT_TRUE(at::equal(c.activation("head"), c.outputs().detach()));
        EXPECT_FALSE(c.activation("head").requires_grad());
      }
    }
    if (c.hook() == Hook::kTrainBatchEnd && c.step() == 2) {
      const at::Tensor g = c.activation_grad("relu");
      relu_grad_sizes = g.defined() ? g.sizes().vec() : std::vector<int64_t>{};
    }
  };
  add_probe(bus, probe);
  Trainer trainer(tiny_mlp(), run_section(dir), trainer_section(1));
  trainer.set_train_data(tiny_data(48)).set_bus(&bus).set_progress(nullptr);
  trainer.fit();
  ASSERT_EQ(names_per_step.size(), 3u);
  EXPECT_EQ(names_per_step[0], (std::set<std::string>{"flatten", "hidden", "relu", "head"}));
  EXPECT_EQ(names_per_step[1], (std::set<std::string>{"relu"}));
  EXPECT_TRUE(names_per_step[2].empty());  // requests last one step
  EXPECT_EQ(relu_grad_sizes, (std::vector<int64_t>{16, 16}));
}

TEST(Trainer, ContextForwardRunsTheModelOnAnyInputWithItsOwnTaps) {
  const std::string dir = fresh_dir();
  HookBus bus;
  Probe probe;
  at::Tensor seq_out, expected, hidden, conv1;
  const TensorDataset data = tiny_data(32);
  probe.on_hook = [&](HookContext& c) {
    if (c.hook() != Hook::kEpochEnd) return;
    at::NoGradGuard no_grad;
    TapSet taps;
    taps.request("hidden", false);
    const at::Tensor x = data.inputs.narrow(0, 0, 5);
    seq_out = c.forward(x, &taps);
    expected = c.forward(x);  // no taps: the plain forward
    if (taps.values().count("hidden")) hidden = taps.values().at("hidden");
    EXPECT_TRUE(c.activations().empty());  // the trainer's own taps are untouched
  };
  add_probe(bus, probe);
  torch::nn::Sequential model = tiny_mlp();
  Trainer trainer(model, run_section(dir), trainer_section(1));
  trainer.set_train_data(data).set_bus(&bus).set_progress(nullptr);
  trainer.fit();
  ASSERT_TRUE(seq_out.defined());
  EXPECT_TRUE(at::allclose(seq_out, expected));
  {
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::allclose(seq_out, model->forward(data.inputs.narrow(0, 0, 5))));
  }
  ASSERT_TRUE(hidden.defined());
  EXPECT_EQ(hidden.sizes(), (std::vector<int64_t>{5, 16}));
  // A zoo model's tap() calls land in the given set too.
  Probe probe2;
  probe2.on_hook = [&](HookContext& c) {
    if (c.hook() != Hook::kFitEnd) return;
    at::NoGradGuard no_grad;
    TapSet taps;
    taps.request("conv1", false);
    c.forward(make_synthetic(3, 10, 1).inputs, &taps);
    if (taps.values().count("conv1")) conv1 = taps.values().at("conv1");
  };
  HookBus bus2;
  add_probe(bus2, probe2);
  const TensorDataset cnn_data = make_synthetic(16, 10, 1);
  Trainer cnn(make_model(ModelSection{}, {cnn_data.sample_shape(), 10}), run_section(fresh_dir()), trainer_section(1, 8));
  cnn.set_train_data(cnn_data).set_bus(&bus2).set_progress(nullptr);
  cnn.fit();
  ASSERT_TRUE(conv1.defined());
  EXPECT_EQ(conv1.sizes(), (std::vector<int64_t>{3, 6, 24, 24}));
}

TEST(Trainer, ZooModelTapsAreCapturedWhenRequested) {
  const std::string dir = fresh_dir();
  HookBus bus;
  Probe probe;
  std::map<std::string, std::vector<int64_t>> shapes;
  probe.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kTrainBatchBegin && c.step() == 0) {
      c.request_activation("conv1");
      c.request_activation("conv2");
      c.request_activation("features");
    }
    if (c.hook() == Hook::kAfterForward && c.step() == 0) {
      for (const auto& [k, v] : c.activations()) shapes[k] = v.sizes().vec();
    }
  };
  add_probe(bus, probe);
  const TensorDataset data = make_synthetic(16, 10, 1);  // 1x28x28
  Trainer trainer(make_model(ModelSection{}, {data.sample_shape(), 10}), run_section(dir), trainer_section(1, 8));
  trainer.set_train_data(data).set_bus(&bus).set_progress(nullptr);
  trainer.fit();
  EXPECT_EQ(shapes["conv1"], (std::vector<int64_t>{8, 6, 24, 24}));
  EXPECT_EQ(shapes["conv2"], (std::vector<int64_t>{8, 16, 8, 8}));
  EXPECT_EQ(shapes["features"], (std::vector<int64_t>{8, 84}));
  EXPECT_EQ(shapes.size(), 3u);
}

TEST(Trainer, Bf16AutocastOnCpu) {
  const std::string dir = fresh_dir();
  HookBus bus;
  Probe probe;
  std::vector<c10::ScalarType> out_types, grad_types;
  probe.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kAfterForward) out_types.push_back(c.outputs().scalar_type());
    if (c.hook() == Hook::kAfterBackward) grad_types.push_back(c.model().parameters()[0].grad().scalar_type());
  };
  add_probe(bus, probe);
  auto cfg = trainer_section(2);
  cfg.precision = "bf16";
  Trainer trainer(tiny_mlp(), run_section(dir), cfg);
  trainer.set_train_data(tiny_data(48)).set_val_data(tiny_data(20, 4, 1)).set_bus(&bus).set_progress(nullptr);
  const FitResult r = trainer.fit();
  ASSERT_FALSE(out_types.empty());
  EXPECT_EQ(out_types[0], c10::kBFloat16);
  EXPECT_EQ(grad_types[0], c10::kFloat);  // master weights stay fp32
  EXPECT_TRUE(std::isfinite(r.metrics.at("val/loss")));
}

TEST(Trainer, Fp16GradScalerSkipsTheStepOnOverflowAndUnscales) {
  const std::string dir = fresh_dir();
  HookBus bus;
  Probe probe;
  std::vector<std::string> hooks_of_batch_1;
  at::Tensor before_step, after_batch;
  std::vector<double> grad_norms;
  probe.on_hook = [&](HookContext& c) {
    const at::Tensor w = c.model().parameters()[0];  // the "hidden" layer's weight
    if (c.hook() == Hook::kAfterBackward) grad_norms.push_back(grad_norm(c.model()));
    if (c.batch_index() == 1) hooks_of_batch_1.push_back(hook_name(c.hook()));
    if (c.hook() == Hook::kBeforeOptimizerStep && c.batch_index() == 1) before_step = w.detach().clone();
    if (c.hook() == Hook::kTrainBatchEnd && c.batch_index() == 1) after_batch = w.detach().clone();
  };
  add_probe(bus, probe);
  auto cfg = trainer_section(1);
  cfg.precision = "fp16";
  Trainer trainer(tiny_mlp(), run_section(dir), cfg);
  // The second batch's loss is huge: its scaled gradients overflow.
  int calls = 0;
  trainer.set_loss([&](const at::Tensor& out, const at::Tensor& y) {
    const at::Tensor loss = softmax_cross_entropy(out, y);
    return ++calls == 2 ? loss * 1e38 : loss;
  });
  trainer.set_train_data(tiny_data(48)).set_bus(&bus).set_progress(nullptr);
  const FitResult r = trainer.fit();
  EXPECT_EQ(r.steps, 3);  // a skipped step still counts
  EXPECT_TRUE(at::equal(before_step, after_batch)) << "the overflowing step must not update the weights";
  EXPECT_EQ(hooks_of_batch_1, (std::vector<std::string>{"train_batch_begin", "after_forward", "after_backward",
                                                        "before_optimizer_step", "train_batch_end"}));
  // Gradients reach plugins unscaled (a 2^16 scale would show as norms in the thousands).
  ASSERT_EQ(grad_norms.size(), 3u);
  EXPECT_LT(grad_norms[0], 100.0);
  EXPECT_FALSE(std::isfinite(grad_norms[1]));
  EXPECT_LT(grad_norms[2], 100.0);
}

TEST(Trainer, StepAndCosineSchedulersSetTheLrPerEpoch) {
  for (const std::string kind : {"step", "cosine"}) {
    const std::string dir = fresh_dir(kind);
    HookBus bus;
    Probe probe;
    std::vector<double> lrs;
    probe.on_hook = [&](HookContext& c) {
      if (c.hook() == Hook::kEpochBegin) lrs.push_back(c.optimizer()->param_groups()[0].options().get_lr());
    };
    add_probe(bus, probe);
    auto cfg = trainer_section(3);
    cfg.scheduler = kind;
    cfg.step_size = 1;
    cfg.gamma = 0.5;
    Trainer trainer(tiny_mlp(), run_section(dir), cfg);
    trainer.set_train_data(tiny_data(16)).set_bus(&bus).set_progress(nullptr);
    trainer.fit();
    ASSERT_EQ(lrs.size(), 3u);
    if (kind == "step") {
      EXPECT_DOUBLE_EQ(lrs[0], 0.01);
      EXPECT_DOUBLE_EQ(lrs[1], 0.005);
      EXPECT_DOUBLE_EQ(lrs[2], 0.0025);
    } else {
      EXPECT_DOUBLE_EQ(lrs[0], 0.01);
      EXPECT_NEAR(lrs[1], 0.0075, 1e-12);
      EXPECT_NEAR(lrs[2], 0.0025, 1e-12);
    }
  }
}

// set_scheduler in code: a subclass overriding only factor() (the original interface) acts per
// epoch; one overriding interval() and lr() sets the lr before every batch, so the lr read at
// train_batch_end is the one that step used.
TEST(Trainer, SchedulersSuppliedInCodeByEpochAndByStep) {
  struct Halving final : LrScheduler {
    double factor(int64_t epoch, int64_t) const override { return std::pow(0.5, static_cast<double>(epoch)); }
  };
  struct PerStep final : LrScheduler {
    LrInterval interval() const override { return LrInterval::kStep; }
    double lr(size_t, double base, int64_t t, const LrClock& clock) const override {
      return base / static_cast<double>(1 + t + 100 * clock.batches_per_epoch);
    }
  };
  for (const bool per_step : {false, true}) {
    const std::string dir = fresh_dir(per_step ? "code_step" : "code_epoch");
    HookBus bus;
    Probe probe;
    std::vector<double> lrs;
    probe.on_hook = [&](HookContext& c) {
      if (c.hook() == Hook::kTrainBatchEnd) lrs.push_back(c.optimizer()->param_groups()[0].options().get_lr());
    };
    add_probe(bus, probe);
    Trainer trainer(tiny_mlp(), run_section(dir), trainer_section(2));
    trainer.set_train_data(tiny_data(64)).set_bus(&bus).set_progress(nullptr);  // 4 steps per epoch
    if (per_step)
      trainer.set_scheduler(std::make_unique<PerStep>());
    else
      trainer.set_scheduler(std::make_unique<Halving>());
    const FitResult r = trainer.fit();
    ASSERT_EQ(static_cast<int64_t>(lrs.size()), r.steps);
    const int64_t per_epoch = r.steps / 2;
    ASSERT_EQ(per_epoch, 4);
    for (int64_t i = 0; i < r.steps; ++i) {
      const double want = per_step ? 0.01 / static_cast<double>(1 + i + 100 * per_epoch)
                                   : 0.01 * std::pow(0.5, static_cast<double>(i / per_epoch));
      EXPECT_DOUBLE_EQ(lrs[static_cast<size_t>(i)], want) << "step " << i + 1;
    }
  }
}

TEST(Trainer, OptimizersAndSchedulersByName) {
  auto params = tiny_mlp()->parameters();
  for (const std::string name : {"adam", "adamw", "sgd"}) {
    TrainerSection s;
    s.optimizer = name;
    s.lr = 0.1;
    auto opt = make_optimizer(s, params);
    ASSERT_NE(opt, nullptr);
    EXPECT_DOUBLE_EQ(opt->param_groups()[0].options().get_lr(), 0.1);
  }
  TrainerSection sgd;
  sgd.optimizer = "sgd";
  sgd.momentum = 0.8;
  auto opt = make_optimizer(sgd, params);
  EXPECT_DOUBLE_EQ(static_cast<torch::optim::SGDOptions&>(opt->param_groups()[0].options()).momentum(), 0.8);
  TrainerSection bad;
  bad.optimizer = "lbfgs";
  EXPECT_THROW(make_optimizer(bad, params), std::invalid_argument);
  bad.optimizer = "adam";
  bad.scheduler = "linear";
  EXPECT_THROW(make_scheduler(bad), std::invalid_argument);
  EXPECT_EQ(make_scheduler(TrainerSection{}), nullptr);
}

TEST(Trainer, OptimizerAndLossSuppliedInCode) {
  const std::string dir = fresh_dir();
  auto model = tiny_mlp();
  Trainer trainer(model, run_section(dir), trainer_section(1));
  trainer.set_optimizer(std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(0.05)));
  int loss_calls = 0;
  trainer.set_loss([&](const at::Tensor& out, const at::Tensor& y) {
    ++loss_calls;
    return softmax_cross_entropy(out, y);
  });
  HookBus bus;
  Probe probe;
  std::string optimizer_hparam;
  probe.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kFitBegin) optimizer_hparam = std::get<std::string>(c.hparams().at("optimizer"));
  };
  add_probe(bus, probe);
  trainer.set_train_data(tiny_data(32)).set_bus(&bus).set_progress(nullptr);
  trainer.fit();
  EXPECT_EQ(loss_calls, 2);
  EXPECT_EQ(optimizer_hparam, "custom");
}

TEST(Trainer, OverheadScalarsPerPluginEveryLogInterval) {
  const std::string dir = fresh_dir();
  HookBus bus;
  Probe probe;
  add_probe(bus, probe, "probe");
  auto cfg = trainer_section(1);
  cfg.log_every_n_steps = 2;
  Trainer trainer(tiny_mlp(), run_section(dir), cfg);
  trainer.set_train_data(tiny_data(80)).set_bus(&bus).set_progress(nullptr);  // 5 batches
  trainer.fit();
  std::vector<int64_t> steps;
  for (const auto& ev : testing::read_events(dir + "/run")) {
    for (const auto& v : ev.values) {
      if (v.tag == "trainscope/overhead/probe") steps.push_back(ev.step);
    }
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{2, 4, 5}));  // every 2 steps and the epoch's last batch
}

TEST(Progress, PlainLinesOffATerminal) {
  std::FILE* f = std::tmpfile();
  Progress p(f, /*tty=*/0);
  p.begin_epoch(0, 3, 10, 32);
  p.update(5, 5, 0.5);
  p.update(10, 10, 0.25);
  p.end_epoch({{"val/accuracy", 0.875}});
  std::rewind(f);
  char buf[1024] = {};
  std::string text(buf, std::fread(buf, 1, sizeof buf - 1, f));
  std::fclose(f);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find("epoch 1/3 5/10  step 5  loss 0.5000"), std::string::npos) << text;
  EXPECT_NE(text.find("samples/s  ETA "), std::string::npos) << text;
  EXPECT_NE(text.find("val/accuracy 0.8750"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
}

TEST(Progress, BarRedrawnInPlaceOnATerminal) {
  std::FILE* f = std::tmpfile();
  Progress p(f, /*tty=*/1);
  p.begin_epoch(1, 2, 8, 4);
  p.update(4, 12, 1.0);
  p.update(8, 16, 0.5);
  p.end_epoch({});
  std::rewind(f);
  char buf[1024] = {};
  std::string text(buf, std::fread(buf, 1, sizeof buf - 1, f));
  std::fclose(f);
  EXPECT_NE(text.find("\repoch 2/2 [############............] 4/8"), std::string::npos) << text;
  EXPECT_NE(text.find("[########################] 8/8"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);  // the bar's line, the summary
  EXPECT_EQ(Progress::format_duration(65), "1:05");
  EXPECT_EQ(Progress::format_duration(3725), "1:02:05");
}

TEST(Trainer, ProgressReadsTheLossOncePerInterval) {
  const std::string dir = fresh_dir();
  std::FILE* f = std::tmpfile();
  auto cfg = trainer_section(1);
  cfg.log_every_n_steps = 2;
  Trainer trainer(tiny_mlp(), run_section(dir), cfg);
  trainer.set_train_data(tiny_data(80)).set_progress(f, 0);  // 5 batches: lines at 2, 4, 5
  trainer.fit();
  std::rewind(f);
  char buf[4096] = {};
  std::string text(buf, std::fread(buf, 1, sizeof buf - 1, f));
  std::fclose(f);
  EXPECT_NE(text.find("2/5  step 2"), std::string::npos) << text;
  EXPECT_NE(text.find("4/5  step 4"), std::string::npos) << text;
  EXPECT_NE(text.find("5/5  step 5"), std::string::npos) << text;
  EXPECT_EQ(text.find("3/5"), std::string::npos) << text;
}

TEST(Trainer, Devices) {
  EXPECT_EQ(resolve_device("cpu"), c10::Device(c10::kCPU));
  EXPECT_THROW(resolve_device("tpu"), std::invalid_argument);
  EXPECT_THROW(resolve_device("cuda:99"), std::invalid_argument);
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(resolve_device("auto"), c10::Device(c10::kCPU));
    EXPECT_THROW(resolve_device("cuda"), std::invalid_argument);
  } else {
    EXPECT_EQ(resolve_device("auto"), c10::Device(c10::kCUDA, 0));
  }
}

// The CUDA paths: pinned, non-blocking batches; bf16 autocast; fp16 with the grad scaler;
// clipping; checkpoint and resume on the device. Skipped where there is no GPU.
TEST(TrainerCuda, MixedPrecisionPinnedBatchesClippingAndResume) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const std::string precision : {"bf16", "fp16", "fp32"}) {
    const std::string dir = fresh_dir(precision);
    HookBus bus;
    Probe probe;
    std::vector<c10::ScalarType> out_types;
    bool inputs_on_gpu = true, clipped = true;
    probe.on_hook = [&](HookContext& c) {
      if (c.hook() == Hook::kAfterForward) {
        out_types.push_back(c.outputs().scalar_type());
        inputs_on_gpu = inputs_on_gpu && c.inputs().is_cuda() && c.targets().is_cuda() && c.loss().is_cuda();
      }
      if (c.hook() == Hook::kBeforeOptimizerStep && std::isfinite(grad_norm(c.model()))) {
        clipped = clipped && grad_norm(c.model()) <= 0.05 * (1 + 1e-4);
      }
    };
    add_probe(bus, probe);
    auto run = run_section(dir);
    run.device = "cuda";
    auto cfg = trainer_section(2);
    cfg.precision = precision;
    cfg.clip_grad_norm = 0.05;
    Trainer trainer(tiny_mlp(10), run, cfg);
    trainer.set_train_data(tiny_data(48, 10)).set_val_data(tiny_data(40, 10, 1)).set_bus(&bus).set_progress(nullptr);
    const FitResult r = trainer.fit();
    EXPECT_TRUE(trainer.model().module().parameters()[0].is_cuda());
    EXPECT_TRUE(inputs_on_gpu);
    EXPECT_TRUE(clipped) << precision;
    ASSERT_FALSE(out_types.empty());
    EXPECT_EQ(out_types[0], precision == "bf16" ? c10::kBFloat16 : precision == "fp16" ? c10::kHalf : c10::kFloat);
    EXPECT_TRUE(std::isfinite(r.metrics.at("val/loss"))) << precision;
    EXPECT_EQ(r.metrics.count("val/top5"), 1u);

    // Resume on the device from the checkpoint just written.
    auto more = cfg;
    more.epochs = 3;
    more.resume = "auto";
    Trainer resumed(tiny_mlp(10, 5), run, more);
    resumed.set_train_data(tiny_data(48, 10)).set_val_data(tiny_data(40, 10, 1)).set_progress(nullptr);
    const FitResult r2 = resumed.fit();
    EXPECT_EQ(r2.steps, 9);
    EXPECT_TRUE(resumed.model().module().parameters()[0].is_cuda());
  }
  LoaderOptions o;
  o.device = c10::Device(c10::kCUDA, 0);
  BatchLoader loader(tiny_data(32), o);
  const Batch b = loader.batch(0);
  EXPECT_TRUE(b.inputs.is_cuda());
  EXPECT_TRUE(at::equal(b.inputs.cpu(), tiny_data(32).inputs.index_select(0, loader.order().narrow(0, 0, 32))));
}

TEST(Models, ZooBuildsEveryModelForItsInput) {
  ModelSection s;
  for (const auto& name : model_names()) {
    s.name = name;
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{1, 28, 28}, std::vector<int64_t>{3, 32, 32}}) {
      Model m = make_model(s, {shape, 10});
      auto x = at::randn({2, shape[0], shape[1], shape[2]});
      EXPECT_EQ(m.forward(x).sizes(), (std::vector<int64_t>{2, 10})) << name;
    }
  }
  s.name = "mlp";
  EXPECT_TRUE(make_model(s, {{1, 28, 28}, 10}).is_sequential());
  s.name = "simple_cnn";
  s.options["conv1"] = int64_t{4};
  EXPECT_EQ(make_model(s, {{1, 28, 28}, 10}).module().named_parameters()["conv1.weight"].size(0), 4);
  s.options["convv1"] = int64_t{4};
  EXPECT_THROW(make_model(s, {{1, 28, 28}, 10}), std::invalid_argument);
  s.options.clear();
  s.name = "vgg";
  EXPECT_THROW(make_model(s, {{1, 28, 28}, 10}), std::invalid_argument);
}

TEST(Models, SimpleCnnDropoutIsOffByDefaultAndOnlyActsInTraining) {
  auto build = [](std::optional<double> dropout) {
    ModelSection s;
    s.name = "simple_cnn";
    if (dropout) s.options["dropout"] = *dropout;
    seed_everything(11);
    return make_model(s, {{1, 28, 28}, 10});
  };
  Model plain = build(std::nullopt), zero = build(0.0), half = build(0.5);
  // dropout = 0 is the model as it was: the same parameters and buffers, the same outputs.
  EXPECT_EQ(plain.module().named_parameters().keys(), zero.module().named_parameters().keys());
  EXPECT_EQ(plain.module().named_modules().size(), zero.module().named_modules().size());
  const auto x = at::randn({8, 1, 28, 28});
  seed_everything(5);
  const auto out_plain = plain.forward(x);
  seed_everything(5);
  EXPECT_TRUE(at::equal(out_plain, zero.forward(x)));
  // With dropout the weights are the same (it has none); evaluation ignores it, training does not.
  const auto half_params = half.module().named_parameters();
  for (const auto& item : plain.module().named_parameters())
    EXPECT_TRUE(at::equal(item.value(), half_params[item.key()])) << item.key();
  half.module().eval();
  plain.module().eval();
  EXPECT_TRUE(at::equal(plain.forward(x), half.forward(x)));
  half.module().train();
  EXPECT_FALSE(at::equal(plain.forward(x), half.forward(x)));
  EXPECT_THROW(build(1.0), std::invalid_argument);
}

TEST(Models, ResnetAndMlpTaps) {
  TapSet taps;
  taps.request_all(true);
  for (const std::string name : {"resnet", "mlp", "transformer_encoder"}) {
    ModelSection s;
    s.name = name;
    Model m = make_model(s, {{3, 32, 32}, 10});
    taps.clear_captures();
    {
      TapScope scope(&taps);
      m.forward(at::randn({2, 3, 32, 32}));
    }
    EXPECT_EQ(taps.values().count("features"), 1u) << name;
    if (name == "resnet") {
      EXPECT_EQ(taps.values().count("stage3"), 1u);
    }
    if (name == "transformer_encoder") {  // 32 rows of 3 x 32 pixels: 32 tokens, d_model 64
      EXPECT_EQ(taps.values().at("embed").sizes(), (std::vector<int64_t>{2, 32, 64}));
      EXPECT_EQ(taps.values().at("layer2").sizes(), (std::vector<int64_t>{2, 32, 64}));
      EXPECT_EQ(taps.values().at("features").sizes(), (std::vector<int64_t>{2, 64}));
    }
  }
}

// ---- run.h: a configuration file -> an assembled run --------------------------------------

// A small run on synthetic data; `run_keys` go into [run].
std::string run_toml(const std::string& log_dir, const std::string& run_keys = "") {
  return "[run]\n" + run_keys + "name = \"assembled\"\nlog_dir = \"" + log_dir +
         "\"\nseed = 4\ndevice = \"cpu\"\n"
         "[trainer]\nepochs = 2\nbatch_size = 16\nlr = 0.01\ncheckpoint_every_n_epochs = 0\n"
         "[data]\ndataset = \"synthetic\"\nsynthetic_samples = 64\nsynthetic_classes = 4\n"
         "[model]\nname = \"mlp\"\nhidden = 16\n";
}

double loss_on(const Model& model, const TensorDataset& data) {
  torch::NoGradGuard no_grad;
  return softmax_cross_entropy(model.forward(data.inputs), data.targets).item<double>();
}

RunParts quiet() {
  RunParts parts;
  parts.customize = [](Trainer& t) { t.set_progress(nullptr); };
  return parts;
}

// The file's relative run.plugin_path finds the recorder (it is on no other search path), the
// override applies, and the assembled run trains: every step reaches the plugin and the loss
// falls.
TEST(AssembleRun, TrainsFromAFile) {
  const std::string dir = fresh_dir();
  std::filesystem::create_directory_symlink(TRAINSCOPE_TEST_PLUGIN_DIR, dir + "/plugins");
  const std::string rec = dir + "/rec.txt";
  std::ofstream(dir + "/run.toml") << run_toml(dir + "/logs", "plugin_path = [\"plugins\"]\n")
                                   << "[[plugin]]\nname = \"recorder\"\nout = \"" << rec << "\"\n";
  RunSpec spec = load_run(dir + "/run.toml", {"trainer.epochs=3"});
  ASSERT_NE(spec.catalog->find("recorder"), nullptr);
  EXPECT_EQ(spec.config.run.plugin_path, std::vector<std::string>{dir + "/plugins"});
  EXPECT_EQ(spec.config.trainer.epochs, 3);

  auto run = assemble_run(std::move(spec), quiet());
  EXPECT_EQ(run.bus().plugin_names(), std::vector<std::string>{"recorder"});
  EXPECT_EQ(run.data().train.size(), 64);
  EXPECT_EQ(run.trainer().run_dir(), dir + "/logs/assembled");
  EXPECT_FALSE(run.communicator());
  const double before = loss_on(run.model(), run.data().train);
  const FitResult r = run.fit();
  EXPECT_EQ(r.epochs_completed, 3);
  EXPECT_EQ(r.steps, 12);  // 3 epochs of 64 / 16 batches
  const auto lines = read_lines(rec);
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.rfind("train_batch_end ", 0) == 0; }),
            12);
  EXPECT_LT(loss_on(run.model(), run.data().train), before);
}

TEST(AssembleRun, ProblemsNameFileLineColumn) {
  const std::string dir = fresh_dir();
  const std::string path = dir + "/run.toml";
  std::ofstream(path) << run_toml(dir + "/logs") << "[[plugin]]\nname = \"recordr\"\n";
  try {
    load_run(path, {"trainer.lr=0"}, {{TRAINSCOPE_TEST_PLUGIN_DIR}, nullptr});
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    // The plugin tables are checked in the same parse as the rest, against the catalog found
    // through it; the override is named as the place of its value.
    ASSERT_EQ(e.problems().size(), 2u) << e.what();
    EXPECT_EQ(e.problems()[0].rfind(path + ":19:8: unknown plugin 'recordr'; did you mean 'recorder'?", 0), 0u)
        << e.problems()[0];
    EXPECT_EQ(e.problems()[1], "--set trainer.lr=0: trainer.lr must be > 0 (got 0)");
  }
}

// The defaults: data from [data], the zoo model from [model] made right after seeding, so that
// two runs of one configuration start from the same weights; each part can be replaced.
TEST(AssembleRun, PartsReplaceTheDefaults) {
  const std::string dir = fresh_dir();
  const auto catalog = std::make_shared<const PluginCatalog>();
  const ConfigFile file = ConfigFile::from_text(run_toml(dir), "run.toml");
  auto first_weight = [](const trainscope::Run& run) { return run.model().module().parameters().front().clone(); };
  auto a = assemble_run(load_run(file, {{}, catalog}), quiet());
  auto b = assemble_run(load_run(file, {{}, catalog}), quiet());
  auto c = assemble_run(load_run(file.with_overrides({"run.seed=5"}), {{}, catalog}), quiet());
  EXPECT_TRUE(first_weight(a).equal(first_weight(b)));
  EXPECT_FALSE(first_weight(a).equal(first_weight(c)));
  EXPECT_EQ(a.config().model.name, "mlp");
  EXPECT_EQ(a.data().train.sample_shape(), (std::vector<int64_t>{1, 28, 28}));

  Probe probe;
  std::vector<std::string> seen;
  probe.on_hook = [&](HookContext& ctx) {
    if (ctx.hook() == Hook::kFitBegin) seen.push_back(ctx.plugin_name());
  };
  RunParts parts = quiet();
  parts.data = Datasets{tiny_data(32), tiny_data(8, 4, 1), "tiny"};
  int model_calls = 0;
  parts.model = [&](const RunConfig& config, const Datasets& data) {
    ++model_calls;
    EXPECT_EQ(config.run.name, "assembled");
    EXPECT_EQ(data.description, "tiny");
    return Model(tiny_mlp());
  };
  parts.before_plugins = [&](HookBus& bus) { add_probe(bus, probe, "before"); };
  parts.after_plugins = [&](HookBus& bus) { add_probe(bus, probe, "after"); };
  auto run = assemble_run(load_run(file, {{}, catalog}), std::move(parts));
  EXPECT_EQ(model_calls, 1);
  EXPECT_TRUE(run.model().is_sequential());
  EXPECT_EQ(run.data().train.size(), 32);
  EXPECT_EQ(run.bus().plugin_names(), (std::vector<std::string>{"before", "after"}));
  const FitResult r = run.fit();
  EXPECT_EQ(r.steps, 4);  // 2 epochs of 32 / 16
  EXPECT_EQ(seen, (std::vector<std::string>{"before", "after"}));
}

}  // namespace
}  // namespace trainscope
