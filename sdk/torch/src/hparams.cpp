// SummaryWriter::add_hparams / hparams_start / hparams_end: validation on the calling thread,
// then the HParams records (encoded by dashboards/hparams.cpp) go through the run's EventWriter.
//
// TensorBoard keeps the first metadata of each tag in a run, so a run holds one session and
// its first end record is final: nothing provisional (such as a RUNNING end) is ever written.
#include "trainscope/wire/dashboards/hparams.h"

#include <c10/util/Exception.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "trainscope/limits.h"
#include "trainscope/summary_writer.h"

namespace trainscope {
namespace {

namespace fs = std::filesystem;

// Process-wide hparams state. Leaked on purpose: the exit handler uses it after static
// destructors may have run. Lock order: mu, then a writer's hparams_mu_.
struct Registry {
  std::recursive_mutex mu;
  // Runs that already hold a session: the main run's event file, or a child run's directory.
  std::set<std::string> runs_with_session;
  // Writers with a session opened by hparams_start and not ended yet.
  std::set<SummaryWriter*> open_sessions;
};
Registry& registry() {
  static auto* r = new Registry;
  return *r;
}

// std::exit() (or returning from main with a leaked writer) while a session is open: the run
// did not complete. Registered after the EventWriter's own exit handler, so it runs first and
// the end record is still drained to disk by that handler.
void end_open_sessions_at_exit() {
  std::lock_guard lk(registry().mu);
  const std::vector<SummaryWriter*> open(registry().open_sessions.begin(), registry().open_sessions.end());
  for (SummaryWriter* w : open) {
    report_error(w->log_dir() + ": process exiting with the hparams session still open: ended with FAILURE");
    try {
      w->hparams_end(SessionStatus::kFailure);
    } catch (const std::exception&) {
    }
  }
}

const char* type_name(HParamValue::Type t) {
  switch (t) {
    case HParamValue::Type::kNumber:
      return "a number";
    case HParamValue::Type::kBool:
      return "a bool";
    case HParamValue::Type::kString:
      return "a string";
    case HParamValue::Type::kNone:
      break;
  }
  return "none";
}

std::string describe(const HParamValue& v) {
  std::ostringstream out;
  switch (v.type()) {
    case HParamValue::Type::kNumber:
      out << v.number();
      break;
    case HParamValue::Type::kBool:
      out << (v.boolean() ? "true" : "false");
      break;
    case HParamValue::Type::kString:
      out << "'" << v.string() << "'";
      break;
    case HParamValue::Type::kNone:
      out << "none";
      break;
  }
  return out.str();
}

// Names and strings go into proto string fields: TensorBoard refuses a run whose strings are
// not UTF-8 (limits.h).
void require_utf8(std::string_view api, std::string_view name, std::string_view what, std::string_view s) {
  if (auto at = invalid_utf8_offset(s)) {
    TORCH_CHECK_VALUE(false, api, ": hparam '", printable(name), "': ", what, " is not valid UTF-8 (byte ", *at,
                      "); TensorBoard refuses to load a run with such a string: convert it to UTF-8");
  }
}

void check_value(std::string_view api, const std::string& name, const HParamValue& v, std::string_view what) {
  TORCH_CHECK_VALUE(!v.is_none(), api, ": hparam '", name, "': ", what,
                    " has an unsupported type (none); expected a number, a bool or a string");
  if (v.type() == HParamValue::Type::kString) require_utf8(api, name, what, v.string());
  if (v.type() == HParamValue::Type::kNumber)
    TORCH_CHECK_VALUE(std::isfinite(v.number()), api, ": hparam '", name, "': ", what, " is ", v.number(),
                      "; TensorBoard cannot show a non-finite hparam value");
}

void check_hparams(std::string_view api, const HParams& hparams, const HParamsOptions& options) {
  TORCH_CHECK_VALUE(!hparams.empty(), api, ": hparams is empty; give at least one hyperparameter");
  for (const auto& [name, value] : hparams) {
    TORCH_CHECK_VALUE(!name.empty(), api, ": an hparam name is empty");
    require_utf8(api, name, "the name", name);
    check_value(api, name, value, "the value");
  }
  for (const auto& [name, domain] : options.domain_discrete) {
    auto it = hparams.find(name);
    TORCH_CHECK_VALUE(it != hparams.end(), api, ": domain_discrete names '", name, "', which is not an hparam");
    TORCH_CHECK_VALUE(!options.domain_interval.count(name), api, ": hparam '", name,
                      "' has both a discrete and an interval domain; give one");
    TORCH_CHECK_VALUE(!domain.empty(), api, ": hparam '", name, "': domain_discrete is empty");
    const HParamValue& value = it->second;
    bool found = false;
    for (size_t i = 0; i < domain.size(); ++i) {
      check_value(api, name, domain[i], "domain_discrete value " + std::to_string(i));
      TORCH_CHECK_VALUE(domain[i].type() == value.type(), api, ": hparam '", name,
                        "': domain_discrete mixes types: value ", i, " (", describe(domain[i]), ") is ",
                        type_name(domain[i].type()), " but the hparam is ", type_name(value.type()));
      for (size_t j = 0; j < i; ++j)
        TORCH_CHECK_VALUE(!(domain[j] == domain[i]), api, ": hparam '", name, "': domain_discrete lists ",
                          describe(domain[i]), " twice");
      found = found || domain[i] == value;
    }
    TORCH_CHECK_VALUE(found, api, ": hparam '", name, "': domain_discrete does not contain its value ",
                      describe(value));
  }
  for (const auto& [name, interval] : options.domain_interval) {
    auto it = hparams.find(name);
    TORCH_CHECK_VALUE(it != hparams.end(), api, ": domain_interval names '", name, "', which is not an hparam");
    const HParamValue& value = it->second;
    TORCH_CHECK_VALUE(value.type() == HParamValue::Type::kNumber, api, ": hparam '", name,
                      "': domain_interval needs a number, but the hparam is ", type_name(value.type()));
    const auto [lo, hi] = interval;
    TORCH_CHECK_VALUE(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, api, ": hparam '", name,
                      "': domain_interval [", lo, ", ", hi, "] must be finite with min <= max");
    TORCH_CHECK_VALUE(lo <= value.number() && value.number() <= hi, api, ": hparam '", name, "': domain_interval [", lo,
                      ", ", hi, "] does not contain its value ", value.number());
  }
  if (!options.run_name.empty()) {
    const fs::path run(options.run_name);
    bool inside = !run.is_absolute();
    for (const auto& part : run) inside = inside && part != "..";
    TORCH_CHECK_VALUE(inside, api, ": run_name '", options.run_name,
                      "' must be a relative path inside the log dir (no '..')");
  }
}

void check_metric_tags(std::string_view api, const std::vector<std::string>& tags) {
  for (size_t i = 0; i < tags.size(); ++i) {
    TORCH_CHECK_VALUE(!tags[i].empty(), api, ": metric tag ", i, " is empty");
    if (auto at = invalid_utf8_offset(tags[i]))
      TORCH_CHECK_VALUE(false, api, ": metric tag '", printable(tags[i]), "' is not valid UTF-8 (byte ", *at, ")");
    for (size_t j = 0; j < i; ++j)
      TORCH_CHECK_VALUE(tags[j] != tags[i], api, ": metric tag '", tags[i], "' is listed twice");
  }
}

// str(time.time()) as Python prints it: shortest round-trip digits, fixed notation, ".0" for
// whole numbers. PyTorch names its hparams child run this way.
std::string python_time_string(double t) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), t, std::chars_format::fixed);
  std::string s(buf, res.ptr);
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

