// Storage over Optuna's journal: every call first replays the records appended since the last
// call (file offset / Redis record number remembered by the backend), then appends its own.
// One object may be shared by threads (a mutex serialises them); processes exclude each other
// through the backend's lock where it matters (create_trial).
#include <pthread.h>

#include <mutex>
#include <stdexcept>

#include "journal_backend.h"
#include "journal_ops.h"
#include "process_identity.h"
#include "trainscope/sweep/storage.h"

namespace trainscope::sweep {
namespace detail {
namespace {

class JournalStorage final : public Storage {
 public:
  explicit JournalStorage(std::unique_ptr<JournalBackend> backend)
      : backend_(std::move(backend)), worker_prefix_(make_uuid4() + "-") {
    std::lock_guard lock(mutex_);
    sync();
  }

  int64_t create_or_load_study(const std::string& name, Direction direction) override {
    if (direction != Direction::kMinimize && direction != Direction::kMaximize) {
      throw StorageError("study " + name + ": the direction must be minimize or maximize");
    }
    std::lock_guard lock(mutex_);
    sync();
    if (replay_.find_study(name) == nullptr) {
      backend_->append({encode_create_study(worker_id(), name, direction)});
      sync();
    }
    const StudyRecord* s = replay_.find_study(name);
    if (s == nullptr) throw StorageError(describe() + ": study " + name + " was created but cannot be found");
    const Direction existing = single_direction(*s);
    if (existing != direction) {
      throw StorageError(describe() + ": study " + name + " exists with direction " + to_string(existing) + ", not " +
                         to_string(direction) + ". Use another study name, or the same direction.");
    }
    return s->study_id;
  }

  std::optional<int64_t> find_study(const std::string& name) override {
    std::lock_guard lock(mutex_);
    sync();
    const StudyRecord* s = replay_.find_study(name);
    if (s == nullptr) return std::nullopt;
    return s->study_id;
  }

  Direction direction(int64_t study_id) override {
    std::lock_guard lock(mutex_);
    sync();
    return single_direction(study(study_id));
  }

  std::vector<Trial> trials(int64_t study_id) override {
    std::lock_guard lock(mutex_);
    sync();
    study(study_id);
    return replay_.trials_of(study_id);
  }

  std::optional<Trial> create_trial(
      int64_t study_id, const std::function<std::optional<NewTrial>(const std::vector<Trial>&)>& propose) override {
    std::lock_guard lock(mutex_);
    std::optional<Trial> created;
    backend_->with_lock([&] {
      sync();
      study(study_id);
      std::optional<NewTrial> proposal = propose(replay_.trials_of(study_id));
      if (!proposal) return;
      for (const auto& [name, value] : proposal->params) {
        const auto d = proposal->distributions.find(name);
        if (d == proposal->distributions.end())
          throw std::invalid_argument("parameter " + name + " has no distribution");
        if (!contains(d->second, value))
          throw std::invalid_argument("parameter " + name + ": value outside its distribution");
      }
      proposal->system_attrs[kWorkerAttr] = this_worker_json();
      backend_->append_locked(
          {encode_create_trial(worker_id(), study_id, std::chrono::system_clock::now(), *proposal)});
      sync();
      const Trial* t = replay_.trial(replay_.last_created_by(worker_id()));
      if (t == nullptr) throw StorageError(describe() + ": the new trial is missing after it was written");
      created = *t;
      last_heartbeat_[t->trial_id] = std::chrono::steady_clock::now();
    });
    return created;
  }

  void set_intermediate_value(int64_t trial_id, int64_t step, double value) override {
    std::lock_guard lock(mutex_);
    std::vector<std::string> records{encode_set_intermediate_value(worker_id(), trial_id, step, value)};
    // The lease others judge this trial by (process_identity.h): refreshed while it reports.
    const auto now = std::chrono::steady_clock::now();
    const auto hb = last_heartbeat_.find(trial_id);
    if (hb == last_heartbeat_.end() || now - hb->second >= kHeartbeatInterval) {
      records.push_back(encode_set_trial_attr(worker_id(), trial_id, true, kHeartbeatAttr,
                                              json_string(format_iso_utc(std::chrono::system_clock::now()))));
      last_heartbeat_[trial_id] = now;
    }
    write_trial(trial_id, records);
  }

  void finish_trial(int64_t trial_id, TrialState state, std::optional<double> value) override {
    if (!is_finished(state)) throw std::invalid_argument("finish_trial takes COMPLETE, PRUNED or FAIL");
    if (state == TrialState::kComplete && !value) throw std::invalid_argument("a COMPLETE trial needs a value");
    std::lock_guard lock(mutex_);
    write_trial(trial_id,
                {encode_set_state_values(worker_id(), trial_id, state, value, std::chrono::system_clock::now())});
    last_heartbeat_.erase(trial_id);
  }

