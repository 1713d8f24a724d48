// JSON as Python's json module and Optuna write it: the bare NaN/Infinity tokens, datetimes from
// datetime.isoformat, distributions as distribution_to_json makes them (see journal_ops.cpp for
// the format facts).
#include "journal_json.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace trainscope::sweep::detail {

namespace {

// nlohmann::json knows no NaN/Infinity tokens: outside strings they become these marker
// strings (starting with the control character U+0001, which no real value starts with) and
// are turned back into tokens when we dump.
constexpr const char* kNaN = "\x01NaN";
constexpr const char* kInf = "\x01Infinity";
constexpr const char* kNegInf = "\x01-Infinity";

std::string protect_non_finite(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 16);
  bool in_string = false;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < in.size()) {
        out += in[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    auto token = [&](std::string_view t) { return in.substr(i, t.size()) == t; };
    if (token("NaN")) {
      out += "\"\\u0001NaN\"";
      i += 2;
    } else if (token("-Infinity")) {
      out += "\"\\u0001-Infinity\"";
      i += 8;
    } else if (token("Infinity")) {
      out += "\"\\u0001Infinity\"";
      i += 7;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

json parse_record(std::string_view text) { return json::parse(protect_non_finite(text)); }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

std::string dump(const json& j) {
  std::string s = j.dump();
  replace_all(s, "\"\\u0001NaN\"", "NaN");
  replace_all(s, "\"\\u0001-Infinity\"", "-Infinity");
  replace_all(s, "\"\\u0001Infinity\"", "Infinity");
  return s;
}

json number_json(double x) {
  if (std::isnan(x)) return kNaN;
  if (std::isinf(x)) return x > 0 ? kInf : kNegInf;
  return x;
}

double to_double(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == kNaN) return std::nan("");
    if (s == kInf) return HUGE_VAL;
    if (s == kNegInf) return -HUGE_VAL;
  }
  throw std::invalid_argument("expected a number, got " + j.dump());
}

std::optional<double> single_value(const json& values) {
  if (values.is_array() && values.size() == 1) return to_double(values[0]);
  return std::nullopt;
}

json choice_json(const Choice& c) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, double>) {
          return number_json(v);
        } else {
          return v;
        }
      },
      c);
}

Choice choice_from(const json& j) {
  if (j.is_null()) return std::monostate{};
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (!s.empty() && s[0] == '\x01') return to_double(j);
    return s;
  }
  throw std::invalid_argument("a categorical choice must be null, a bool, a number or a string");
}

json distribution_obj(const Distribution& d) {
  if (const auto* f = std::get_if<FloatDistribution>(&d)) {
    json a = {{"step", f->step ? json(*f->step) : json(nullptr)}, {"low", f->low}, {"high", f->high}, {"log", f->log}};
    return {{"name", "FloatDistribution"}, {"attributes", a}};
  }
  if (const auto* i = std::get_if<IntDistribution>(&d)) {
    json a = {{"log", i->log}, {"step", i->step}, {"low", i->low}, {"high", i->high}};
    return {{"name", "IntDistribution"}, {"attributes", a}};
  }
  json choices = json::array();
  for (const auto& c : std::get<CategoricalDistribution>(d).choices) choices.push_back(choice_json(c));
  return {{"name", "CategoricalDistribution"}, {"attributes", {{"choices", choices}}}};
}

int64_t to_int(const json& j) {
  if (j.is_number_integer()) return j.get<int64_t>();
  const double x = to_double(j);
  if (x != std::round(x)) throw std::invalid_argument("expected an integer, got " + j.dump());
  return static_cast<int64_t>(x);
}

