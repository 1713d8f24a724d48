// TorchScript models: loading and its refusals, layers by module path, the layer-name check
// before training, and parity with the C++ SimpleCNN over 100 training steps. The modules are
// written as TorchScript source and saved to .pt files here (the same archive format
// torch.jit.save writes from Python; tests/conformance/test_torchscript.py covers Python's).
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "trainer_fixtures.h"
#include "trainscope/config.h"
#include "trainscope/data.h"
#include "trainscope/hook_bus.h"
#include "trainscope/models.h"
#include "trainscope/scripted_module.h"
#include "trainscope/trainer.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path dir = fs::temp_directory_path() / ("trainscope_torchscript_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// A TorchScript leaf module with `weight` and `bias` and the given forward body.
torch::jit::Module leaf(const std::string& type, at::Tensor weight, at::Tensor bias, const std::string& body) {
  torch::jit::Module m(type);
  m.register_parameter("weight", weight.detach().clone(), false);
  m.register_parameter("bias", bias.detach().clone(), false);
  m.define("def forward(self, x):\n    return " + body + "\n");
  return m;
}

// PyTorch's TensorBoard-tutorial CNN as TorchScript, with the C++ module's parameters.
torch::jit::Module scripted_simple_cnn(torch::nn::Module& cpp) {
  auto p = cpp.named_parameters();
  torch::jit::Module top("SimpleCNN");
  for (const char* conv : {"conv1", "conv2"}) {
    top.register_module(conv, leaf("Conv2d", p[std::string(conv) + ".weight"], p[std::string(conv) + ".bias"],
                                   "torch.conv2d(x, self.weight, self.bias)"));
  }
  for (const char* fc : {"fc1", "fc2", "fc3"}) {
    top.register_module(fc, leaf("Linear", p[std::string(fc) + ".weight"], p[std::string(fc) + ".bias"],
                                 "torch.linear(x, self.weight, self.bias)"));
  }
  top.define(R"(
def forward(self, x):
    x = torch.max_pool2d(torch.relu(self.conv1.forward(x)), [2, 2])
    x = torch.max_pool2d(torch.relu(self.conv2.forward(x)), [2, 2])
    x = torch.flatten(x, 1)
    x = torch.relu(self.fc1.forward(x))
    x = torch.relu(self.fc2.forward(x))
    return self.fc3.forward(x)
)");
  for (const auto& param : top.parameters()) param.set_requires_grad(true);
  return top;
}

Model cpp_simple_cnn(uint64_t seed) {
  seed_everything(seed);
  ModelSection s;
  s.name = "simple_cnn";
  return make_model(s, {{1, 28, 28}, 10});
}

std::string save(torch::jit::Module m, const std::string& name) {
  const std::string path = (temp_dir() / name).string();
  m.save(path);
  return path;
}

// What a run under autocast saw: per step the logits' dtype, the first parameter's gradient
// dtype, and the dtypes of the activations captured on the steps that requested them.
struct AmpTrace {
  std::vector<c10::ScalarType> outputs, grads;
  std::map<std::string, c10::ScalarType> activations;
  int64_t tapped_steps = 0;
};

