// checkpoint: keeps the best `keep_best` model checkpoints by a monitored metric (and
// optionally last.pt) in <run_dir>/checkpoints/best/, named epochNNNN-<metric><value>.pt.
//
// Tags: checkpoint/best (scalar: the best monitored value so far, at each evaluation),
//       checkpoint (text at the end of the fit: the files kept).
// Options: monitor, mode, keep_best, save_last, dir.
//
// Each file is the model's parameters and buffers (nn::Module::save into an OutputArchive), so
// torch::load(model, path) reads it back. The training thread serialises the archive into
// memory (it needs the weights as they are now) and hands the bytes to a writer thread, which
// writes <file>.tmp, renames it over <file> (a crash never leaves half a file) and deletes the
// checkpoints that fell out of the best k. The training thread never waits for the disk except
// at the end of the fit, when the pending writes are finished so the files are there when
// fit() returns. The ranking goes into the run's checkpoints (on_save_checkpoint), so a resumed
// fit goes on managing the same files.
#include <torch/nn/module.h>
#include <torch/serialize/archive.h>
#include <trainscope/metric_direction.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Writes and deletes files in order on its own thread. Errors are kept for the training
// thread to report (take_error), so that the plugin's on_error policy applies.
class FileWorker {
 public:
  FileWorker() = default;
  FileWorker(const FileWorker&) = delete;
  FileWorker& operator=(const FileWorker&) = delete;
  ~FileWorker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void write(fs::path path, std::shared_ptr<const std::string> bytes) { push({std::move(path), std::move(bytes)}); }
  void remove(fs::path path) { push({std::move(path), nullptr}); }

  // Blocks until every queued job is done.
  void drain() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [&] { return jobs_.empty() && !busy_; });
  }

  std::string take_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(error_, {});
  }

 private:
  struct Job {
    fs::path path;
    std::shared_ptr<const std::string> bytes;  // null: delete `path`
  };

  void push(Job job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
      if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    cv_.notify_one();
  }

  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return quit_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // quit_ and nothing left
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      busy_ = true;
      lock.unlock();
      std::string err = job.bytes ? write_file(job.path, *job.bytes) : remove_file(job.path);
      lock.lock();
      busy_ = false;
      if (!err.empty() && error_.empty()) error_ = std::move(err);
      if (jobs_.empty()) idle_cv_.notify_all();
    }
  }

  static std::string write_file(const fs::path& path, const std::string& bytes) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    const fs::path tmp = path.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      out.close();
      if (!out) {
        fs::remove(tmp, ec);
        return "checkpoint: cannot write " + tmp.string();
      }
    }
    fs::rename(tmp, path, ec);
    if (ec) return "checkpoint: cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message();
    return {};
  }

  static std::string remove_file(const fs::path& path) {
    std::error_code ec;
    fs::remove(path, ec);
    if (ec) return "checkpoint: cannot delete " + path.string() + ": " + ec.message();
    return {};
  }

  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Job> jobs_;
  bool busy_ = false, quit_ = false;
  std::string error_;
  std::thread thread_;
};

class Checkpoint final : public trainscope::Plugin {
 public:
  explicit Checkpoint(const trainscope::Options& opt)
      : monitor_(opt.get<std::string>("monitor")),
        mode_(opt.get<std::string>("mode")),
        keep_(opt.get<int64_t>("keep_best")),
        save_last_(opt.get<bool>("save_last")),
        dir_option_(opt.get<std::string>("dir")) {
    // A relation between two options (the schema checks each option on its own).
    if (keep_ == 0 && !save_last_) {
      throw std::invalid_argument(
          "checkpoint: keep_best = 0 and save_last = false would save nothing; set keep_best "
          ">= 1 or save_last = true");
    }
    max_ = trainscope::maximise_metric(mode_, monitor_);
    std::string tag;
    for (unsigned char c : monitor_) tag += std::isalnum(c) || c == '.' || c == '-' ? static_cast<char>(c) : '_';
    metric_tag_ = tag;
  }

  ~Checkpoint() override {
    worker_.drain();  // the worker's destructor finishes the queue too; this keeps the order obvious
  }

