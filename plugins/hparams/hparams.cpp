// hparams: one HParams-dashboard session per run. At fit_begin the session starts with the
// run's hyperparameters (the TOML [hparams] table plus the trainer's lr, batch_size, optimizer,
// epochs); after every validated epoch the best and the latest value of each monitored metric
// are logged as scalars (the session's metrics: TensorBoard shows the last value of each);
// at fit_end the session ends with SUCCESS, on an exception with FAILURE. See README.md.
// A resumed fit continues the session its checkpoint's run began: the best values come back
// from the checkpoint and the session's head (experiment, session start) is not written again
// (TensorBoard would show it twice); only its end record is written, at fit_end.
#include <trainscope/metric_direction.h>
#include <trainscope/plugin.h>
#include <trainscope/summary_writer.h>
#include <trainscope/wire/dashboards/hparams.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Monitored {
  std::string key;        // the ctx.metrics() key, e.g. "val/loss"
  bool minimize = false;  // best = min (loss-like) or max (accuracy-like)
  std::string best_tag, final_tag;
  bool seen = false;
  double best = 0;
};

std::string tag_part(std::string key) {
  for (char& c : key) {
    if (c == '/') c = '_';
  }
  return key;
}

trainscope::HParamValue to_hparam(const trainscope::OptionValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  std::string joined;  // a list: shown as one string, "[a, b]"
  for (const auto& item : std::get<std::vector<std::string>>(v)) joined += (joined.empty() ? "" : ", ") + item;
  return "[" + joined + "]";
}

class HParams final : public trainscope::Plugin {
 public:
  explicit HParams(const trainscope::Options& opt) : description_(opt.get<std::string>("description")) {
    // The entries' form (name or name:min / name:max, each name once) is checked here: it is a
    // small language of its own, not a range the schema can state.
    for (const auto& entry : opt.get<std::vector<std::string>>("metrics")) {
      Monitored m;
      m.key = entry;
      m.minimize = !trainscope::higher_is_better(entry);  // the same "auto" as early_stopping
      const size_t colon = entry.rfind(':');
      if (colon != std::string::npos) {
        const std::string mode = entry.substr(colon + 1);
        if (mode != "min" && mode != "max") {
          throw std::invalid_argument("hparams: metrics entry '" + entry +
                                      "': the suffix after ':' must be min or max (e.g. \"val/wer:min\")");
        }
        m.key = entry.substr(0, colon);
        m.minimize = mode == "min";
      }
      if (m.key.empty()) throw std::invalid_argument("hparams: metrics holds an empty name; remove it");
      bool listed = false;
      for (const auto& other : monitored_) {
        if (other.key != m.key) continue;
        // The same entry twice is one metric; the same name with opposite directions is a
        // contradiction (the schema cannot state it, so `run` stops here, before training).
        if (other.minimize != m.minimize)
          throw std::invalid_argument("hparams: metrics names '" + m.key +
                                      "' twice, once minimized and once maximized");
        listed = true;
      }
      if (listed) continue;
      m.best_tag = "hparams/best_" + tag_part(m.key);
      m.final_tag = "hparams/final_" + tag_part(m.key);
      monitored_.push_back(std::move(m));
    }
  }

  void on_save_checkpoint(trainscope::HookContext& ctx) override {
    std::ostringstream out;
    out << "hparams 1 " << monitored_.size();
    for (const auto& m : monitored_) {
      char best[64];
      std::snprintf(best, sizeof best, "%a", m.best);  // hex float: exact
      out << "\n" << (m.seen ? 1 : 0) << " " << best << " " << m.key;
    }
    ctx.state() = out.str();
  }

  void on_load_checkpoint(trainscope::HookContext& ctx) override {
    const std::string& s = ctx.state();
    if (s.empty()) return;  // a checkpoint written without this plugin: the session starts now
    resumed_ = true;
    std::istringstream in(s);
    std::string magic;
    int version = 0;
    size_t n = 0;
    in >> magic >> version >> n;
    if (!in || magic != "hparams" || version != 1)
      throw std::runtime_error("hparams: the checkpoint's state is not readable by this version: " + s);
    for (size_t i = 0; i < n; ++i) {
      int seen = 0;
      std::string best, key;
      in >> seen >> best;
      std::getline(in >> std::ws, key);
      if (!in) throw std::runtime_error("hparams: the checkpoint's state is truncated: " + s);
      for (auto& m : monitored_) {
        if (m.key != key) continue;
        m.seen = seen != 0;
        m.best = std::strtod(best.c_str(), nullptr);
      }
    }
  }