  void set_trial_user_attr(int64_t trial_id, const std::string& key, const std::string& json) override {
    std::lock_guard lock(mutex_);
    write_trial(trial_id, {encode_set_trial_attr(worker_id(), trial_id, false, key, checked_json(key, json))});
  }

  void set_trial_system_attr(int64_t trial_id, const std::string& key, const std::string& json) override {
    std::lock_guard lock(mutex_);
    write_trial(trial_id, {encode_set_trial_attr(worker_id(), trial_id, true, key, checked_json(key, json))});
  }

  void set_study_user_attr(int64_t study_id, const std::string& key, const std::string& json) override {
    std::lock_guard lock(mutex_);
    sync();
    study(study_id);
    backend_->append({encode_set_study_user_attr(worker_id(), study_id, key, checked_json(key, json))});
    sync();
  }

  std::vector<int64_t> fail_stale_trials(int64_t study_id) override {
    std::lock_guard lock(mutex_);
    std::vector<int64_t> failed;
    backend_->with_lock([&] {
      sync();
      study(study_id);
      const auto now = std::chrono::system_clock::now();
      std::vector<std::string> records;
      for (const Trial& t : replay_.trials_of(study_id)) {
        if (t.state != TrialState::kRunning) continue;
        const auto why = abandoned_because(t, now);
        if (!why) continue;
        records.push_back(
            encode_set_trial_attr(worker_id(), t.trial_id, true, "fail_reason", json_string("abandoned: " + *why)));
        records.push_back(encode_set_state_values(worker_id(), t.trial_id, TrialState::kFail, std::nullopt, now));
        failed.push_back(t.number);
      }
      backend_->append_locked(records);
      sync();
    });
    return failed;
  }

  std::string describe() const override { return backend_->describe(); }

 private:
  // Optuna's worker id: this storage object's uuid, '-', the thread's id.
  std::string worker_id() const { return worker_prefix_ + std::to_string(static_cast<unsigned long>(pthread_self())); }

  void sync() {
    backend_->read_new([&](std::string_view record, const std::string& where) { replay_.apply(record, where); });
  }

  const StudyRecord& study(int64_t study_id) const {
    const StudyRecord* s = replay_.study(study_id);
    if (s == nullptr) throw StorageError(describe() + ": no study with id " + std::to_string(study_id));
    return *s;
  }

  Direction single_direction(const StudyRecord& s) const {
    if (s.directions.size() != 1) {
      throw StorageError(describe() + ": study " + s.name + " has " + std::to_string(s.directions.size()) +
                         " objectives; trainscope sweep handles single-objective studies only");
    }
    return s.directions[0];
  }

  void write_trial(int64_t trial_id, const std::vector<std::string>& records) {
    sync();
    const Trial* t = replay_.trial(trial_id);
    if (t == nullptr) throw StorageError(describe() + ": no trial with id " + std::to_string(trial_id));
    if (is_finished(t->state)) {
      throw StorageError(describe() + ": trial " + std::to_string(t->number) + " is already " + to_string(t->state) +
                         " and cannot be updated (another worker may have failed it as stale)");
    }
    backend_->append(records);
    sync();
  }

  static std::string checked_json(const std::string& key, const std::string& json) {
    try {
      return normalise_json(json);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("attribute " + key + ": " + e.what());
    }
  }

  static std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) < 0x20) continue;
      out += c;
    }
    return out + "\"";
  }

  std::unique_ptr<JournalBackend> backend_;
  std::string worker_prefix_;
  Replay replay_;
  std::mutex mutex_;
  std::map<int64_t, std::chrono::steady_clock::time_point> last_heartbeat_;
};

}  // namespace
}  // namespace detail

std::unique_ptr<Storage> open_storage(const std::string& url) {
  if (url.empty()) throw StorageError("empty storage location: give a journal file path or redis://host[:port][/db]");
  std::unique_ptr<detail::JournalBackend> backend;
  if (url.rfind("redis://", 0) == 0) {
    backend = detail::open_redis_backend(url);
  } else if (url.find("://") != std::string::npos) {
    throw StorageError("unsupported storage URL " + url +
                       ": use a journal file path (e.g. runs/study.journal) or redis://host[:port][/db]");
  } else {
    backend = detail::open_file_backend(url);
  }
  return std::make_unique<detail::JournalStorage>(std::move(backend));
}

}  // namespace trainscope::sweep
