// trainscope inspect LOGDIR: every run (a directory holding event files) under LOGDIR with its
// tags, counts, step ranges and last values. Every record's length and data CRCs are verified
// (RecordReader); corruption is reported with file and byte offset and makes the exit code 1.
//
// Directory walking uses boost::filesystem, not std::filesystem: the torch wheel's libtorch
// exports its own copies of some std::filesystem functions, which bind first in this process.
#include <algorithm>
#include <boost/filesystem.hpp>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "commands.h"
#include "trainscope/event_reader.h"

namespace {

namespace fs = boost::filesystem;

struct TagStats {
  std::string kind;
  uint64_t count = 0;
  int64_t first_step = 0, last_step = 0;
  std::string last;  // the last value, formatted
};

std::string describe(const trainscope::ValueView& v, std::string& kind) {
  char buf[256];
  if (v.kind == "simple_value") {
    kind = "scalar";
    std::snprintf(buf, sizeof buf, "%.6g", v.simple_value);
  } else if (v.kind == "histo") {
    kind = "histogram";
    std::snprintf(buf, sizeof buf, "n=%.0f in [%.4g, %.4g]", v.histo_num, v.histo_min, v.histo_max);
  } else if (v.kind == "image") {
    kind = "image";
    std::snprintf(buf, sizeof buf, "%lldx%lld, %zu bytes", static_cast<long long>(v.image_width),
                  static_cast<long long>(v.image_height), v.encoded.size());
  } else if (v.kind == "audio") {
    kind = "audio";
    std::snprintf(buf, sizeof buf, "%zu bytes", v.encoded.size());
  } else if (v.kind == "tensor") {
    kind = v.plugin_name.empty() ? "tensor" : v.plugin_name;
    if (v.tensor_shape.empty()) {
      std::snprintf(buf, sizeof buf, "%.6g", v.simple_value);
    } else {
      std::string shape = "[";
      for (size_t i = 0; i < v.tensor_shape.size(); ++i) {
        if (i) shape += 'x';
        shape += std::to_string(v.tensor_shape[i]);
      }
      std::snprintf(buf, sizeof buf, "shape %s]", shape.c_str());
    }
  } else {
    kind = v.kind;
    buf[0] = '\0';
  }
  return buf;
}

// Returns false when a file of the run is corrupt.
bool inspect_run(const std::string& label, const std::vector<std::string>& files) {
  std::map<std::string, TagStats> tags;
  std::map<std::string, uint64_t> other_kinds;  // file_version, graph_def, session_log, ...
  std::vector<std::string> corruption;
  uint64_t records = 0;
  for (const auto& file : files) {
    trainscope::RecordReader reader(file);
    std::string payload;
    uint64_t in_file = 0;
    while (reader.next(payload)) {
      ++records;
      ++in_file;
      trainscope::EventView ev;
      std::string err;
      if (!trainscope::decode_event(payload, ev, &err)) {
        corruption.push_back(file + ": record at offset " + std::to_string(reader.last_offset()) +
                             " has valid CRCs but is not an Event: " + err);
        continue;
      }
      if (ev.kind != "summary") {
        ++other_kinds[ev.kind];
        continue;
      }
      for (const auto& v : ev.values) {
        TagStats& t = tags[v.tag];
        std::string kind;
        t.last = describe(v, kind);
        if (t.count == 0) t.first_step = ev.step, t.kind = kind;
        t.first_step = std::min(t.first_step, ev.step);
        t.last_step = ev.step;
        ++t.count;
      }
    }
    if (reader.error()) {
      corruption.push_back(reader.error()->message + " (after " + std::to_string(in_file) +
                           " good records; the rest of this file is not read)");
    }
  }

  std::printf("run %s  (%zu event file%s, %llu record%s, %zu tag%s)\n", label.c_str(), files.size(),
              files.size() == 1 ? "" : "s", static_cast<unsigned long long>(records), records == 1 ? "" : "s",
              tags.size(), tags.size() == 1 ? "" : "s");
  if (!other_kinds.empty()) {
    std::string s;
    for (const auto& [k, n] : other_kinds) s += (s.empty() ? "" : ", ") + k + " x" + std::to_string(n);
    std::printf("  other events: %s\n", s.c_str());
  }
  if (!tags.empty()) {
    size_t width = 3;
    for (const auto& [tag, t] : tags) width = std::max(width, tag.size());
    std::printf("  %-*s  %-12s %8s  %-15s %s\n", static_cast<int>(width), "tag", "kind", "count", "steps",
                "last value");
    for (const auto& [tag, t] : tags) {
      const std::string steps = std::to_string(t.first_step) + ".." + std::to_string(t.last_step);
      std::printf("  %-*s  %-12s %8llu  %-15s %s\n", static_cast<int>(width), tag.c_str(), t.kind.c_str(),
                  static_cast<unsigned long long>(t.count), steps.c_str(), t.last.c_str());
    }
  }
  for (const auto& c : corruption) std::printf("  CORRUPT: %s\n", c.c_str());
  return corruption.empty();
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& args) {
  if (args.size() != 1 || (args[0].size() > 1 && args[0][0] == '-')) {
    return usage_error("inspect", "expected one LOGDIR");
  }
  const fs::path root(args[0]);
  boost::system::error_code ec;
  if (!fs::is_directory(root, ec)) {
    std::fprintf(stderr, "trainscope inspect: %s: not a directory\n", args[0].c_str());
    return 1;
  }
  std::vector<fs::path> dirs{root};
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (fs::is_directory(it->path(), ec)) dirs.push_back(it->path());
  }
  std::sort(dirs.begin(), dirs.end());
  bool ok = true;
  size_t runs = 0;
  for (const auto& dir : dirs) {
    const auto files = trainscope::list_event_files(dir.string());
    if (files.empty()) continue;
    if (runs++) std::printf("\n");
    std::string label = fs::relative(dir, root, ec).string();
    if (ec || label.empty()) label = dir.string();
    ok = inspect_run(label, files) && ok;
  }
  if (runs == 0) {
    std::fprintf(stderr, "trainscope inspect: no event files (*tfevents*) under %s\n", args[0].c_str());
    return 1;
  }
  if (!ok) std::fprintf(stderr, "trainscope inspect: corrupt records found (see CORRUPT lines)\n");
  return ok ? 0 : 1;
}
