// EventWriter: bounded queue + writer thread + encoding, in front of a sink (see
// event_writer.h). The writer serialises every sink call; the sink only moves bytes.
#include "trainscope/event_writer.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "trainscope/file_sink.h"
#include "trainscope/limits.h"
#include "trainscope/record.h"
#include "trainscope/wire/event_encode.h"

namespace trainscope {
namespace {

void default_error_handler(const std::string& message) {
  std::fprintf(stderr, "[trainscope] %s\n", message.c_str());
}
std::atomic<ErrorHandler> g_error_handler{&default_error_handler};

// Writers still open at normal process exit are closed by an atexit handler, so the tail of
// the queue reaches the disk even when the user forgot close(). Leaked on purpose: it must
// outlive every static EventWriter.
struct OpenWriters {
  std::mutex mu;
  std::set<EventWriter*> writers;
};
OpenWriters& open_writers() {
  static auto* w = new OpenWriters;
  return *w;
}
void close_all_at_exit() {
  std::vector<EventWriter*> all;
  {
    std::lock_guard lk(open_writers().mu);
    all.assign(open_writers().writers.begin(), open_writers().writers.end());
  }
  for (EventWriter* w : all) w->close();
}
void register_writer(EventWriter* w) {
  static const bool registered = [] { return std::atexit(close_all_at_exit) == 0; }();
  (void)registered;
  std::lock_guard lk(open_writers().mu);
  open_writers().writers.insert(w);
}
void unregister_writer(EventWriter* w) {
  std::lock_guard lk(open_writers().mu);
  open_writers().writers.erase(w);
}

size_t payload_bytes(const SummaryPayload& p) {
  return std::visit(
      [](const auto& v) -> size_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, ScalarData>) return 0;
        if constexpr (std::is_same_v<T, HistogramData>) return (v.bucket.size() + v.bucket_limit.size()) * 8;
        if constexpr (std::is_same_v<T, ImageData>) return v.pixels.size();
        if constexpr (std::is_same_v<T, AudioData>) return v.samples.size() * sizeof(float);
        if constexpr (std::is_same_v<T, TextData>) return v.text.size();
        if constexpr (std::is_same_v<T, VideoData>) return v.pixels.size();
        if constexpr (std::is_same_v<T, TensorData>) {
          size_t n = v.content.size() + v.plugin_content.size();
          for (const auto& s : v.strings) n += s.size();
          return n;
        }
        if constexpr (std::is_same_v<T, RawEventData>) return v.bytes.size();
        return 0;
      },
      p);
}

// What limits.h refuses in a prepared payload: bad UTF-8 in strings that end up in the event,
// too many histogram buckets, too many pixels, a record too big. Throws std::invalid_argument.
void check_payload(std::string_view api, std::string_view tag, const SummaryPayload& p) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, HistogramData>) {
          check_histogram_bins(api, tag, static_cast<int64_t>(v.bucket.size()));
        } else if constexpr (std::is_same_v<T, ImageData>) {
          check_image_pixels(api, tag, v.height, v.width);
        } else if constexpr (std::is_same_v<T, VideoData>) {
          check_image_pixels(api, tag, v.height, v.width);
        } else if constexpr (std::is_same_v<T, TextData>) {
          check_utf8(api, tag, "the text", v.text);
        } else if constexpr (std::is_same_v<T, TensorData>) {
          // v.strings are DT_STRING elements: bytes (custom_scalars keeps a serialized proto
          // there), so only the proto string fields of the metadata are checked.
          check_utf8(api, tag, "the plugin name", v.plugin_name);
          check_utf8(api, tag, "the display name", v.display_name);
          check_utf8(api, tag, "the description", v.description);
        }
      },
      p);
  check_record_bytes(api, tag, payload_bytes(p));
}

}  // namespace

void set_error_handler(ErrorHandler handler) {
  g_error_handler.store(handler ? handler : &default_error_handler);
}
void report_error(const std::string& message) { g_error_handler.load()(message); }

