// HookBus: per-hook subscriber lists built from each descriptor's hook mask, cadence decided
// per call, one clock read between consecutive plugin calls, and the error policies.
#include "trainscope/hook_bus.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TRAINSCOPE_HAVE_RDTSC 1
#endif

namespace trainscope {
namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The timing clock: the TSC where there is one (~7 ns, no syscall, constant rate on every
// x86 of the last decade), else steady_clock nanoseconds. Converted to seconds only when read.
inline uint64_t ticks_now() {
#ifdef TRAINSCOPE_HAVE_RDTSC
  return __rdtsc();
#else
  return static_cast<uint64_t>(now_ns());
#endif
}

bool step_fires(const Cadence& c, int64_t s) {
  if (c.every_n_steps <= 0 && c.at_steps.empty()) return true;
  if (c.every_n_steps > 0 && s % c.every_n_steps == 0) return true;
  return std::binary_search(c.at_steps.begin(), c.at_steps.end(), s);
}

bool epoch_fires(const Cadence& c, int64_t epoch) {
  return c.every_n_epochs <= 1 || (epoch + 1) % c.every_n_epochs == 0;
}

// `step` is ctx.step() at that hook; see the header for the batch step number S.
bool cadence_fires(const Cadence& c, Hook hook, Phase phase, int64_t step, int64_t epoch) {
  switch (hook_cadence(hook)) {
    case HookCadence::kAlways:
      return true;
    case HookCadence::kEpoch:
      return epoch_fires(c, epoch);
    case HookCadence::kValidation:
      return c.validation && epoch_fires(c, epoch);
    case HookCadence::kStep:
      if (phase == Phase::kValidation) return c.validation && epoch_fires(c, epoch);
      return c.train && step_fires(c, hook == Hook::kTrainBatchEnd ? step : step + 1);
  }
  return true;
}

bool fires_always(const Cadence& c) {
  return c.every_n_steps <= 0 && c.at_steps.empty() && c.every_n_epochs <= 1 && c.train && c.validation;
}

}  // namespace

struct HookBus::Entry {
  std::unique_ptr<PluginInstance> instance;
  std::unique_ptr<Plugin> owned;  // an in-process callback (add_in_process)
  PluginConfig config;
  std::string name;
  Plugin* plugin = nullptr;
  int (*invoke)(Plugin*, Hook, HookContext&, std::string*) noexcept = nullptr;
  const Options* options = nullptr;
  HookMask hooks = 0;
  bool always = true;  // trivial cadence: no per-call check
  bool disabled = false;
  std::string state;  // this plugin's checkpoint state (ctx.state() during its hooks)
  uint64_t calls[kHookCount] = {};
  uint64_t ticks[kHookCount] = {};
  uint64_t taken_ticks = 0;  // total ticks at the last take_overhead()

