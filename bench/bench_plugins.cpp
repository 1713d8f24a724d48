// bench_plugins: what the bundled plugins cost a real training run. The same Trainer (same
// seed, data, model and optimizer) fits once per configuration: no plugins (the baseline),
// then each plugin set. Rounds are interleaved (baseline, set 1, set 2, ..., baseline, ...) so
// that load from other processes hits every configuration alike; a set's ratio is the median
// over rounds of (set / that round's baseline), for the fit's wall time and for the training
// thread's CPU time (steadier on a shared machine: time given to other processes is not in it).
// Each plugin's own share is the time the HookBus measured inside its hooks, as a fraction of
// the baseline fit time.
//
//   bench_plugins [--dataset fashion_mnist|synthetic] [--train-limit N] [--val-limit N]
//                 [--epochs E] [--rounds R] [--threads T] [--device cpu|cuda]
//                 [--set NAME=PLUGIN[{key=value;...}],PLUGIN...]... [--json FILE] [--once]
//
// --once: fit each --set once, untimed, without the baseline and the warm-up (under callgrind:
// scripts/bench_plugins_callgrind.sh; `--set none=` is a set without plugins).
//
// Without --set: every bundled plugin alone at its defaults, then all of them together.
// `{...}` gives a plugin's options as TOML values, e.g. --set "scalars_every_step=scalars{every_n_steps=1}".
#include <ATen/Parallel.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "trainscope/run.h"

#ifndef TRAINSCOPE_PLUGIN_DIR
#error "TRAINSCOPE_PLUGIN_DIR is set by bench/CMakeLists.txt"
#endif

namespace {

struct PluginSet {
  std::string name;
  std::string toml;  // its [[plugin]] tables
  std::vector<std::string> plugins;
};

struct Args {
  std::string dataset = "fashion_mnist";
  int64_t train_limit = 20000, val_limit = 5000, epochs = 1;
  int rounds = 3, threads = 1;
  std::string device = "cpu";
  std::vector<std::string> sets;
  std::string json;
  bool once = false;  // --once: fit each --set once, untimed, no baseline (for callgrind)
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "bench_plugins: %s\n(see the comment at the top of bench/bench_plugins.cpp)\n", why.c_str());
  std::exit(2);
}

// "name=a{k=v;k2=v2},b" -> a PluginSet.
PluginSet parse_set(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) usage("--set wants NAME=PLUGIN,...: " + spec);
  PluginSet set;
  set.name = spec.substr(0, eq);
  std::string rest = spec.substr(eq + 1);  // empty: no plugins (a baseline)
  size_t i = 0;
  while (i < rest.size()) {
    size_t j = i;
    while (j < rest.size() && rest[j] != ',' && rest[j] != '{') ++j;
    const std::string plugin = rest.substr(i, j - i);
    if (plugin.empty()) usage("empty plugin name in --set " + spec);
    set.plugins.push_back(plugin);
    set.toml += "[[plugin]]\nname = \"" + plugin + "\"\n";
    if (j < rest.size() && rest[j] == '{') {
      const size_t close = rest.find('}', j);
      if (close == std::string::npos) usage("unclosed { in --set " + spec);
      std::stringstream opts(rest.substr(j + 1, close - j - 1));
      for (std::string kv; std::getline(opts, kv, ';');) {
        if (!kv.empty()) set.toml += kv + "\n";
      }
      j = close + 1;
    }
    i = j < rest.size() && rest[j] == ',' ? j + 1 : j;
  }
  return set;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(k + " needs a value");
      return argv[++i];
    };
    if (k == "--dataset") a.dataset = value();
    else if (k == "--train-limit") a.train_limit = std::stoll(value());
    else if (k == "--val-limit") a.val_limit = std::stoll(value());
    else if (k == "--epochs") a.epochs = std::stoll(value());
    else if (k == "--rounds") a.rounds = std::stoi(value());
    else if (k == "--threads") a.threads = std::stoi(value());
    else if (k == "--device") a.device = value();
    else if (k == "--set") a.sets.push_back(value());
    else if (k == "--json") a.json = value();
    else if (k == "--once") a.once = true;
    else usage("unknown argument " + k);
  }
  if (a.rounds < 1 || a.epochs < 1) usage("--rounds and --epochs must be >= 1");
  if (a.once && a.sets.empty()) usage("--once needs at least one --set");
  return a;
}

