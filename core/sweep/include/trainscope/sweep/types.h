// The data model of a hyperparameter study, shared by the sampler, the pruner, the storage and
// the `trainscope sweep` command. It mirrors Optuna's (optuna==5.0.0) so that a study moves
// between the two through Optuna's journal storage without translation:
//   - a parameter value is stored in its "internal representation": a double for float and
//     int distributions, the index of the choice for a categorical one;
//   - trial and study states use Optuna's numeric codes (they are written to the journal).
// Torch-free: trainscope::sweep links nothing but the standard library (and hiredis for the
// Redis journal).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace trainscope::sweep {

// optuna.trial.TrialState
enum class TrialState : int { kRunning = 0, kComplete = 1, kPruned = 2, kFail = 3, kWaiting = 4 };
// optuna.study.StudyDirection
enum class Direction : int { kNotSet = 0, kMinimize = 1, kMaximize = 2 };

const char* to_string(TrialState state);  // "RUNNING", "COMPLETE", ...
const char* to_string(Direction direction);  // "MINIMIZE", "MAXIMIZE"
inline bool is_finished(TrialState s) {
  return s == TrialState::kComplete || s == TrialState::kPruned || s == TrialState::kFail;
}

// optuna.distributions.FloatDistribution: [low, high], log-scaled or with a step (not both).
struct FloatDistribution {
  double low = 0.0;
  double high = 1.0;
  bool log = false;
  std::optional<double> step;
  bool operator==(const FloatDistribution&) const = default;
};
// optuna.distributions.IntDistribution: [low, high] with step (step 1 when log).
struct IntDistribution {
  int64_t low = 0;
  int64_t high = 1;
  bool log = false;
  int64_t step = 1;
  bool operator==(const IntDistribution&) const = default;
};
// A categorical choice as Optuna stores it in JSON: null, bool, int, float or string.
using Choice = std::variant<std::monostate, bool, int64_t, double, std::string>;
// optuna.distributions.CategoricalDistribution
struct CategoricalDistribution {
  std::vector<Choice> choices;
  bool operator==(const CategoricalDistribution&) const = default;
};
using Distribution = std::variant<FloatDistribution, IntDistribution, CategoricalDistribution>;

// One parameter of the search space; `name` is the config key it sets (as --set takes it,
// e.g. "trainer.lr" or "plugin.scalars.every_n_steps").
struct Parameter {
  std::string name;
  Distribution distribution;
};
// In declaration order (samplers that draw from one random stream rely on it).
using SearchSpace = std::vector<Parameter>;

// Optuna's FrozenTrial, as far as trainscope uses it.
struct Trial {
  int64_t trial_id = -1;  // storage-wide id (journal: the order of creation over all studies)
  int64_t number = -1;    // within the study, from 0
  TrialState state = TrialState::kRunning;
  std::map<std::string, double> params;  // internal representation
  std::map<std::string, Distribution> distributions;
  std::optional<double> value;  // single objective
  std::map<int64_t, double> intermediate_values;  // step -> reported value
  // Attribute values as JSON text (Optuna stores arbitrary JSON there).
  std::map<std::string, std::string> user_attrs;
  std::map<std::string, std::string> system_attrs;
  std::optional<std::chrono::system_clock::time_point> datetime_start;
  std::optional<std::chrono::system_clock::time_point> datetime_complete;
};

// The external (user-facing) value of an internal representation: a double for a float,
// an int64_t for an int, the Choice itself for a categorical.
using ParamValue = std::variant<double, int64_t, Choice>;
ParamValue to_external(const Distribution& d, double internal);
// Inverse of to_external; throws std::invalid_argument if `value` is not in `d`.
double to_internal(const Distribution& d, const ParamValue& value);
// True when `internal` is a value `d` can take (in range, on the step grid, a valid index).
bool contains(const Distribution& d, double internal);
// TOML/--set text of an external value: 0.001, 64, "adam", true.
std::string to_config_text(const ParamValue& value);

}  // namespace trainscope::sweep
