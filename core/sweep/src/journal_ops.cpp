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

#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace trainscope::sweep::detail {

using json = nlohmann::ordered_json;

namespace {

// nlohmann::json knows no NaN/Infinity tokens: outside strings they become these marker
// strings (starting with the control character U+0001, which no real value starts with) and
// are turned back into tokens when we dump.
constexpr const char* kNaN = "\x01NaN";
constexpr const char* kInf = "\x01Infinity";
constexpr const char* kNegInf = "\x01-Infinity";

std::string protect_non_finite(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < in.size()) {
        out += in[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    auto token = [&](std::string_view t) { return in.substr(i, t.size()) == t; };
    if (token("NaN")) {
      out += "\"\\u0001NaN\"";
      i += 2;
    } else if (token("-Infinity")) {
      out += "\"\\u0001-Infinity\"";
      i += 8;
    } else if (token("Infinity")) {
      out += "\"\\u0001Infinity\"";
      i += 7;
    } else {
      out += c;
    }
  }
  return out;
}

json parse_record(std::string_view text) { return json::parse(protect_non_finite(text)); }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

std::string dump(const json& j) {
  std::string s = j.dump();
  replace_all(s, "\"\\u0001NaN\"", "NaN");
  replace_all(s, "\"\\u0001-Infinity\"", "-Infinity");
  replace_all(s, "\"\\u0001Infinity\"", "Infinity");
  return s;
}

json number_json(double x) {
  if (std::isnan(x)) return kNaN;
  if (std::isinf(x)) return x > 0 ? kInf : kNegInf;
  return x;
}

double to_double(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == kNaN) return std::nan("");
    if (s == kInf) return HUGE_VAL;
    if (s == kNegInf) return -HUGE_VAL;
  }
  throw std::invalid_argument("expected a number, got " + j.dump());
}

std::optional<double> single_value(const json& values) {
  if (values.is_array() && values.size() == 1) return to_double(values[0]);
  return std::nullopt;
}

json choice_json(const Choice& c) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, double>) {
          return number_json(v);
        } else {
          return v;
        }
      },
      c);
}

Choice choice_from(const json& j) {
  if (j.is_null()) return std::monostate{};
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (!s.empty() && s[0] == '\x01') return to_double(j);
    return s;
  }
  throw std::invalid_argument("a categorical choice must be null, a bool, a number or a string");
}

json distribution_obj(const Distribution& d) {
  if (const auto* f = std::get_if<FloatDistribution>(&d)) {
    json a = {{"step", f->step ? json(*f->step) : json(nullptr)}, {"low", f->low}, {"high", f->high}, {"log", f->log}};
    return {{"name", "FloatDistribution"}, {"attributes", a}};
  }
  if (const auto* i = std::get_if<IntDistribution>(&d)) {
    json a = {{"log", i->log}, {"step", i->step}, {"low", i->low}, {"high", i->high}};
    return {{"name", "IntDistribution"}, {"attributes", a}};
  }
  json choices = json::array();
  for (const auto& c : std::get<CategoricalDistribution>(d).choices) choices.push_back(choice_json(c));
  return {{"name", "CategoricalDistribution"}, {"attributes", {{"choices", choices}}}};
}

int64_t to_int(const json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  const double x = to_double(j);
  if (x != std::round(x)) throw std::invalid_argument("expected an integer, got " + j.dump());
  return static_cast<int64_t>(x);
}

