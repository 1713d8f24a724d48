// dcgan: a small DCGAN (Radford et al. 2015, as in PyTorch's DCGAN tutorial, sized for 28x28
// grayscale images) trained on Fashion-MNIST by the Trainer with a user train step
// (Trainer::set_train_step): the step trains the discriminator, then the generator, and
// reports both losses; the Trainer keeps the epochs, batch order, hooks, checkpoints of both
// networks and both optimizers, the console and the writer. What is logged comes from the
// plugins of dcgan.toml and two inline callbacks (docs/callbacks.md):
//   scalars plugin:    train/discriminator_step, train/generator_step (per step),
//                      train/discriminator, train/generator (epoch means), lr, throughput;
//   histograms plugin: weights/generator/<param>, weights/discriminator/<param> per epoch;
//   callbacks:         D/x (= D(x)), D/G_z (= D(G(z)) at the discriminator's step),
//                      D/G_z_after (at the generator's step) every trainer.log_every_n_steps
//                      steps; samples/real (step 0), samples/fixed_noise (every epoch).
// Usage: dcgan [--config dcgan.toml] [--set section.key=value ...] [--nz 64] [--width 64] ...
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "example_cli.h"
#include "trainscope/hook_bus.h"
#include "trainscope/run.h"
#include "trainscope/summary_writer.h"
#include "trainscope/trainer.h"

#ifndef DCGAN_CONFIG
#define DCGAN_CONFIG "examples/dcgan/dcgan.toml"
#endif

namespace {

namespace nn = torch::nn;

// z [N, nz, 1, 1] -> [N, 1, 28, 28] in [-1, 1]: 1 -> 7 -> 14 -> 28.
struct GeneratorImpl : nn::Module {
  GeneratorImpl(int64_t nz, int64_t width)
      : deconv1(
            register_module("deconv1", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(nz, 2 * width, 7).bias(false)))),
        bn1(register_module("bn1", nn::BatchNorm2d(2 * width))),
        deconv2(register_module(
            "deconv2",
            nn::ConvTranspose2d(nn::ConvTranspose2dOptions(2 * width, width, 4).stride(2).padding(1).bias(false)))),
        bn2(register_module("bn2", nn::BatchNorm2d(width))),
        deconv3(register_module(
            "deconv3", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(width, 1, 4).stride(2).padding(1).bias(false)))) {
  }

  torch::Tensor forward(const torch::Tensor& z) {
    auto x = torch::relu(bn1(deconv1(z)));
    x = torch::relu(bn2(deconv2(x)));
    return torch::tanh(deconv3(x));
  }

  nn::ConvTranspose2d deconv1;
  nn::BatchNorm2d bn1;
  nn::ConvTranspose2d deconv2;
  nn::BatchNorm2d bn2;
  nn::ConvTranspose2d deconv3;
};
TORCH_MODULE(Generator);

// [N, 1, 28, 28] -> [N] logits (real > 0): 28 -> 14 -> 7 -> 1.
struct DiscriminatorImpl : nn::Module {
  explicit DiscriminatorImpl(int64_t width)
      : conv1(register_module("conv1", nn::Conv2d(nn::Conv2dOptions(1, width, 4).stride(2).padding(1).bias(false)))),
        conv2(register_module("conv2",
                              nn::Conv2d(nn::Conv2dOptions(width, 2 * width, 4).stride(2).padding(1).bias(false)))),
        bn2(register_module("bn2", nn::BatchNorm2d(2 * width))),
        conv3(register_module("conv3", nn::Conv2d(nn::Conv2dOptions(2 * width, 1, 7).bias(false)))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::leaky_relu(conv1(x), 0.2);
    h = torch::leaky_relu(bn2(conv2(h)), 0.2);
    return conv3(h).view({-1});
  }

  nn::Conv2d conv1;
  nn::Conv2d conv2;
  nn::BatchNorm2d bn2;
  nn::Conv2d conv3;
};
TORCH_MODULE(Discriminator);

