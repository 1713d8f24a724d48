// Where a study lives: Optuna's journal format (JSON lines of operations), in a file shared by
// processes on one machine or a shared file system (JournalFileBackend's layout and lock
// protocol), or in Redis as Optuna's JournalRedisBackend stores it. Python optuna==5.0.0
// loads what this writes, and this loads what Optuna writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/sweep/types.h"

namespace trainscope::sweep {

struct StorageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a sampler decided for a new trial: its parameters (internal representation, with
// their distributions) and system attributes to record with it (e.g. the grid point).
struct NewTrial {
  std::map<std::string, double> params;
  std::map<std::string, Distribution> distributions;
  std::map<std::string, std::string> system_attrs;  // values are JSON text
};

class Storage {
 public:
  virtual ~Storage() = default;

  // The id of study `name`, created with `direction` if it does not exist. Throws
  // StorageError when it exists with another direction.
  virtual int64_t create_or_load_study(const std::string& name, Direction direction) = 0;
  virtual std::optional<int64_t> find_study(const std::string& name) = 0;
  virtual Direction direction(int64_t study_id) = 0;

  // Every trial of the study, in number order, as of the latest record in the journal.
  virtual std::vector<Trial> trials(int64_t study_id) = 0;

  // Atomically (under the journal's lock, so that no other process creates a trial in
  // between): read the latest trials, call `propose` with them and append a RUNNING trial
  // with what it returns (params, distributions, system attrs) and this worker's id.
  // `propose` may return std::nullopt (e.g. the grid is exhausted): nothing is created.
  virtual std::optional<Trial> create_trial(
      int64_t study_id, const std::function<std::optional<NewTrial>(const std::vector<Trial>&)>& propose) = 0;

  virtual void set_intermediate_value(int64_t trial_id, int64_t step, double value) = 0;
  // COMPLETE (with value), PRUNED (value: the last intermediate value, if any) or FAIL.
  virtual void finish_trial(int64_t trial_id, TrialState state, std::optional<double> value) = 0;
  virtual void set_trial_user_attr(int64_t trial_id, const std::string& key, const std::string& json) = 0;
  virtual void set_trial_system_attr(int64_t trial_id, const std::string& key, const std::string& json) = 0;
  virtual void set_study_user_attr(int64_t study_id, const std::string& key, const std::string& json) = 0;

  // Resume after a crash: every RUNNING trial of the study whose worker is provably gone
  // (same host and its process no longer exists, or its lease expired) becomes FAIL.
  // Returns their numbers.
  virtual std::vector<int64_t> fail_stale_trials(int64_t study_id) = 0;

  // Human-readable location ("journal file runs/x/study.journal", "redis://host:6379").
  virtual std::string describe() const = 0;
};

// `url`: a path (journal file, created if missing, with its directory) or
// "redis://host[:port][/db]" (Optuna's JournalRedisBackend layout). Throws StorageError.
std::unique_ptr<Storage> open_storage(const std::string& url);

}  // namespace trainscope::sweep
