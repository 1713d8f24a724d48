// trainscope export RUN [--format csv|json] [--tag TAG] [-o FILE]: the scalars of one run, as
// TensorBoard's "download data" links give them (docs/runs.md):
//   --tag TAG, csv:  "Wall time,Step,Value" rows          (TensorBoard's CSV for one tag)
//   --tag TAG, json: [[wall_time, step, value], ...]      (TensorBoard's JSON for one tag)
//   every tag, csv:  "Tag,Wall time,Step,Value" rows      (the same with a leading Tag column)
//   every tag, json: {"tag": [[wall_time, step, value], ...], ...}
// RUN is one TensorBoard run: the event files directly in that folder (a child run, such as
// add_scalars' <run>/<tag>_<key>, is exported on its own).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "run_scan.h"
#include "trainscope/event_reader.h"

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Python's json module writes non-finite numbers as NaN / Infinity, as TensorBoard's JSON does.
std::string json_number(double v) {
  if (v != v) return "NaN";
  if (v == 1.0 / 0.0) return "Infinity";
  if (v == -1.0 / 0.0) return "-Infinity";
  return runs::format_number(v);
}

std::string points_json(const std::vector<runs::ScalarPoint>& pts) {
  std::string out = "[";
  for (size_t i = 0; i < pts.size(); ++i) {
    out += (i ? ", [" : "[") + runs::format_number(pts[i].wall_time) + ", " + std::to_string(pts[i].step) + ", " +
           json_number(pts[i].value) + "]";
  }
  return out + "]";
}

std::string points_csv(const std::string& prefix, const std::vector<runs::ScalarPoint>& pts) {
  std::string out;
  for (const auto& p : pts)
    out += prefix + runs::format_number(p.wall_time) + "," + std::to_string(p.step) + "," +
           runs::format_number(p.value) + "\r\n";
  return out;
}

}  // namespace

int cmd_export(const std::vector<std::string>& args) {
  std::string run, format = "csv", tag, output;
  bool has_tag = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i], v;
    const bool takes = a == "--format" || a == "--tag" || a == "-o" || a == "--output";
    if (const size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (takes) {
      if (i + 1 >= args.size()) return usage_error("export", a + " needs a value");
      v = args[++i];
    }
    if (a == "--format") {
      format = v;
    } else if (a == "--tag") {
      tag = v;
      has_tag = true;
    } else if (a == "-o" || a == "--output") {
      output = v;
    } else if (a.size() > 1 && a[0] == '-') {
      return usage_error("export", "unknown option '" + args[i] + "'");
    } else if (run.empty()) {
      run = a;
    } else {
      return usage_error("export", "unexpected argument '" + a + "' (one RUN folder)");
    }
  }
  if (run.empty()) return usage_error("export", "expected: export RUN [--format csv|json] [--tag TAG] [-o FILE]");
  if (format != "csv" && format != "json")
    return usage_error("export", "--format '" + format + "': expected csv or json");

  const auto scalars = runs::read_scalars(run);
  if (scalars.empty() && trainscope::list_event_files(run).empty()) {
    std::fprintf(stderr, "trainscope export: no event files in %s (a run is the folder that holds them)\n",
                 run.c_str());
    return 1;
  }
  std::string text;
  if (has_tag) {
    auto it = scalars.find(tag);
    if (it == scalars.end()) {
      std::string known;
      for (const auto& [t, p] : scalars) known += (known.empty() ? "" : ", ") + t;
      std::fprintf(stderr, "trainscope export: %s has no scalar tag '%s' (it has: %s)\n", run.c_str(), tag.c_str(),
                   known.empty() ? "none" : known.c_str());
      return 1;
    }
    text = format == "csv" ? "Wall time,Step,Value\r\n" + points_csv("", it->second) : points_json(it->second) + "\n";
  } else if (format == "csv") {
    text = "Tag,Wall time,Step,Value\r\n";
    for (const auto& [t, pts] : scalars) text += points_csv(csv_field(t) + ",", pts);
  } else {
    text = "{";
    bool first = true;
    for (const auto& [t, pts] : scalars) {
      text += (first ? "\n  " : ",\n  ") + runs::json_string(t) + ": " + points_json(pts);
      first = false;
    }
    text += first ? "}\n" : "\n}\n";
  }
  if (output.empty() || output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  std::ofstream out(output, std::ios::binary);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "trainscope export: cannot write %s\n", output.c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s (%zu tag%s)\n", output.c_str(), has_tag ? size_t{1} : scalars.size(),
               (has_tag ? 1 : scalars.size()) == 1 ? "" : "s");
  return 0;
}