bool wants_child_run(const HParamsOptions& options) { return options.pytorch_child_run || !options.run_name.empty(); }

// Picks the child run for a session and claims it in the registry (caller holds its mutex).
// A given run_name that already holds a session is refused; a time-based name is retaken.
std::string claim_child_run(std::string_view api, const std::string& log_dir, const HParamsOptions& options) {
  auto& runs = registry().runs_with_session;
  if (!options.run_name.empty()) {
    const std::string key = fs::weakly_canonical(fs::path(log_dir) / options.run_name).string();
    TORCH_CHECK_VALUE(runs.insert(key).second, api, ": run '", options.run_name,
                      "' already holds an hparams session written by this process (TensorBoard shows only the "
                      "first session of a run); use another run_name");
    return options.run_name;
  }
  for (;;) {
    std::string name = python_time_string(EventWriter::now());
    if (runs.insert(fs::weakly_canonical(fs::path(log_dir) / name).string()).second) return name;
  }
}

EventWriterOptions child_options(EventWriterOptions o) {
  o.purge_step.reset();  // a fresh run has nothing to purge
  return o;
}

struct Record {
  std::string_view tag;
  std::string summary;
};

// The records that open a session: the experiment, then the session start.
std::vector<Record> session_head(const HParams& hparams, const std::vector<std::string>& metric_tags,
                                 const HParamsOptions& options, double now) {
  return {
      {detail::kHParamsExperimentTag,
       detail::hparams_summary(detail::kHParamsExperimentTag,
                               detail::hparams_experiment_content(hparams, metric_tags, options, now))},
      {detail::kHParamsSessionStartTag,
       detail::hparams_summary(detail::kHParamsSessionStartTag,
                               detail::hparams_session_start_content(hparams, options.group_name, now))},
  };
}

Record session_end(SessionStatus status, double now) {
  return {detail::kHParamsSessionEndTag,
          detail::hparams_summary(detail::kHParamsSessionEndTag, detail::hparams_session_end_content(status, now))};
}

void write_records(EventWriter& w, const std::vector<Record>& records, int64_t step, double wall_time) {
  for (const Record& r : records)
    w.add(r.tag, step, RawEventData{RawEventData::Field::kSerializedSummary, r.summary}, wall_time);
}

}  // namespace

