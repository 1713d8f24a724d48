// EventWriter: one TensorBoard event stream fed by a bounded queue and a background thread.
// The calling thread only copies and enqueues; encoding, framing and the sink's I/O happen on
// the writer thread. The bytes go to a sink (event_sink.h): an event file by default, or a
// NullSink / MemorySink. Torch-free: plugin authors and tools can use it without libtorch.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "trainscope/event_sink.h"
#include "trainscope/export.h"
#include "trainscope/summary_data.h"

namespace trainscope {

// What add_* does when the queue is full (max_queue_records or max_queue_bytes reached). The
// queue fills only when records arrive faster than the writer thread encodes and writes them
// (a slow disk, large images or histograms at every step).
enum class OverflowPolicy {
  kBlock,       // the caller (the training thread, for a plugin) waits until the writer thread
                // has taken the queue: nothing is lost, but a step can stall on a slow sink
  kDropNewest,  // never waits: discard the record being added, count it
  kDropOldest,  // never waits: discard the oldest queued record, count it
};

struct EventWriterOptions {
  size_t max_queue_records = 1u << 16;     // bound on queued records
  size_t max_queue_bytes = 256u << 20;     // bound on bytes held by queued records
  OverflowPolicy overflow = OverflowPolicy::kBlock;
  std::chrono::milliseconds flush_interval{1000};  // data reaches disk at least this often
  std::string filename_suffix;             // appended to the event file name
  // When set, a SessionLog START at this step is written first: TensorBoard then drops
  // events of earlier files with step >= purge_step (resume after a crash).
  std::optional<int64_t> purge_step;
  // Where the framed records go (event_sink.h). Empty: file_sink(), an event file in log_dir.
  // null_sink() keeps nothing; MemorySinks::factory() keeps the bytes in memory.
  SinkFactory sink;
};

// Counters, readable at any time from any thread.
struct WriterStats {
  uint64_t enqueued = 0;        // records accepted by add_*
  uint64_t written = 0;         // records framed and handed to the sink
  uint64_t dropped_newest = 0;  // refused under kDropNewest
  uint64_t dropped_oldest = 0;  // evicted under kDropOldest
  uint64_t encode_errors = 0;   // payloads that failed to encode or resolve (record dropped)
  uint64_t write_errors = 0;    // failed sink writes, flushes, syncs or closes
  uint64_t bytes_written = 0;   // bytes the sink accepted
  uint64_t nonfinite_values = 0;  // NaN/inf values left out of histograms (reported once)
  size_t queued_records = 0;
  size_t queued_bytes = 0;
};

class TRAINSCOPE_API EventWriter {
 public:
  // Opens the sink (the file sink creates `log_dir`, its parents and the event file), writes
  // the file_version record (and the purge_step SessionLog) through it. Throws
  // std::runtime_error naming the path and the OS reason on failure.
  explicit EventWriter(std::string log_dir, EventWriterOptions options = {});
  ~EventWriter();  // close()
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // All add_* are thread-safe and never throw because of I/O (a sink's failure is counted and
  // returned by flush()/close()). Under OverflowPolicy::kBlock they wait while the queue is
  // full. After close() they are ignored.
  void add_scalar(std::string_view tag, float value, int64_t step, double wall_time = now());
  void add(std::string_view tag, int64_t step, SummaryPayload payload, double wall_time = now());
  void add_deferred(std::string_view tag, int64_t step, std::unique_ptr<DeferredPayload> payload,
                    double wall_time = now());

  // Waits until everything queued before the call is written and the sink flushed (for the
  // file sink: visible to readers). Returns the first error since the writer opened.
  WriteStatus flush();
  // flush(), then asks the sink to make the bytes durable (fsync for the file sink).
  WriteStatus sync();
  // Drains the queue, flushes, closes the file and stops the thread. Idempotent.
  WriteStatus close();
  bool closed() const;

  WriterStats stats() const;
  const std::string& log_dir() const;
  // The sink's location(): the event file's path for the file sink.
  const std::string& file_path() const;
  // The sink, e.g. to read a NullSink's counts or a MemorySink's bytes.
  const std::shared_ptr<EventSink>& sink() const;
  // True when the sink keeps nothing (NullSink): callers can skip work whose only product
  // would be written next to the event file.
  bool discards() const;

  // Seconds since the epoch with sub-second precision, as Event.wall_time wants.
  static double now();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Where writer errors go (once per writer and kind of error). Default: stderr. Thread-safe.
using ErrorHandler = void (*)(const std::string& message);
TRAINSCOPE_API void set_error_handler(ErrorHandler handler);
TRAINSCOPE_API void report_error(const std::string& message);

}  // namespace trainscope
