// check_layer_options: plugin options that name layers (`layer`, `layers`) checked against the
// layers a model is known to have before it runs (a TorchScript model's module paths).
#include <trainscope/glob.h>

#include <algorithm>
#include <utility>

#include "trainscope/config.h"
#include "trainscope/models.h"

namespace trainscope {
namespace {

// The `count` paths closest to `name` (edit distance, then order of the model's calls).
std::string nearest_paths(const std::string& name, const std::vector<std::string>& paths, size_t count) {
  std::vector<std::pair<size_t, size_t>> ranked;  // distance, index
  for (size_t i = 0; i < paths.size(); ++i) ranked.emplace_back(edit_distance(name, paths[i]), i);
  std::stable_sort(ranked.begin(), ranked.end());
  std::string out;
  for (size_t i = 0; i < ranked.size() && i < count; ++i) out += (i ? ", " : "") + paths[ranked[i].second];
  return out;
}

}  // namespace

void check_layer_options(const RunConfig& config, const Model& model) {
  const std::vector<std::string> paths = model.layer_names();
  if (paths.empty()) return;  // layers known only at run time (trainscope::tap in C++ models)
  std::vector<std::string> problems;
  for (const auto& plugin : config.plugins) {
    if (!plugin.enabled) continue;
    for (const char* key : {"layer", "layers"}) {
      if (!plugin.options.has(key)) continue;
      std::vector<std::string> names;
      const OptionValue& value = plugin.options.values().at(key);
      if (const auto* one = std::get_if<std::string>(&value)) names.push_back(*one);
      if (const auto* many = std::get_if<std::vector<std::string>>(&value)) names = *many;
      const std::string option = "plugin." + plugin.name + "." + key;
      auto where = config.locations.find(option);
      const bool set = where != config.locations.end();
      const std::string at =
          set ? where->second : (plugin.source.empty() ? "[[plugin]] " + plugin.name : plugin.source);
      for (const auto& name : names) {
        const bool glob = has_glob(name);
        const bool found =
            glob ? std::any_of(paths.begin(), paths.end(), [&](const auto& p) { return glob_match(name, p); })
                 : std::find(paths.begin(), paths.end(), name) != paths.end();
        if (found) continue;
        problems.push_back(at + ": " + option + (set ? "" : " (default)") + " = \"" + name +
                           "\": the TorchScript model has no module " + (glob ? "matching" : "at path") + " '" + name +
                           "'; nearest module paths: " + nearest_paths(name, paths, 6) + " (" +
                           std::to_string(paths.size()) + " in all; set " + key + " to one of them)");
      }
    }
  }
  if (!problems.empty()) throw ConfigError(std::move(problems));
}

}  // namespace trainscope
