// Private to trainscope::sweep: JSON as Python's json module and Optuna write it (the bare
// NaN/Infinity tokens, isoformat datetimes, distribution_to_json), over nlohmann::ordered_json
// (Python keeps a dict's insertion order, and so do we).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "trainscope/sweep/types.h"

namespace trainscope::sweep::detail {

using json = nlohmann::ordered_json;
using TimePoint = std::chrono::system_clock::time_point;

// One record or value; NaN, Infinity and -Infinity become marker strings that the helpers below
// read as numbers and `dump` writes back as the bare tokens. Throws json::exception.
json parse_record(std::string_view text);
std::string dump(const json& j);
json number_json(double x);
double to_double(const json& j);
int64_t to_int(const json& j);
// values[0] of a one-element "values" list; nullopt otherwise (none, or several objectives).
std::optional<double> single_value(const json& values);
json choice_json(const Choice& c);
Choice choice_from(const json& j);
json distribution_obj(const Distribution& d);
Distribution distribution_from(const json& j);
// {key: value} -> key -> value's JSON text.
std::map<std::string, std::string> attrs_from(const json& j);

// Python's datetime.isoformat(timespec="microseconds") of a UTC time: 2026-01-02T03:04:05.000006+00:00
std::string format_iso_utc(TimePoint t);
// What datetime.fromisoformat accepts in practice (offset, "Z", or none = local time).
std::optional<TimePoint> parse_iso(std::string_view text);

// Optuna's distribution_to_json / json_to_distribution (JSON text both ways; the legacy class
// names and the abbreviated {"type": ...} form are read too).
std::string distribution_to_json(const Distribution& d);
Distribution distribution_from_json(std::string_view text);

// JSON text of a double as Python's json.dumps writes it (NaN, Infinity, -Infinity included).
std::string json_number(double x);
// Checks that `json` is one JSON value (Python's NaN/Infinity tokens allowed) and returns it
// normalised; throws std::invalid_argument otherwise.
std::string normalise_json(std::string_view json);

}  // namespace trainscope::sweep::detail
