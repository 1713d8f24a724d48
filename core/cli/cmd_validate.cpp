// trainscope validate CONFIG: parses and checks a configuration against the plugins on the
// search path; prints "CONFIG: ok (N plugins: a, b)" or every problem (exit 1).
#include <cstdio>

#include "commands.h"
#include "trainscope/run.h"

int cmd_validate(const std::vector<std::string>& args) {
  CommonArgs a;
  std::string error;
  if (!parse_common_args(args, a, &error)) return usage_error("validate", error);
  if (a.positional.size() != 1) return usage_error("validate", "expected one CONFIG.toml");
  const std::string& file = a.positional.front();

  try {
    const trainscope::RunConfig config = trainscope::load_run(file, a.overrides, {a.paths, nullptr}).config;
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
    std::printf(")\n");
    return 0;
  } catch (const trainscope::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    std::fprintf(stderr, "%s: %zu problem%s\n", file.c_str(), e.problems().size(), e.problems().size() == 1 ? "" : "s");
    return 1;
  }
}
