// MemorySink: keeps the framed bytes in memory, for tests and tools that want the records
// without a file. Thread-safe: read it while the writer writes. The bytes are exactly what a
// FileSink would have written to its file for the same records.
//
//   auto sink = std::make_shared<trainscope::MemorySink>();
//   trainscope::EventWriter w("run", {.sink = [sink] { return sink; }});   // one writer
//   ... w.flush(); sink->events() ...
//
// For a SummaryWriter, which opens one sink per child run too, use MemorySinks::factory().
// Side files (a projector's tensors.tsv, sprite.png) still go to the log dir: a sink holds
// only event records.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "trainscope/event_reader.h"
#include "trainscope/event_sink.h"
#include "trainscope/export.h"

namespace trainscope {

class TRAINSCOPE_API MemorySink final : public EventSink {
 public:
  void open(const SinkTarget& target) override;  // touches no file system; opens once
  WriteStatus write(std::string_view records) override;
  WriteStatus close() override;
  const std::string& location() const override { return location_; }

  std::string log_dir() const;  // as given to open()
  bool closed() const;
  std::string bytes() const;  // a copy of everything written so far
  // The records' payloads, read back through RecordReader (both CRCs checked). Throws
  // std::runtime_error naming the offset if the bytes are not whole, valid records.
  std::vector<std::string> records() const;
  std::vector<EventView> events() const;  // records() decoded

 private:
  mutable std::mutex mu_;
  std::string log_dir_, location_;
  std::string bytes_;
  bool opened_ = false, closed_ = false;
};

// Collects the MemorySinks that one factory hands out (a SummaryWriter's main run and its
// child runs), so a test can find each run's records by log dir.
class TRAINSCOPE_API MemorySinks {
 public:
  MemorySinks();
  SinkFactory factory() const;                             // for EventWriterOptions::sink
  std::vector<std::shared_ptr<MemorySink>> sinks() const;  // in the order they were made
  // The sink opened for `log_dir` (nullptr if none; the last one if several).
  std::shared_ptr<MemorySink> find(std::string_view log_dir) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace trainscope