Distribution distribution_from(const json& j) {
  auto float_dist = [](const json& a, bool log, std::optional<double> step) {
    FloatDistribution f;
    f.low = to_double(a.at("low"));
    f.high = to_double(a.at("high"));
    f.log = log;
    f.step = step;
    return Distribution(f);
  };
  auto int_dist = [](const json& a, bool log) {
    IntDistribution i;
    i.low = to_int(a.at("low"));
    i.high = to_int(a.at("high"));
    i.log = log;
    i.step = a.contains("step") && !a["step"].is_null() ? to_int(a["step"]) : 1;
    return Distribution(i);
  };
  auto categorical = [](const json& choices) {
    CategoricalDistribution c;
    for (const auto& x : choices) c.choices.push_back(choice_from(x));
    return Distribution(c);
  };
  auto opt_step = [](const json& a, const char* key) -> std::optional<double> {
    if (!a.contains(key) || a[key].is_null()) return std::nullopt;
    return to_double(a[key]);
  };
  if (j.contains("name")) {
    const std::string name = j.at("name").get<std::string>();
    const json& a = j.at("attributes");
    if (name == "FloatDistribution") return float_dist(a, a.value("log", false), opt_step(a, "step"));
    if (name == "UniformDistribution") return float_dist(a, false, std::nullopt);
    if (name == "LogUniformDistribution") return float_dist(a, true, std::nullopt);
    if (name == "DiscreteUniformDistribution") return float_dist(a, false, opt_step(a, "q"));
    if (name == "IntDistribution") return int_dist(a, a.value("log", false));
    if (name == "IntUniformDistribution") return int_dist(a, false);
    if (name == "IntLogUniformDistribution") return int_dist(a, true);
    if (name == "CategoricalDistribution") return categorical(a.at("choices"));
    throw std::invalid_argument("unknown distribution class " + name);
  }
  const std::string type = j.at("type").get<std::string>();
  if (type == "categorical") return categorical(j.at("choices"));
  if (type == "float") return float_dist(j, j.value("log", false), opt_step(j, "step"));
  if (type == "int") return int_dist(j, j.value("log", false));
  throw std::invalid_argument("unknown distribution type " + type);
}

// Optuna's check_distribution_compatibility: same class; categoricals need the same choices.
bool compatible(const Distribution& a, const Distribution& b) {
  if (a.index() != b.index()) return false;
  if (const auto* ca = std::get_if<CategoricalDistribution>(&a)) return *ca == std::get<CategoricalDistribution>(b);
  return true;
}

std::map<std::string, std::string> attrs_from(const json& j) {
  std::map<std::string, std::string> out;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) out[k] = dump(v);
  }
  return out;
}

json base(const std::string& worker_id, JournalOp op) {
  return {{"op_code", static_cast<int>(op)}, {"worker_id", worker_id}};
}

}  // namespace

// ---- formats ----------------------------------------------------------------------------

std::string format_iso_utc(TimePoint t) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  return buf;
}

std::optional<TimePoint> parse_iso(std::string_view s) {
  int Y = 0, M = 0, D = 0, h = 0, m = 0, sec = 0;
  size_t pos = 0;
  auto digits = [&](int n, int* out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (int k = 0; k < n; ++k) {
      const char c = s[pos + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    pos += n;
    return true;
  };
  auto expect = [&](char c) {
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  if (!digits(4, &Y) || !expect('-') || !digits(2, &M) || !expect('-') || !digits(2, &D)) return std::nullopt;
  int64_t micros = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
    ++pos;
    if (!digits(2, &h) || !expect(':') || !digits(2, &m)) return std::nullopt;
    if (expect(':')) {
      if (!digits(2, &sec)) return std::nullopt;
      if (expect('.') || expect(',')) {
        int n = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          if (n < 6) micros = micros * 10 + (s[pos] - '0');
          ++n;
          ++pos;
        }
        if (n == 0) return std::nullopt;
        for (; n < 6; ++n) micros *= 10;
      }
    }
  }
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  std::time_t secs = 0;
  if (pos == s.size()) {  // naive: Python's astimezone() takes it as local time
    tm.tm_isdst = -1;
    secs = std::mktime(&tm);
  } else {
    int64_t offset = 0;
    if (s[pos] == 'Z') {
      ++pos;
    } else {
      const int sign = s[pos] == '-' ? -1 : 1;
      if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
      ++pos;
      int oh = 0, om = 0, os = 0;
      if (!digits(2, &oh)) return std::nullopt;
      expect(':');
      if (pos < s.size()) {
        if (!digits(2, &om)) return std::nullopt;
        if (expect(':') && !digits(2, &os)) return std::nullopt;
        if (expect('.')) {
          while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
        }
      }
      offset = sign * (oh * 3600 + om * 60 + os);
    }
    if (pos != s.size()) return std::nullopt;
    secs = timegm(&tm) - offset;
  }
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::seconds(secs) + std::chrono::microseconds(micros)));
}

std::string distribution_to_json(const Distribution& d) { return dump(distribution_obj(d)); }

Distribution distribution_from_json(std::string_view text) { return distribution_from(parse_record(text)); }

std::string json_number(double x) { return dump(number_json(x)); }

std::string normalise_json(std::string_view text) {
  try {
    return dump(parse_record(text));
  } catch (const json::exception& e) {
    throw std::invalid_argument("not a JSON value: " + std::string(text) + " (" + e.what() + ")");
  }
}

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
