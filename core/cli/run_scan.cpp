// Runs under a log directory and their scalars (see run_scan.h).
//
// Directory walking uses boost::filesystem, not std::filesystem: the torch wheel's libtorch
// exports its own copies of some std::filesystem functions, which bind first in this process.
#include "run_scan.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <boost/filesystem.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>
#include <stdexcept>

#include "trainscope/event_reader.h"
#include "trainscope/run_lock.h"

namespace runs {
namespace fs = boost::filesystem;
namespace {

bool is_event_file(const fs::path& p) { return p.filename().string().find("tfevents") != std::string::npos; }

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::map<std::string, std::vector<ScalarPoint>> read_scalars(const std::string& dir) {
  std::map<std::string, std::vector<ScalarPoint>> out;
  std::set<std::string> not_scalar;  // tags whose first value belongs to another plugin
  // TensorBoard's EventAccumulator state, kept across the run's files: the file version last
  // seen, whether the run's first START went by, and the step of the last summary event.
  double file_version = 0;
  bool seen_start = false;
  int64_t most_recent_step = -1;
  auto drop_from = [](std::vector<ScalarPoint>& points, int64_t step) {
    points.erase(std::remove_if(points.begin(), points.end(), [&](const ScalarPoint& p) { return p.step >= step; }),
                 points.end());
  };
  for (const auto& file : trainscope::list_event_files(dir)) {
    trainscope::RecordReader reader(file);
    std::string payload;
    while (reader.next(payload)) {
      trainscope::EventView ev;
      std::string err;
      if (!trainscope::decode_event(payload, ev, &err))
        throw std::runtime_error(file + ": record at offset " + std::to_string(reader.last_offset()) +
                                 " is not an Event: " + err);
      if (ev.kind == "file_version") {
        const size_t colon = ev.file_version.rfind(':');
        char* end = nullptr;
        const char* num = ev.file_version.c_str() + (colon == std::string::npos ? 0 : colon + 1);
        const double v = std::strtod(num, &end);
        file_version = end != num ? v : -1;
      }
      const bool summary = ev.kind == "summary";
      if (file_version >= 2) {
        // The run's first SessionLog START opens it; every later one is a restart that drops
        // what was read with step >= its step.
        if (ev.kind == "session_log" && ev.session_status == 1) {
          if (seen_start) {
            for (auto& [tag, points] : out) drop_from(points, ev.step);
          }
          seen_start = true;
        }
      } else if (summary && ev.step < most_recent_step) {
        // Files without a version: a step going back drops the later points of its own tags.
        for (const auto& v : ev.values) {
          if (auto it = out.find(v.tag); it != out.end()) drop_from(it->second, ev.step);
        }
      }
      if (!summary) continue;
      most_recent_step = ev.step;
      for (const auto& v : ev.values) {
        if (not_scalar.count(v.tag)) continue;
        auto it = out.find(v.tag);
        if (it == out.end()) {
          const bool scalar =
              v.kind == "simple_value" || (v.kind == "tensor" && v.plugin_name == "scalars" && v.tensor_shape.empty());
          if (!scalar) {
            not_scalar.insert(v.tag);
            continue;
          }
          it = out.emplace(v.tag, std::vector<ScalarPoint>{}).first;
        }
        it->second.push_back({ev.wall_time, ev.step, v.simple_value});
      }
    }
    if (reader.error() && reader.error()->kind != trainscope::RecordError::Kind::kTruncatedHeader &&
        reader.error()->kind != trainscope::RecordError::Kind::kTruncatedData)
      throw std::runtime_error(reader.error()->message);
  }
  for (auto it = out.begin(); it != out.end();) it = it->second.empty() ? out.erase(it) : std::next(it);
  return out;
}

bool lock_held(const std::string& run_dir) {
  const std::string path = run_dir + "/" + trainscope::RunLock::kFileName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // A shared lock taken and dropped at once: it fails only while a trainer holds its
  // exclusive lock (which it takes before anything else).
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

namespace {

// Is the run's process alive? Only a pid on this host can be asked; elsewhere the lock answers.
bool alive(const trainscope::RunStatus& s, const std::string& dir) {
  if (s.host == host_name() && s.pid > 0 && ::kill(static_cast<pid_t>(s.pid), 0) != 0 && errno == ESRCH) return false;
  return lock_held(dir);
}

void fill(RunInfo& r) {
  r.status = trainscope::read_run_status(r.dir);
  r.scalars = read_scalars(r.dir);
  double first = 0, last = 0;
  for (const auto& f : trainscope::list_event_files(r.dir)) {
    trainscope::RecordReader reader(f);
    std::string payload;
    while (reader.next(payload)) {
      trainscope::EventView ev;
      if (!trainscope::decode_event(payload, ev)) continue;
      if (first == 0 || ev.wall_time < first) first = ev.wall_time;
      last = std::max(last, ev.wall_time);
      if (ev.kind == "summary") r.steps = std::max(r.steps, ev.step);
    }
  }
  r.start = first;
  r.last = last;
  if (r.status) {
    const auto& s = *r.status;
    if (s.start_time > 0) r.start = s.start_time;
    r.steps = std::max(r.steps, s.steps);
    if (s.end_time > 0) r.last = std::max(r.last, s.end_time);
    r.state = s.state;
    r.note = s.message;
    if (s.state == "running") {
      if (alive(s, r.dir)) {
        r.last = std::max(r.last, static_cast<double>(::time(nullptr)));
      } else {
        r.state = "failed";
        r.note = "killed: its process (pid " + std::to_string(s.pid) + " on " + s.host + ") ended without finishing";
      }
    }
  } else {
    r.state = lock_held(r.dir) ? "running" : "unknown";
    if (r.state == "unknown") r.note = "no run-status file (not written by trainscope run)";
  }
}

}  // namespace

std::vector<RunInfo> scan_runs(const std::string& logdir) {
  const fs::path root(logdir);
  if (!fs::is_directory(root)) throw std::runtime_error("'" + logdir + "' is not a directory");
  std::vector<RunInfo> out;
  // Pre-order walk: `owner` is the run whose folder we are in (index into out, or -1).
  struct Frame {
    fs::path dir;
    long owner;
  };
  std::vector<Frame> stack{{root, -1}};
  while (!stack.empty()) {
    Frame f = stack.back();
    stack.pop_back();
    boost::system::error_code ec;
    std::vector<fs::path> subdirs;
    bool events = false, status = false;
    uint64_t bytes = 0;
    for (fs::directory_iterator it(f.dir, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::file_status st = it->symlink_status(ec);
      if (ec) continue;
      if (fs::is_directory(st)) {
        subdirs.push_back(it->path());
      } else if (fs::is_regular_file(st)) {
        if (is_event_file(it->path())) events = true;
        if (it->path().filename() == trainscope::kRunStatusFile) status = true;
        boost::system::error_code e2;
        const auto size = fs::file_size(it->path(), e2);
        if (!e2) bytes += size;
      }
    }
    long owner = f.owner;
    if (status || (events && owner < 0)) {
      if (owner >= 0) out[static_cast<size_t>(owner)].holds_runs = true;
      RunInfo r;
      r.dir = f.dir.string();
      const fs::path rel = f.dir.lexically_relative(root);
      r.name = rel.empty() ? "." : rel.string();
      out.push_back(std::move(r));
      owner = static_cast<long>(out.size()) - 1;
    }
    if (owner >= 0) out[static_cast<size_t>(owner)].bytes += bytes;
    std::sort(subdirs.begin(), subdirs.end());
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) stack.push_back({*it, owner});
  }
  // An ancestor that holds a run is marked through every level (a run two folders down).
  for (size_t i = 0; i < out.size(); ++i) {
    for (size_t j = 0; j < out.size(); ++j) {
      if (i == j || out[i].name == out[j].name) continue;
      const std::string prefix = out[i].name == "." ? "" : out[i].name + "/";
      if (prefix.empty() || out[j].name.rfind(prefix, 0) == 0) out[i].holds_runs = true;
    }
  }
  for (auto& r : out) fill(r);
  std::stable_sort(out.begin(), out.end(), [](const RunInfo& a, const RunInfo& b) { return a.start < b.start; });
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace runs
