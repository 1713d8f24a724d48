// FileSink: the default sink. One append-only TensorBoard event file per writer,
// <log_dir>/events.out.tfevents.<unix time, 10 digits>.<host>.<pid>.<n><suffix>, with <n> a
// per-process counter so two writers in one second never share a file. Writes go straight to
// the file descriptor (no user-space buffer): what write() returned is visible to readers.
#pragma once

#include <string>
#include <string_view>

#include "trainscope/event_sink.h"
#include "trainscope/export.h"

namespace trainscope {

class TRAINSCOPE_API FileSink final : public EventSink {
 public:
  FileSink() = default;
  ~FileSink() override;  // closes the file if close() was not called

  // Creates `log_dir` (and parents) and the file; throws std::runtime_error naming the path
  // and the OS reason.
  void open(const SinkTarget& target) override;
  // On a failed write, cuts off what this call wrote, so the file stays whole records.
  WriteStatus write(std::string_view records) override;
  WriteStatus sync() override;  // fsync
  WriteStatus close() override;
  const std::string& location() const override { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// The factory EventWriterOptions::sink defaults to.
TRAINSCOPE_API SinkFactory file_sink();

}  // namespace trainscope