// The DCGAN paper's initialisation: conv weights ~ N(0, 0.02); batch-norm scale ~ N(1, 0.02),
// shift 0.
void dcgan_init(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<nn::BatchNorm2d>()) {
      nn::init::normal_(bn->weight, 1.0, 0.02);
      nn::init::zeros_(bn->bias);
    } else if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::normal_(c->weight, 0.0, 0.02);
    } else if (auto* d = m->as<nn::ConvTranspose2d>()) {
      nn::init::normal_(d->weight, 0.0, 0.02);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  examples::Cli cli("dcgan",
                    "a DCGAN on Fashion-MNIST, trained by the Trainer with a user step, logged to TensorBoard");
  cli.flag("config", DCGAN_CONFIG, "the run configuration: [run], [data], [trainer], [[plugin]] tables");
  cli.repeated("set", "section.key=value override, as `trainscope run --set`");
  cli.repeated("path", "another directory searched for plugin libraries, as `trainscope run --path`");
  cli.switch_flag("overwrite", "the run folder holds an earlier run: move it aside to <dir>.old-<time> (docs/runs.md)");
  cli.flag("nz", "64", "size of the latent vector z");
  cli.flag("width", "64", "feature maps of the last generator / first discriminator layer");
  cli.flag("beta1", "0.5", "Adam beta1 of both networks (beta2 is 0.999; the lr is trainer.lr)");
  cli.flag("samples", "64", "fixed-noise samples drawn every epoch (tiled 8 per row)");
  if (!cli.parse(argc, argv)) return cli.exit_code();

  try {
    const int64_t nz = cli.integer("nz"), width = cli.integer("width"), n_samples = cli.integer("samples");
    const double beta1 = cli.number("beta1");
    if (nz < 1 || width < 1 || n_samples < 1) {
      std::fprintf(stderr, "dcgan: nz, width and samples must be >= 1\n");
      return 2;
    }
    trainscope::LoadOptions load;
    load.plugin_dirs = cli.list("path");
    trainscope::RunSpec spec;
    try {
      std::vector<std::string> overrides = cli.list("set");
      if (cli.on("overwrite")) overrides.emplace_back("run.overwrite=true");
      spec = trainscope::load_run(cli.text("config"), overrides, load);
    } catch (const trainscope::ConfigError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 1;
    }
    const trainscope::TrainerSection tcfg = spec.config.trainer;

    // Built by assemble_run right after seed_everything(run.seed): the weights follow the seed.
    Generator generator{nullptr};
    Discriminator discriminator{nullptr};
    trainscope::RunParts parts;
    parts.model = [&](const trainscope::RunConfig&, const trainscope::Datasets&) {
      generator = Generator(nz, width);
      discriminator = Discriminator(width);
      dcgan_init(*generator);
      dcgan_init(*discriminator);
      return trainscope::Model(generator);  // the primary model (ctx.model())
    };
    std::shared_ptr<torch::Tensor> fixed_noise = std::make_shared<torch::Tensor>();
    parts.customize = [&](trainscope::Trainer& trainer) {
      const c10::Device device = trainer.device();
      const auto adam = [&](torch::nn::Module& m) {
        return std::make_shared<torch::optim::Adam>(m.parameters(),
                                                    torch::optim::AdamOptions(tcfg.lr).betas({beta1, 0.999}));
      };
      trainer.set_val_data({});  // a GAN has no validation accuracy: the data's test split is not used
      trainer.set_models({{"generator", generator.ptr()}, {"discriminator", discriminator.ptr()}});
      trainer.set_optimizers({{"generator", adam(*generator)}, {"discriminator", adam(*discriminator)}});
      *fixed_noise = torch::randn({n_samples, nz, 1, 1}, torch::device(device));

      // One batch: (1) the discriminator, maximising log D(x) + log(1 - D(G(z))); (2) the
      // generator, maximising log D(G(z)) (the non-saturating loss) against the updated D.
      trainer.set_train_step([nz](trainscope::TrainStep& s) {
        auto& gen = s.model("generator");
        auto& disc = s.model("discriminator");
        auto& opt_g = s.optimizer("generator");
        auto& opt_d = s.optimizer("discriminator");
        const auto G = [&](const torch::Tensor& z) { return static_cast<GeneratorImpl&>(gen).forward(z); };
        const auto D = [&](const torch::Tensor& x) { return static_cast<DiscriminatorImpl&>(disc).forward(x); };
        const torch::Tensor& real = s.inputs();  // normalised to [-1, 1] by dcgan.toml's [data]
        const int64_t n = real.size(0);
        const auto ones = torch::ones({n}, torch::device(s.device()));
        const auto zeros = torch::zeros({n}, torch::device(s.device()));

        opt_d.zero_grad();
        const auto logits_real = D(real);
        const auto fake = G(torch::randn({n, nz, 1, 1}, torch::device(s.device())));
        const auto logits_fake = D(fake.detach());
        const auto loss_d = torch::binary_cross_entropy_with_logits(logits_real, ones) +
                            torch::binary_cross_entropy_with_logits(logits_fake, zeros);
        loss_d.backward();
        opt_d.step();

        opt_g.zero_grad();
        const auto logits_after = D(fake);
        const auto loss_g = torch::binary_cross_entropy_with_logits(logits_after, ones);
        loss_g.backward();
        opt_g.step();

        s.report_loss("discriminator", loss_d);
        s.report_loss("generator", loss_g);
        s.report_output("D_x", torch::sigmoid(logits_real.detach()).mean());
        s.report_output("D_G_z", torch::sigmoid(logits_fake.detach()).mean());
        s.report_output("D_G_z_after", torch::sigmoid(logits_after.detach()).mean());
      });

      // Inline callbacks: the D outputs every log interval (0-d device tensors: no host read)
      // and the image grids. They are isolated like plugins: a failure disables the callback.
      auto& bus = trainer.callbacks();
      bus.on(trainscope::Hook::kTrainBatchEnd,
             [](trainscope::HookContext& ctx) {
               const auto& out = ctx.named_outputs();
               ctx.writer().add_scalar("D/x", out.at("D_x"), ctx.step());
               ctx.writer().add_scalar("D/G_z", out.at("D_G_z"), ctx.step());
               ctx.writer().add_scalar("D/G_z_after", out.at("D_G_z_after"), ctx.step());
             },
             {.name = "d_outputs", .every_n_steps = std::max<int64_t>(1, tcfg.log_every_n_steps)});
      bus.on(trainscope::Hook::kTrainBatchBegin,
             [n_samples](trainscope::HookContext& ctx) {
               if (ctx.step() != 0) return;  // the first batch of a fresh run
               const auto real = ctx.inputs().narrow(0, 0, std::min(n_samples, ctx.inputs().size(0)));
               ctx.writer().add_images("samples/real", ((real + 1) / 2).clamp(0, 1), 0);
             },
             {.name = "real_samples"});
      bus.on(trainscope::Hook::kEpochEnd,
             [fixed_noise](trainscope::HookContext& ctx) {
               // Batch statistics, as in the tutorial; train() stays on.
               torch::NoGradGuard no_grad;
               auto* g = ctx.model("generator");
               const auto samples = static_cast<GeneratorImpl*>(g)->forward(*fixed_noise);
               ctx.writer().add_images("samples/fixed_noise", ((samples + 1) / 2).clamp(0, 1), ctx.step());
             },
             {.name = "fixed_noise_grid"});
    };

    trainscope::Run run = trainscope::assemble_run(std::move(spec), std::move(parts));
    std::printf("dcgan: %s; %lld epochs on %s\n", run.data().description.c_str(), static_cast<long long>(tcfg.epochs),
                run.trainer().device().str().c_str());
    std::fflush(stdout);
    const trainscope::FitResult result = run.fit();
    if (!result.write_error.empty()) {
      std::fprintf(stderr, "dcgan: the run's files are incomplete: %s\n", result.write_error.c_str());
      return 1;
    }
    const auto metric = [&](const char* key) {
      const auto it = result.metrics.find(key);
      return it == result.metrics.end() ? std::nan("") : it->second;
    };
    std::printf("last epoch: loss_D %.4f, loss_G %.4f (%lld steps, %.1f s)\n", metric("train/discriminator"),
                metric("train/generator"), static_cast<long long>(result.steps), result.seconds);
    const auto run_dir = std::filesystem::absolute(result.run_dir).lexically_normal();
    std::printf("logs: %s\nview: .venv/bin/tensorboard --logdir %s   (Scalars, Images, Histograms, Distributions)\n",
                run_dir.string().c_str(), run_dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dcgan: %s\n", e.what());
    return 1;
  }
}
