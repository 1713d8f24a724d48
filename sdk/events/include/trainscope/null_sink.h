// NullSink: accepts every record, counts it, keeps nothing and creates nothing (no directory,
// no file). Used by ranks other than 0 (unless rank logs are on) and by `trainscope run
// --no-log`; SummaryWriter::discards() is true over it.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "trainscope/event_sink.h"
#include "trainscope/export.h"

namespace trainscope {

class TRAINSCOPE_API NullSink final : public EventSink {
 public:
  void open(const SinkTarget& target) override;  // never throws, touches no file system
  WriteStatus write(std::string_view records) override;
  const std::string& location() const override { return location_; }
  bool discards() const override { return true; }

  // Readable from any thread. The writer's own records (file_version, the purge_step
  // SessionLog) count too.
  uint64_t records() const { return records_.load(std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  std::string location_;
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> bytes_{0};
};

// A factory making a new NullSink per event file (for EventWriterOptions::sink).
TRAINSCOPE_API SinkFactory null_sink();

}  // namespace trainscope