void SummaryWriter::add_hparams(const HParams& hparams, const std::map<std::string, double>& metrics,
                                const HParamsOptions& options) {
  constexpr std::string_view api = "add_hparams";
  check_hparams(api, hparams, options);
  std::vector<std::string> metric_tags;
  for (const auto& [tag, value] : metrics) {
    TORCH_CHECK_VALUE(!tag.empty(), api, ": a metric name is empty");
    metric_tags.push_back(tag);
  }
  check_metric_tags(api, metric_tags);  // UTF-8 (and tag limits) before anything is written
  for (const auto& tag : metric_tags) {
    try {
      check_tag(api, tag);
    } catch (const std::invalid_argument& e) {
      TORCH_CHECK_VALUE(false, e.what());
    }
  }
  const int64_t step = options.step.value_or(0);
  const double now = EventWriter::now();
  const std::vector<Record> head = session_head(hparams, metric_tags, options, now);
  const std::vector<Record> tail = {session_end(SessionStatus::kSuccess, now)};
  auto write_session = [&](EventWriter& w) {
    write_records(w, head, step, now);
    for (const auto& [tag, value] : metrics) w.add_scalar(tag, static_cast<float>(value), step, now);
    write_records(w, tail, step, now);
  };

  std::lock_guard rk(registry().mu);
  if (!wants_child_run(options)) {
    {
      std::lock_guard lk(hparams_mu_);
      TORCH_CHECK_VALUE(!(hparams_open_ && hparams_writer_ == writer_.get()), api,
                        ": the session opened by hparams_start is still open in this run; log its metrics with "
                        "add_scalar and end it with hparams_end");
    }
    TORCH_CHECK_VALUE(registry().runs_with_session.insert(writer_->file_path()).second, api,
                      ": this run already holds an hparams session (TensorBoard shows only the first session of a "
                      "run); set options.pytorch_child_run or options.run_name to write one session per call");
    write_session(*writer_);
    return;
  }
  // PyTorch's layout: a child run written and closed at once (like its `with SummaryWriter`).
  const std::string name = claim_child_run(api, log_dir_, options);
  const std::string dir = (fs::path(log_dir_) / name).string();
  try {
    EventWriter child(dir, child_options(options_.writer));
    write_session(child);
    child.close();
  } catch (...) {
    registry().runs_with_session.erase(fs::weakly_canonical(dir).string());
    throw;
  }
}

void SummaryWriter::hparams_start(const HParams& hparams, const std::vector<std::string>& metric_tags,
                                  const HParamsOptions& options) {
  constexpr std::string_view api = "hparams_start";
  check_hparams(api, hparams, options);
  check_metric_tags(api, metric_tags);
  const int64_t step = options.step.value_or(0);
  const double now = EventWriter::now();
  const std::vector<Record> records = session_head(hparams, metric_tags, options, now);

  std::lock_guard rk(registry().mu);
  std::lock_guard lk(hparams_mu_);
  TORCH_CHECK_VALUE(!hparams_open_, api, ": a session is already open in '", hparams_writer_->log_dir(),
                    "'; end it with hparams_end first");
  EventWriter* target = writer_.get();
  if (!wants_child_run(options)) {
    TORCH_CHECK_VALUE(registry().runs_with_session.insert(writer_->file_path()).second, api,
                      ": this run already holds an hparams session (TensorBoard shows only the first session of a "
                      "run); set options.run_name to start one in a child run");
  } else {
    const std::string name = claim_child_run(api, log_dir_, options);
    try {
      target = &child_writer(name);
    } catch (...) {
      registry().runs_with_session.erase(fs::weakly_canonical(fs::path(log_dir_) / name).string());
      throw;
    }
  }
  write_records(*target, records, step, now);
  hparams_open_ = true;
  hparams_writer_ = target;
  registry().open_sessions.insert(this);
  static const bool at_exit = std::atexit(end_open_sessions_at_exit) == 0;
  (void)at_exit;
}

void SummaryWriter::hparams_end(SessionStatus status) {
  constexpr std::string_view api = "hparams_end";
  TORCH_CHECK_VALUE(status == SessionStatus::kSuccess || status == SessionStatus::kFailure, api,
                    ": status must be kSuccess or kFailure, got ", static_cast<int>(status),
                    " (TensorBoard keeps the first end record of a run, so an end cannot be provisional)");
  std::lock_guard rk(registry().mu);
  std::lock_guard lk(hparams_mu_);
  TORCH_CHECK_VALUE(hparams_open_, api,
                    ": no hparams session is open (call hparams_start first; a session ends only once)");
  const double now = EventWriter::now();
  write_records(*hparams_writer_, {session_end(status, now)}, 0, now);
  hparams_open_ = false;
  registry().open_sessions.erase(this);
}

}  // namespace trainscope