double EventWriter::now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct EventWriter::Impl {
  struct Item {
    enum class Kind : uint8_t { kScalar, kPayload, kDeferred };
    Kind kind = Kind::kScalar;
    float value = 0;
    int64_t step = 0;
    double wall_time = 0;
    std::string tag;
    std::unique_ptr<SummaryPayload> payload;
    std::unique_ptr<DeferredPayload> deferred;
    size_t bytes = 0;
  };

  EventWriterOptions options;
  std::string log_dir;
  std::string path;  // sink->location()
  std::shared_ptr<EventSink> sink;
  std::mutex sink_mu;        // one sink call at a time (writer thread, sync(), close())
  bool sink_closed = false;  // guarded by sink_mu

  mutable std::mutex mu;
  std::condition_variable work_cv;   // writer waits here
  std::condition_variable space_cv;  // blocked producers wait here
  std::condition_variable done_cv;   // flush()/close() wait here
  std::vector<Item> queue;           // live items are queue[head..]
  size_t head = 0;
  size_t queued_bytes = 0;
  uint64_t enqueued_seq = 0;   // items accepted (or evicted) so far
  uint64_t processed_seq = 0;  // items taken off the queue and handled by the writer
  uint64_t flushed_seq = 0;    // processed and on disk
  uint64_t flush_wanted = 0;   // flush requested up to this sequence
  bool retry_wanted = false;   // flush() wants a cycle to retry pending records
  uint64_t cycles = 0;         // writer cycles completed
  int blocked_producers = 0;  // producers waiting for room (kBlock)
  bool stopping = false;
  bool closed = false;
  WriterStats stats;
  std::string first_error;
  bool reported_drop = false, reported_write = false, reported_encode = false, reported_nonfinite = false;
  static constexpr size_t kMaxReportedTags = 256;
  std::set<std::string> reported_tags;  // "<kind>\n<tag>" already reported (guarded by mu)
  std::thread thread;

  size_t live() const { return queue.size() - head; }
  bool full(size_t add_bytes) const {
    return live() >= options.max_queue_records ||
           (live() > 0 && queued_bytes + add_bytes > options.max_queue_bytes);
  }
  size_t high_water() const { return options.max_queue_records / 2; }

  void note_error(std::string msg, bool& reported) {  // requires mu
    if (first_error.empty()) first_error = msg;
    if (!reported) {
      reported = true;
      report_error(msg + " (further errors of this kind are counted, not printed)");
    }
  }

  // Runs one sink call under sink_mu; a failure (or a throw) is counted, kept as the first
  // error if it is one, and reported once. Never throws.
  template <typename Call>
  bool sink_call(const char* what, Call&& call) {
    WriteStatus st;
    {
      std::lock_guard sk(sink_mu);
      if (sink_closed) return true;
      try {
        st = call(*sink);
      } catch (const std::exception& e) {
        st = {false, std::string("cannot ") + what + " " + path + ": " + e.what()};
      } catch (...) {
        st = {false, std::string("cannot ") + what + " " + path + ": unknown exception"};
      }
    }
    if (st.ok) return true;
    if (st.message.empty()) st.message = std::string("cannot ") + what + " " + path;
    std::lock_guard lk(mu);
    ++stats.write_errors;
    note_error(st.message, reported_write);
    return false;
  }

  // Records the sink has not taken yet (writer thread only; pending_bytes mirrors the size
  // under mu for sync()). A failed write (a full disk) keeps them here and the writer retries
  // them first at every later batch, flush and close: nothing is lost while space comes
  // back. Bounded by max_queue_bytes: beyond it the oldest records are dropped and counted.
  std::string pending;
  size_t pending_bytes = 0;      // guarded by mu
  uint64_t pending_dropped = 0;  // records dropped from pending, guarded by mu
  bool reported_pending_drop = false;

  static size_t record_size(std::string_view buf, size_t at) {
    if (buf.size() - at < 12) return buf.size() - at;
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(buf[at + static_cast<size_t>(i)]);
    return static_cast<size_t>(std::min<uint64_t>(len + 16, buf.size() - at));
  }

  // Appends whole records to what waits for the sink and writes as much as it takes: the
  // whole buffer in one call, or, after a failure, record by record until one does not fit,
  // so that records which fit are not held back by one that does not.
  void write_all(const std::string& buf) {
    pending.append(buf);
    write_pending();
  }

  void write_pending() {
    if (pending.empty()) return;
    size_t done = 0;
    if (sink_call("write", [&](EventSink& k) { return k.write(pending); })) {
      done = pending.size();
    } else {
      while (done < pending.size()) {
        const size_t n = record_size(pending, done);
        const std::string_view rec(pending.data() + done, n);
        bool ok = false;
        {
          std::lock_guard sk(sink_mu);
          if (sink_closed) break;
          try {
            ok = sink->write(rec).ok;
          } catch (...) {
            ok = false;
          }
        }
        if (!ok) break;
        done += n;
      }
    }
    if (done > 0) {
      add_written_bytes(done);
      pending.erase(0, done);
    }
    // Bound what waits: drop the oldest whole records beyond max_queue_bytes.
    size_t cut = 0, dropped = 0;
    while (pending.size() - cut > options.max_queue_bytes) {
      cut += record_size(pending, cut);
      ++dropped;
    }
    if (cut > 0) pending.erase(0, cut);
    std::lock_guard lk(mu);
    pending_bytes = pending.size();
    if (dropped > 0) {
      pending_dropped += dropped;
      stats.dropped_oldest += dropped;
      if (!reported_pending_drop) {
        reported_pending_drop = true;
        report_error("cannot write " + path + " for a while: dropping the oldest unwritten records beyond " +
                     std::to_string(options.max_queue_bytes) + " bytes (counted in stats.dropped_oldest)");
      }
    }
  }

  void enqueue(Item item) {
    std::unique_lock lk(mu);
    if (closed || stopping) return;
    if (full(item.bytes)) {
      switch (options.overflow) {
        case OverflowPolicy::kBlock:
          ++blocked_producers;
          work_cv.notify_one();
          space_cv.wait(lk, [&] { return !full(item.bytes) || stopping; });
          --blocked_producers;
          if (stopping) return;
          break;
        case OverflowPolicy::kDropNewest:
          ++stats.dropped_newest;
          if (!reported_drop) {
            reported_drop = true;
            report_error("event queue of " + path + " is full: dropping new records (counted in stats)");
          }
          return;
        case OverflowPolicy::kDropOldest:
          while (full(item.bytes) && live() > 0) {
            queued_bytes -= queue[head].bytes;
            queue[head] = Item{};
            ++head;
            ++stats.dropped_oldest;
            ++processed_seq;  // an evicted item counts as handled for flush waiters
          }
          if (!reported_drop) {
            reported_drop = true;
            report_error("event queue of " + path + " is full: dropping oldest records (counted in stats)");
          }
          break;
      }
    }
    queued_bytes += item.bytes;
    queue.push_back(std::move(item));
    ++enqueued_seq;
    ++stats.enqueued;
    // Wake the writer only when a batch is worth it; otherwise it wakes on its flush timer.
    if (live() == high_water() || queued_bytes > options.max_queue_bytes / 2) work_cv.notify_one();
  }

  void run() {
    std::vector<Item> batch;
    std::string buf;
    std::string scratch;
    auto next_flush = std::chrono::steady_clock::now() + options.flush_interval;
    for (;;) {
      uint64_t batch_end;
      bool stop_after;
      {
        std::unique_lock lk(mu);
        work_cv.wait_until(lk, next_flush, [&] {
          return stopping || retry_wanted || flush_wanted > flushed_seq || blocked_producers > 0 ||
                 live() >= high_water() || queued_bytes > options.max_queue_bytes / 2;
        });
        if (head > 0) queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(head));
        head = 0;
        batch.swap(queue);
        queued_bytes = 0;
        batch_end = enqueued_seq;
        stop_after = stopping;
        retry_wanted = false;
      }
      space_cv.notify_all();

      buf.clear();
      uint64_t written = 0;
      for (Item& item : batch) {
        try {
          switch (item.kind) {
            case Item::Kind::kScalar:
              scratch.clear();
              detail::encode_scalar_event(scratch, item.wall_time, item.step, item.tag, item.value);
              append_record(buf, scratch);
              break;
            case Item::Kind::kPayload:
              if (!note_nonfinite(item, *item.payload)) continue;
              append_checked(buf, item,
                             detail::encode_payload_event(item.wall_time, item.step, item.tag, *item.payload));
              break;
            case Item::Kind::kDeferred: {
              SummaryPayload p = item.deferred->resolve();
              item.deferred.reset();
              if (!note_nonfinite(item, p)) continue;
              append_checked(buf, item, detail::encode_payload_event(item.wall_time, item.step, item.tag, p));
              break;
            }
          }
          ++written;
        } catch (const std::exception& e) {
          encode_failed(item, e.what());
        } catch (...) {
          encode_failed(item, "unknown exception");
        }
        // Bound the staging buffer so huge batches do not double memory.
        if (buf.size() > (8u << 20)) {
          write_all(buf);
          buf.clear();
        }
      }
      batch.clear();
      if (!buf.empty()) {
        write_all(buf);
      } else {
        write_pending();  // retry what an earlier failure left
      }
      sink_call("flush", [](EventSink& k) { return k.flush(); });

      const auto now = std::chrono::steady_clock::now();
      {
        std::lock_guard lk(mu);
        stats.written += written;
        processed_seq = std::max(processed_seq, batch_end);
        // Written and the sink flushed: visible to readers (for a file).
        flushed_seq = processed_seq;
        ++cycles;
      }
      done_cv.notify_all();
      if (now >= next_flush) next_flush = now + options.flush_interval;
      if (stop_after) break;
    }
    if (!pending.empty()) {
      std::lock_guard lk(mu);
      note_error("cannot write " + path + ": " + std::to_string(pending.size()) +
                     " bytes of records were still unwritten at close and are lost",
                 reported_write);
    }
  }

  // Histograms leave NaN/inf out; say so once per writer, count every one. A histogram with
  // no finite value at all (a diverged model, a layer of NaN) has nothing to draw: it is not
  // written, and said at once, once per tag, naming the tag and step. Returns false for it.
  bool note_nonfinite(const Item& item, const SummaryPayload& p) {
    const auto* h = std::get_if<HistogramData>(&p);
    if (!h || h->nonfinite == 0) return true;
    std::lock_guard lk(mu);
    stats.nonfinite_values += static_cast<uint64_t>(h->nonfinite);
    if (h->num <= 0) {
      ++stats.encode_errors;
      if (first_error.empty())
        first_error = "histogram '" + item.tag + "' at step " + std::to_string(item.step) + ": every value is NaN/inf";
      if (reported_tags.size() < kMaxReportedTags && reported_tags.insert("nonfinite\n" + item.tag).second) {
        report_error("histogram '" + item.tag + "' at step " + std::to_string(item.step) + ": all " +
                     std::to_string(h->nonfinite) +
                     " values are NaN or inf; nothing written for this step (the model may have diverged; "
                     "further all-NaN steps of this tag are counted in stats().encode_errors)");
      }
      return false;
    }
    if (!reported_nonfinite) {
      reported_nonfinite = true;
      report_error("histogram '" + item.tag + "' at step " + std::to_string(item.step) + ": left out " +
                   std::to_string(h->nonfinite) + " NaN/inf values (further cases are counted in stats)");
    }
    return true;
  }

  // Appends one encoded record unless it is larger than max_record_bytes (limits.h): such a
  // record is dropped and reported with its tag (the size could not be known at the call).
  void append_checked(std::string& buf, const Item& item, const std::string& encoded) {
    const size_t max = input_limits().max_record_bytes;
    if (encoded.size() > max) {
      throw std::length_error("the encoded record is " + std::to_string(encoded.size()) +
                              " bytes, more than max_record_bytes = " + std::to_string(max) +
                              " (limits.h): dropped; log less per call or raise the limit");
    }
    (void)item;
    append_record(buf, encoded);
  }

  // Each tag's first failure is printed (so a second bad tag is not hidden behind the first);
  // the rest are counted.
  void encode_failed(const Item& item, const char* what) {
    std::lock_guard lk(mu);
    ++stats.encode_errors;
    const std::string msg = "cannot encode '" + item.tag + "' at step " + std::to_string(item.step) + ": " + what;
    if (reported_tags.size() < kMaxReportedTags && reported_tags.insert("encode\n" + item.tag).second) {
      if (first_error.empty()) first_error = msg;
      report_error(msg + " (further errors of this tag are counted, not printed)");
      return;
    }
    note_error(msg, reported_encode);
  }

  void add_written_bytes(size_t n) {
    std::lock_guard lk(mu);
    stats.bytes_written += n;
  }
};

