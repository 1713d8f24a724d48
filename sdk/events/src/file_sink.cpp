// FileSink: an append-only event file written with ::write (see file_sink.h).
#include "trainscope/file_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>

namespace trainscope {
namespace {

std::atomic<uint64_t> g_file_counter{0};

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSink::open(const SinkTarget& target) {
  if (fd_ >= 0) throw std::logic_error("FileSink: opened twice (" + path_ + ")");
  std::error_code ec;
  std::filesystem::create_directories(target.log_dir, ec);
  if (ec) throw std::runtime_error("trainscope: cannot create log dir '" + target.log_dir + "': " + ec.message());

  char name[512];
  std::snprintf(name, sizeof(name), "events.out.tfevents.%010lld.%s.%d.%llu%s",
                static_cast<long long>(std::time(nullptr)), host_name().c_str(), static_cast<int>(getpid()),
                static_cast<unsigned long long>(g_file_counter.fetch_add(1)), target.filename_suffix.c_str());
  path_ = (std::filesystem::path(target.log_dir) / name).string();
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error("trainscope: cannot create event file in '" + target.log_dir +
                             "': " + std::strerror(errno));
  }
}

WriteStatus FileSink::write(std::string_view records) {
  if (fd_ < 0) return {false, "cannot write " + path_ + ": the file is not open"};
  size_t off = 0;
  while (off < records.size()) {
    const ssize_t n = ::write(fd_, records.data() + off, records.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      // Keep the file a sequence of whole records: cut off what we wrote of this call.
      if (off > 0) {
        const off_t end = lseek(fd_, 0, SEEK_END);
        if (end >= static_cast<off_t>(off)) (void)ftruncate(fd_, end - static_cast<off_t>(off));
      }
      return {false, "cannot write " + path_ + ": " + std::strerror(err)};
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

WriteStatus FileSink::sync() {
  if (fd_ >= 0 && ::fsync(fd_) != 0) return {false, "cannot sync " + path_ + ": " + std::strerror(errno)};
  return {};
}

WriteStatus FileSink::close() {
  if (fd_ < 0) return {};
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return {false, "cannot close " + path_ + ": " + std::strerror(errno)};
  return {};
}

SinkFactory file_sink() {
  return [] { return std::make_shared<FileSink>(); };
}

}  // namespace trainscope
