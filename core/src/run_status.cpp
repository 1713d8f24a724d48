// The run-status file (see run_status.h).
#include "trainscope/run_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace trainscope {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

// One line per value: newlines become spaces.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string text_of(const OptionValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.10g", *d);
    return buf;
  }
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  std::string out;
  for (const auto& s : std::get<std::vector<std::string>>(v)) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

std::optional<RunStatus> read_run_status(const std::string& run_dir) {
  std::ifstream in(run_dir + "/" + kRunStatusFile);
  if (!in) return std::nullopt;
  RunStatus s;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "state")
      s.state = value;
    else if (key == "start_time")
      s.start_time = std::strtod(value.c_str(), nullptr);
    else if (key == "end_time")
      s.end_time = std::strtod(value.c_str(), nullptr);
    else if (key == "pid")
      s.pid = std::strtoll(value.c_str(), nullptr, 10);
    else if (key == "host")
      s.host = value;
    else if (key == "name")
      s.name = value;
    else if (key == "message")
      s.message = value;
    else if (key == "steps")
      s.steps = std::strtoll(value.c_str(), nullptr, 10);
    else if (key == "epochs")
      s.epochs = std::strtoll(value.c_str(), nullptr, 10);
    else if (key.rfind("hparam.", 0) == 0)
      s.hparams[key.substr(7)] = value;
    else if (key.rfind("metric.", 0) == 0)
      s.metrics[key.substr(7)] = std::strtod(value.c_str(), nullptr);
  }
  if (s.state.empty()) return std::nullopt;
  return s;
}

bool write_run_status(const std::string& run_dir, const RunStatus& s) {
  std::ostringstream out;
  out << "# trainscope run status (docs/runs.md)\n"
      << "state=" << s.state << "\nstart_time=" << number(s.start_time)
      << "\nend_time=" << (s.end_time > 0 ? number(s.end_time) : std::string()) << "\npid=" << s.pid
      << "\nhost=" << one_line(s.host) << "\nname=" << one_line(s.name) << "\nsteps=" << s.steps
      << "\nepochs=" << s.epochs << "\nmessage=" << one_line(s.message) << "\n";
  for (const auto& [k, v] : s.hparams) out << "hparam." << one_line(k) << "=" << one_line(v) << "\n";
  for (const auto& [k, v] : s.metrics) out << "metric." << one_line(k) << "=" << number(v) << "\n";
  const std::string text = out.str();
  const std::string path = run_dir + "/" + kRunStatusFile, tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

RunStatusFile::RunStatusFile(std::string run_dir, std::string name, const std::map<std::string, OptionValue>& hparams,
                             bool resumed)
    : run_dir_(std::move(run_dir)) {
  status_.state = "running";
  status_.start_time = now_seconds();
  if (resumed) {
    if (const auto before = read_run_status(run_dir_); before && before->start_time > 0)
      status_.start_time = before->start_time;
  }
  status_.pid = static_cast<long long>(getpid());
  status_.host = host_name();
  status_.name = std::move(name);
  for (const auto& [k, v] : hparams) status_.hparams[k] = text_of(v);
  (void)write_run_status(run_dir_, status_);
}

void RunStatusFile::finish(const std::string& state, int64_t steps, int64_t epochs,
                           const std::map<std::string, double>& metrics, const std::string& message) {
  status_.state = state;
  status_.end_time = now_seconds();
  status_.steps = steps;
  status_.epochs = epochs;
  status_.metrics = metrics;
  status_.message = message;
  finished_ = true;
  (void)write_run_status(run_dir_, status_);
}

RunStatusFile::~RunStatusFile() {
  if (finished_) return;
  status_.state = "failed";
  status_.end_time = now_seconds();
  status_.message = "the fit ended with an exception (see the program's output)";
  (void)write_run_status(run_dir_, status_);
}

}  // namespace trainscope