EventWriter::EventWriter(std::string log_dir, EventWriterOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  if (options.max_queue_records == 0) throw std::invalid_argument("EventWriter: max_queue_records must be >= 1");
  if (options.flush_interval.count() <= 0) options.flush_interval = std::chrono::milliseconds(1000);
  s.options = std::move(options);
  s.log_dir = std::move(log_dir);
  if (s.log_dir.empty()) throw std::invalid_argument("EventWriter: log dir is empty");

  s.sink = s.options.sink ? s.options.sink() : std::make_shared<FileSink>();
  if (!s.sink) throw std::invalid_argument("EventWriter: the sink factory for '" + s.log_dir + "' returned no sink");
  s.sink->open(SinkTarget{s.log_dir, s.options.filename_suffix});  // throws naming the path and reason
  s.path = s.sink->location();

  std::string head;
  append_record(head, detail::encode_file_version_event(now()));
  if (s.options.purge_step) append_record(head, detail::encode_session_start_event(now(), *s.options.purge_step));
  WriteStatus st = s.sink->write(head);
  if (st.ok) st = s.sink->flush();
  if (!st.ok) {
    (void)s.sink->close();
    throw std::runtime_error("trainscope: " + st.message);
  }
  s.stats.bytes_written = head.size();
  s.queue.reserve(std::min<size_t>(s.options.max_queue_records, 4096));
  s.thread = std::thread([this] { impl_->run(); });
  register_writer(this);
}

