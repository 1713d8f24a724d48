// trainscope launch -n N [options] -- PROGRAM [ARGS...]: starts N ranks of PROGRAM on this
// machine with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT), prefixes each line they print with "[rank k] ", and when one of
// them fails, gives the others a grace period to fail on their own (they notice the lost peer
// within TRAINSCOPE_DIST_TIMEOUT), then stops them; exits non-zero naming the failed rank.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "trainscope/run_dir.h"

namespace {

constexpr const char* kLaunchUsage =
    "usage: trainscope launch -n N [options] -- PROGRAM [ARGS...]\n"
    "\n"
    "Starts N ranks of PROGRAM on this machine (e.g. PROGRAM = trainscope run job.toml) with\n"
    "RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set, as torchrun.\n"
    "\n"
    "options:\n"
    "  -n, --nproc N        number of ranks (required, >= 1)\n"
    "  --master-addr ADDR   rendezvous address (default 127.0.0.1)\n"
    "  --master-port PORT   rendezvous port (default 29500; 0: pick a free one)\n"
    "  --timeout S          TRAINSCOPE_DIST_TIMEOUT: seconds before a lost peer fails a rank (default 60)\n"
    "  --rank-logs          TRAINSCOPE_DIST_RANK_LOGS=1: every rank writes <run>/rank<k> (without it\n"
    "                       only rank 0 writes; the others log into a null sink, creating nothing)\n"
    "  --grace S            after a rank fails, seconds the others get to end by themselves before\n"
    "                       they are stopped (default: the timeout + 10)\n"
    "\n"
    "PROGRAM's own flags go after --: trainscope launch -n 2 -- trainscope run job.toml --no-log\n";

volatile std::sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

bool parse_int(const std::string& s, long lo, long hi, long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtol(s.c_str(), &end, 10);
  return !s.empty() && errno == 0 && *end == '\0' && out >= lo && out <= hi;
}

struct Child {
  int rank = 0;
  pid_t pid = -1;
  int fds[2] = {-1, -1};  // stdout, stderr read ends
  std::string pending[2];
  bool exited = false;
  int status = 0;
};

// Writes complete lines with the rank prefix; keeps a partial line for later.
void forward(Child& c, int which, const char* data, size_t n, bool flush_all) {
  std::string& buf = c.pending[which];
  buf.append(data, n);
  std::FILE* out = which == 0 ? stdout : stderr;
  size_t start = 0;
  for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::fprintf(out, "[rank %d] %.*s\n", c.rank, static_cast<int>(nl - start), buf.data() + start);
  }
  buf.erase(0, start);
  if (flush_all && !buf.empty()) {
    std::fprintf(out, "[rank %d] %s\n", c.rank, buf.c_str());
    buf.clear();
  }
  std::fflush(out);
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended (status " + std::to_string(status) + ")";
}

bool failed(int status) { return !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }

}  // namespace

