// dcgan: a small DCGAN (Radford et al. 2015, as in PyTorch's DCGAN tutorial, sized for 28x28
// grayscale images) trained on Fashion-MNIST with its own loop, logged with SummaryWriter:
//   loss/discriminator, loss/generator, D/x (= D(x)), D/G_z (= D(G(z)) at the discriminator's
//   step), D/G_z_after (at the generator's step): means over each window of --log-every steps,
//   accumulated on the device and handed to the writer as tensors (no per-step GPU sync);
//   samples/real (step 0) and samples/fixed_noise (every epoch): image grids;
//   generator/<param>, discriminator/<param>: histograms of every parameter, every epoch.
// Usage: dcgan [--epochs 5] [--limit 0] [--device auto] [--log-dir runs/dcgan] ... (--help)
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "example_cli.h"
#include "example_run_dir.h"
#include "trainscope/data.h"
#include "trainscope/summary_writer.h"
#include "trainscope/trainer.h"

namespace {

namespace nn = torch::nn;

// z [N, nz, 1, 1] -> [N, 1, 28, 28] in [-1, 1]: 1 -> 7 -> 14 -> 28.
struct GeneratorImpl : nn::Module {
  GeneratorImpl(int64_t nz, int64_t width)
      : deconv1(register_module("deconv1", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(nz, 2 * width, 7).bias(false)))),
        bn1(register_module("bn1", nn::BatchNorm2d(2 * width))),
        deconv2(register_module("deconv2", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(2 * width, width, 4)
                                                                   .stride(2).padding(1).bias(false)))),
        bn2(register_module("bn2", nn::BatchNorm2d(width))),
        deconv3(register_module("deconv3", nn::ConvTranspose2d(nn::ConvTranspose2dOptions(width, 1, 4)
                                                                   .stride(2).padding(1).bias(false)))) {}

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

// Sums over a window of steps, kept on the device.
struct Window {
  torch::Tensor loss_d, loss_g, d_x, d_g_z, d_g_z_after;
  int64_t steps = 0;

  void add(const torch::Tensor& ld, const torch::Tensor& lg, const torch::Tensor& dx, const torch::Tensor& dgz,
           const torch::Tensor& dgz2) {
    if (steps == 0) {
      loss_d = ld.detach().clone();
      loss_g = lg.detach().clone();
      d_x = dx.detach().clone();
      d_g_z = dgz.detach().clone();
      d_g_z_after = dgz2.detach().clone();
    } else {
      loss_d.add_(ld.detach());
      loss_g.add_(lg.detach());
      d_x.add_(dx.detach());
      d_g_z.add_(dgz.detach());
      d_g_z_after.add_(dgz2.detach());
    }
    ++steps;
  }
  // Hands the means to the writer (tensor overloads: resolved on the writer thread).
  void log(trainscope::SummaryWriter& w, int64_t step) {
    if (steps == 0) return;
    const double n = static_cast<double>(steps);
    w.add_scalar("loss/discriminator", loss_d / n, step);
    w.add_scalar("loss/generator", loss_g / n, step);
    w.add_scalar("D/x", d_x / n, step);
    w.add_scalar("D/G_z", d_g_z / n, step);
    w.add_scalar("D/G_z_after", d_g_z_after / n, step);
    steps = 0;
  }
};

void log_parameters(trainscope::SummaryWriter& w, const std::string& prefix, nn::Module& m, int64_t step) {
  for (const auto& p : m.named_parameters()) w.add_histogram(prefix + "/" + p.key(), p.value().detach(), step);
}

}  // namespace

