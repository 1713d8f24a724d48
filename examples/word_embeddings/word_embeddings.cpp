// word_embeddings: word2vec (skip-gram with negative sampling, Mikolov et al. 2013) trained with
// torch::nn::Embedding on text every Debian machine has (the licences in
// /usr/share/common-licenses), then the embedding matrix goes to TensorBoard's projector with
// each row's word and count as metadata.
//   loss/train   mean loss of each window of --log-every steps (device tensor, no sync per step)
//   loss/epoch   mean loss of each epoch
//   projector    tag "word2vec": the input embeddings [vocabulary, dim], metadata word / count
//   neighbours   text: the nearest neighbours (cosine) of the --words, also printed at the end
// Usage: word_embeddings [--text FILE ...] [--epochs 10] [--dim 64] [--device auto] (--help)
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "example_cli.h"
#include "example_run_dir.h"
#include "trainscope/summary_writer.h"
#include "trainscope/trainer.h"

namespace {

// Lowercase runs of ASCII letters; everything else separates words.
std::vector<std::string> tokenize(const std::string& text) {
  std::vector<std::string> words;
  std::string cur;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      cur += static_cast<char>(c | 0x20);
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

struct Vocabulary {
  std::vector<std::string> words;  // by count, descending; ties alphabetical
  std::vector<int64_t> counts;
  std::unordered_map<std::string, int64_t> index;
};

Vocabulary build_vocabulary(const std::vector<std::string>& tokens, int64_t min_count) {
  std::map<std::string, int64_t> counts;
  for (const auto& t : tokens) ++counts[t];
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [w, c] : counts)
    if (c >= min_count) kept.emplace_back(w, c);
  std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  Vocabulary v;
  for (const auto& [w, c] : kept) {
    v.index.emplace(w, static_cast<int64_t>(v.words.size()));
    v.words.push_back(w);
    v.counts.push_back(c);
  }
  return v;
}

// One epoch's (center, context) pairs: frequent words subsampled as word2vec does (keep with
// probability (sqrt(f / t) + 1) * t / f), a window of 1..window words on each side.
std::pair<std::vector<int64_t>, std::vector<int64_t>> make_pairs(const std::vector<int64_t>& stream,
                                                                 const std::vector<int64_t>& counts, double subsample,
                                                                 int64_t window, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double total = static_cast<double>(stream.size());
  std::vector<int64_t> kept;
  kept.reserve(stream.size());
  for (const int64_t id : stream) {
    const double f = static_cast<double>(counts[id]) / total;
    const double keep = subsample > 0 ? (std::sqrt(f / subsample) + 1) * subsample / f : 1.0;
    if (keep >= 1.0 || unit(rng) < keep) kept.push_back(id);
  }
  std::vector<int64_t> centers, contexts;
  std::uniform_int_distribution<int64_t> span(1, window);
  const auto n = static_cast<int64_t>(kept.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t w = span(rng);
    for (int64_t j = std::max<int64_t>(0, i - w); j <= std::min(n - 1, i + w); ++j) {
      if (j == i) continue;
      centers.push_back(kept[i]);
      contexts.push_back(kept[j]);
    }
  }
  return {std::move(centers), std::move(contexts)};
}

struct SkipGramImpl : torch::nn::Module {
  SkipGramImpl(int64_t vocab, int64_t dim)
      : in(register_module("in", torch::nn::Embedding(vocab, dim))),
        out(register_module("out", torch::nn::Embedding(vocab, dim))) {
    torch::NoGradGuard no_grad;
    in->weight.uniform_(-0.5 / static_cast<double>(dim), 0.5 / static_cast<double>(dim));
    out->weight.zero_();
  }
  // Negative-sampling loss: -log s(u_o . v_c) - sum_k log s(-u_k . v_c), mean over the batch.
  torch::Tensor loss(const torch::Tensor& center, const torch::Tensor& context, const torch::Tensor& negatives) {
    const auto v = in(center);                                      // [B, D]
    const auto pos = (v * out(context)).sum(-1);                    // [B]
    const auto neg = torch::bmm(out(negatives), v.unsqueeze(2)).squeeze(2);  // [B, K]
    return -(torch::log_sigmoid(pos) + torch::log_sigmoid(-neg).sum(-1)).mean();
  }
  torch::nn::Embedding in, out;
};
TORCH_MODULE(SkipGram);

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot be read");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  examples::Cli cli("word_embeddings", "word2vec on the Debian licence texts, to TensorBoard's projector");
  cli.repeated("text", "a text file to train on, may be repeated (default: /usr/share/common-licenses/"
                       "{GPL-3,GPL-2,LGPL-2.1,GFDL-1.3,Apache-2.0,MPL-2.0})");
  cli.flag("log-dir", "runs/word_embeddings", "the run directory written ({timestamp}, {host} allowed: docs/runs.md)");
  cli.switch_flag("overwrite", "the log dir holds an earlier run: move it aside to <dir>.old-<timestamp>");
  cli.flag("device", "auto", "auto (CUDA when present) | cpu | cuda | cuda:N");
  cli.flag("epochs", "10", "passes over the text");
  cli.flag("min-count", "5", "words seen fewer times are left out");
  cli.flag("dim", "64", "embedding size");
  cli.flag("window", "4", "context words on each side (a random 1..window per position)");
  cli.flag("negatives", "5", "negative samples per pair, from the unigram distribution ^ 0.75");
  cli.flag("subsample", "0.001", "word2vec's frequent-word subsampling threshold t (0: off)");
  cli.flag("batch-size", "512", "pairs per step");
  cli.flag("lr", "0.005", "Adam learning rate");
  cli.flag("log-every", "20", "steps per logged loss mean");
  cli.flag("words", "software,license,source,copyright,warranty,distribute",
           "words whose nearest neighbours are printed and logged as text");
  cli.flag("neighbours", "5", "how many neighbours per word");
  cli.flag("seed", "0", "seed of the weights, the sampling and the pair order");
  if (!cli.parse(argc, argv)) return cli.exit_code();