int cmd_launch(const std::vector<std::string>& args) {
  long nproc = 0, port = 29500, timeout = -1, grace = -1;
  std::string addr = "127.0.0.1";
  bool rank_logs = false;
  std::vector<std::string> program;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      program.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    }
    if (a == "-h" || a == "--help") {
      std::fputs(kLaunchUsage, stdout);
      return 0;
    }
    if (a == "--rank-logs") {
      rank_logs = true;
      continue;
    }
    const bool takes_value =
        a == "-n" || a == "--nproc" || a == "--master-addr" || a == "--master-port" || a == "--timeout" || a == "--grace";
    if (!takes_value) return usage_error("launch", "unknown option '" + a + "' (the program goes after --)");
    if (i + 1 >= args.size()) return usage_error("launch", a + " needs a value");
    const std::string& v = args[++i];
    if (a == "--master-addr") {
      addr = v;
    } else if (a == "-n" || a == "--nproc") {
      if (!parse_int(v, 1, 4096, nproc)) return usage_error("launch", "-n must be an integer in [1, 4096]");
    } else if (a == "--master-port") {
      if (!parse_int(v, 0, 65535, port)) return usage_error("launch", "--master-port must be in [0, 65535]");
    } else if (a == "--timeout") {
      if (!parse_int(v, 1, 86400, timeout)) return usage_error("launch", "--timeout must be seconds in [1, 86400]");
    } else if (!parse_int(v, 0, 86400, grace)) {
      return usage_error("launch", "--grace must be seconds in [0, 86400]");
    }
  }
  if (nproc < 1) return usage_error("launch", "-n N is required");
  if (program.empty()) return usage_error("launch", "no program: trainscope launch -n N -- PROGRAM [ARGS...]");
  if (port == 0 && (port = free_port()) <= 0) {
    std::fprintf(stderr, "trainscope launch: cannot find a free port\n");
    return 1;
  }
  if (timeout < 0) {
    long env_timeout = 60;
    if (const char* t = std::getenv("TRAINSCOPE_DIST_TIMEOUT")) parse_int(t, 1, 86400, env_timeout);
    timeout = env_timeout;
  }
  if (grace < 0) grace = timeout + 10;

  // One intra-op thread share per rank unless the user says (torchrun sets 1).
  const std::string threads =
      std::to_string(std::max(1L, static_cast<long>(std::thread::hardware_concurrency()) / nproc));

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<Child> children(static_cast<size_t>(nproc));
  for (long r = 0; r < nproc; ++r) {
    Child& c = children[static_cast<size_t>(r)];
    c.rank = static_cast<int>(r);
    int out[2], err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) {
      std::perror("trainscope launch: pipe");
      return 1;
    }
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("trainscope launch: fork");
      return 1;
    }
    if (pid == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::close(out[0]), ::close(out[1]), ::close(err[0]), ::close(err[1]);
      for (auto& other : children) {
        if (other.pid > 0) ::close(other.fds[0]), ::close(other.fds[1]);
      }
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", addr.c_str(), 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("TRAINSCOPE_DIST_TIMEOUT", std::to_string(timeout).c_str(), 1);
      if (rank_logs) ::setenv("TRAINSCOPE_DIST_RANK_LOGS", "1", 1);
      ::setenv("OMP_NUM_THREADS", threads.c_str(), 0);
      // Every rank expands run.name's / run.log_dir's {timestamp} alike (run_dir.h).
      ::setenv("TRAINSCOPE_RUN_TIMESTAMP", trainscope::run_timestamp().c_str(), 0);
      std::vector<char*> argv;
      for (auto& p : program) argv.push_back(const_cast<char*>(p.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::fprintf(stderr, "trainscope launch: cannot run %s: %s\n", argv[0], std::strerror(errno));
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    c.pid = pid;
    c.fds[0] = out[0];
    c.fds[1] = err[0];
  }
  std::fprintf(stderr, "[trainscope launch] %ld ranks of %s (pids", nproc, program.front().c_str());
  for (auto& c : children) std::fprintf(stderr, " %d", static_cast<int>(c.pid));
  std::fprintf(stderr, "), rendezvous %s:%ld, timeout %ld s\n", addr.c_str(), port, timeout);

  int first_failed = -1;
  std::string first_failure;
  auto failed_at = std::chrono::steady_clock::now();
  bool terminated = false, killed = false;
  size_t running = children.size();
  int forwarded_signal = 0;
  while (true) {
    std::vector<pollfd> pfds;
    std::vector<std::pair<Child*, int>> owners;
    for (auto& c : children) {
      for (int w = 0; w < 2; ++w) {
        if (c.fds[w] >= 0) {
          pfds.push_back({c.fds[w], POLLIN, 0});
          owners.emplace_back(&c, w);
        }
      }
    }
    if (pfds.empty() && running == 0) break;
    if (!pfds.empty()) {
      ::poll(pfds.data(), pfds.size(), 100);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (size_t i = 0; i < pfds.size(); ++i) {
      if ((pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      auto [c, w] = owners[i];
      char buf[8192];
      const ssize_t n = ::read(c->fds[w], buf, sizeof(buf));
      if (n > 0) {
        forward(*c, w, buf, static_cast<size_t>(n), false);
      } else if (n == 0 || errno != EINTR) {
        forward(*c, w, "", 0, true);
        ::close(c->fds[w]);
        c->fds[w] = -1;
      }
    }
    for (auto& c : children) {
      if (c.exited) continue;
      int status = 0;
      if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.exited = true;
        c.status = status;
        --running;
        if (failed(status) && first_failed < 0 && !terminated) {
          first_failed = c.rank;
          first_failure = describe(status);
          failed_at = std::chrono::steady_clock::now();
          std::fprintf(stderr, "[trainscope launch] rank %d (pid %d) %s; the other ranks get %ld s to end\n", c.rank,
                       static_cast<int>(c.pid), first_failure.c_str(), grace);
        }
      }
    }
    if (g_signal != 0 && forwarded_signal == 0) {
      forwarded_signal = g_signal;
      for (auto& c : children) {
        if (!c.exited) ::kill(c.pid, SIGTERM);
      }
      terminated = true;
      failed_at = std::chrono::steady_clock::now();
    }
    if ((first_failed >= 0 || terminated) && running > 0) {
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - failed_at).count();
      if (!terminated && waited >= static_cast<double>(grace)) {
        std::fprintf(stderr, "[trainscope launch] stopping the remaining ranks\n");
        for (auto& c : children) {
          if (!c.exited) ::kill(c.pid, SIGTERM);
        }
        terminated = true;
        failed_at = std::chrono::steady_clock::now();
      } else if (terminated && !killed && waited >= 10.0) {
        for (auto& c : children) {
          if (!c.exited) ::kill(c.pid, SIGKILL);
        }
        killed = true;
      }
    }
  }
  int code = 0;
  for (auto& c : children) {
    if (failed(c.status)) {
      std::fprintf(stderr, "[trainscope launch] rank %d %s\n", c.rank, describe(c.status).c_str());
      code = 1;
    }
  }
  if (forwarded_signal != 0) {
    std::fprintf(stderr, "[trainscope launch] interrupted (signal %d)\n", forwarded_signal);
    return 128 + forwarded_signal;
  }
  if (first_failed >= 0) {
    std::fprintf(stderr, "[trainscope launch] failed: rank %d %s first\n", first_failed, first_failure.c_str());
  }
  return code;
}
