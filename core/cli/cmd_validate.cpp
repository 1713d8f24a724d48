// trainscope validate CONFIG: parses and checks a configuration against the plugins on the
// search path; prints "CONFIG: ok (N plugins: a, b)" or every problem (exit 1).
#include <cstdio>

#include "commands.h"
#include "trainscope/run.h"
#include "trainscope/sweep_config.h"

int cmd_validate(const std::vector<std::string>& args) {
  CommonArgs a;
  std::string error;
  if (!parse_common_args(args, a, &error)) return usage_error("validate", error);
  if (a.positional.size() != 1) return usage_error("validate", "expected one CONFIG.toml");
  const std::string& file = a.positional.front();

  try {
    const trainscope::ConfigFile config_file = trainscope::ConfigFile::load(file, a.overrides);
    const trainscope::RunSpec spec = trainscope::load_run(config_file, {a.paths, nullptr});
    const trainscope::RunConfig& config = spec.config;
    // A [sweep] table (trainscope sweep) is checked as `trainscope sweep` checks it.
    std::string sweep_note;
    if (trainscope::has_sweep_table(config)) {
      std::vector<std::string> sweep_sets;
      for (const auto& o : a.overrides) {
        if (o.rfind("sweep.", 0) == 0) sweep_sets.push_back(o);
      }
      const trainscope::SweepConfig sweep = trainscope::read_sweep(config, sweep_sets);
      auto problems = trainscope::check_sweep_params(sweep, config_file, *spec.catalog, config);
      if (!problems.empty()) throw trainscope::ConfigError(std::move(problems));
      sweep_note = "; sweep '" + sweep.study + "': " + std::to_string(sweep.params.size()) + " parameter" +
                   (sweep.params.size() == 1 ? "" : "s") + ", " + sweep.sampler.kind + " sampler, " +
                   sweep.pruner.kind + " pruner";
    }
    std::vector<std::string> enabled, disabled;
    for (const auto& p : config.plugins) (p.enabled ? enabled : disabled).push_back(p.name);
    std::string list;
    for (const auto& n : enabled) list += (list.empty() ? "" : ", ") + n;
    std::printf("%s: ok (%zu plugin%s%s%s", file.c_str(), enabled.size(), enabled.size() == 1 ? "" : "s",
                enabled.empty() ? "" : ": ", list.c_str());
    if (!disabled.empty()) {
      std::string off;
      for (const auto& n : disabled) off += (off.empty() ? "" : ", ") + n;
      std::printf("; disabled: %s", off.c_str());
    }
    std::printf(")%s\n", sweep_note.c_str());
    return 0;
  } catch (const trainscope::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::fprintf(stderr, "%s: %zu problem%s\n", file.c_str(), e.problems().size(), e.problems().size() == 1 ? "" : "s");
    return 1;
  }
}
