// Optuna's journal records: encoding what we append and replaying what anyone appended.
//
// What this relies on (read from optuna==5.0.0, optuna/storages/journal/ and distributions.py):
// - A journal is an ordered list of records, each a JSON object with "op_code" (the
//   JournalOperation number, see JournalOp) and "worker_id" (the writer: a uuid4 per storage
//   object, a '-', and the thread id). The file backend keeps one record per line; the Redis
//   backend one record per key. Python writes NaN and +-inf as the bare tokens NaN, Infinity,
//   -Infinity, so a reader must accept them and a writer must produce them.
// - Study ids are not stored: CREATE_STUDY {"study_name", "directions": [1 or 2]} takes the next
//   id (0, 1, ...) unless a live study already has that name, in which case the record is a
//   no-op. DELETE_STUDY {"study_id"} drops the study (its trials keep their ids).
// - Trial ids are not stored either: every CREATE_TRIAL whose study exists takes the id
//   len(all trials so far, every study), and the number len(that study's trials). A CREATE_TRIAL
//   naming a missing study is skipped and consumes no id. The record holds "study_id" and
//   "datetime_start"; a "template" trial (what we write, so that a trial and its parameters
//   appear in one atomic record) adds "state", "value", "values", "distributions" (name ->
//   distribution_to_json text, i.e. JSON inside a JSON string), "params" (name -> internal
//   value), "user_attrs", "system_attrs", "intermediate_values" (step as a string key) and,
//   when finished, "datetime_complete". A record without "state" makes a RUNNING trial.
// - SET_TRIAL_PARAM {"trial_id","param_name","param_value_internal","distribution"}: skipped when
//   an earlier trial of the study has that parameter with an incompatible distribution (another
//   class, or other categorical choices).
// - SET_TRIAL_STATE_VALUES {"trial_id","state","values" (list or null)} plus "datetime_start"
//   when the state is RUNNING (WAITING -> RUNNING; RUNNING -> RUNNING is refused) or
//   "datetime_complete" when it is finished. A single objective's value is values[0].
// - SET_TRIAL_INTERMEDIATE_VALUE {"trial_id","step","intermediate_value"};
//   SET_TRIAL_USER_ATTR / SET_TRIAL_SYSTEM_ATTR {"trial_id", "user_attr"/"system_attr": {k: v}};
//   SET_STUDY_USER_ATTR / SET_STUDY_SYSTEM_ATTR {"study_id", same}.
// - Every trial update whose trial is missing or already finished (COMPLETE, PRUNED, FAIL) is
//   skipped. DISCARD_TRIALS (10) is ignored by Python Optuna, and so here.
// - Datetimes are datetime.isoformat(timespec="microseconds") of an aware UTC time
//   ("2026-01-02T03:04:05.000006+00:00"); readers use fromisoformat, so other offsets work too.
// - distribution_to_json is json.dumps({"name": class name, "attributes": the fields}):
//   FloatDistribution {low, high, log, step|null}, IntDistribution {low, high, log, step},
//   CategoricalDistribution {choices: [...]}; the pre-3.0 classes (UniformDistribution,
//   LogUniformDistribution, DiscreteUniformDistribution {q}, IntUniformDistribution,
//   IntLogUniformDistribution) and the abbreviated {"type": "float"|"int"|"categorical"} form
//   are still read. Internal values: floats and ints as floats, categoricals as choice indices.
// - The Redis backend also keeps a pickled snapshot of Python's replay state (":snapshot").
//   A pickle is Python's own; we never write one and always replay from record 0, which gives
//   the same state (the snapshot is only a cache of the same replay).
#include "journal_ops.h"

#include <stdexcept>

#include "journal_json.h"

