// lr_schedule_tool CASES: the learning rates the Trainer sets, for
// tests/conformance/test_lr_schedules.py, which compares them with torch.optim.lr_scheduler.
// CASES has one case per line (one process for all of them: libtorch takes seconds to load):
//   <config.toml> <batches per epoch> <metrics|-> <group lrs|-> <resume after epoch|->
// metrics: comma-separated, one per epoch, fed to observe() as {schedule.metric: value};
// group lrs: comma-separated base lr per param group (default trainer.lr); resume: after that
// epoch, a state() / load_state() round trip into a fresh scheduler, as a resume from a
// checkpoint does. The scheduler is driven as trainer.cpp does: lr at each epoch's start
// (interval "epoch") or before each batch (interval "step"), observe() after each epoch.
// Prints, per case, "case <n> ok" and one line per optimizer step,
// "<step> <lr of group 0> [<lr of group 1> ...]" (%.17g), or "case <n> error" and the
// configuration's problems, one per line, each prefixed by "! " (a scheduler that throws,
// e.g. plateau without its metric, ends its case with "case <n> error" and the message).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/config.h"
#include "trainscope/trainer.h"

namespace {

std::vector<double> numbers(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(std::strtod(item.c_str(), nullptr));
  }
  return out;
}

void run_case(int n, const std::string& path, int64_t batches, const std::string& metrics_arg,
              const std::string& groups_arg, const std::string& resume_arg) {
  using namespace trainscope;
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  RunConfig config;
  try {
    config = parse_config(text.str(), path, PluginCatalog{});
  } catch (const ConfigError& e) {
    std::printf("case %d error\n", n);
    for (const auto& p : e.problems()) std::printf("! %s\n", p.c_str());
    return;
  }
  const TrainerSection& t = config.trainer;
  const std::vector<double> metrics = metrics_arg == "-" ? std::vector<double>{} : numbers(metrics_arg);
  const std::vector<double> base = groups_arg == "-" ? std::vector<double>{t.lr} : numbers(groups_arg);
  const int64_t resume_at = resume_arg == "-" ? -1 : std::atoll(resume_arg.c_str());

  std::unique_ptr<LrScheduler> scheduler = make_scheduler(t);
  const LrScheduleConfig schedule = effective_schedule(t);
  const LrClock clock{t.epochs, batches, t.max_steps};
  std::vector<double> lrs = base;  // the param groups' lrs
  auto apply = [&](LrInterval interval, int64_t time) {
    if (!scheduler || scheduler->interval() != interval) return;
    for (size_t g = 0; g < lrs.size(); ++g) lrs[g] = scheduler->lr(g, base[g], time, clock);
  };
  std::printf("case %d ok\n", n);
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < t.epochs; ++epoch) {
    apply(LrInterval::kEpoch, epoch);
    for (int64_t b = 0; b < batches; ++b) {
      if (t.max_steps > 0 && step >= t.max_steps) break;
      apply(LrInterval::kStep, step);
      std::printf("%lld", static_cast<long long>(step + 1));
      for (double lr : lrs) std::printf(" %.17g", lr);
      std::printf("\n");
      ++step;
    }
    if (scheduler) {
      std::map<std::string, double> values;
      if (static_cast<size_t>(epoch) < metrics.size()) values[schedule.metric] = metrics[static_cast<size_t>(epoch)];
      scheduler->observe(epoch, values, /*validated=*/true, lrs);
      if (epoch == resume_at) {
        const std::string state = scheduler->state();
        scheduler = make_scheduler(t);
        scheduler->load_state(state);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CASES\n", argv[0]);
    return 2;
  }
  std::ifstream cases(argv[1]);
  std::string line;
  int n = 0;
  while (std::getline(cases, line)) {
    std::istringstream in(line);
    std::string path, metrics, groups, resume;
    int64_t batches = 0;
    if (!(in >> path >> batches >> metrics >> groups >> resume)) {
      std::fprintf(stderr, "%s: bad case line '%s'\n", argv[1], line.c_str());
      return 2;
    }
    try {
      run_case(n, path, batches, metrics, groups, resume);
    } catch (const std::exception& e) {  // what the trainer would throw at an epoch's end
      std::printf("case %d error\n! %s\n", n, e.what());
    }
    ++n;
  }
  return 0;
}
