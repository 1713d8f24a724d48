// The journal in one file, as Optuna's JournalFileBackend keeps it: one JSON record per line,
// appended under JournalFileSymlinkLock's protocol so that Python Optuna processes and
// trainscope processes exclude each other:
// - the lock is the symbolic link "<journal>.lock" -> "<journal>", created with symlink(2)
//   (atomic, fails with EEXIST while held; works on NFS). Optuna's JournalFileOpenLock uses
//   the same name with open(O_CREAT|O_EXCL), so either kind of Optuna lock excludes us too;
// - release renames the link to "<journal>.lock<uuid4>.rename" and unlinks that, so that two
//   processes breaking a stale lock cannot both remove a newly taken one;
// - a waiter watches the lock's mtime (stat follows the link, so: the journal's mtime); when
//   it has not changed for 30 s (Optuna's default grace period) the holder is taken to be dead
//   and the lock is broken;
// - every append is one write(2) of whole lines ending in '\n', then fsync.
// Reading needs no lock: a line without its '\n' is still being written (or was torn by a
// writer killed mid-write) and is left for the next read, as Optuna's reader does. Because
// Python Optuna would glue its next record onto such a torn line and then fail to read the
// file, our appends first cut a torn tail off (under the lock, so no live writer owns it).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "journal_backend.h"
#include "trainscope/sweep/storage.h"

namespace trainscope::sweep::detail {
namespace {

constexpr auto kGracePeriod = std::chrono::seconds(30);
constexpr auto kWarnInterval = std::chrono::seconds(10);

std::string errno_text() { return std::strerror(errno); }

std::string random_uuid4() {
  // A fresh random_device each time: a generator's state would be shared with forked children.
  std::random_device rd;
  const uint64_t a = (uint64_t{rd()} << 32) | rd(), b = (uint64_t{rd()} << 32) | rd();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

class FileBackend final : public JournalBackend {
 public:
  explicit FileBackend(std::string path) : path_(std::move(path)), lock_path_(path_ + ".lock") {
    const std::filesystem::path p(path_);
    std::error_code ec;
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw StorageError("cannot open or create the journal file " + path_ + ": " + errno_text() +
                         ". Check that its directory exists and is writable, or pick another path.");
    }
    ::close(fd);
  }

  void read_new(const Sink& sink) override {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw StorageError("cannot read the journal file " + path_ + ": " + errno_text());
    struct stat st {};
    ::fstat(fd, &st);
    std::string data;
    if (st.st_size > offset_) {
      data.resize(static_cast<size_t>(st.st_size - offset_));
      size_t got = 0;
      while (got < data.size()) {
        const ssize_t n = ::pread(fd, data.data() + got, data.size() - got, offset_ + static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      data.resize(got);
    }
    ::close(fd);
    size_t start = 0;
    for (size_t nl = data.find('\n'); nl != std::string::npos; nl = data.find('\n', start)) {
      const std::string_view line(data.data() + start, nl - start);
      sink(line, path_ + ":" + std::to_string(line_number_ + 1));
      // Only after the record was applied: a failing record is read (and reported) again.
      ++line_number_;
      offset_ += static_cast<off_t>(nl - start + 1);
      start = nl + 1;
    }
  }

  void append(const std::vector<std::string>& records) override {
    with_lock([&] { append_locked(records); });
  }

  void with_lock(const std::function<void()>& fn) override {
    acquire();
    try {
      fn();
    } catch (...) {
      release();
      throw;
    }
    release();
  }

  void append_locked(const std::vector<std::string>& records) override {
    if (records.empty()) return;
    std::string text;
    for (const auto& r : records) {
      text += r;
      text += '\n';
    }
    const int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd < 0) throw StorageError("cannot write the journal file " + path_ + ": " + errno_text());
    cut_torn_tail(fd);
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const std::string why = errno_text();
        ::close(fd);
        throw StorageError("cannot append to the journal file " + path_ + ": " + why +
                           " (disk full? read-only file system?)");
      }
      done += static_cast<size_t>(n);
    }
    ::fsync(fd);
    ::close(fd);
  }