  void on_load_checkpoint(trainscope::HookContext& ctx) override {
    ranking_.clear();
    restored_ = true;
    const std::string& s = ctx.state();
    if (s.empty()) return;  // written without this plugin: start afresh
    std::istringstream in(s);
    std::string magic;
    int version = 0;
    size_t n = 0;
    in >> magic >> version >> n;
    if (!in || magic != "checkpoint" || version != 1) {
      throw std::runtime_error("checkpoint: the checkpoint's state is not readable by this version: " + s);
    }
    for (size_t i = 0; i < n; ++i) {
      Entry e;
      std::string value;
      in >> e.epoch >> value >> e.file;
      if (!in) throw std::runtime_error("checkpoint: the checkpoint's state is truncated: " + s);
      e.value = std::strtod(value.c_str(), nullptr);
      ranking_.push_back(std::move(e));
    }
    resolve_dir(ctx);
    // Files of the part of the run being redone (written after that checkpoint), or whose
    // deletion a crash interrupted, are this plugin's and no longer ranked: remove them. A
    // ranked file that never reached the disk is dropped from the ranking.
    // Only rank 0 deletes: the other ranks share its directory.
    std::error_code ec;
    if (ctx.rank() == 0) {
      for (const auto& entry : fs::directory_iterator(dir_, ec)) {
        const std::string name = entry.path().filename().string();
        if (!is_ours(name)) continue;
        const bool ranked =
            std::any_of(ranking_.begin(), ranking_.end(), [&](const Entry& e) { return e.file == name; });
        if (!ranked) fs::remove(entry.path(), ec);
      }
    }
    std::erase_if(ranking_, [&](const Entry& e) { return !fs::is_regular_file(dir_ / e.file, ec); });
  }

  void on_save_checkpoint(trainscope::HookContext& ctx) override {
    std::ostringstream out;
    out << "checkpoint 1 " << ranking_.size();
    for (const auto& e : ranking_) {
      char value[64];
      std::snprintf(value, sizeof value, "%a", e.value);  // hex float: exact
      out << "\n" << e.epoch << " " << value << " " << e.file;
    }
    ctx.state() = out.str();
  }

  void on_fit_begin(trainscope::HookContext& ctx) override {
    resolve_dir(ctx);
    if (!restored_) {
      ranking_.clear();
      // A fresh run into a directory with checkpoints of an earlier run: leave them alone
      // (they are not this run's), but say that they are not managed.
      std::error_code ec;
      int64_t stale = 0;
      for (const auto& entry : fs::directory_iterator(dir_, ec)) stale += is_ours(entry.path().filename().string());
      if (stale > 0) {
        std::fprintf(stderr,
                     "[trainscope] checkpoint: %s already holds %lld checkpoint(s) of an earlier run; they are "
                     "kept and not counted in keep_best\n",
                     dir_.string().c_str(), static_cast<long long>(stale));
      }
    }
    restored_ = false;
  }

  void on_epoch_begin(trainscope::HookContext& ctx) override { clock_.epoch_begin(ctx.step()); }

  void on_validation_end(trainscope::HookContext& ctx) override {
    clock_.validation_end();
    evaluate(ctx, "validation_end");
  }

  void on_epoch_end(trainscope::HookContext& ctx) override {
    if (!clock_.evaluate_at_epoch_end(ctx.step(), ctx.batches_per_epoch(), ctx.stop_requested())) return;
    evaluate(ctx, "epoch_end (no validation ran)");
  }

  void on_fit_end(trainscope::HookContext& ctx) override {
    worker_.drain();
    rethrow_worker_error();
    std::ostringstream text;
    text << "checkpoint: best " << ranking_.size() << " of keep_best " << keep_ << " by " << monitor_ << " ("
         << (max_ ? "max" : "min") << ") in " << dir_.string() << ":";
    for (const auto& e : ranking_) text << "\n- " << e.file;
    if (save_last_) text << "\n- last.pt";
    ctx.writer().add_text("checkpoint", text.str(), ctx.step());
  }

  void on_exception(trainscope::HookContext&) override { worker_.drain(); }

 private:
  struct Entry {
    int64_t epoch = 0;  // 1-based: the epochs completed when it was saved
    double value = 0;
    std::string file;  // name inside dir_
  };

  void resolve_dir(const trainscope::HookContext& ctx) {
    const fs::path d(dir_option_);
    dir_ = d.is_absolute() ? d : fs::path(ctx.run_dir()) / d;
  }