  uint64_t total_ticks() const { return std::accumulate(std::begin(ticks), std::end(ticks), uint64_t{0}); }
  uint64_t total_calls() const { return std::accumulate(std::begin(calls), std::end(calls), uint64_t{0}); }
};

HookBus::HookBus() : start_ticks_(ticks_now()), start_ns_(now_ns()) {}

HookBus::~HookBus() {
  for (auto& list : subscribers_) list.clear();
  while (!entries_.empty()) entries_.pop_back();  // last added, first destroyed
}

void HookBus::add(std::unique_ptr<PluginInstance> instance, const PluginConfig& config) {
  if (!instance || !config.enabled) return;
  auto e = std::make_unique<Entry>();
  e->name = instance->name();
  e->config = config;
  std::sort(e->config.cadence.at_steps.begin(), e->config.cadence.at_steps.end());
  e->plugin = instance->get();
  e->invoke = instance->descriptor().invoke;
  e->options = &instance->options();
  e->hooks = instance->descriptor().hooks;
  e->always = fires_always(e->config.cadence);
  e->instance = std::move(instance);
  entries_.push_back(std::move(e));
  rebuild_subscribers();
}

void HookBus::add_from_config(const std::vector<PluginConfig>& plugins, const PluginCatalog& catalog) {
  for (const auto& pc : plugins) {
    if (!pc.enabled) continue;
    auto library = catalog.find(pc.name);
    if (!library) {
      std::string available;
      for (const auto& n : catalog.names()) available += (available.empty() ? "" : ", ") + n;
      throw PluginLoadError(
          PluginLoadError::Kind::kNotFound,
          (pc.source.empty() ? std::string() : pc.source + ": ") + "plugin '" + pc.name +
              "' is not on the plugin search path (available: " + (available.empty() ? "none" : available) + ")");
    }
    // A plugin that cannot be created (its constructor refused an option value, or something
    // it needs is missing) stops the run before training, whatever on_error says: the user
    // asked for it, and a run without it would look complete. on_error is about hooks.
    try {
      add(std::make_unique<PluginInstance>(library, pc.options), pc);
    } catch (const PluginLoadError& e) {
      throw PluginLoadError(PluginLoadError::Kind::kCreateFailed,
                            (pc.source.empty() ? std::string() : pc.source + ": ") + e.what() +
                                " (the run stops before training: fix the plugin's options or set enabled = false)");
    }
  }
}

void HookBus::rebuild_subscribers() {
  mask_ = 0;
  for (auto& list : subscribers_) list.clear();
  for (auto& e : entries_) {
    if (e->disabled) continue;
    for (int h = 0; h < kHookCount; ++h) {
      if (e->hooks & hook_bit(static_cast<Hook>(h))) subscribers_[h].push_back(e.get());
    }
  }
  for (int h = 0; h < kHookCount; ++h) {
    if (!subscribers_[h].empty()) mask_ |= hook_bit(static_cast<Hook>(h));
  }
}

void HookBus::dispatch(Hook hook, HookContext& ctx) {
  const int h = static_cast<int>(hook);
  ctx.hook_ = hook;
  std::string error;
  bool failed = false;
  uint64_t t0 = 0;
  // Index loop: fail() may throw (kAbort) but never changes the list while we walk it.
  const auto& list = subscribers_[h];
  for (size_t i = 0, n = list.size(); i < n; ++i) {
    Entry& e = *list[i];
    if (e.disabled) continue;
    if (!e.always && !cadence_fires(e.config.cadence, hook, ctx.phase_, ctx.step_, ctx.epoch_)) continue;
    ctx.plugin_name_ = &e.name;
    ctx.options_ = e.options;
    ctx.state_ = &e.state;
    if (hook == Hook::kSaveCheckpoint) e.state.clear();  // each save starts from nothing
    if (t0 == 0) t0 = ticks_now();
    const int rc = e.invoke(e.plugin, hook, ctx, &error);
    // One clock read per call: the end of this call is the start of the next one.
    const uint64_t t1 = ticks_now();
    ++e.calls[h];
    e.ticks[h] += t1 - t0;
    t0 = t1;
    if (rc != 0) [[unlikely]] {
      failed = true;
      fail(e, hook, error);  // may throw PluginAbort
      error.clear();
    }
  }
  if (failed) rebuild_subscribers();
}

std::map<std::string, std::string> HookBus::plugin_states() const {
  std::map<std::string, std::string> out;
  for (const auto& e : entries_)
    if (!e->state.empty()) out[e->name] = e->state;
  return out;
}

void HookBus::set_plugin_states(const std::map<std::string, std::string>& states) {
  for (auto& e : entries_) {
    auto it = states.find(e->name);
    e->state = it == states.end() ? std::string() : it->second;
  }
}

void HookBus::fail(Entry& e, Hook hook, const std::string& message) {
  const std::string text = message.empty() ? "unknown error" : message;
  e.disabled = true;  // also under kAbort: the exception hook that follows must not re-enter it
  disabled_.emplace_back(e.name, text);
  // Failing inside the exception hook never aborts: the loop is already unwinding.
  if (e.config.on_error == ErrorPolicy::kAbort && hook != Hook::kException) {
    rebuild_subscribers();
    throw PluginAbort(e.name, hook, text);
  }
  std::fprintf(stderr,
               "[trainscope] plugin '%s' failed in %s: %s; disabled (set on_error = \"abort\" to stop the run)\n",
               e.name.c_str(), hook_name(hook), text.c_str());
}

bool HookBus::fires(Hook hook, int64_t step, int64_t epoch) const {
  if (!has_subscribers(hook)) return false;
  const Phase phase = hook_cadence(hook) == HookCadence::kValidation ? Phase::kValidation : Phase::kTrain;
  for (const Entry* e : subscribers_[static_cast<int>(hook)]) {
    if (!e->disabled && (e->always || cadence_fires(e->config.cadence, hook, phase, step, epoch))) return true;
  }
  return false;
}

double HookBus::seconds_per_tick() const {
#ifdef TRAINSCOPE_HAVE_RDTSC
  // Calibrated against steady_clock over the bus's lifetime once that is long enough (error
  // well under 0.1%), else once per process over a 20 ms spin.
  const uint64_t t = ticks_now();
  const int64_t ns = now_ns();
  if (ns - start_ns_ >= 100'000'000 && t > start_ticks_) {
    return static_cast<double>(ns - start_ns_) * 1e-9 / static_cast<double>(t - start_ticks_);
  }
  static const double calibrated = [] {
    const uint64_t t0 = ticks_now();
    const int64_t n0 = now_ns();
    int64_t n1 = n0;
    while (n1 - n0 < 20'000'000) n1 = now_ns();
    const uint64_t t1 = ticks_now();
    return t1 > t0 ? static_cast<double>(n1 - n0) * 1e-9 / static_cast<double>(t1 - t0) : 1e-9;
  }();
  return calibrated;
#else
  return 1e-9;
#endif
}

std::vector<HookBus::Timing> HookBus::timings() const {
  const double spt = seconds_per_tick();
  std::vector<Timing> out;
  for (const auto& e : entries_) {
    for (int h = 0; h < kHookCount; ++h) {
      if (e->calls[h] == 0) continue;
      out.push_back({e->name, static_cast<Hook>(h), e->calls[h], static_cast<double>(e->ticks[h]) * spt});
    }
  }
  return out;
}

std::vector<std::pair<std::string, double>> HookBus::take_overhead() {
  const double spt = seconds_per_tick();
  std::vector<std::pair<std::string, double>> out;
  for (auto& e : entries_) {
    const uint64_t total = e->total_ticks();
    out.emplace_back(e->name, static_cast<double>(total - e->taken_ticks) * spt);
    e->taken_ticks = total;
  }
  return out;
}

std::string HookBus::timing_report() const {
  const double spt = seconds_per_tick();
  size_t width = 6;
  for (const auto& e : entries_) width = std::max(width, e->name.size() + (e->disabled ? 11 : 0));
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-*s %10s %12s %14s\n", static_cast<int>(width), "plugin", "calls", "total ms",
                "mean us/call");
  out += line;
  uint64_t all_calls = 0;
  double all_seconds = 0;
  for (const auto& e : entries_) {
    const uint64_t calls = e->total_calls();
    const double seconds = static_cast<double>(e->total_ticks()) * spt;
    all_calls += calls;
    all_seconds += seconds;
    const std::string name = e->disabled ? e->name + " (disabled)" : e->name;
    std::snprintf(line, sizeof line, "%-*s %10llu %12.3f %14.3f\n", static_cast<int>(width), name.c_str(),
                  static_cast<unsigned long long>(calls), seconds * 1e3, calls ? seconds * 1e6 / calls : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof line, "%-*s %10llu %12.3f %14.3f\n", static_cast<int>(width), "total",
                static_cast<unsigned long long>(all_calls), all_seconds * 1e3,
                all_calls ? all_seconds * 1e6 / all_calls : 0.0);
  out += line;
  return out;
}

// ---- In-process callbacks ----------------------------------------------------------------

namespace {

// One function per hook; the bus calls on_<hook> only for the hooks in its mask.
class FunctionPlugin final : public Plugin {
 public:
  FunctionPlugin(Hook hook, Callback fn) : hook_(hook), fn_(std::move(fn)) {}
#define TRAINSCOPE_HOOK_FN_(E, n, c, doc) \
  void on_##n(HookContext& ctx) override { call(Hook::k##E, ctx); }
  TRAINSCOPE_HOOK_TABLE(TRAINSCOPE_HOOK_FN_)
#undef TRAINSCOPE_HOOK_FN_