EventWriter::~EventWriter() { close(); }

void EventWriter::add_scalar(std::string_view tag, float value, int64_t step, double wall_time) {
  check_tag("EventWriter::add_scalar", tag);
  Impl::Item item;
  item.kind = Impl::Item::Kind::kScalar;
  item.value = value;
  item.step = step;
  item.wall_time = wall_time;
  item.tag.assign(tag);
  item.bytes = sizeof(Impl::Item) + tag.size();
  impl_->enqueue(std::move(item));
}

void EventWriter::add(std::string_view tag, int64_t step, SummaryPayload payload, double wall_time) {
  // A raw event (graph_def, session log) has no tag of its own: "" is fine there.
  if (!tag.empty() || !std::holds_alternative<RawEventData>(payload)) check_tag("EventWriter::add", tag);
  check_payload("EventWriter::add", tag, payload);
  Impl::Item item;
  item.kind = Impl::Item::Kind::kPayload;
  item.step = step;
  item.wall_time = wall_time;
  item.tag.assign(tag);
  item.bytes = sizeof(Impl::Item) + tag.size() + payload_bytes(payload);
  item.payload = std::make_unique<SummaryPayload>(std::move(payload));
  impl_->enqueue(std::move(item));
}

void EventWriter::add_deferred(std::string_view tag, int64_t step, std::unique_ptr<DeferredPayload> payload,
                               double wall_time) {
  if (!payload) throw std::invalid_argument("EventWriter::add_deferred: null payload for tag '" + std::string(tag) + "'");
  check_tag("EventWriter::add_deferred", tag);
  check_record_bytes("EventWriter::add_deferred", tag, payload->held_bytes());
  Impl::Item item;
  item.kind = Impl::Item::Kind::kDeferred;
  item.step = step;
  item.wall_time = wall_time;
  item.tag.assign(tag);
  item.bytes = sizeof(Impl::Item) + tag.size() + payload->held_bytes();
  item.deferred = std::move(payload);
  impl_->enqueue(std::move(item));
}

