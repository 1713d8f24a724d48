// trainscope sweep CONFIG.toml [-j N] [--set key=value ...] [--path DIR ...]: a hyperparameter
// study over the configuration's [sweep] table (docs/sweeps.md). The parent checks everything,
// opens the study, fails the trials of workers that died (resume), starts N worker processes
// (this program again, with the internal --worker flag) that share the study through its
// storage, shows the trials as they go and prints the best one with the commands to look at it
// and to rerun it.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "commands.h"
#include "trainscope/run.h"
#include "trainscope/run_dir.h"
#include "trainscope/sweep_config.h"
#include "trainscope/sweep_run.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

struct SweepArgs {
  std::string file;
  int jobs = 1;
  bool worker = false;
  bool test_objective = false;
  std::optional<double> deadline;            // --deadline: seconds since the epoch (worker)
  std::vector<std::string> overrides;        // --set entries for the run configuration
  std::vector<std::string> sweep_overrides;  // --set sweep.*
  std::vector<std::string> paths;
  std::vector<std::string> raw_sets;  // every --set, as given (for the workers)
};

bool parse_args(const std::vector<std::string>& args, SweepArgs& out, std::string& error) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& v) {
      if (i + 1 >= args.size()) return error = a + " needs a value", false;
      v = args[++i];
      return true;
    };
    std::string v;
    const bool glued = a.rfind("-j", 0) == 0 && a.size() > 2;  // -j4
    if (a == "-j" || a == "--jobs" || glued) {
      if (glued)
        v = a.substr(2);
      else if (!value(v))
        return false;
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 256) return error = "-j takes a number of workers >= 1 (got '" + v + "')", false;
      out.jobs = static_cast<int>(n);
    } else if (a == "--worker") {
      out.worker = true;
    } else if (a == "--test-objective") {
      out.test_objective = true;
    } else if (a == "--deadline") {
      if (!value(v)) return false;
      out.deadline = std::strtod(v.c_str(), nullptr);
    } else {
      rest.push_back(a);
    }
  }
  CommonArgs common;
  if (!parse_common_args(rest, common, &error)) return false;
  if (common.positional.size() != 1) return error = "expected one CONFIG.toml", false;
  out.file = common.positional.front();
  out.paths = common.paths;
  for (const auto& s : common.overrides) {
    out.raw_sets.push_back(s);
    (s.rfind("sweep.", 0) == 0 ? out.sweep_overrides : out.overrides).push_back(s);
  }
  return true;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Loads and checks everything; prints the problems and returns false when there are any.
bool load_setup(const SweepArgs& a, trainscope::SweepSetup& setup, std::vector<std::string>& notes) {
  using trainscope::ConfigError;
  std::vector<std::string> problems;
  try {
    trainscope::ConfigFile file = trainscope::ConfigFile::load(a.file, a.overrides);
    auto catalog = trainscope::find_plugins(file, a.paths);
    trainscope::RunConfig base = file.read(*catalog);
    // A configured hparams plugin would write a second session into each trial's run (the
    // sweep writes one with the trial's state): it is switched off in the trials.
    for (const auto& p : base.plugins) {
      if (p.name == "hparams" && p.enabled) {
        file = file.with_overrides({"plugin.hparams.enabled=false"});
        base = file.read(*catalog);
        notes.push_back("the hparams plugin is off in the trials: the sweep writes each trial's HParams session");
      }
    }
    setup.sweep = trainscope::read_sweep(base, a.sweep_overrides);
    problems = trainscope::check_sweep_params(setup.sweep, file, *catalog, base);
    setup.file = std::move(file);
    setup.catalog = std::move(catalog);
    setup.base = std::move(base);
  } catch (const ConfigError& e) {
    problems = e.problems();
  }
  if (!problems.empty()) {
    for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.c_str());
    std::fprintf(stderr, "%s: %zu problem%s\n", a.file.c_str(), problems.size(), problems.size() == 1 ? "" : "s");
    return false;
  }
  setup.study_dir = (fs::path(setup.base.run.log_dir) / setup.sweep.study).lexically_normal().string();
  setup.test_objective = a.test_objective;
  return true;
}