  static bool is_ours(const std::string& name) {
    static const std::regex kName(R"(epoch\d{4,}-.*\.pt)");
    return std::regex_match(name, kName);
  }

  // Better-first order; on a tie the earlier epoch ranks first (a later copy must beat it).
  bool better(const Entry& a, const Entry& b) const {
    if (a.value != b.value) return max_ ? a.value > b.value : a.value < b.value;
    return a.epoch < b.epoch;
  }

  void rethrow_worker_error() {
    std::string err = worker_.take_error();
    if (!err.empty()) throw std::runtime_error(err);
  }

  void evaluate(trainscope::HookContext& ctx, const char* where) {
    rethrow_worker_error();
    const auto& metrics = ctx.metrics();
    auto it = metrics.find(monitor_);
    if (it == metrics.end()) {
      throw std::runtime_error("checkpoint: monitor = \"" + monitor_ + "\" is not among the metrics at " + where +
                               " (available: " + trainscope::metric_names(metrics) +
                               "); set monitor to one of them. A metric added by another plugin must come from a "
                               "[[plugin]] table listed before checkpoint.");
    }
    Entry cand;
    cand.epoch = ctx.epoch() + 1;
    cand.value = it->second;
    char epoch[32], value[64];
    std::snprintf(epoch, sizeof epoch, "epoch%04lld-", static_cast<long long>(cand.epoch));
    std::snprintf(value, sizeof value, "%.4f", cand.value);
    cand.file = epoch + metric_tag_ + value + ".pt";

    // A NaN is never ranked: it would compare false with everything.
    const bool ranked = keep_ > 0 && !std::isnan(cand.value) &&
                        (static_cast<int64_t>(ranking_.size()) < keep_ || better(cand, ranking_.back()));
    // Distributed: every rank keeps the same ranking (the metrics are averaged across ranks, and
    // the states must match), but only rank 0 writes files: the others share its run directory.
    const bool writes = ctx.rank() == 0;
    std::shared_ptr<const std::string> bytes;
    if (writes && (ranked || save_last_)) {
      // The one copy of the weights on the training thread: into memory, written elsewhere.
      torch::serialize::OutputArchive archive;
      ctx.model().save(archive);
      std::ostringstream buffer;
      archive.save_to(buffer);
      bytes = std::make_shared<const std::string>(std::move(buffer).str());
    }
    if (ranked) {
      ranking_.insert(std::upper_bound(ranking_.begin(), ranking_.end(), cand,
                                       [&](const Entry& a, const Entry& b) { return better(a, b); }),
                      cand);
      if (writes) worker_.write(dir_ / cand.file, bytes);
      while (static_cast<int64_t>(ranking_.size()) > keep_) {
        // Deleted after the new file is written: k or k + 1 files exist at any moment.
        if (writes) worker_.remove(dir_ / ranking_.back().file);
        ranking_.pop_back();
      }
    }
    if (writes && save_last_) worker_.write(dir_ / "last.pt", bytes);
    if (!ranking_.empty()) ctx.writer().add_scalar("checkpoint/best", ranking_.front().value, ctx.step());
  }

  std::string monitor_, mode_;
  int64_t keep_;
  bool save_last_;
  std::string dir_option_;
  std::string metric_tag_;
  bool max_ = false;
  fs::path dir_;
  std::vector<Entry> ranking_;  // best first, at most keep_
  bool restored_ = false;
  trainscope::EvaluationClock clock_;
  FileWorker worker_;  // last member: destroyed (joined) first
};

}  // namespace

TRAINSCOPE_PLUGIN(
    Checkpoint, "checkpoint", "1.0.0",
    trainscope::option<std::string>("monitor", "val/loss", "the metric that ranks checkpoints").not_empty(),
    trainscope::option<std::string>("mode", "auto",
                                    "\"min\", \"max\", or \"auto\" (max for names containing "
                                    "acc, top, precision, recall, f1, auc, iou, dice or map; min otherwise)")
        .one_of(trainscope::kMetricModes),
    trainscope::option<int64_t>("keep_best", 3, "how many best checkpoints to keep (0 with save_last: last.pt only)")
        .min(0),
    trainscope::option<bool>("save_last", true, "also write last.pt at every evaluation"),
    trainscope::option<std::string>("dir", "checkpoints/best", "where the files go (relative: to the run directory)")
        .not_empty())