// Per-step training losses of `model` on the same data, seed and optimizer. With `amp`, the
// run uses `precision` and requests every activation (with gradients) on even steps, so that
// both the module's own graph and the instrumented one run under autocast.
std::vector<double> train_losses(Model model, int64_t steps, const std::string& precision = "fp32",
                                 AmpTrace* amp = nullptr) {
  TrainerSection t = testing::trainer_section(/*epochs=*/10, /*batch_size=*/16);
  t.precision = precision;
  t.max_steps = steps;
  t.optimizer = "adam";
  t.lr = 0.002;
  t.checkpoint_every_n_epochs = 0;
  t.log_every_n_steps = 1000;
  RunSection r = testing::run_section((temp_dir() / "runs").string());
  r.log = false;
  std::vector<at::Tensor> losses;
  testing::Probe probe;
  probe.on_hook = [&](HookContext& c) {
    if (c.hook() == Hook::kAfterForward) losses.push_back(c.loss().detach().clone());
    if (amp == nullptr) return;
    if (c.hook() == Hook::kTrainBatchBegin && c.step() % 2 == 0) c.request_all_activations();
    if (c.hook() == Hook::kAfterForward) {
      amp->outputs.push_back(c.outputs().scalar_type());
      if (!c.activations().empty()) ++amp->tapped_steps;
      for (const auto& [name, value] : c.activations()) amp->activations[name] = value.scalar_type();
    }
    if (c.hook() == Hook::kAfterBackward) amp->grads.push_back(c.model().parameters()[0].grad().scalar_type());
  };
  HookBus bus;
  testing::add_probe(bus, probe);
  Trainer trainer(std::move(model), r, t);
  trainer.set_train_data(make_synthetic(256, 10, 5)).set_bus(&bus).set_progress(nullptr, 0);
  trainer.fit();
  std::vector<double> out;
  for (const auto& l : losses) out.push_back(l.item<double>());
  return out;
}

TEST(TorchScript, SameLossCurveAsTheCppSimpleCnnOver100Steps) {
  Model cpp = cpp_simple_cnn(11);
  Model scripted = load_torchscript_model(save(scripted_simple_cnn(cpp.module()), "simple_cnn.pt"));
  ASSERT_TRUE(scripted.scripted());
  // Same names and values in both (the optimizer sees the same parameter order too).
  auto a = cpp.module().named_parameters(), b = scripted.module().named_parameters();
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& k : a.keys()) ASSERT_TRUE(a[k].equal(b[k])) << k;

  const std::vector<double> want = train_losses(cpp, 100);
  const std::vector<double> got = train_losses(scripted, 100);
  ASSERT_EQ(want.size(), 100u);
  ASSERT_EQ(got.size(), 100u);
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::max(worst, std::abs(want[i] - got[i]));
    EXPECT_NEAR(got[i], want[i], 1e-4 * std::max(1.0, std::abs(want[i]))) << "step " << i + 1;
  }
  std::cout << "[ parity   ] loss step 1 " << want.front() << " -> step 100 " << want.back() << "; largest difference "
            << worst << "\n";
  EXPECT_LT(want.back(), want.front() * 0.5) << "the curves must show learning, or the parity says little";
}

// The code that runs under AMP on CUDA, on the CPU (autocast has a CPU key; bf16 and fp16 both,
// fp16 with the grad scaler): the scripted module's ops are cast as the C++ module's are, in its
// own graph and in the instrumented copy, and the two train alike.
TEST(TorchScript, AutocastOnCpuCastsTheScriptedOpsAsTheCppModulesAreCast) {
  for (const auto& [precision, dtype] :
       std::vector<std::pair<std::string, c10::ScalarType>>{{"bf16", at::kBFloat16}, {"fp16", at::kHalf}}) {
    SCOPED_TRACE(precision);
    Model cpp = cpp_simple_cnn(17);
    Model scripted = load_torchscript_model(save(scripted_simple_cnn(cpp.module()), "amp_" + precision + ".pt"));
    AmpTrace cpp_trace, scripted_trace;
    const std::vector<double> want = train_losses(cpp, 30, precision, &cpp_trace);
    const std::vector<double> got = train_losses(scripted, 30, precision, &scripted_trace);
    ASSERT_EQ(want.size(), 30u);
    ASSERT_EQ(got.size(), 30u);
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << "step " << i + 1;
      worst = std::max(worst, std::abs(want[i] - got[i]));
    }
    // Same ops on the same weights in the same dtypes: equal on the CPU (bit for bit here), as in
    // fp32; the margin is the fp32 parity test's.
    EXPECT_LT(worst, 1e-4) << "largest loss difference over 30 steps";
    EXPECT_LT(got.back(), got.front()) << "it must learn under autocast";
    std::cout << "[ amp cpu  ] " << precision << ": loss " << got.front() << " -> " << got.back()
              << ", largest difference from the C++ module " << worst << "\n";
    EXPECT_EQ(scripted_trace.outputs, std::vector<c10::ScalarType>(30, dtype)) << "logits in the reduced dtype";
    EXPECT_EQ(scripted_trace.grads, std::vector<c10::ScalarType>(30, at::kFloat)) << "master weights stay fp32";
    EXPECT_EQ(scripted_trace.tapped_steps, 15) << "the instrumented graph ran on every even step";
    EXPECT_EQ(scripted_trace.outputs, cpp_trace.outputs);
    for (const char* layer : {"conv1", "conv2", "fc1", "fc2", "fc3"}) {
      ASSERT_EQ(scripted_trace.activations.count(layer), 1u) << layer;
      EXPECT_EQ(scripted_trace.activations.at(layer), dtype) << layer << " ran under autocast in the tapped graph";
    }
  }
}