// A journal file is opened by its absolute path: the journal's lock is a symbolic link to the
// journal, and a relative target would be resolved against the link's own directory (a dangling
// link, which a waiter cannot stat to tell a dead holder's lock from a live one).
std::unique_ptr<trainscope::sweep::Storage> open_study_storage(const std::string& url) {
  if (url.rfind("redis://", 0) == 0) return trainscope::sweep::open_storage(url);
  return trainscope::sweep::open_storage(fs::absolute(url).lexically_normal().string());
}

std::unique_ptr<trainscope::sweep::Sampler> sampler_for(const trainscope::SweepConfig& s) {
  return trainscope::sweep::make_sampler(s.sampler);
}

int run_as_worker(const SweepArgs& a) {
  trainscope::SweepSetup setup;
  std::vector<std::string> notes;
  if (!load_setup(a, setup, notes)) return 2;
  setup.progress = stdout;
  auto storage = open_study_storage(setup.sweep.storage);
  const int64_t study = storage->create_or_load_study(setup.sweep.study, setup.sweep.direction);
  auto sampler = sampler_for(setup.sweep);
  auto pruner = trainscope::sweep::make_pruner(setup.sweep.pruner);
  std::optional<Clock::time_point> deadline;
  if (a.deadline)
    deadline =
        Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*a.deadline)));
  const int64_t ran = trainscope::run_worker(setup, *storage, *sampler, *pruner, study, deadline);
  std::printf("[sweep worker %d] done: %lld trial%s\n", static_cast<int>(getpid()), static_cast<long long>(ran),
              ran == 1 ? "" : "s");
  return 0;
}

struct Worker {
  pid_t pid = -1;
  int index = 0;
  std::string log;
};

// Starts this program as a worker, its output appended to `log`.
pid_t spawn_worker(const SweepArgs& a, const std::string& log, std::optional<double> deadline) {
  std::vector<std::string> args = {"trainscope", "sweep", a.file, "--worker"};
  for (const auto& s : a.raw_sets) args.insert(args.end(), {"--set", s});
  for (const auto& p : a.paths) args.insert(args.end(), {"--path", p});
  if (a.test_objective) args.push_back("--test-objective");
  char buf[64];
  if (deadline) {
    std::snprintf(buf, sizeof buf, "%.3f", *deadline);
    args.insert(args.end(), {"--deadline", buf});
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
  }
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  ::execv("/proc/self/exe", argv.data());
  std::perror("trainscope sweep: exec of a worker failed");
  ::_exit(127);
}

std::string rerun_command(const SweepArgs& a, const trainscope::SweepSetup& setup, const trainscope::sweep::Trial& t) {
  std::string cmd = "trainscope run " + shell_quote(a.file);
  for (const auto& s : a.overrides) cmd += " --set " + shell_quote(s);
  for (const auto& s : trainscope::trial_overrides(setup.sweep.params, t.params)) cmd += " --set " + shell_quote(s);
  for (const auto& p : a.paths) cmd += " --path " + shell_quote(p);
  return cmd;
}