std::string base_toml(const Args& a, const std::string& log_dir) {
  std::ostringstream t;
  t << "[run]\nname = \"bench\"\nlog_dir = \"" << log_dir << "\"\nseed = 1\ndevice = \"" << a.device << "\"\n"
    << "[trainer]\nepochs = " << a.epochs
    << "\nbatch_size = 64\noptimizer = \"adam\"\nlr = 0.002\nscheduler = \"cosine\"\n"
       "log_every_n_steps = 100\ncheckpoint_every_n_epochs = 0\n"
    << "[data]\ndataset = \"" << a.dataset << "\"\ntrain_limit = " << a.train_limit
    << "\nval_limit = " << a.val_limit << "\nsynthetic_samples = " << (a.train_limit > 0 ? a.train_limit : 2048)
    << "\n"
    << "[model]\nname = \"simple_cnn\"\n[hparams]\nbench = true\n";
  return t.str();
}

// CPU time of the calling thread: with one intra-op thread every kernel of the fit runs here,
// so this is the training thread's work, hooks included, without the time the OS gave to
// other processes (the writer thread's encoding is not in it: it runs on its own thread).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Sample {
  double seconds = 0;
  double cpu_seconds = 0;  // the training thread's CPU time
  std::map<std::string, double> plugin_seconds;
  int64_t steps = 0;
};