// Two epochs straight, or one and a resume from its checkpoint: the same weights at the end,
// and the resumed run's weights live in the TorchScript module that runs.
TEST(TorchScript, CheckpointAndResumeRestoreTheScriptedModule) {
  Model cpp = cpp_simple_cnn(5);
  const std::string pt = save(scripted_simple_cnn(cpp.module()), "resume.pt");
  const fs::path dir = temp_dir() / "resume";
  fs::remove_all(dir);
  auto fit = [&](int64_t epochs, const std::string& resume, const std::string& name) {
    Model m = load_torchscript_model(pt);
    TrainerSection t = testing::trainer_section(epochs, 16);
    t.checkpoint_dir = (dir / name).string();
    t.resume = resume;
    RunSection r = testing::run_section((dir / "runs").string(), name);
    r.log = false;
    Trainer trainer(m, r, t);
    trainer.set_train_data(make_synthetic(64, 10, 5)).set_progress(nullptr, 0);
    const FitResult result = trainer.fit();
    return std::make_pair(m, result);
  };
  auto [straight, r1] = fit(2, "", "straight");
  fit(1, "", "split");
  auto [resumed, r2] = fit(2, "auto", "split");
  EXPECT_FALSE(r2.resumed_from.empty());
  EXPECT_EQ(r2.steps, r1.steps);
  const auto want = straight.scripted()->jit().named_parameters();
  const auto got = resumed.scripted()->jit().named_parameters();
  size_t n = 0;
  for (auto a = want.begin(), b = got.begin(); a != want.end() && b != got.end(); ++a, ++b, ++n) {
    EXPECT_EQ((*a).name, (*b).name);
    EXPECT_TRUE((*a).value.equal((*b).value)) << (*a).name;
  }
  EXPECT_EQ(n, 10u);
}

TEST(TorchScript, TapsEverySubmoduleByPathAndCopiesWhatItReturned) {
  Model cpp = cpp_simple_cnn(3);
  Model scripted = load_torchscript_model(save(scripted_simple_cnn(cpp.module()), "taps.pt"));
  EXPECT_EQ(scripted.layer_names(), (std::vector<std::string>{"conv1", "conv2", "fc1", "fc2", "fc3"}));
  const at::Tensor x = make_synthetic(4, 10, 2).inputs;
  TapSet taps;
  taps.request("conv1", false);
  taps.request("fc3", true);
  at::Tensor y;
  {
    TapScope scope(&taps);
    y = scripted.forward_tapped(x);
  }
  ASSERT_EQ(taps.values().count("conv1"), 1u);
  EXPECT_EQ(taps.values().count("conv2"), 0u) << "only what was requested";
  auto* conv1 = cpp.module().named_children()["conv1"]->as<torch::nn::Conv2d>();
  EXPECT_TRUE(taps.values().at("conv1").allclose(conv1->forward(x), 1e-5, 1e-6)) << "conv1's output, before ReLU";
  EXPECT_TRUE(taps.values().at("fc3").equal(y.detach()));
  y.sum().backward();  // fc3's gradient w.r.t. the logits of a sum is all ones
  ASSERT_EQ(taps.grads().count("fc3"), 1u);
  EXPECT_TRUE(taps.grads().at("fc3").equal(at::ones_like(y)));
  // Without an active tap set the plain forward runs, and nothing is captured.
  taps.clear_captures();
  EXPECT_TRUE(scripted.forward(x).allclose(y.detach()));
  EXPECT_TRUE(taps.values().empty());
}