 private:
  void call(Hook hook, HookContext& ctx) {
    if (hook == hook_) fn_(ctx);
  }
  Hook hook_;
  Callback fn_;
};

}  // namespace

std::string HookBus::on(Hook hook, Callback fn, CallbackOptions options) {
  if (!fn) throw std::invalid_argument("HookBus::on: the callback for " + std::string(hook_name(hook)) + " is empty");
  if (hook == Hook::kCount) throw std::invalid_argument("HookBus::on: Hook::kCount is not a hook");
  return add_in_process(std::make_unique<FunctionPlugin>(hook, std::move(fn)), hook_bit(hook), std::move(options));
}

std::string HookBus::add_in_process(std::unique_ptr<Plugin> plugin, HookMask hooks, CallbackOptions options) {
  if (!plugin) throw std::invalid_argument("HookBus::add_plugin: the plugin is null");
  if (options.every_n_steps < 0 || options.every_n_epochs < 1) {
    throw std::invalid_argument("callback '" + options.name + "': every_n_steps must be >= 0 and every_n_epochs >= 1");
  }
  std::string name = options.name.empty() ? "callback" + std::to_string(entries_.size() + 1) : options.name;
  const auto taken = [this](const std::string& n) {
    return std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) { return e->name == n; });
  };
  if (taken(name)) {
    int k = 2;
    while (taken(name + "#" + std::to_string(k))) ++k;
    name += "#" + std::to_string(k);
  }
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->config.name = name;
  e->config.cadence = {options.every_n_steps, options.every_n_epochs, std::move(options.at_steps), options.train,
                       options.validation};
  std::sort(e->config.cadence.at_steps.begin(), e->config.cadence.at_steps.end());
  e->config.on_error = options.on_error;
  e->config.source = "callback '" + name + "'";
  e->owned = std::move(plugin);
  e->plugin = e->owned.get();
  // Virtual dispatch on the base class; the same catch-everything wrapper as a library's.
  e->invoke = &detail::invoke_hook<Plugin>;
  e->options = &e->config.options;
  e->hooks = hooks;
  e->always = fires_always(e->config.cadence);
  entries_.push_back(std::move(e));
  rebuild_subscribers();
  return name;
}

size_t HookBus::size() const { return entries_.size(); }

std::vector<std::string> HookBus::plugin_names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e->name);
  return out;
}

std::vector<std::pair<std::string, std::string>> HookBus::disabled() const { return disabled_; }

}  // namespace trainscope
