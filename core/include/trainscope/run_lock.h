// RunLock: one process per run directory. Two trainers writing one run would overwrite each
// other's checkpoints, best/*.pt and projector files, and TensorBoard would purge one
// process's events when the other's SessionLog START arrives. The lock is an flock(2) on
// <run dir>/.trainscope.lock, which holds "pid host" of the owner for the message a second
// process gets. The kernel drops an flock when its process dies, so a killed run leaves no
// stale lock: the file stays, the lock does not.
#pragma once

#include <stdexcept>
#include <string>

#include "trainscope/export.h"

namespace trainscope {

// Thrown when another process holds the run directory's lock.
class TRAINSCOPE_API RunDirInUse : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TRAINSCOPE_API RunLock {
 public:
  // Creates `run_dir` (and parents) and takes the lock without waiting. Throws RunDirInUse
  // naming the directory, the owner's pid and host and the ways out; std::runtime_error
  // when the lock file cannot be created (naming the path and the OS reason).
  explicit RunLock(const std::string& run_dir);
  ~RunLock();  // releases the lock (the file stays: removing it would race a new owner)
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  const std::string& path() const { return path_; }

  static constexpr const char* kFileName = ".trainscope.lock";

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace trainscope
