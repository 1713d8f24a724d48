// The probe process (plugin_probe.h). Protocol on the pipe, child to parent: one byte per
// stage reached ('L', 'E'), then 'O' (passed) or 'X', the refusal's kind as one byte and its
// message. The child leaves with _exit: no atexit handlers, no stdio flush, no dlclose.
#include "plugin_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace trainscope::detail {
namespace {

using Kind = PluginLoadError::Kind;

void write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w, n -= static_cast<size_t>(w);
  }
}

[[noreturn]] void run_child(int fd, const ProbeLoad& load) {
  // A crash here is reported by the parent: no core file, no crash handler of the host's.
  struct rlimit no_core {
    0, 0
  };
  setrlimit(RLIMIT_CORE, &no_core);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) signal(sig, SIG_DFL);
  try {
    load([fd](ProbeStage stage) {
      const char c = static_cast<char>(stage);
      write_all(fd, &c, 1);
    });
    write_all(fd, "O", 1);
  } catch (const PluginLoadError& e) {
    std::string msg = "X";
    msg += static_cast<char>(e.kind());
    msg += e.what();
    write_all(fd, msg.data(), msg.size());
  } catch (const std::exception& e) {
    std::string msg = "X";
    msg += static_cast<char>(Kind::kOpen);
    msg += e.what();
    write_all(fd, msg.data(), msg.size());
  } catch (...) {
  }
  _exit(0);
}

std::string signal_text(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  const char* desc = sigdescr_np(sig);
  std::string s = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
  if (desc) s += std::string(" (") + desc + ")";
  return s;
}

std::string where(const std::string& stages) {
  if (stages.find(static_cast<char>(ProbeStage::kEntryReturned)) != std::string::npos) {
    return "while its descriptor was read";
  }
  if (stages.find(static_cast<char>(ProbeStage::kLoaded)) != std::string::npos) {
    return "in its entry point " TRAINSCOPE_PLUGIN_ENTRY_NAME "()";
  }
  return "while being loaded (in a static constructor, or a library it needs)";
}

}  // namespace

namespace {

struct Running {
  size_t index;
  pid_t pid;
  int fd;
  std::string reply;
  std::chrono::steady_clock::time_point deadline;
};

// Forks the child of request `index`; a failure to start is its refusal.
std::optional<PluginLoadError> start(const ProbeRequest& request, size_t index, std::chrono::milliseconds timeout,
                                     std::vector<Running>& running) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return PluginLoadError(Kind::kCrashed,
                           request.path + ": refused: no pipe for the probe process: " + strerror(errno));
  }
  std::fflush(nullptr);  // what this process buffered must not be written twice
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    return PluginLoadError(Kind::kCrashed, request.path + ": refused: cannot start a probe process: " + strerror(err));
  }
  if (pid == 0) {
    close(fds[0]);
    run_child(fds[1], request.load);
  }
  close(fds[1]);
  running.push_back({index, pid, fds[0], {}, std::chrono::steady_clock::now() + timeout});
  return std::nullopt;
}

// Reaps a child whose pipe closed (or that timed out: killed first) and reads its verdict.
std::optional<PluginLoadError> finish(const std::string& path, Running& r, bool timed_out,
                                      std::chrono::milliseconds timeout) {
  close(r.fd);
  if (timed_out) kill(r.pid, SIGKILL);
  int status = 0;
  while (waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
  }
  const std::string& reply = r.reply;
  const size_t end = reply.find_first_of("OX");
  const std::string stages = reply.substr(0, end);
  if (timed_out) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%g", static_cast<double>(timeout.count()) / 1000.0);
    return PluginLoadError(Kind::kCrashed, path + ": refused: loading it did not finish within " + secs + " s " +
                                               where(stages) +
                                               " in a probe process, which was killed; nothing of it was loaded "
                                               "into trainscope (TRAINSCOPE_PLUGIN_PROBE_TIMEOUT=<seconds> allows "
                                               "more)");
  }
  if (end != std::string::npos && reply[end] == 'O' && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return std::nullopt;
  }
  if (end != std::string::npos && reply[end] == 'X' && reply.size() > end + 1) {
    return PluginLoadError(static_cast<Kind>(reply[end + 1]), reply.substr(end + 2));
  }
  std::string how;
  if (WIFSIGNALED(status)) {
    how = "crashed with " + signal_text(WTERMSIG(status));
  } else {
    how = "exited with status " + std::to_string(WEXITSTATUS(status)) + " without an answer";
  }
  return PluginLoadError(Kind::kCrashed, path + ": refused: " + how + " " + where(stages) +
                                             " in a probe process; nothing of it was loaded into trainscope; fix the "
                                             "plugin or remove it from the plugin path");
}

}  // namespace

std::vector<std::optional<PluginLoadError>> probe_in_children(const std::vector<ProbeRequest>& requests,
                                                              std::chrono::milliseconds timeout, size_t parallel) {
  std::vector<std::optional<PluginLoadError>> results(requests.size());
  std::vector<Running> running;
  size_t next = 0;
  if (parallel == 0) parallel = 1;
  while (next < requests.size() || !running.empty()) {
    while (next < requests.size() && running.size() < parallel) {
      results[next] = start(requests[next], next, timeout, running);
      ++next;
    }
    if (running.empty()) continue;

    const auto now = std::chrono::steady_clock::now();
    auto first_deadline = running.front().deadline;
    for (const auto& r : running) first_deadline = std::min(first_deadline, r.deadline);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(first_deadline - now).count();
    std::vector<pollfd> fds;
    for (const auto& r : running) fds.push_back({r.fd, POLLIN, 0});
    const int ready = left > 0 ? poll(fds.data(), fds.size(), static_cast<int>(left)) : 0;
    if (ready < 0 && errno != EINTR) break;  // cannot happen with valid descriptors

    std::vector<Running> still;
    for (size_t k = 0; k < running.size(); ++k) {
      Running& r = running[k];
      bool done = false, timed_out = false;
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        const ssize_t got = read(r.fd, buf, sizeof buf);
        if (got > 0) {
          r.reply.append(buf, static_cast<size_t>(got));
        } else if (got == 0 || errno != EINTR) {
          done = true;  // EOF: the child is gone
        }
      }
      if (!done && std::chrono::steady_clock::now() >= r.deadline) done = timed_out = true;
      if (done) {
        results[r.index] = finish(requests[r.index].path, r, timed_out, timeout);
      } else {
        still.push_back(std::move(r));
      }
    }
    running = std::move(still);
  }
  return results;
}

}  // namespace trainscope::detail