int main(int argc, char** argv) {
  examples::Cli cli("dcgan", "a DCGAN on Fashion-MNIST, logged to TensorBoard");
  cli.flag("data", trainscope::kFashionMnistDir, "Fashion-MNIST folder (Debian package dataset-fashion-mnist)");
  cli.flag("log-dir", "runs/dcgan", "the run directory written ({timestamp}, {host} allowed: docs/runs.md)");
  cli.switch_flag("overwrite", "the log dir holds an earlier run: move it aside to <dir>.old-<timestamp>");
  cli.flag("device", "auto", "auto (CUDA when present) | cpu | cuda | cuda:N");
  cli.flag("epochs", "5", "passes over the training images");
  cli.flag("limit", "0", "use only the first N training images (0: all 60000)");
  cli.flag("batch-size", "128", "images per batch");
  cli.flag("nz", "64", "size of the latent vector z");
  cli.flag("width", "64", "feature maps of the last generator / first discriminator layer");
  cli.flag("lr", "0.0002", "Adam learning rate of both networks");
  cli.flag("beta1", "0.5", "Adam beta1 (beta2 is 0.999)");
  cli.flag("log-every", "50", "steps per logged mean of the losses and D outputs");
  cli.flag("samples", "64", "fixed-noise samples drawn every epoch (tiled 8 per row)");
  cli.flag("seed", "0", "seed of the weights, the noise and the batch order");
  if (!cli.parse(argc, argv)) return cli.exit_code();

  try {
    const int64_t epochs = cli.integer("epochs"), limit = cli.integer("limit"), batch_size = cli.integer("batch-size");
    const int64_t nz = cli.integer("nz"), width = cli.integer("width"), log_every = cli.integer("log-every");
    const int64_t n_samples = cli.integer("samples");
    const auto seed = static_cast<uint64_t>(cli.integer("seed"));
    if (epochs < 1 || batch_size < 1 || nz < 1 || width < 1 || log_every < 1 || n_samples < 1 || limit < 0) {
      std::fprintf(stderr, "dcgan: epochs, batch-size, nz, width, log-every and samples must be >= 1, limit >= 0\n");
      return 2;
    }
    // As `trainscope run`: half the cores for intra-op threads unless OMP_NUM_THREADS says.
    if (std::getenv("OMP_NUM_THREADS") == nullptr) {
      at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2)));
    }
    const c10::Device device = trainscope::resolve_device(cli.text("device"));

    trainscope::TensorDataset train;
    try {
      train = trainscope::load_fashion_mnist(cli.text("data"), /*train=*/true).head(limit);
    } catch (const trainscope::DatasetError& e) {
      std::fprintf(stderr, "dcgan: %s\n", e.what());
      return 1;
    }
    if (train.size() < batch_size) {
      std::fprintf(stderr, "dcgan: %lld images are fewer than one batch of %lld\n",
                   static_cast<long long>(train.size()), static_cast<long long>(batch_size));
      return 2;
    }
    // Pixels from [0, 1] to [-1, 1], the generator's tanh range.
    train.inputs = train.inputs * 2 - 1;
    trainscope::BatchLoader loader(train, {.batch_size = batch_size, .shuffle = true, .drop_last = true,
                                           .seed = seed, .device = device});

    trainscope::seed_everything(seed);
    Generator generator(nz, width);
    Discriminator discriminator(width);
    dcgan_init(*generator);
    dcgan_init(*discriminator);
    generator->to(device);
    discriminator->to(device);
    const auto adam = [&] {
      return torch::optim::AdamOptions(cli.number("lr")).betas({cli.number("beta1"), 0.999});
    };
    torch::optim::Adam opt_g(generator->parameters(), adam());
    torch::optim::Adam opt_d(discriminator->parameters(), adam());
    const auto fixed_noise = torch::randn({n_samples, nz, 1, 1}, torch::device(device));

    trainscope::SummaryWriter writer(examples::claim_log_dir("dcgan", cli.text("log-dir"), cli.on("overwrite")));
    std::printf("dcgan: %lld images (%lld batches of %lld per epoch), %lld epochs on %s, %d thread%s\n",
                static_cast<long long>(train.size()), static_cast<long long>(loader.batches()),
                static_cast<long long>(batch_size), static_cast<long long>(epochs), device.str().c_str(),
                at::get_num_threads(), at::get_num_threads() == 1 ? "" : "s");
    std::fflush(stdout);

    loader.set_epoch(0);
    writer.add_images("samples/real", (loader.batch(0).inputs.narrow(0, 0, std::min(n_samples, batch_size)) + 1) / 2, 0);

    const auto t0 = std::chrono::steady_clock::now();
    Window window, epoch_window;
    int64_t step = 0;
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      loader.set_epoch(epoch);
      for (int64_t b = 0; b < loader.batches(); ++b) {
        const torch::Tensor real = loader.batch(b).inputs;
        const int64_t n = real.size(0);
        const auto ones = torch::ones({n}, torch::device(device));
        const auto zeros = torch::zeros({n}, torch::device(device));

        // (1) Discriminator: maximise log D(x) + log(1 - D(G(z))).
        opt_d.zero_grad();
        const auto logits_real = discriminator(real);
        const auto loss_real = torch::binary_cross_entropy_with_logits(logits_real, ones);
        const auto fake = generator(torch::randn({n, nz, 1, 1}, torch::device(device)));
        const auto logits_fake = discriminator(fake.detach());
        const auto loss_fake = torch::binary_cross_entropy_with_logits(logits_fake, zeros);
        const auto loss_d = loss_real + loss_fake;
        loss_d.backward();
        opt_d.step();

        // (2) Generator: maximise log D(G(z)) (the non-saturating loss), with the updated D.
        opt_g.zero_grad();
        const auto logits_after = discriminator(fake);
        const auto loss_g = torch::binary_cross_entropy_with_logits(logits_after, ones);
        loss_g.backward();
        opt_g.step();
        ++step;

        const auto d_x = torch::sigmoid(logits_real.detach()).mean();
        const auto d_g_z = torch::sigmoid(logits_fake.detach()).mean();
        const auto d_g_z_after = torch::sigmoid(logits_after.detach()).mean();
        window.add(loss_d, loss_g, d_x, d_g_z, d_g_z_after);
        epoch_window.add(loss_d, loss_g, d_x, d_g_z, d_g_z_after);
        if (step % log_every == 0) window.log(writer, step);
      }
      // Epoch end: the sample grid from the fixed noise (batch statistics, as in the tutorial)
      // and every parameter's histogram; the console line is the one host read per epoch.
      {
        torch::NoGradGuard no_grad;
        const auto samples = generator(fixed_noise);
        writer.add_images("samples/fixed_noise", ((samples + 1) / 2).clamp(0, 1), step);
      }
      log_parameters(writer, "generator", *generator, step);
      log_parameters(writer, "discriminator", *discriminator, step);
      const double k = static_cast<double>(epoch_window.steps);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("epoch %lld/%lld: step %lld, loss_D %.4f, loss_G %.4f, D(x) %.3f, D(G(z)) %.3f / %.3f (%.1f s)\n",
                  static_cast<long long>(epoch + 1), static_cast<long long>(epochs), static_cast<long long>(step),
                  epoch_window.loss_d.item<double>() / k, epoch_window.loss_g.item<double>() / k,
                  epoch_window.d_x.item<double>() / k, epoch_window.d_g_z.item<double>() / k,
                  epoch_window.d_g_z_after.item<double>() / k, secs);
      std::fflush(stdout);
      epoch_window.steps = 0;
    }
    window.log(writer, step);  // the last, partial window

    if (const auto status = writer.close(); !status.ok) {
      std::fprintf(stderr, "dcgan: writing the logs failed: %s\n", status.message.c_str());
      return 1;
    }
    const auto run_dir = std::filesystem::absolute(writer.log_dir()).lexically_normal();
    std::printf("logs: %s\nview: .venv/bin/tensorboard --logdir %s   (Scalars, Images, Histograms, Distributions)\n",
                run_dir.string().c_str(), run_dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dcgan: %s\n", e.what());
    return 1;
  }
}
