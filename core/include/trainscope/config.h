// Reading a RunConfig from TOML and checking it. Every problem is reported at once, one per
// line, as "file:line:column: message" (unknown keys come with the nearest valid key).
//
//   [run] [trainer] [data] [model] [hparams]   see run_config.h for keys and defaults
//   [[plugin]]                                 one table per plugin, called in FILE ORDER
//   name = "grad_norm"                         required, a plugin on the search path
//   enabled = true                             false: configured but not loaded
//   every_n_steps = 50 / at_steps = [1, 100]   step-hook cadence (default: every step)
//   every_n_epochs = 2                         epoch-hook cadence (default: every epoch)
//   phases = ["train", "validation"]           which phases' hooks it receives
//   on_error = "disable" | "abort"             policy when one of its hooks throws
//   max_norm = 5.0                             the plugin's own options (its schema)
//
// Typical use (the CLI does this):
//   auto catalog = discover_plugins(plugin_search_path(config_plugin_path(file, overrides)));
//   RunConfig config = load_config(file, catalog, overrides);
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/export.h"
#include "trainscope/plugin_loader.h"
#include "trainscope/run_config.h"

namespace trainscope {

// Every problem of a configuration; what() is problems() joined by newlines.
class TRAINSCOPE_API ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Parses `text` (named `source_name` in messages), validates types, keys, plugin names and
// options against `catalog`, then value ranges (validate()). `overrides` are "key=value"
// strings applied before validation, e.g. "trainer.lr=0.01" or "plugin.grad_norm.max_norm=2"
// (the value is TOML: 0.01, true, [1, 2], "text"; a bare word is taken as a string; a
// plugin.<name>.<key> override for a plugin without a [[plugin]] table appends one).
// Relative run.plugin_path entries are resolved against the directory of `source_name`.
// Throws ConfigError.
TRAINSCOPE_API RunConfig parse_config(std::string_view text, const std::string& source_name,
                                      const PluginCatalog& catalog, const std::vector<std::string>& overrides = {});

// Reads the file and calls parse_config; a file that cannot be read is a ConfigError too.
TRAINSCOPE_API RunConfig load_config(const std::string& path, const PluginCatalog& catalog,
                                     const std::vector<std::string>& overrides = {});

// Only run.plugin_path of the file (resolved as above), to build the catalog load_config
// needs. Any error yields what could be read: load_config reports it.
TRAINSCOPE_API std::vector<std::string> config_plugin_path(const std::string& path,
                                                           const std::vector<std::string>& overrides = {});

// Value checks that need no TOML: enums (optimizer, scheduler, precision, device, dataset,
// model name), ranges (epochs >= 1, batch_size >= 1, lr > 0, ...), plugin cadences. Returns
// the problems (empty: valid), located through config.locations when known. parse_config
// calls it; call it yourself for a RunConfig built in code.
TRAINSCOPE_API std::vector<std::string> validate(const RunConfig& config);

// Levenshtein (with transpositions) distance, and the candidate closest to `word` when close
// enough to be a likely typo ("" otherwise). Exposed for the CLI and tests.
TRAINSCOPE_API size_t edit_distance(std::string_view a, std::string_view b);
TRAINSCOPE_API std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace trainscope
