// event_file_sizes / cut_event_files (see checkpoint.h): a resume takes the run's event files
// back to the moment of its checkpoint. Safe because the checkpoint was written only after
// those files were flushed and fsynced up to the recorded sizes, which fall between records.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "trainscope/checkpoint.h"

namespace trainscope {
namespace fs = std::filesystem;

std::map<std::string, int64_t> event_file_sizes(const std::string& run_dir) {
  std::map<std::string, int64_t> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(run_dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code e2;
    if (it->path().filename().string().find("tfevents") == std::string::npos || !it->is_regular_file(e2)) continue;
    const auto size = it->file_size(e2);
    if (!e2) out[fs::relative(it->path(), run_dir, e2).string()] = static_cast<int64_t>(size);
  }
  return out;
}

std::vector<std::string> cut_event_files(const std::string& run_dir, const TrainingState& state) {
  std::vector<std::string> done;
  if (state.event_run_dir.empty()) return done;
  std::error_code ec;
  const fs::path here = fs::weakly_canonical(fs::absolute(run_dir), ec);
  if (ec || here != fs::path(state.event_run_dir)) return done;  // a checkpoint of another run
  for (const auto& [rel, size] : event_file_sizes(run_dir)) {
    const fs::path p = fs::path(run_dir) / rel;
    const auto it = state.event_files.find(rel);
    if (it == state.event_files.end()) {
      if (::unlink(p.c_str()) == 0) done.push_back("removed " + p.string() + " (written after the checkpoint)");
      continue;
    }
    if (size <= it->second) continue;
    const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(it->second)) != 0 || ::fsync(fd) != 0) {
      const std::string why = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot cut " + p.string() + " back to its size at the checkpoint (" +
                               std::to_string(it->second) + " bytes): " + why);
    }
    ::close(fd);
    done.push_back("cut " + p.string() + " from " + std::to_string(size) + " to " + std::to_string(it->second) +
                   " bytes (records logged after the checkpoint)");
  }
  return done;
}

}  // namespace trainscope