Sample fit_once(const Args& a, const PluginSet& set, const std::shared_ptr<const trainscope::PluginCatalog>& catalog,
                const trainscope::Datasets& data, int round) {
  trainscope::bench::TempDir dir;
  const std::string text = base_toml(a, dir.path() + "/r" + std::to_string(round)) + set.toml;
  trainscope::LoadOptions load;
  load.catalog = catalog;
  trainscope::RunParts parts;
  parts.data = data;              // read once for every fit
  parts.default_threads = false;  // --threads
  parts.customize = [](trainscope::Trainer& t) { t.set_progress(nullptr); };
  trainscope::Run run = trainscope::assemble_run(
      trainscope::load_run(trainscope::ConfigFile::from_text(text, set.name + ".toml"), load), std::move(parts));
  const double cpu0 = thread_cpu_seconds();
  const trainscope::FitResult r = run.fit();  // fit() closes the writer: its files are on disk
  const double cpu = thread_cpu_seconds() - cpu0;
  if (!run.bus().disabled().empty()) {
    throw std::runtime_error("plugin '" + run.bus().disabled().front().first +
                             "' was disabled: " + run.bus().disabled().front().second);
  }
  Sample s;
  s.seconds = r.seconds;
  s.cpu_seconds = cpu;
  s.steps = r.steps;
  for (const auto& t : run.bus().timings()) s.plugin_seconds[t.plugin] += t.seconds;
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  at::set_num_threads(a.threads);
  const auto catalog =
      std::make_shared<const trainscope::PluginCatalog>(trainscope::discover_plugins({TRAINSCOPE_PLUGIN_DIR}));
  std::vector<PluginSet> sets;
  if (!a.once) sets.push_back({"none", "", {}});
  if (a.sets.empty()) {
    std::string all;
    for (const auto& name : catalog->names()) sets.push_back(parse_set(name + "=" + name));
    for (const auto& name : catalog->names()) all += (all.empty() ? "" : ",") + name;
    sets.push_back(parse_set("all=" + all));
  } else {
    for (const auto& spec : a.sets) sets.push_back(parse_set(spec));
  }

  trainscope::DataSection section;
  section.dataset = a.dataset;
  section.train_limit = a.train_limit;
  section.val_limit = a.val_limit;
  section.synthetic_samples = a.train_limit > 0 ? a.train_limit : 2048;
  trainscope::Datasets data;
  try {
    data = trainscope::load_datasets(section, 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_plugins: %s\n", e.what());
    return 1;
  }
  std::printf("bench_plugins: %s (%lld train, %lld val), simple_cnn, %lld epoch(s), batch 64, %s, %d thread(s), %d rounds\n",
              a.dataset.c_str(), static_cast<long long>(data.train.size()), static_cast<long long>(data.val.size()),
              static_cast<long long>(a.epochs), a.device.c_str(), a.threads, a.rounds);
  std::fflush(stdout);

  if (a.once) {  // scripts/bench_plugins_callgrind.sh counts the instructions of each fit_once
    for (const auto& set : sets) fit_once(a, set, catalog, data, 0);
    return 0;
  }
  // Warm-up (allocator, thread pool, page cache), untimed.
  fit_once(a, sets.front(), catalog, data, -1);

  std::vector<std::vector<Sample>> samples(sets.size());
  for (int round = 0; round < a.rounds; ++round) {
    for (size_t i = 0; i < sets.size(); ++i) {
      try {
        samples[i].push_back(fit_once(a, sets[i], catalog, data, round));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_plugins: set '%s': %s\n", sets[i].name.c_str(), e.what());
        return 1;
      }
      std::fprintf(stderr, "  round %d/%d  %-22s %.2f s\n", round + 1, a.rounds, sets[i].name.c_str(),
                   samples[i].back().seconds);
    }
  }

  const int64_t steps = samples[0][0].steps;
  std::vector<double> base;
  for (const auto& s : samples[0]) base.push_back(s.seconds);
  const double base_median = median(base);
  std::printf("\n| set | plugins | fit s (median) | wall ratio vs none (min..max) | training-thread CPU ratio (min..max) | plugin hooks, %% of baseline |\n");
  std::printf("|---|---|---:|---:|---:|---|\n");
  std::ostringstream json;
  json << "{\"dataset\":\"" << a.dataset << "\",\"train\":" << data.train.size() << ",\"val\":" << data.val.size()
       << ",\"epochs\":" << a.epochs << ",\"rounds\":" << a.rounds << ",\"steps\":" << steps
       << ",\"threads\":" << a.threads << ",\"device\":\"" << a.device << "\",\"sets\":[";
  for (size_t i = 0; i < sets.size(); ++i) {
    std::vector<double> secs, ratios, cpu_ratios;
    std::map<std::string, std::vector<double>> shares;
    for (size_t r = 0; r < samples[i].size(); ++r) {
      secs.push_back(samples[i][r].seconds);
      ratios.push_back(samples[i][r].seconds / samples[0][r].seconds);
      cpu_ratios.push_back(samples[i][r].cpu_seconds / samples[0][r].cpu_seconds);
      for (const auto& [p, s] : samples[i][r].plugin_seconds) shares[p].push_back(s / samples[0][r].seconds);
    }
    const double ratio = median(ratios);
    std::string share_text;
    json << (i ? "," : "") << "{\"name\":\"" << sets[i].name << "\",\"seconds\":" << median(secs)
         << ",\"ratio\":" << ratio << ",\"ratio_min\":" << *std::min_element(ratios.begin(), ratios.end())
         << ",\"ratio_max\":" << *std::max_element(ratios.begin(), ratios.end())
         << ",\"cpu_ratio\":" << median(cpu_ratios) << ",\"shares\":{";
    bool first = true;
    for (const auto& [p, v] : shares) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s%s %.2f%%", share_text.empty() ? "" : ", ", p.c_str(), 100 * median(v));
      share_text += buf;
      json << (first ? "" : ",") << "\"" << p << "\":" << median(v);
      first = false;
    }
    json << "}}";
    std::string plugins;
    for (const auto& p : sets[i].plugins) plugins += (plugins.empty() ? "" : ", ") + p;
    std::printf("| %s | %s | %.2f | %.3f (%.3f..%.3f) | %.3f (%.3f..%.3f) | %s |\n", sets[i].name.c_str(),
                plugins.empty() ? "-" : plugins.c_str(), median(secs), ratio,
                *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()),
                median(cpu_ratios), *std::min_element(cpu_ratios.begin(), cpu_ratios.end()),
                *std::max_element(cpu_ratios.begin(), cpu_ratios.end()), share_text.empty() ? "-" : share_text.c_str());
  }
  json << "]}";
  std::printf("\nbaseline: %.2f s for %lld steps (%.2f ms/step, validation included)\n", base_median,
              static_cast<long long>(steps), 1000 * base_median / std::max<int64_t>(1, steps));
  if (!a.json.empty()) std::ofstream(a.json) << json.str() << "\n";
  return 0;
}