WriteStatus EventWriter::flush() {
  Impl& s = *impl_;
  std::unique_lock lk(s.mu);
  if (s.closed) return {s.first_error.empty(), s.first_error};
  const uint64_t target = s.enqueued_seq;
  // Records an earlier failure left: one more writer cycle retries them.
  const bool retry = s.pending_bytes > 0;
  const uint64_t cycle = s.cycles;
  if (retry) s.retry_wanted = true;
  s.flush_wanted = std::max(s.flush_wanted, target);
  s.work_cv.notify_one();
  s.done_cv.wait(lk, [&] { return (s.flushed_seq >= target && (!retry || s.cycles > cycle)) || s.closed; });
  return {s.first_error.empty(), s.first_error};
}

// Unlike flush() and close(), which return the first error ever (sticky), sync() says whether
// everything queued so far is on disk now: a write error that a later retry made good does
// not fail it, records still waiting for space (or a failed fsync) do.
WriteStatus EventWriter::sync() {
  flush();
  Impl& s = *impl_;
  size_t unwritten = 0;
  {
    std::lock_guard lk(s.mu);
    unwritten = s.pending_bytes;
  }
  WriteStatus st;
  s.sink_call("sync", [&](EventSink& k) {
    st = k.sync();
    return st;
  });
  if (!st.ok && st.message.empty()) st.message = "cannot sync " + s.path;
  if (unwritten > 0) {
    std::lock_guard lk(s.mu);
    return {false, "cannot write " + s.path + ": " + std::to_string(unwritten) + " bytes of records wait for space" +
                       (s.first_error.empty() ? std::string() : " (" + s.first_error + ")")};
  }
  return st;
}