int run_as_parent(const SweepArgs& a) {
  trainscope::SweepSetup setup;
  std::vector<std::string> notes;
  if (!load_setup(a, setup, notes)) return 1;
  const auto& sw = setup.sweep;
  auto storage = open_study_storage(sw.storage);
  const int64_t study = storage->create_or_load_study(sw.study, sw.direction);
  (void)sampler_for(sw);  // refuses a bad sampler configuration here rather than in every worker
  std::printf("trainscope sweep %s\n", a.file.c_str());
  std::printf("  study:    %s (%s %s; %s sampler, %s pruner; %lld trials", sw.study.c_str(),
              trainscope::sweep::to_string(sw.direction), sw.metric.c_str(), sw.sampler.kind.c_str(),
              sw.pruner.kind.c_str(), static_cast<long long>(sw.n_trials));
  if (sw.timeout) std::printf(", timeout %.0f s", *sw.timeout);
  std::printf(")\n  storage:  %s\n  runs:     %s/trial-<n>\n  workers:  %d%s\n", storage->describe().c_str(),
              setup.study_dir.c_str(), a.jobs, a.test_objective ? " (test objective: no training)" : "");
  for (const auto& n : notes) std::printf("  note:     %s\n", n.c_str());
  const std::vector<int64_t> stale = storage->fail_stale_trials(study);
  if (!stale.empty()) {
    std::string list;
    for (int64_t n : stale) list += (list.empty() ? "" : ", ") + std::to_string(n);
    std::printf("  resumed:  %s %s %s RUNNING in %s gone: now FAIL\n", stale.size() == 1 ? "trial" : "trials",
                list.c_str(), stale.size() == 1 ? "was" : "were",
                stale.size() == 1 ? "a worker that is" : "workers that are");
  }
  std::map<int64_t, trainscope::sweep::TrialState> shown;  // trials whose row shows their state
  const auto earlier = storage->trials(study);
  std::set<int64_t> earlier_finished;  // summarized, not listed
  for (const auto& t : earlier) {
    if (trainscope::sweep::is_finished(t.state)) shown[t.number] = t.state, earlier_finished.insert(t.number);
  }
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  int drawn = 0;  // lines of the live table on the terminal
  const auto before = trainscope::summarize(earlier, sw.direction);
  if (before.finished() > 0)
    std::printf("  so far:   %lld finished trials in the study\n", static_cast<long long>(before.finished()));
  fs::create_directories(setup.study_dir);
  try {
    trainscope::write_study_experiment(setup);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trainscope sweep: the HParams experiment was not written: %s\n", e.what());
  }

  std::optional<double> deadline;
  if (sw.timeout) deadline = std::chrono::duration<double>(Clock::now().time_since_epoch()).count() + *sw.timeout;
  std::vector<Worker> workers;
  for (int k = 0; k < a.jobs; ++k) {
    Worker w;
    w.index = k;
    w.log = setup.study_dir + "/worker-" + std::to_string(k) + ".log";
    w.pid = spawn_worker(a, w.log, deadline);
    workers.push_back(w);
  }
  std::printf("  logs:     %s/worker-<k>.log\n\n%s\n", setup.study_dir.c_str(), trainscope::table_header(sw).c_str());
  std::fflush(stdout);

  // Poll the study; print a trial's row when it starts and when it ends. A worker that dies
  // (signal, crash) leaves its trial RUNNING: it is failed and the worker replaced, a bounded
  // number of times.
  int respawns = 0, failed_workers = 0;
  const int max_respawns = static_cast<int>(std::min<int64_t>(sw.n_trials, 100));
  for (bool last_round = false;;) {
    for (auto& w : workers) {
      if (w.pid < 0) continue;
      int status = 0;
      if (::waitpid(w.pid, &status, WNOHANG) != w.pid) continue;
      const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      w.pid = -1;
      if (clean) continue;
      ++failed_workers;
      drawn = 0;  // messages go below the table; it is drawn again after them
      std::printf("[sweep] worker %d %s (see %s)\n", w.index,
                  WIFSIGNALED(status) ? ("was killed by signal " + std::to_string(WTERMSIG(status))).c_str()
                                      : ("exited with status " + std::to_string(WEXITSTATUS(status))).c_str(),
                  w.log.c_str());
      for (int64_t n : storage->fail_stale_trials(study))
        std::printf("[sweep] trial %lld was RUNNING in it: now FAIL\n", static_cast<long long>(n));
      const auto now = trainscope::summarize(storage->trials(study), sw.direction);
      const bool time_left =
          !deadline || std::chrono::duration<double>(Clock::now().time_since_epoch()).count() < *deadline;
      if (WIFSIGNALED(status) && now.finished() < sw.n_trials && time_left && respawns < max_respawns) {
        ++respawns;
        w.pid = spawn_worker(a, w.log, deadline);
        std::printf("[sweep] worker %d started again\n", w.index);
      }
    }
    const auto trials = storage->trials(study);
    if (tty) {
      // A terminal: redraw this invocation's trials (the latest kLiveRows) in place, running
      // ones with their latest value, epochs and time.
      std::vector<std::string> rows;
      for (const auto& t : trials) {
        if (!earlier_finished.count(t.number)) rows.push_back(trainscope::trial_row(t, sw.params));
      }
      constexpr size_t kLiveRows = 40;
      if (rows.size() > kLiveRows) rows.erase(rows.begin(), rows.end() - kLiveRows);
      if (drawn > 0) std::printf("\033[%dA\033[J", drawn);
      for (const auto& r : rows) std::printf("%s\n", r.c_str());
      drawn = static_cast<int>(rows.size());
    } else {
      // A log: a trial's row when it starts and when it ends.
      for (const auto& t : trials) {
        auto it = shown.find(t.number);
        if (it != shown.end() && it->second == t.state) continue;
        shown[t.number] = t.state;
        std::printf("%s\n", trainscope::trial_row(t, sw.params).c_str());
      }
    }
    std::fflush(stdout);
    if (last_round) break;
    bool alive = false;
    for (const auto& w : workers) alive = alive || w.pid >= 0;
    if (!alive) {
      last_round = true;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }

  const auto trials = storage->trials(study);
  const auto s = trainscope::summarize(trials, sw.direction);
  std::printf("\nstudy '%s': %lld finished of %lld (%lld complete, %lld pruned, %lld failed", sw.study.c_str(),
              static_cast<long long>(s.finished()), static_cast<long long>(sw.n_trials),
              static_cast<long long>(s.complete), static_cast<long long>(s.pruned), static_cast<long long>(s.failed));
  if (s.running) std::printf(", %lld still RUNNING", static_cast<long long>(s.running));
  std::printf(")\ntotal epochs trained: %lld (validations reported by all trials of the study)\n",
              static_cast<long long>(s.epochs));
  if (s.best) {
    std::printf("best: trial %lld, %s = %.6g (last validation)\n", static_cast<long long>(s.best->number),
                sw.metric.c_str(), *s.best->value);
    for (const auto& o : trainscope::trial_overrides(sw.params, s.best->params)) std::printf("  %s\n", o.c_str());
  } else {
    std::printf("best: none (no trial completed)\n");
  }
  const std::string study_dir = fs::absolute(setup.study_dir).lexically_normal().string();
  std::printf("view:   tensorboard --logdir %s\n", shell_quote(study_dir).c_str());
  std::printf("        optuna-dashboard %s\n", shell_quote(sw.storage).c_str());
  if (s.best) std::printf("rerun:  %s\n", rerun_command(a, setup, *s.best).c_str());
  if (failed_workers > 0 && s.finished() < sw.n_trials) return 1;
  return 0;
}

}  // namespace

int cmd_sweep(const std::vector<std::string>& args) {
  SweepArgs a;
  std::string error;
  if (!parse_args(args, a, error)) return usage_error("sweep", error);
  // The parent and every worker read the same run.log_dir: one {timestamp} for all (run_dir.h).
  ::setenv("TRAINSCOPE_RUN_TIMESTAMP", trainscope::run_timestamp().c_str(), 0);
  try {
    return a.worker ? run_as_worker(a) : run_as_parent(a);
  } catch (const trainscope::sweep::StorageError& e) {
    std::fprintf(stderr, "trainscope sweep: storage: %s\n", e.what());
    return 1;
  }
}
