// check_sweep_params and trial_overrides (sweep_config.h): a parameter is checked by applying
// its values to the configuration exactly as a trial applies them (`--set key=value`), so what
// is accepted here is what the trials will get.
#include <algorithm>

#include "trainscope/models.h"
#include "trainscope/model_options.h"
#include "trainscope/sweep_config.h"

namespace trainscope {

namespace {

// The values a trial can give `d`: every choice; both ends of a range.
std::vector<sweep::ParamValue> probe_values(const sweep::Distribution& d) {
  std::vector<sweep::ParamValue> out;
  if (const auto* c = std::get_if<sweep::CategoricalDistribution>(&d)) {
    for (const auto& choice : c->choices) out.emplace_back(choice);
  } else if (const auto* f = std::get_if<sweep::FloatDistribution>(&d)) {
    out.emplace_back(f->low);
    if (f->high != f->low) out.emplace_back(f->high);
  } else {
    const auto& i = std::get<sweep::IntDistribution>(d);
    out.emplace_back(i.low);
    if (i.high != i.low) out.emplace_back(i.high);
  }
  return out;
}

// "--set trainer.lr=0: trainer.lr must be > 0" -> "trainer.lr must be > 0".
std::string strip_origin(const std::string& problem, const std::string& origin) {
  if (problem.rfind(origin + ": ", 0) == 0) return problem.substr(origin.size() + 2);
  return problem;
}

}  // namespace

std::vector<std::string> check_sweep_params(const SweepConfig& sweep, const ConfigFile& file,
                                            const PluginCatalog& catalog, const RunConfig& config) {
  std::vector<std::string> problems;
  for (const auto& p : sweep.params) {
    auto loc = sweep.locations.find("sweep.params." + p.name);
    const std::string at =
        (loc != sweep.locations.end() ? loc->second : config.file) + ": sweep.params.\"" + p.name + "\": ";
    const size_t dot = p.name.find('.');
    const std::string section = p.name.substr(0, dot);
    if (dot == std::string::npos) {
      problems.push_back(at + "a parameter names a configuration key as --set does: section.key (e.g. trainer.lr)");
      continue;
    }
    if (p.name == "run.name" || p.name == "run.log_dir" || section == "sweep") {
      problems.push_back(at + "the sweep sets this key itself (each trial runs in <run.log_dir>/<study>/trial-<n>)");
      continue;
    }
    if (section == "plugin") {
      const size_t second = p.name.find('.', dot + 1);
      const std::string plugin =
          p.name.substr(dot + 1, second == std::string::npos ? std::string::npos : second - dot - 1);
      const bool configured = std::any_of(config.plugins.begin(), config.plugins.end(),
                                          [&](const PluginConfig& pc) { return pc.name == plugin; });
      if (!configured && second != std::string::npos) {
        std::vector<std::string> names;
        for (const auto& pc : config.plugins) names.push_back(pc.name);
        const std::string near = nearest(plugin, names);
        problems.push_back(at + "plugin '" + plugin + "' is not configured: add a [[plugin]] table for it" +
                           (near.empty() ? std::string() : "; did you mean '" + near + "'?"));
        continue;
      }
    }
    if (section == "model" && p.name.find('.', dot + 1) == std::string::npos && p.name != "model.name") {
      // Model options are free-form in the configuration; the model itself knows its options.
      const std::string option = p.name.substr(dot + 1);
      std::vector<std::string> known;
      if (const auto* specs = model_options(config.model.name)) {
        for (const auto& spec : *specs) known.push_back(spec.name);
        std::sort(known.begin(), known.end());
      }
      if (std::find(known.begin(), known.end(), option) == known.end()) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        const std::string near = nearest(option, known);
        problems.push_back(at + "model '" + config.model.name + "' has no option '" + option + "' (options: " + list +
                           ")" + (near.empty() ? std::string() : "; did you mean 'model." + near + "'?"));
        continue;
      }
    }
    for (const auto& value : probe_values(p.distribution)) {
      const std::string set = p.name + "=" + sweep::to_config_text(value);
      try {
        (void)file.with_overrides({set}).read(catalog);
      } catch (const ConfigError& e) {
        for (const auto& problem : e.problems()) {
          problems.push_back(at + "value " + sweep::to_config_text(value) +
                             " is refused: " + strip_origin(problem, "--set " + set));
        }
        break;  // one refused value says enough about this parameter
      }
    }
  }
  return problems;
}

std::vector<std::string> trial_overrides(const sweep::SearchSpace& space, const std::map<std::string, double>& params) {
  std::vector<std::string> out;
  for (const auto& p : space) {
    auto it = params.find(p.name);
    if (it == params.end()) continue;
    out.push_back(p.name + "=" + sweep::to_config_text(sweep::to_external(p.distribution, it->second)));
  }
  return out;
}

}  // namespace trainscope
