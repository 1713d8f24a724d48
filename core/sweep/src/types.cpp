// Conversions between a parameter's external value and Optuna's internal representation.
#include "trainscope/sweep/types.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <type_traits>

namespace trainscope::sweep {

const char* to_string(TrialState state) {
  switch (state) {
    case TrialState::kRunning: return "RUNNING";
    case TrialState::kComplete: return "COMPLETE";
    case TrialState::kPruned: return "PRUNED";
    case TrialState::kFail: return "FAIL";
    case TrialState::kWaiting: return "WAITING";
  }
  return "UNKNOWN";
}

const char* to_string(Direction direction) {
  switch (direction) {
    case Direction::kNotSet: return "NOT_SET";
    case Direction::kMinimize: return "MINIMIZE";
    case Direction::kMaximize: return "MAXIMIZE";
  }
  return "UNKNOWN";
}

namespace {

bool on_step(double value, double low, double step) {
  const double k = (value - low) / step;
  return std::fabs(k - std::round(k)) <= 1e-8 * std::max(1.0, std::fabs(k));
}

}  // namespace

bool contains(const Distribution& d, double internal) {
  if (!std::isfinite(internal)) return false;
  if (const auto* f = std::get_if<FloatDistribution>(&d)) {
    if (internal < f->low || internal > f->high) return false;
    return !f->step || on_step(internal, f->low, *f->step);
  }
  if (const auto* i = std::get_if<IntDistribution>(&d)) {
    if (internal != std::round(internal)) return false;
    if (internal < static_cast<double>(i->low) || internal > static_cast<double>(i->high)) return false;
    return i->step <= 1 || on_step(internal, static_cast<double>(i->low), static_cast<double>(i->step));
  }
  const auto& c = std::get<CategoricalDistribution>(d);
  return internal == std::round(internal) && internal >= 0 && internal < static_cast<double>(c.choices.size());
}

ParamValue to_external(const Distribution& d, double internal) {
  if (!contains(d, internal)) throw std::invalid_argument("value outside the parameter's distribution");
  if (std::holds_alternative<FloatDistribution>(d)) return internal;
  if (std::holds_alternative<IntDistribution>(d)) return static_cast<int64_t>(std::llround(internal));
  return std::get<CategoricalDistribution>(d).choices[static_cast<size_t>(internal)];
}

double to_internal(const Distribution& d, const ParamValue& value) {
  double internal = 0.0;
  if (const auto* c = std::get_if<CategoricalDistribution>(&d)) {
    const auto* choice = std::get_if<Choice>(&value);
    if (choice == nullptr) throw std::invalid_argument("a categorical parameter takes one of its choices");
    for (size_t k = 0; k < c->choices.size(); ++k) {
      if (c->choices[k] == *choice) return static_cast<double>(k);
    }
    throw std::invalid_argument("not one of the parameter's choices");
  }
  if (const auto* x = std::get_if<double>(&value)) {
    internal = *x;
  } else if (const auto* n = std::get_if<int64_t>(&value)) {
    internal = static_cast<double>(*n);
  } else {
    throw std::invalid_argument("a numeric parameter takes a number");
  }
  if (!contains(d, internal)) throw std::invalid_argument("value outside the parameter's distribution");
  return internal;
}

std::string to_config_text(const ParamValue& value) {
  char buf[64];
  auto number = [&](double x) {
    // The shortest text that reads back as the same double (0.005, not 0.0050000000000000001).
    const auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
    std::string s(buf, end);
    // TOML needs a float to look like one.
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  };
  return std::visit(
      [&](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, double>) {
          return number(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(v);
        } else {
          return std::visit(
              [&](const auto& c) -> std::string {
                using C = std::decay_t<decltype(c)>;
                if constexpr (std::is_same_v<C, std::monostate>) {
                  return "\"\"";
                } else if constexpr (std::is_same_v<C, bool>) {
                  return c ? "true" : "false";
                } else if constexpr (std::is_same_v<C, int64_t>) {
                  return std::to_string(c);
                } else if constexpr (std::is_same_v<C, double>) {
                  return number(c);
                } else {
                  std::string out = "\"";
                  for (char ch : c) {
                    if (ch == '"' || ch == '\\') out += '\\';
                    out += ch;
                  }
                  return out + "\"";
                }
              },
              v);
        }
      },
      value);
}

}  // namespace trainscope::sweep
