// RunLock: one process per run directory (issue: two processes on one log dir overwrote each
// other's checkpoints and TensorBoard purged one's events). docs/reliability.md.
#include "trainscope/run_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_util.h"

namespace {

using trainscope::RunDirInUse;
using trainscope::RunLock;

TEST(RunLock, ASecondHolderIsRefusedWithTheOwnerAndTheWaysOut) {
  const std::string dir = trainscope::testing::fresh_dir() + "/runs/a";
  auto first = std::make_unique<RunLock>(dir);
  EXPECT_TRUE(std::filesystem::is_regular_file(dir + "/.trainscope.lock"));
  try {
    RunLock second(dir);  // another open file description: flock refuses it as another process
    FAIL() << "the second lock was granted";
  } catch (const RunDirInUse& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'" + dir + "' is in use"), std::string::npos) << m;
    EXPECT_NE(m.find("pid " + std::to_string(getpid())), std::string::npos) << m;
    EXPECT_NE(m.find("--set run.name="), std::string::npos) << m;
    EXPECT_NE(m.find("wait"), std::string::npos) << m;
  }
  first.reset();
  EXPECT_NO_THROW(RunLock again(dir));  // released with its holder
}

TEST(RunLock, AnotherProcessIsRefusedAndAKilledHolderLeavesNoStaleLock) {
  const std::string dir = trainscope::testing::fresh_dir() + "/runs/b";
  {
    RunLock mine(dir);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      try {
        RunLock theirs(dir);
        _exit(0);
      } catch (const RunDirInUse&) {
        _exit(3);
      } catch (...) {
        _exit(4);
      }
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3);
  }
  // A holder killed with SIGKILL: the kernel drops its lock, the file alone stays.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t holder = fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    RunLock held(dir);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  EXPECT_THROW(RunLock busy(dir), RunDirInUse);
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  EXPECT_TRUE(std::filesystem::exists(dir + "/.trainscope.lock"));
  EXPECT_NO_THROW(RunLock after(dir));
}

}  // namespace