  void on_fit_begin(trainscope::HookContext& ctx) override {
    if (started_) return;
    if (resumed_) {  // the checkpoint's run wrote the session's head
      started_ = true;
      continued_ = true;
      saw_validation_ever_ = false;
      return;
    }
    trainscope::HParams hp;
    for (const auto& [name, value] : ctx.hparams()) {
      trainscope::HParamValue v = to_hparam(value);
      if (v.type() == trainscope::HParamValue::Type::kNumber && !std::isfinite(v.number())) {
        std::fprintf(stderr, "[hparams] hparam '%s' is not finite; left out of the session\n", name.c_str());
        continue;
      }
      hp.emplace(name, std::move(v));
    }
    std::vector<std::string> tags;
    for (const auto& m : monitored_) {
      tags.push_back(m.best_tag);
      tags.push_back(m.final_tag);
    }
    trainscope::HParamsOptions options;
    options.description = description_;
    ctx.writer().hparams_start(hp, tags, options);
    started_ = true;
    saw_validation_ever_ = false;
  }

  void on_validation_end(trainscope::HookContext& ctx) override {
    saw_validation_ever_ = true;
    validation_epoch_ = ctx.epoch();
  }

  // Read at epoch_end rather than validation_end so that metrics other plugins add at
  // validation_end are there whatever the plugins' order.
  void on_epoch_end(trainscope::HookContext& ctx) override {
    if (saw_validation_ever_ && validation_epoch_ != ctx.epoch()) return;  // nothing new this epoch
    const int64_t step = ctx.step();
    for (auto& m : monitored_) {
      auto it = ctx.metrics().find(m.key);
      if (it == ctx.metrics().end() || !std::isfinite(it->second)) continue;
      const double v = it->second;
      if (!m.seen || (m.minimize ? v < m.best : v > m.best)) m.best = v;
      m.seen = true;
      ctx.writer().add_scalar(m.best_tag, m.best, step);
      ctx.writer().add_scalar(m.final_tag, v, step);
    }
  }

  void on_fit_end(trainscope::HookContext& ctx) override { end(ctx, trainscope::SessionStatus::kSuccess); }
  void on_exception(trainscope::HookContext& ctx) override { end(ctx, trainscope::SessionStatus::kFailure); }

 private:
  void end(trainscope::HookContext& ctx, trainscope::SessionStatus status) {
    if (!started_) return;
    started_ = false;
    if (continued_) {
      // The session was opened by an earlier process; end it with the record hparams_end writes.
      namespace d = trainscope::detail;
      const double now = trainscope::EventWriter::now();
      ctx.writer().event_writer().add(
          d::kHParamsSessionEndTag, 0,
          trainscope::RawEventData{
              trainscope::RawEventData::Field::kSerializedSummary,
              d::hparams_summary(d::kHParamsSessionEndTag, d::hparams_session_end_content(status, now))},
          now);
      continued_ = false;
      return;
    }
    ctx.writer().hparams_end(status);
  }

  std::string description_;
  std::vector<Monitored> monitored_;
  bool started_ = false;
  bool resumed_ = false;    // on_load_checkpoint ran: this fit continues a checkpoint's session
  bool continued_ = false;  // the session is the checkpoint run's (no hparams_start here)
  bool saw_validation_ever_ = false;
  int64_t validation_epoch_ = -1;
};

}  // namespace

TRAINSCOPE_PLUGIN(HParams, "hparams", "1.0.0",
                  trainscope::option<std::vector<std::string>>(
                      "metrics", std::vector<std::string>{"val/loss", "val/accuracy"},
                      "ctx.metrics() keys whose best and final values are the session's metrics; "
                      "loss-like names are minimized, others maximized; force with a :min / :max suffix")
                      .not_empty(),
                  trainscope::option<std::string>("description", "", "the experiment's description"))