Distribution distribution_from(const json& j) {
  auto float_dist = [](const json& a, bool log, std::optional<double> step) {
    FloatDistribution f;
    f.low = to_double(a.at("low"));
    f.high = to_double(a.at("high"));
    f.log = log;
    f.step = step;
    return Distribution(f);
  };
  auto int_dist = [](const json& a, bool log) {
    IntDistribution i;
    i.low = to_int(a.at("low"));
    i.high = to_int(a.at("high"));
    i.log = log;
    i.step = a.contains("step") && !a["step"].is_null() ? to_int(a["step"]) : 1;
    return Distribution(i);
  };
  auto categorical = [](const json& choices) {
    CategoricalDistribution c;
    for (const auto& x : choices) c.choices.push_back(choice_from(x));
    return Distribution(c);
  };
  auto opt_step = [](const json& a, const char* key) -> std::optional<double> {
    if (!a.contains(key) || a[key].is_null()) return std::nullopt;
    return to_double(a[key]);
  };
  if (j.contains("name")) {
    const std::string name = j.at("name").get<std::string>();
    const json& a = j.at("attributes");
    if (name == "FloatDistribution") return float_dist(a, a.value("log", false), opt_step(a, "step"));
    if (name == "UniformDistribution") return float_dist(a, false, std::nullopt);
    if (name == "LogUniformDistribution") return float_dist(a, true, std::nullopt);
    if (name == "DiscreteUniformDistribution") return float_dist(a, false, opt_step(a, "q"));
    if (name == "IntDistribution") return int_dist(a, a.value("log", false));
    if (name == "IntUniformDistribution") return int_dist(a, false);
    if (name == "IntLogUniformDistribution") return int_dist(a, true);
    if (name == "CategoricalDistribution") return categorical(a.at("choices"));
    throw std::invalid_argument("unknown distribution class " + name);
  }
  const std::string type = j.at("type").get<std::string>();
  if (type == "categorical") return categorical(j.at("choices"));
  if (type == "float") return float_dist(j, j.value("log", false), opt_step(j, "step"));
  if (type == "int") return int_dist(j, j.value("log", false));
  throw std::invalid_argument("unknown distribution type " + type);
}

std::map<std::string, std::string> attrs_from(const json& j) {
  std::map<std::string, std::string> out;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) out[k] = dump(v);
  }
  return out;
}

std::string format_iso_utc(TimePoint t) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  return buf;
}

std::optional<TimePoint> parse_iso(std::string_view s) {
  int Y = 0, M = 0, D = 0, h = 0, m = 0, sec = 0;
  size_t pos = 0;
  auto digits = [&](int n, int* out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (int k = 0; k < n; ++k) {
      const char c = s[pos + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    pos += n;
    return true;
  };
  auto expect = [&](char c) {
    if (pos < s.size() && s[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  };
  if (!digits(4, &Y) || !expect('-') || !digits(2, &M) || !expect('-') || !digits(2, &D)) return std::nullopt;
  int64_t micros = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
    ++pos;
    if (!digits(2, &h) || !expect(':') || !digits(2, &m)) return std::nullopt;
    if (expect(':')) {
      if (!digits(2, &sec)) return std::nullopt;
      if (expect('.') || expect(',')) {
        int n = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          if (n < 6) micros = micros * 10 + (s[pos] - '0');
          ++n;
          ++pos;
        }
        if (n == 0) return std::nullopt;
        for (; n < 6; ++n) micros *= 10;
      }
    }
  }
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  std::time_t secs = 0;
  if (pos == s.size()) {  // naive: Python's astimezone() takes it as local time
    tm.tm_isdst = -1;
    secs = std::mktime(&tm);
  } else {
    int64_t offset = 0;
    if (s[pos] == 'Z') {
      ++pos;
    } else {
      const int sign = s[pos] == '-' ? -1 : 1;
      if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
      ++pos;
      int oh = 0, om = 0, os = 0;
      if (!digits(2, &oh)) return std::nullopt;
      expect(':');
      if (pos < s.size()) {
        if (!digits(2, &om)) return std::nullopt;
        if (expect(':') && !digits(2, &os)) return std::nullopt;
        if (expect('.')) {
          while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
        }
      }
      offset = sign * (oh * 3600 + om * 60 + os);
    }
    if (pos != s.size()) return std::nullopt;
    secs = timegm(&tm) - offset;
  }
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::seconds(secs) + std::chrono::microseconds(micros)));
}

std::string distribution_to_json(const Distribution& d) { return dump(distribution_obj(d)); }

Distribution distribution_from_json(std::string_view text) { return distribution_from(parse_record(text)); }

std::string json_number(double x) { return dump(number_json(x)); }

std::string normalise_json(std::string_view text) {
  try {
    return dump(parse_record(text));
  } catch (const json::exception& e) {
    throw std::invalid_argument("not a JSON value: " + std::string(text) + " (" + e.what() + ")");
  }
}

}  // namespace trainscope::sweep::detail