TEST(TorchScript, MissingFileIsRefused) {
  try {
    load_torchscript_model("no/such/model.pt");
    FAIL() << "no exception";
  } catch (const ScriptedModuleError& e) {
    EXPECT_NE(std::string(e.what()).find("no/such/model.pt: no such file"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("torch.jit.script(model).save"), std::string::npos) << e.what();
  }
}

TEST(TorchScript, MalformedFileIsRefused) {
  const std::string path = (temp_dir() / "garbage.pt").string();
  std::ofstream(path) << "this is not a zip archive";
  try {
    load_torchscript_model(path);
    FAIL() << "no exception";
  } catch (const ScriptedModuleError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": not a TorchScript archive"), std::string::npos) << e.what();
  }
}

TEST(TorchScript, ModuleWithoutForwardIsRefused) {
  torch::jit::Module m("NoForward");
  m.define("def predict(self, x):\n    return x\n");
  const std::string path = save(m, "no_forward.pt");
  try {
    load_torchscript_model(path);
    FAIL() << "no exception";
  } catch (const ScriptedModuleError& e) {
    EXPECT_NE(std::string(e.what()).find("has no forward method (its methods: predict)"), std::string::npos)
        << e.what();
  }
  torch::jit::Module two("TwoOutputs");
  two.define("def forward(self, x):\n    return x, x\n");
  try {
    load_torchscript_model(save(two, "two_outputs.pt"));
    FAIL() << "no exception";
  } catch (const ScriptedModuleError& e) {
    EXPECT_NE(std::string(e.what()).find("forward must take one Tensor and return one Tensor"), std::string::npos)
        << e.what();
  }
}

TEST(TorchScript, UnknownLayerPathIsRefusedBeforeTrainingWithTheNearestPaths) {
  Model cpp = cpp_simple_cnn(3);
  Model scripted = load_torchscript_model(save(scripted_simple_cnn(cpp.module()), "layers.pt"));
  RunConfig config;
  PluginConfig gradcam;
  gradcam.name = "gradcam";
  gradcam.options = Options({{"layer", std::string("cnv2")}});
  gradcam.source = "run.toml:10:1";
  PluginConfig maps;
  maps.name = "feature_maps";
  maps.options = Options({{"layers", std::vector<std::string>{"conv*", "fc9*"}}});
  config.plugins = {gradcam, maps};
  config.locations["plugin.gradcam.layer"] = "run.toml:12:9";
  try {
    check_layer_options(config, scripted);
    FAIL() << "no exception";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 2u);
    EXPECT_EQ(e.problems()[0].rfind("run.toml:12:9: plugin.gradcam.layer = \"cnv2\": the TorchScript model has no "
                                    "module at path 'cnv2'; nearest module paths: conv2, conv1",
                                    0),
              0u)
        << e.problems()[0];
    EXPECT_NE(e.problems()[1].find("run.toml", 0), 0u);  // not set in the file: the plugin's table
    EXPECT_NE(e.problems()[1].find("no module matching 'fc9*'"), std::string::npos) << e.problems()[1];
  }
  // Present names (and globs that match) pass; C++ models are not checked (their taps run late).
  config.plugins[0].options = Options({{"layer", std::string("conv2")}});
  config.plugins[1].options = Options({{"layers", std::vector<std::string>{"conv*"}}});
  EXPECT_NO_THROW(check_layer_options(config, scripted));
  config.plugins[0].options = Options({{"layer", std::string("nope")}});
  EXPECT_NO_THROW(check_layer_options(config, cpp));
}

}  // namespace
}  // namespace trainscope