  try {
    const int64_t epochs = cli.integer("epochs"), min_count = cli.integer("min-count"), dim = cli.integer("dim");
    const int64_t window = cli.integer("window"), negatives = cli.integer("negatives");
    const int64_t batch_size = cli.integer("batch-size"), log_every = cli.integer("log-every");
    const int64_t n_neighbours = cli.integer("neighbours");
    const double subsample = cli.number("subsample");
    const auto seed = static_cast<uint64_t>(cli.integer("seed"));
    if (epochs < 1 || min_count < 1 || dim < 1 || window < 1 || negatives < 1 || batch_size < 1 || log_every < 1 ||
        n_neighbours < 1 || subsample < 0) {
      std::fprintf(stderr, "word_embeddings: every size must be >= 1 and subsample >= 0\n");
      return 2;
    }
    if (std::getenv("OMP_NUM_THREADS") == nullptr) {
      at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / 2)));
    }
    const c10::Device device = trainscope::resolve_device(cli.text("device"));

    std::vector<std::string> files = cli.list("text");
    if (files.empty()) {
      for (const char* name : {"GPL-3", "GPL-2", "LGPL-2.1", "GFDL-1.3", "Apache-2.0", "MPL-2.0"}) {
        const std::string path = std::string("/usr/share/common-licenses/") + name;
        if (std::ifstream(path).good()) files.push_back(path);
      }
      if (files.empty()) {
        std::fprintf(stderr, "word_embeddings: no text in /usr/share/common-licenses (package base-files); "
                             "give one with --text FILE\n");
        return 1;
      }
    }
    std::vector<std::string> tokens;
    for (const auto& f : files) {
      auto t = tokenize(read_file(f));
      tokens.insert(tokens.end(), t.begin(), t.end());
    }
    const Vocabulary vocab = build_vocabulary(tokens, min_count);
    const auto V = static_cast<int64_t>(vocab.words.size());
    if (V < 2) {
      std::fprintf(stderr, "word_embeddings: only %lld word(s) occur at least %lld times: give more text or a lower "
                           "--min-count\n", static_cast<long long>(V), static_cast<long long>(min_count));
      return 1;
    }
    std::vector<int64_t> stream;  // the text as vocabulary ids, rare words dropped
    for (const auto& t : tokens)
      if (auto it = vocab.index.find(t); it != vocab.index.end()) stream.push_back(it->second);

    trainscope::seed_everything(seed);
    SkipGram model(V, dim);
    model->to(device);
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(cli.number("lr")));
    // The negative-sampling distribution: unigram counts ^ 0.75.
    const auto noise = torch::tensor(vocab.counts, torch::kDouble).pow(0.75).to(torch::kFloat).to(device);

    trainscope::SummaryWriter writer(
        examples::claim_log_dir("word_embeddings", cli.text("log-dir"), cli.on("overwrite")));
    std::printf("word_embeddings: %zu file(s), %zu words, vocabulary %lld (count >= %lld), dim %lld, %lld epochs on %s\n",
                files.size(), tokens.size(), static_cast<long long>(V), static_cast<long long>(min_count),
                static_cast<long long>(dim), static_cast<long long>(epochs), device.str().c_str());
    std::fflush(stdout);

    std::mt19937_64 rng(seed);
    const auto t0 = std::chrono::steady_clock::now();
    int64_t step = 0;
    torch::Tensor window_sum;
    int64_t window_steps = 0;
    for (int64_t epoch = 0; epoch < epochs; ++epoch) {
      auto [c, o] = make_pairs(stream, vocab.counts, subsample, window, rng);
      const auto n = static_cast<int64_t>(c.size());
      const auto order = torch::randperm(n, torch::TensorOptions().dtype(torch::kLong).device(device));
      const auto centers = torch::tensor(c, torch::kLong).to(device).index_select(0, order);
      const auto contexts = torch::tensor(o, torch::kLong).to(device).index_select(0, order);
      torch::Tensor epoch_sum = torch::zeros({}, torch::device(device));
      int64_t epoch_steps = 0;
      for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t b = std::min(batch_size, n - start);
        const auto center = centers.narrow(0, start, b), context = contexts.narrow(0, start, b);
        const auto neg = torch::multinomial(noise, b * negatives, /*replacement=*/true).view({b, negatives});
        optimizer.zero_grad();
        const auto loss = model->loss(center, context, neg);
        loss.backward();
        optimizer.step();
        ++step;
        const auto l = loss.detach();
        window_sum = window_steps == 0 ? l.clone() : window_sum + l;
        ++window_steps;
        epoch_sum += l;
        ++epoch_steps;
        if (step % log_every == 0) {
          writer.add_scalar("loss/train", window_sum / static_cast<double>(window_steps), step);
          window_steps = 0;
        }
      }
      const auto epoch_mean = epoch_sum / static_cast<double>(std::max<int64_t>(1, epoch_steps));
      writer.add_scalar("loss/epoch", epoch_mean, step);
      std::printf("epoch %lld/%lld: %lld pairs, loss %.4f (%.1f s)\n", static_cast<long long>(epoch + 1),
                  static_cast<long long>(epochs), static_cast<long long>(n), epoch_mean.item<double>(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      std::fflush(stdout);
    }
    if (window_steps > 0) writer.add_scalar("loss/train", window_sum / static_cast<double>(window_steps), step);

    // The projector: one row per word, metadata columns word and count.
    const torch::Tensor embeddings = model->in->weight.detach();
    std::vector<std::vector<std::string>> metadata;
    for (int64_t i = 0; i < V; ++i) metadata.push_back({vocab.words[i], std::to_string(vocab.counts[i])});
    writer.add_embedding(embeddings, metadata, at::Tensor(), step, "word2vec", std::vector<std::string>{"word", "count"});

    // Nearest neighbours by cosine similarity, as a sanity check (printed and logged as text).
    const auto unit = torch::nn::functional::normalize(embeddings, torch::nn::functional::NormalizeFuncOptions().dim(1));
    std::string table = "| word | nearest neighbours (cosine) |\n|---|---|\n";
    std::printf("nearest neighbours (cosine similarity):\n");
    for (const auto& word : examples::Cli::split(cli.text("words"))) {
      const auto it = vocab.index.find(word);
      if (it == vocab.index.end()) {
        std::printf("  %s: not in the vocabulary\n", word.c_str());
        continue;
      }
      auto sims = torch::mv(unit, unit[it->second]).cpu();
      sims[it->second] = -2.0;  // not itself
      const auto top = sims.topk(std::min(n_neighbours, V - 1));
      const auto values = std::get<0>(top), indices = std::get<1>(top);
      std::string line;
      for (int64_t k = 0; k < values.size(0); ++k) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "%s%s %.4f", k ? ", " : "", vocab.words[indices[k].item<int64_t>()].c_str(),
                      values[k].item<double>());
        line += buf;
      }
      std::printf("  %s: %s\n", word.c_str(), line.c_str());
      table += "| " + word + " | " + line + " |\n";
    }
    writer.add_text("neighbours", table, step);

    if (const auto status = writer.close(); !status.ok) {
      std::fprintf(stderr, "word_embeddings: writing the logs failed: %s\n", status.message.c_str());
      return 1;
    }
    const auto run_dir = std::filesystem::absolute(writer.log_dir()).lexically_normal();
    std::printf("logs: %s\nview: .venv/bin/tensorboard --logdir %s   (Projector: tag word2vec, colour/label by word; "
                "Scalars; Text)\n", run_dir.string().c_str(), run_dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "word_embeddings: %s\n", e.what());
    return 1;
  }
}
