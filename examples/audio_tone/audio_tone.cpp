// audio_tone: audio in TensorBoard, as PyTorch's TensorBoard tutorial logs it with add_audio,
// from a tiny model that learns something audible. The model is a bank of oscillators (sines
// and cosines on a semitone grid) mixed by one linear layer, trained by gradient descent to
// reproduce a reference waveform: a chord it synthesizes and saves as reference.wav (16-bit
// PCM), or any WAV file given as the target. Either way the training target is what
// trainscope::read_wav reads back from the file. Every epoch the whole waveform the model
// generates goes to TensorBoard's Audio dashboard, so the chord can be heard emerging from the
// cluster of random tones the untrained model plays.
//   audio/target      the reference, step 0
//   audio/generated   the model's waveform: step 0 untrained, then after every epoch
//   loss/train        mean squared error of the epoch's steps (device tensor, no sync per step)
//   quality/snr_db    10 log10(|target|^2 / |target - generated|^2) over the whole waveform
// Settings come from a TOML file (audio_tone.toml); usage: audio_tone [--config FILE]
// [--target FILE.wav] [--log-dir DIR] [--epochs N] (--help)
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "example_cli.h"
#include "tone_config.h"
#include "trainscope/encode.h"
#include "trainscope/summary_writer.h"
#include "trainscope/trainer.h"
#include "trainscope/wav_reader.h"

#ifndef AUDIO_TONE_CONFIG
#define AUDIO_TONE_CONFIG "examples/audio_tone/audio_tone.toml"
#endif

namespace {

namespace nn = torch::nn;
using audio_tone::ToneConfig;

// The chord of the configuration, 0.8 / notes in amplitude per note, with 10 ms fades in and
// out so that it starts and ends without a click.
std::vector<double> make_chord(const ToneConfig& c) {
  const auto n = static_cast<int64_t>(std::llround(c.seconds * static_cast<double>(c.sample_rate)));
  const int64_t fade = std::max<int64_t>(1, std::min<int64_t>(n / 2, c.sample_rate / 100));
  const double amp = 0.8 / static_cast<double>(c.notes_hz.size());
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / static_cast<double>(c.sample_rate);
    double s = 0;
    for (double f : c.notes_hz) s += amp * std::sin(2 * std::numbers::pi * f * t);
    const double env = std::min({1.0, static_cast<double>(i) / fade, static_cast<double>(n - 1 - i) / fade});
    out[static_cast<size_t>(i)] = s * env;
  }
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

// "A3" for 220 Hz: the nearest equal-tempered note (A4 = 440 Hz).
std::string note_name(double hz) {
  static const char* kNames[] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};
  const auto midi = static_cast<int64_t>(std::lround(69 + 12 * std::log2(hz / 440.0)));
  const int64_t pitch = ((midi % 12) + 12) % 12;
  return std::string(kNames[pitch]) + std::to_string(midi / 12 - 1);
}

// The model: oscillators at fixed frequencies (lowest_hz, then one per semitone), each a sine
// and a cosine of the time, mixed by one linear layer: its weights are the amplitude and phase
// of every oscillator, learned from the waveform.
class OscillatorBankImpl : public nn::Module {
 public:
  OscillatorBankImpl(double lowest_hz, int64_t count) {
    std::vector<double> hz;
    for (int64_t k = 0; k < count; ++k) hz.push_back(lowest_hz * std::pow(2.0, static_cast<double>(k) / 12.0));
    freqs_ = register_buffer("freqs", torch::tensor(hz, torch::kFloat64));
    mix_ = register_module("mix", nn::Linear(2 * count, 1));
  }
  // Seconds [N] (float64: a float32 phase loses precision within seconds) -> samples [N].
  at::Tensor forward(const at::Tensor& t) {
    const auto phase = (2 * std::numbers::pi) * t.unsqueeze(1) * freqs_;  // [N, count]
    const auto features = torch::cat({phase.sin(), phase.cos()}, 1).to(torch::kFloat32);
    return mix_->forward(features).squeeze(1);
  }
  const at::Tensor& freqs() const { return freqs_; }
  // Amplitude of each oscillator: the length of its (sine, cosine) weight pair.
  at::Tensor amplitudes() const {
    const auto w = mix_->weight.detach().squeeze(0).to(torch::kCPU);
    const int64_t k = w.size(0) / 2;
    return (w.slice(0, 0, k).square() + w.slice(0, k).square()).sqrt();
  }

 private:
  at::Tensor freqs_;
  nn::Linear mix_{nullptr};
};
TORCH_MODULE(OscillatorBank);

}  // namespace

