// EventSink: where an EventWriter's framed records go (spdlog's pattern: the base owns the
// queue, the thread, encoding and locking; a sink only moves bytes). Shipped sinks, one small
// file each: FileSink (file_sink.h, the default: an events.out.tfevents.* file), NullSink
// (null_sink.h: counts, keeps nothing) and MemorySink (memory_sink.h: keeps the bytes, for tests).
//
// The EventWriter calls a sink from one thread at a time (it serialises the calls), so a sink
// needs no lock of its own unless other threads read it (MemorySink). A failed write never
// throws into the training thread: the writer thread counts it (WriterStats::write_errors),
// reports it once and returns the first error from EventWriter::flush() and close().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "trainscope/export.h"

namespace trainscope {

// Result of a sink call and of EventWriter::flush()/close(): ok, or what went wrong.
struct WriteStatus {
  bool ok = true;
  std::string message;  // "cannot write <where>: <reason>" when !ok
  explicit operator bool() const { return ok; }
};

// What the writer tells a sink when it opens it.
struct SinkTarget {
  std::string log_dir;          // the run directory the writer was given
  std::string filename_suffix;  // EventWriterOptions::filename_suffix
};

class TRAINSCOPE_API EventSink {
 public:
  virtual ~EventSink();

  // Called once, by the EventWriter's constructor, before any write. Throws
  // std::runtime_error naming the location and the reason when the sink cannot take records
  // (the EventWriter's constructor lets it through: a bad log dir fails at once).
  virtual void open(const SinkTarget& target) = 0;
  // Appends `records`: whole TFRecord-framed records (record.h). On failure returns !ok with
  // a message naming the location and the reason, and keeps what it holds a sequence of whole
  // records. Should not throw (a throw is counted as a failed write all the same).
  virtual WriteStatus write(std::string_view records) = 0;
  // Makes what was written visible to readers. The writer calls it after every batch (at
  // least every EventWriterOptions::flush_interval) and on EventWriter::flush().
  virtual WriteStatus flush() { return {}; }
  // Makes what was written durable (fsync for a file). Called by EventWriter::sync().
  virtual WriteStatus sync() { return {}; }
  // Releases the sink; no call follows. Called once, by EventWriter::close().
  virtual WriteStatus close() { return {}; }

  // Where the records go, for messages and EventWriter::file_path(): the event file's path,
  // or a description such as "<log_dir> (null sink #3)". Unique per sink; valid after open().
  virtual const std::string& location() const = 0;
  // True when the sink keeps nothing (NullSink). SummaryWriter then skips the side files it
  // would write next to the event file (projector data), and plugins can ask it the same.
  virtual bool discards() const { return false; }
};

// Makes one sink per event file: a SummaryWriter opens one more for each child run, with the
// same EventWriterOptions. An empty factory means file_sink().
using SinkFactory = std::function<std::shared_ptr<EventSink>()>;

}  // namespace trainscope
