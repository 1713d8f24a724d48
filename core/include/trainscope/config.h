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
// A file is read and parsed once (ConfigFile): its run.plugin_path says where the plugins are,
// and the rest is checked against the plugins found there. run.h does both for a training run:
//   RunSpec spec = load_run("job.toml", {"trainer.epochs=1"});   // spec.config, spec.catalog
#pragma once

#include <memory>
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

// One configuration file (or text), read and parsed once with its overrides applied. Its
// run.plugin_path is known before any plugin catalog exists (it says where to look for the
// plugins), and read() then checks the same parsed tree against the catalog. A file that
// cannot be read, a TOML syntax error or a bad override is reported by read(), with every
// other problem. Cheap to copy (the parse is shared).
class TRAINSCOPE_API ConfigFile {
 public:
  // Never throws for the file's content: problems wait for read().
  static ConfigFile load(const std::string& path, const std::vector<std::string>& overrides = {});
  static ConfigFile from_text(std::string text, std::string source_name,
                              const std::vector<std::string>& overrides = {});
  // The same text with `more` overrides after this one's, for one trial of a search. It is
  // parsed again: TOML++ does not copy source positions with a tree, and messages need them.
  ConfigFile with_overrides(const std::vector<std::string>& more) const;

  const std::string& source_name() const;
  // run.plugin_path (overrides applied), relative entries resolved against the file's
  // directory; what could be read when the file has problems.
  const std::vector<std::string>& plugin_path() const;
  // The RunConfig, checked against `catalog` as parse_config does. Throws ConfigError.
  RunConfig read(const PluginCatalog& catalog) const;

  struct State;  // defined in config.cpp (the only file that sees TOML++)

 private:
  explicit ConfigFile(std::shared_ptr<const State> state);
  std::shared_ptr<const State> state_;
};

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