int main(int argc, char** argv) {
  examples::Cli cli("audio_tone", "a bank of oscillators learns a chord (or a WAV file); TensorBoard plays it");
  cli.flag("config", AUDIO_TONE_CONFIG, "the TOML settings ([run], [audio], [model], [trainer])");
  cli.flag("target", "", "a WAV file to learn instead of the configured chord (overrides audio.target)");
  cli.flag("log-dir", "", "the run directory (overrides run.log_dir)");
  cli.flag("epochs", "0", "epochs (overrides trainer.epochs when > 0)");
  if (!cli.parse(argc, argv)) return cli.exit_code();

  try {
    ToneConfig c = audio_tone::load_tone_config(cli.text("config"));
    if (!cli.text("target").empty()) c.target = cli.text("target");
    if (!cli.text("log-dir").empty()) c.log_dir = cli.text("log-dir");
    if (const long long e = cli.integer("epochs"); e > 0) c.epochs = e;
    at::set_num_threads(1);  // a model this small gains nothing from threads on a shared machine
    torch::manual_seed(static_cast<uint64_t>(c.seed));
    const c10::Device device = trainscope::resolve_device(c.device);
    const std::filesystem::path run_dir = c.log_dir;
    std::filesystem::create_directories(run_dir);

    // The reference, always read from a WAV file: the synthesized chord is written first.
    std::string wav_path = c.target;
    if (wav_path.empty()) {
      const std::vector<double> chord = make_chord(c);
      if (chord.empty()) {
        throw std::runtime_error(cli.text("config") +
                                 ": audio.seconds: the chord needs a length of at least one sample (0 means the "
                                 "whole file only for a target)");
      }
      wav_path = (run_dir / "reference.wav").string();
      write_file(wav_path, trainscope::encode_wav({static_cast<float>(c.sample_rate), chord, false}));
    }
    const trainscope::WavAudio wav = trainscope::read_wav(wav_path);
    std::vector<float> samples = wav.mono();
    if (c.seconds > 0) {
      samples.resize(std::min(samples.size(), static_cast<size_t>(std::llround(c.seconds * wav.sample_rate))));
    }
    if (samples.empty()) throw std::runtime_error(wav_path + ": no samples to learn");
    const double rate = wav.sample_rate;
    const auto n = static_cast<int64_t>(samples.size());
    std::printf("target: %s (%u Hz, %u channel(s) of %u-bit %s, %.2f s used)\n", wav_path.c_str(), wav.sample_rate,
                wav.channels, wav.bits_per_sample, wav.encoding == trainscope::WavEncoding::kFloat ? "float" : "PCM",
                static_cast<double>(n) / rate);

    const auto target = torch::tensor(samples).to(device);
    const auto times = (torch::arange(n, torch::kFloat64) / rate).to(device);
    OscillatorBank model(c.lowest_hz, c.oscillators);
    model->to(device);
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(c.lr));

    trainscope::SummaryWriter writer(run_dir.string());
    writer.add_audio("audio/target", target, 0, rate);
    const auto energy = target.square().sum();
    auto generate = [&](int64_t step) {
      torch::NoGradGuard no_grad;
      const auto generated = model->forward(times);
      writer.add_audio("audio/generated", generated, step, rate);  // clipped to [-1, 1] by the writer
      writer.add_scalar("quality/snr_db", 10 * (energy / (target - generated).square().sum()).log10(), step);
      return generated;
    };
    generate(0);

    for (int64_t epoch = 1; epoch <= c.epochs; ++epoch) {
      // Cosine decay over the epochs: the last steps settle instead of jittering around the fit.
      const double lr = c.lr * (1 + std::cos(std::numbers::pi * static_cast<double>(epoch - 1) / c.epochs)) / 2;
      for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
      auto loss_sum = torch::zeros({}, target.options());
      for (int64_t s = 0; s < c.steps_per_epoch; ++s) {
        const auto idx = torch::randint(n, {c.batch_size}, torch::TensorOptions().dtype(torch::kLong).device(device));
        const auto loss = torch::mse_loss(model->forward(times.index_select(0, idx)), target.index_select(0, idx));
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        loss_sum += loss.detach();
      }
      writer.add_scalar("loss/train", loss_sum / static_cast<double>(c.steps_per_epoch), epoch);
      const auto generated = generate(epoch);
      if (epoch == c.epochs) {
        // The last waveform as a file too, encoded as the Audio dashboard's copy is.
        const auto host = generated.to(torch::kCPU).contiguous();
        const std::vector<double> last(host.data_ptr<float>(), host.data_ptr<float>() + host.numel());
        write_file(run_dir / "generated.wav", trainscope::encode_wav({static_cast<float>(rate), last, true}));
      }
      // One host read per epoch, for the console.
      const double snr = 10 * std::log10((energy / (target - generated).square().sum()).item<double>());
      std::printf("epoch %lld/%lld  loss %.6f  snr %.1f dB\n", static_cast<long long>(epoch),
                  static_cast<long long>(c.epochs), (loss_sum / static_cast<double>(c.steps_per_epoch)).item<double>(),
                  snr);
    }

    const auto amps = model->amplitudes();
    const auto order = amps.argsort(0, /*descending=*/true);
    const auto freqs = model->freqs().to(torch::kCPU);
    std::printf("strongest oscillators:");
    for (int64_t i = 0; i < std::min<int64_t>(5, order.size(0)); ++i) {
      const int64_t k = order[i].item<int64_t>();
      const double hz = freqs[k].item<double>();
      std::printf("  %s %.1f Hz (%.3f)", note_name(hz).c_str(), hz, amps[k].item<double>());
    }
    std::printf("\n");
    const auto status = writer.close();
    if (!status.ok) throw std::runtime_error("writing the event file failed: " + status.message);
    std::printf("logs in %s (generated.wav: the last epoch's waveform)\nview: tensorboard --logdir %s\n",
                run_dir.string().c_str(), run_dir.string().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "audio_tone: %s\n", e.what());
    return 1;
  }
  return 0;
}
