// Private to trainscope::sweep: Optuna's journal operations (encoding of the records we append)
// and the replay of a record stream into studies and trials. See journal_ops.cpp for the facts
// about the format this relies on.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "journal_json.h"
#include "trainscope/sweep/storage.h"
#include "trainscope/sweep/types.h"

namespace trainscope::sweep::detail {

// optuna.storages.journal._storage.JournalOperation
enum class JournalOp : int {
  kCreateStudy = 0,
  kDeleteStudy = 1,
  kSetStudyUserAttr = 2,
  kSetStudySystemAttr = 3,
  kCreateTrial = 4,
  kSetTrialParam = 5,
  kSetTrialStateValues = 6,
  kSetTrialIntermediateValue = 7,
  kSetTrialUserAttr = 8,
  kSetTrialSystemAttr = 9,
  kDiscardTrials = 10,
};

struct StudyRecord {
  int64_t study_id = -1;
  std::string name;
  std::vector<Direction> directions;
  std::map<std::string, std::string> user_attrs;    // JSON text
  std::map<std::string, std::string> system_attrs;  // JSON text
  std::vector<int64_t> trial_ids;                   // index = trial number
};

// Optuna's JournalStorageReplayResult, in C++: the state after applying records in order.
class Replay {
 public:
  // Applies one record (a JSON line). `where` names it in errors ("study.journal:12").
  void apply(std::string_view record, const std::string& where);

  const std::map<int64_t, StudyRecord>& studies() const { return studies_; }
  const StudyRecord* find_study(const std::string& name) const;
  const StudyRecord* study(int64_t study_id) const;
  const Trial* trial(int64_t trial_id) const;
  std::optional<int64_t> study_of_trial(int64_t trial_id) const;
  std::vector<Trial> trials_of(int64_t study_id) const;
  // The trial id of the latest CREATE_TRIAL written by `worker_id`, or -1.
  int64_t last_created_by(const std::string& worker_id) const;
  int64_t records_applied() const { return records_applied_; }

 private:
  void apply_json(const json& log, const std::string& where);
  std::map<int64_t, StudyRecord> studies_;
  std::vector<Trial> trials_;             // index = trial id, over all studies
  std::vector<int64_t> trial_study_ids_;  // index = trial id
  int64_t next_study_id_ = 0;
  int64_t records_applied_ = 0;
  std::map<std::string, int64_t> last_created_;
};

// Encoders: each returns one record's JSON text (no newline) in the field layout Optuna's
// JournalStorage writes. `attr_json` values are JSON texts.
std::string encode_create_study(const std::string& worker_id, const std::string& name, Direction direction);
std::string encode_create_trial(const std::string& worker_id, int64_t study_id, TimePoint start, const NewTrial& trial);
std::string encode_set_intermediate_value(const std::string& worker_id, int64_t trial_id, int64_t step, double value);
std::string encode_set_state_values(const std::string& worker_id, int64_t trial_id, TrialState state,
                                    std::optional<double> value, TimePoint now);
std::string encode_set_trial_attr(const std::string& worker_id, int64_t trial_id, bool system, const std::string& key,
                                  const std::string& attr_json);
std::string encode_set_study_user_attr(const std::string& worker_id, int64_t study_id, const std::string& key,
                                       const std::string& attr_json);

}  // namespace trainscope::sweep::detail
