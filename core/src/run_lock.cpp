// RunLock (see run_lock.h): flock(2) on <run dir>/.trainscope.lock.
#include "trainscope/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace trainscope {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

std::string read_owner(int fd) {
  char buf[300] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  std::string s = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

RunLock::RunLock(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec) throw std::runtime_error("cannot create run directory '" + run_dir + "': " + ec.message());
  path_ = (std::filesystem::path(run_dir) / kFileName).string();
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot create the run lock " + path_ + ": " + std::strerror(errno));
  int rc;
  do {
    rc = ::flock(fd_, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    const std::string owner = read_owner(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw std::runtime_error("cannot lock " + path_ + ": " + std::strerror(err));
    std::string pid = "?", host = "?";
    if (const auto sp = owner.find(' '); sp != std::string::npos) {
      pid = owner.substr(0, sp);
      host = owner.substr(sp + 1);
    }
    throw RunDirInUse("run directory '" + run_dir + "' is in use by another trainscope process (pid " + pid + " on " +
                      host + ", lock " + path_ +
                      "): give this run another name (--set run.name=<other>) or log_dir, or wait until that "
                      "process ends");
  }
  // Who holds it, for the message above. Best effort: on a full disk the lock still works.
  const std::string me = std::to_string(getpid()) + " " + host_name() + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, me.data(), me.size(), 0);
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

}  // namespace trainscope