namespace trainscope::sweep::detail {
namespace {

// Optuna's check_distribution_compatibility: same class; categoricals need the same choices.
bool compatible(const Distribution& a, const Distribution& b) {
  if (a.index() != b.index()) return false;
  if (const auto* ca = std::get_if<CategoricalDistribution>(&a)) return *ca == std::get<CategoricalDistribution>(b);
  return true;
}

json base(const std::string& worker_id, JournalOp op) {
  return {{"op_code", static_cast<int>(op)}, {"worker_id", worker_id}};
}

}  // namespace

// ---- encoders ---------------------------------------------------------------------------

std::string encode_create_study(const std::string& worker_id, const std::string& name, Direction direction) {
  json j = base(worker_id, JournalOp::kCreateStudy);
  j["study_name"] = name;
  j["directions"] = json::array({static_cast<int>(direction)});
  return dump(j);
}

std::string encode_create_trial(const std::string& worker_id, int64_t study_id, TimePoint start, const NewTrial& t) {
  json j = base(worker_id, JournalOp::kCreateTrial);
  j["study_id"] = study_id;
  j["datetime_start"] = format_iso_utc(start);
  j["state"] = static_cast<int>(TrialState::kRunning);
  j["value"] = nullptr;
  j["values"] = nullptr;
  json dists = json::object();
  json params = json::object();
  for (const auto& [name, internal] : t.params) {
    const auto it = t.distributions.find(name);
    if (it == t.distributions.end()) throw std::invalid_argument("parameter " + name + " has no distribution");
    dists[name] = distribution_to_json(it->second);
    params[name] = number_json(internal);
  }
  j["distributions"] = dists;
  j["params"] = params;
  j["user_attrs"] = json::object();
  json sys = json::object();
  for (const auto& [k, v] : t.system_attrs) sys[k] = parse_record(v);
  j["system_attrs"] = sys;
  j["intermediate_values"] = json::object();
  return dump(j);
}

std::string encode_set_intermediate_value(const std::string& worker_id, int64_t trial_id, int64_t step, double value) {
  json j = base(worker_id, JournalOp::kSetTrialIntermediateValue);
  j["trial_id"] = trial_id;
  j["step"] = step;
  j["intermediate_value"] = number_json(value);
  return dump(j);
}

std::string encode_set_state_values(const std::string& worker_id, int64_t trial_id, TrialState state,
                                    std::optional<double> value, TimePoint now) {
  json j = base(worker_id, JournalOp::kSetTrialStateValues);
  j["trial_id"] = trial_id;
  j["state"] = static_cast<int>(state);
  j["values"] = value ? json::array({number_json(*value)}) : json(nullptr);
  if (state == TrialState::kRunning) j["datetime_start"] = format_iso_utc(now);
  if (is_finished(state)) j["datetime_complete"] = format_iso_utc(now);
  return dump(j);
}

std::string encode_set_trial_attr(const std::string& worker_id, int64_t trial_id, bool system, const std::string& key,
                                  const std::string& attr_json) {
  json j = base(worker_id, system ? JournalOp::kSetTrialSystemAttr : JournalOp::kSetTrialUserAttr);
  j["trial_id"] = trial_id;
  j[system ? "system_attr" : "user_attr"] = {{key, parse_record(attr_json)}};
  return dump(j);
}

std::string encode_set_study_user_attr(const std::string& worker_id, int64_t study_id, const std::string& key,
                                       const std::string& attr_json) {
  json j = base(worker_id, JournalOp::kSetStudyUserAttr);
  j["study_id"] = study_id;
  j["user_attr"] = {{key, parse_record(attr_json)}};
  return dump(j);
}

// ---- replay -----------------------------------------------------------------------------

const StudyRecord* Replay::find_study(const std::string& name) const {
  for (const auto& [id, s] : studies_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const StudyRecord* Replay::study(int64_t study_id) const {
  const auto it = studies_.find(study_id);
  return it == studies_.end() ? nullptr : &it->second;
}

const Trial* Replay::trial(int64_t trial_id) const {
  if (trial_id < 0 || trial_id >= static_cast<int64_t>(trials_.size())) return nullptr;
  return &trials_[static_cast<size_t>(trial_id)];
}

std::optional<int64_t> Replay::study_of_trial(int64_t trial_id) const {
  if (trial(trial_id) == nullptr) return std::nullopt;
  return trial_study_ids_[static_cast<size_t>(trial_id)];
}

std::vector<Trial> Replay::trials_of(int64_t study_id) const {
  std::vector<Trial> out;
  if (const StudyRecord* s = study(study_id)) {
    out.reserve(s->trial_ids.size());
    for (int64_t id : s->trial_ids) out.push_back(trials_[static_cast<size_t>(id)]);
  }
  return out;
}

int64_t Replay::last_created_by(const std::string& worker_id) const {
  const auto it = last_created_.find(worker_id);
  return it == last_created_.end() ? -1 : it->second;
}

void Replay::apply(std::string_view record, const std::string& where) {
  json log;
  try {
    log = parse_record(record);
  } catch (const json::exception& e) {
    throw StorageError(where + ": not a JSON journal record (" + e.what() +
                       "). The journal is corrupt there: restore it from a backup, or cut the file before "
                       "that line to keep the records before it.");
  }
  try {
    apply_json(log, where);
  } catch (const StorageError&) {
    throw;
  } catch (const std::exception& e) {
    throw StorageError(where + ": malformed journal record (" + e.what() + "): " + std::string(record.substr(0, 200)));
  }
  ++records_applied_;
}

void Replay::apply_json(const json& log, const std::string& where) {
  const int op = log.at("op_code").get<int>();
  // Trial updates are skipped for a missing or finished trial, as Optuna does.
  auto updatable = [&](int64_t trial_id) -> Trial* {
    if (trial_id < 0 || trial_id >= static_cast<int64_t>(trials_.size())) return nullptr;
    Trial& t = trials_[static_cast<size_t>(trial_id)];
    return is_finished(t.state) ? nullptr : &t;
  };
  auto study_attr = [&](const char* field, bool system) {
    const auto it = studies_.find(log.at("study_id").get<int64_t>());
    if (it == studies_.end()) return;
    auto& target = system ? it->second.system_attrs : it->second.user_attrs;
    for (const auto& [k, v] : attrs_from(log.at(field))) target[k] = v;
  };
  switch (static_cast<JournalOp>(op)) {
    case JournalOp::kCreateStudy: {
      const std::string name = log.at("study_name").get<std::string>();
      if (find_study(name) != nullptr) return;
      StudyRecord s;
      s.study_id = next_study_id_++;
      s.name = name;
      for (const auto& d : log.at("directions")) s.directions.push_back(static_cast<Direction>(d.get<int>()));
      studies_[s.study_id] = std::move(s);
      return;
    }
    case JournalOp::kDeleteStudy:
      studies_.erase(log.at("study_id").get<int64_t>());
      return;
    case JournalOp::kSetStudyUserAttr:
      return study_attr("user_attr", false);
    case JournalOp::kSetStudySystemAttr:
      return study_attr("system_attr", true);
    case JournalOp::kCreateTrial: {
      const int64_t study_id = log.at("study_id").get<int64_t>();
      const auto it = studies_.find(study_id);
      if (it == studies_.end()) return;
      Trial t;
      t.trial_id = static_cast<int64_t>(trials_.size());
      t.number = static_cast<int64_t>(it->second.trial_ids.size());
      t.state = static_cast<TrialState>(log.value("state", 0));
      if (log.contains("distributions")) {
        for (const auto& [k, v] : log["distributions"].items()) {
          t.distributions[k] = v.is_string() ? distribution_from_json(v.get<std::string>()) : distribution_from(v);
        }
      }
      if (log.contains("params")) {
        for (const auto& [k, v] : log["params"].items()) {
          if (!t.distributions.count(k)) throw std::invalid_argument("parameter " + k + " has no distribution");
          t.params[k] = to_double(v);
        }
      }
      if (log.contains("user_attrs")) t.user_attrs = attrs_from(log["user_attrs"]);
      if (log.contains("system_attrs")) t.system_attrs = attrs_from(log["system_attrs"]);
      if (log.contains("value") && !log["value"].is_null()) t.value = to_double(log["value"]);
      if (log.contains("values") && !log["values"].is_null()) t.value = single_value(log["values"]);
      if (log.contains("intermediate_values")) {
        for (const auto& [k, v] : log["intermediate_values"].items()) {
          t.intermediate_values[std::stoll(k)] = to_double(v);
        }
      }
      const json start = log.value("datetime_start", json(nullptr));
      if (!start.is_null()) t.datetime_start = parse_iso(start.get<std::string>());
      if (log.contains("datetime_complete") && !log["datetime_complete"].is_null()) {
        t.datetime_complete = parse_iso(log["datetime_complete"].get<std::string>());
      }
      it->second.trial_ids.push_back(t.trial_id);
      trials_.push_back(std::move(t));
      trial_study_ids_.push_back(study_id);
      last_created_[log.at("worker_id").get<std::string>()] = trials_.back().trial_id;
      return;
    }
    case JournalOp::kSetTrialParam: {
      const int64_t trial_id = log.at("trial_id").get<int64_t>();
      Trial* t = updatable(trial_id);
      if (t == nullptr) return;
      const std::string name = log.at("param_name").get<std::string>();
      const json& dj = log.at("distribution");
      const Distribution dist = dj.is_string() ? distribution_from_json(dj.get<std::string>()) : distribution_from(dj);
      const auto sit = studies_.find(trial_study_ids_[static_cast<size_t>(trial_id)]);
      if (sit != studies_.end()) {
        for (int64_t other : sit->second.trial_ids) {
          const Trial& prev = trials_[static_cast<size_t>(other)];
          const auto pd = prev.distributions.find(name);
          if (pd == prev.distributions.end() || !prev.params.count(name)) continue;
          if (!compatible(pd->second, dist)) return;
          break;
        }
      }
      t->params[name] = to_double(log.at("param_value_internal"));
      t->distributions[name] = dist;
      return;
    }
    case JournalOp::kSetTrialStateValues: {
      Trial* t = updatable(log.at("trial_id").get<int64_t>());
      if (t == nullptr) return;
      const auto state = static_cast<TrialState>(log.at("state").get<int>());
      if (state == TrialState::kRunning && t->state == TrialState::kRunning) return;
      if (state == TrialState::kRunning) t->datetime_start = parse_iso(log.at("datetime_start").get<std::string>());
      if (is_finished(state)) t->datetime_complete = parse_iso(log.at("datetime_complete").get<std::string>());
      t->state = state;
      if (!log.at("values").is_null()) t->value = single_value(log["values"]);
      return;
    }
    case JournalOp::kSetTrialIntermediateValue: {
      Trial* t = updatable(log.at("trial_id").get<int64_t>());
      if (t != nullptr) t->intermediate_values[log.at("step").get<int64_t>()] = to_double(log.at("intermediate_value"));
      return;
    }
    case JournalOp::kSetTrialUserAttr:
    case JournalOp::kSetTrialSystemAttr: {
      const bool system = op == static_cast<int>(JournalOp::kSetTrialSystemAttr);
      Trial* t = updatable(log.at("trial_id").get<int64_t>());
      if (t == nullptr) return;
      auto& target = system ? t->system_attrs : t->user_attrs;
      for (const auto& [k, v] : attrs_from(log.at(system ? "system_attr" : "user_attr"))) target[k] = v;
      return;
    }
    case JournalOp::kDiscardTrials:
      return;
  }
  throw StorageError(where + ": unknown journal op_code " + std::to_string(op) +
                     " (written by a newer Optuna?). trainscope reads Optuna 5.0.0's journal operations 0-10.");
}

}  // namespace trainscope::sweep::detail