  std::string describe() const override { return "journal file " + path_; }

 private:
  void cut_torn_tail(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_size == 0) return;
    off_t end = st.st_size;
    char c = 0;
    if (::pread(fd, &c, 1, end - 1) != 1 || c == '\n') return;
    // Find the last newline before the torn record.
    off_t pos = end;
    char buf[4096];
    while (pos > 0) {
      const off_t from = pos > static_cast<off_t>(sizeof buf) ? pos - static_cast<off_t>(sizeof buf) : 0;
      const ssize_t n = ::pread(fd, buf, static_cast<size_t>(pos - from), from);
      if (n <= 0) return;
      for (ssize_t k = n - 1; k >= 0; --k) {
        if (buf[k] == '\n') {
          const off_t keep = from + k + 1;
          if (::ftruncate(fd, keep) == 0) {
            std::fprintf(stderr,
                         "trainscope: %s: dropped an incomplete last record (%lld bytes) left by a writer "
                         "that died while appending\n",
                         path_.c_str(), static_cast<long long>(end - keep));
          }
          return;
        }
      }
      pos = from;
    }
    if (::ftruncate(fd, 0) == 0) {
      std::fprintf(stderr, "trainscope: %s: dropped an incomplete only record (%lld bytes)\n", path_.c_str(),
                   static_cast<long long>(end));
    }
  }

  void acquire() {
    using Clock = std::chrono::steady_clock;
    auto sleep = std::chrono::microseconds(1000);
    auto last_change = Clock::now();
    auto last_warning = Clock::now();
    std::optional<timespec> mtime;
    while (true) {
      if (::symlink(path_.c_str(), lock_path_.c_str()) == 0) return;
      if (errno != EEXIST) {
        throw StorageError("cannot create the lock " + lock_path_ + " of the journal: " + errno_text() +
                           ". The journal's directory must be writable.");
      }
      const auto now = Clock::now();
      if (now - last_warning > kWarnInterval) {
        std::fprintf(stderr, "trainscope: waiting for the journal lock %s (another process holds it)\n",
                     lock_path_.c_str());
        last_warning = now;
      }
      struct stat st {};
      // lstat: the lock is a symbolic link whose target may be relative (and so dangle from
      // here); its own mtime is when its holder took it.
      if (::lstat(lock_path_.c_str(), &st) != 0) continue;  // released meanwhile: retry at once
      if (!mtime || mtime->tv_sec != st.st_mtim.tv_sec || mtime->tv_nsec != st.st_mtim.tv_nsec) {
        mtime = st.st_mtim;
        last_change = now;
      }
      if (now - last_change > kGracePeriod) {
        std::fprintf(stderr, "trainscope: the journal lock %s was not released for %lld s: breaking it\n",
                     lock_path_.c_str(), static_cast<long long>(kGracePeriod.count()));
        last_warning = now;
        if (try_release()) sleep = std::chrono::microseconds(1000);
        continue;
      }
      std::this_thread::sleep_for(sleep);
      sleep = std::min(sleep * 2, std::chrono::microseconds(100000));
    }
  }

  bool try_release() {
    const std::string renamed = lock_path_ + random_uuid4() + ".rename";
    if (::rename(lock_path_.c_str(), renamed.c_str()) != 0) return false;
    ::unlink(renamed.c_str());
    return true;
  }

  void release() {
    if (!try_release()) {
      std::fprintf(stderr, "trainscope: the journal lock %s had been broken by another process while we held it\n",
                   lock_path_.c_str());
    }
  }

  std::string path_;
  std::string lock_path_;
  off_t offset_ = 0;         // bytes of complete lines read so far
  int64_t line_number_ = 0;  // lines read so far
};

}  // namespace

std::unique_ptr<JournalBackend> open_file_backend(const std::string& path) {
  return std::make_unique<FileBackend>(path);
}

std::string make_uuid4() { return random_uuid4(); }

}  // namespace trainscope::sweep::detail
