// The rule fail_stale_trials applies (documented in docs, in short):
// - same machine (hostname and /etc/machine-id equal) and same boot (kernel boot id equal): the
//   worker is gone when its pid does not exist, is a zombie, or belongs to a younger process
//   (start time in /proc/<pid>/stat differs: the pid was reused). The hostname is taken to name
//   one PID namespace (containers get their own hostnames);
// - same machine, other boot id: the machine rebooted, the worker is gone;
// - other host: we cannot see its processes; the trial is abandoned when its latest sign of
//   life (datetime_start, or the "trainscope:heartbeat" attribute its worker refreshes while it
//   reports) is older than the lease recorded with it (clocks are assumed roughly in sync).
#include "process_identity.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "journal_ops.h"

namespace trainscope::sweep::detail {
namespace {

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string boot_id() { return first_line("/proc/sys/kernel/random/boot_id"); }
std::string machine_id() { return first_line("/etc/machine-id"); }

struct ProcStat {
  char state = '?';
  long long start_ticks = -1;
};

// /proc/<pid>/stat: "pid (comm) state ..." with starttime the 22nd field; comm may hold spaces
// and parentheses, so fields are counted from the last ')'.
std::optional<ProcStat> proc_stat(long long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  ProcStat st;
  fields >> st.state;
  std::string field;
  for (int k = 4; k <= 22 && fields >> field; ++k) {
    if (k == 22) st.start_ticks = std::atoll(field.c_str());
  }
  return st;
}

}  // namespace

std::string this_worker_json() {
  const long long pid = ::getpid();
  const auto st = proc_stat(pid);
  nlohmann::json j = {{"host", hostname()},
                      {"machine_id", machine_id()},
                      {"boot_id", boot_id()},
                      {"pid", pid},
                      {"start_ticks", st ? st->start_ticks : -1},
                      {"lease_s", kLeaseSeconds}};
  return j.dump();
}

std::optional<std::string> abandoned_because(const Trial& trial, std::chrono::system_clock::time_point now) {
  const auto it = trial.system_attrs.find(kWorkerAttr);
  if (it == trial.system_attrs.end()) return std::nullopt;
  nlohmann::json w;
  try {
    w = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (!w.is_object()) return std::nullopt;
  const std::string host = w.value("host", "");
  const std::string boot = w.value("boot_id", "");
  const long long pid = w.value("pid", -1LL);
  const long long start = w.value("start_ticks", -1LL);
  // Two machines may share a hostname; /etc/machine-id tells them apart where it is set.
  if (host == hostname() && w.value("machine_id", "") == machine_id()) {
    if (!boot.empty() && boot != boot_id()) return "its host " + host + " rebooted since it started";
    if (pid <= 0) return std::nullopt;
    const std::string who = "its process " + std::to_string(pid) + " on " + host;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return who + " is gone";
    const auto st = proc_stat(pid);
    if (!st) return who + " is gone";
    if (st->state == 'Z' || st->state == 'X') return who + " has exited";
    if (start >= 0 && st->start_ticks != start) return who + " is gone (the pid now belongs to another process)";
    return std::nullopt;
  }
  // Another host: the lease.
  const int64_t lease = w.value("lease_s", kLeaseSeconds);
  std::optional<std::chrono::system_clock::time_point> alive = trial.datetime_start;
  if (const auto hb = trial.system_attrs.find(kHeartbeatAttr); hb != trial.system_attrs.end()) {
    try {
      const auto t = parse_iso(nlohmann::json::parse(hb->second).get<std::string>());
      if (t && (!alive || *t > *alive)) alive = t;
    } catch (const nlohmann::json::exception&) {
    }
  }
  if (!alive || now - *alive <= std::chrono::seconds(lease)) return std::nullopt;
  return "its worker on " + host + " sent no sign of life for more than " + std::to_string(lease) + " s";
}

}  // namespace trainscope::sweep::detail
