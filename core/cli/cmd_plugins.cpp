// trainscope plugins: what is on the plugin search path (name, version, ABI, hooks, options
// with type/default/help/constraints) and which libraries were refused, and why.
#include <algorithm>
#include <boost/filesystem/operations.hpp>
#include <cstdio>
#include <string>
#include <type_traits>
#include <variant>

#include "commands.h"
#include "trainscope/plugin_loader.h"

namespace {

std::string to_text(const trainscope::OptionValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%g", x);
          std::string s = buf;
          if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // TOML float syntax
          return s;
        } else if constexpr (std::is_same_v<T, std::string>) {
          return "\"" + x + "\"";
        } else {
          std::string s = "[";
          for (size_t i = 0; i < x.size(); ++i) s += (i ? ", \"" : "\"") + x[i] + "\"";
          return s + "]";
        }
      },
      v);
}

std::string hooks_of(trainscope::HookMask mask) {
  std::string out;
  for (int h = 0; h < trainscope::kHookCount; ++h) {
    if (mask & trainscope::hook_bit(static_cast<trainscope::Hook>(h))) {
      out += (out.empty() ? "" : ", ") + std::string(trainscope::hook_name(static_cast<trainscope::Hook>(h)));
    }
  }
  return out.empty() ? "(none)" : out;
}

}  // namespace

int cmd_plugins(const std::vector<std::string>& args) {
  CommonArgs a;
  std::string error;
  if (!parse_common_args(args, a, &error)) return usage_error("plugins", error);
  if (!a.positional.empty() || !a.overrides.empty()) return usage_error("plugins", "takes only --path DIR");

  const auto path = trainscope::plugin_search_path(a.paths);
  const auto catalog = trainscope::discover_plugins(path);
  std::printf("plugin search path:\n");
  for (const auto& dir : path) {
    boost::system::error_code ec;
    std::printf("  %s%s\n", dir.c_str(), boost::filesystem::is_directory(dir, ec) ? "" : "  (not found)");
  }

  std::printf("\n%zu plugin%s:\n", catalog.libraries.size(), catalog.libraries.size() == 1 ? "" : "s");
  for (const auto& name : catalog.names()) {
    const auto lib = catalog.find(name);
    const auto& d = lib->descriptor();
    std::printf("\n%s %s  (plugin ABI %u.%u)\n  file:  %s\n  hooks: %s\n", d.name, d.version, d.abi_major, d.abi_minor,
                lib->path().c_str(), hooks_of(d.hooks).c_str());
    const auto& options = lib->options();
    if (options.empty()) {
      std::printf("  options: none\n");
      continue;
    }
    std::printf("  options:\n");
    size_t width = 0;
    for (const auto& o : options) width = std::max(width, o.name.size());
    for (const auto& o : options) {
      const std::string allowed = trainscope::describe_constraints(o);
      std::printf("    %-*s  %-11s = %-12s %s%s\n", static_cast<int>(width), o.name.c_str(),
                  trainscope::option_type_name(o.type), to_text(o.default_value).c_str(), o.help.c_str(),
                  allowed.empty() ? "" : ("  [" + allowed + "]").c_str());
    }
  }
  if (!catalog.shadowed.empty()) {
    std::printf("\nshadowed (a library earlier on the path has the same plugin name):\n");
    for (const auto& s : catalog.shadowed) std::printf("  %s\n", s.c_str());
  }
  if (!catalog.refusals.empty()) {
    std::printf("\nrefused:\n");
    for (const auto& r : catalog.refusals) std::printf("  %s\n", r.c_str());
  }
  return 0;
}