WriteStatus EventWriter::close() {
  Impl& s = *impl_;
  {
    std::unique_lock lk(s.mu);
    if (s.closed) return {s.first_error.empty(), s.first_error};
    if (s.stopping) {  // another thread is closing: wait for it
      s.done_cv.wait(lk, [&] { return s.closed; });
      return {s.first_error.empty(), s.first_error};
    }
    s.stopping = true;
  }
  s.work_cv.notify_one();
  s.space_cv.notify_all();
  if (s.thread.joinable()) s.thread.join();
  unregister_writer(this);
  s.sink_call("close", [](EventSink& k) { return k.close(); });
  {
    std::lock_guard sk(s.sink_mu);
    s.sink_closed = true;
  }
  std::lock_guard lk(s.mu);
  s.closed = true;
  s.done_cv.notify_all();
  return {s.first_error.empty(), s.first_error};
}

bool EventWriter::closed() const {
  std::lock_guard lk(impl_->mu);
  return impl_->closed;
}

WriterStats EventWriter::stats() const {
  std::lock_guard lk(impl_->mu);
  WriterStats st = impl_->stats;
  st.queued_records = impl_->live();
  st.queued_bytes = impl_->queued_bytes;
  return st;
}

const std::string& EventWriter::log_dir() const { return impl_->log_dir; }
const std::string& EventWriter::file_path() const { return impl_->path; }
const std::shared_ptr<EventSink>& EventWriter::sink() const { return impl_->sink; }
bool EventWriter::discards() const { return impl_->sink->discards(); }

}  // namespace trainscope
