// Types for SummaryWriter::add_hparams / hparams_start / hparams_end and the HParams
// dashboard (torch-free). See docs/hparams.md for what TensorBoard shows.
#pragma once

#include <concepts>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace trainscope {

namespace detail {
template <typename T>
concept HParamNumber = std::is_arithmetic_v<T> && !std::same_as<T, bool>;
}  // namespace detail

// One hyperparameter value: a number (any arithmetic type, stored as double), a real bool
// (PyTorch writes bools as numbers; TensorBoard has a bool type) or text. A default-constructed
// value is "none", which add_hparams refuses.
class HParamValue {
 public:
  enum class Type { kNone, kNumber, kBool, kString };

  HParamValue() = default;
  template <std::same_as<bool> B>
  HParamValue(B value) : value_(static_cast<bool>(value)) {}  // NOLINT(google-explicit-constructor)
  template <detail::HParamNumber T>
  HParamValue(T value) : value_(static_cast<double>(value)) {}         // NOLINT(google-explicit-constructor)
  HParamValue(const char* value) : value_(std::string(value)) {}       // NOLINT(google-explicit-constructor)
  HParamValue(std::string value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  HParamValue(std::string_view value) : value_(std::string(value)) {}  // NOLINT(google-explicit-constructor)

  Type type() const { return static_cast<Type>(value_.index()); }
  bool is_none() const { return type() == Type::kNone; }
  // Precondition: the matching type() (std::bad_variant_access otherwise).
  double number() const { return std::get<double>(value_); }
  bool boolean() const { return std::get<bool>(value_); }
  const std::string& string() const { return std::get<std::string>(value_); }

  friend bool operator==(const HParamValue& a, const HParamValue& b) { return a.value_ == b.value_; }

 private:
  // Alternative order matches Type.
  std::variant<std::monostate, double, bool, std::string> value_;
};

using HParams = std::map<std::string, HParamValue>;

// How a session ended, as the HParams dashboard shows it. hparams_end accepts kSuccess and
// kFailure; TensorBoard shows kUnknown for a session that has no end record at all.
enum class SessionStatus { kUnknown = 0, kSuccess = 1, kFailure = 2, kRunning = 3 };

struct HParamsOptions {
  // Allowed values of an hparam, shown as its discrete domain: every value of the hparam's
  // own type, and the hparam's value among them.
  std::map<std::string, std::vector<HParamValue>> domain_discrete;
  // [min, max] of a numeric hparam, holding its value, shown as its interval domain.
  std::map<std::string, std::pair<double, double>> domain_interval;
  // Where the session is written. Default: this writer's own run, so no extra run appears
  // and the session's metrics are the run's own scalar tags.
  // pytorch_child_run: PyTorch's layout, a child run <log_dir>/<str(time.time())>.
  // run_name: a child run <log_dir>/<run_name> (PyTorch's run_name argument).
  bool pytorch_child_run = false;
  std::string run_name;
  std::string description;  // Experiment.description
  // Sessions with the same group name form one row of the dashboard (metrics averaged).
  std::string group_name;
  // Step of the hparams records and of add_hparams' metric scalars (default 0, as PyTorch).
  std::optional<int64_t> step;
};

}  // namespace trainscope
