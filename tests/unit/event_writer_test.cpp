// EventWriter: file naming, first record, ordering, flush/close, overflow policies,
// errors, threads, the sinks (memory = file bytes, null counts, a failing sink is reported and
// never throws), and the hand-encoded scalar fast path against protobuf.
#include "trainscope/event_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include "test_util.h"
#include "trainscope/file_sink.h"
#include "trainscope/memory_sink.h"
#include "trainscope/null_sink.h"
#include "trainscope/proto/event.pb.h"
#include "trainscope/record.h"
#include "trainscope/wire/event_encode.h"

namespace trainscope {
namespace {

using testing::fresh_dir;
using testing::read_events;

// A payload that blocks the writer thread until released, to fill the queue on purpose.
class Gate final : public DeferredPayload {
 public:
  explicit Gate(std::atomic<bool>& open) : open_(open) {}
  SummaryPayload resolve() override {
    while (!open_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return ScalarData{-1.f};
  }
  size_t held_bytes() const override { return 0; }

 private:
  std::atomic<bool>& open_;
};

TEST(EventWriter, FileNameAndFirstRecord) {
  const std::string dir = fresh_dir();
  EventWriter w(dir, {.filename_suffix = ".v2"});
  const std::string name = std::filesystem::path(w.file_path()).filename().string();
  EXPECT_TRUE(std::regex_match(name, std::regex(R"(events\.out\.tfevents\.\d{10}\..+\.\d+\.\d+\.v2)"))) << name;
  // The file_version record is on disk before anything is logged.
  auto events = read_events(dir);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "file_version");
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_GT(events[0].wall_time, 1.6e9);
  EXPECT_NE(events[0].wall_time, std::floor(events[0].wall_time));  // sub-second (fails ~1e-9 of the time)
}

TEST(EventWriter, ScalarsInOrderAfterFlush) {
  const std::string dir = fresh_dir();
  EventWriter w(dir);
  for (int i = 0; i < 1000; ++i) w.add_scalar("loss", 0.5f * i, int64_t{1} << 40 | i);
  ASSERT_TRUE(w.flush());
  auto events = read_events(dir);
  ASSERT_EQ(events.size(), 1001u);
  for (int i = 0; i < 1000; ++i) {
    const auto& e = events[i + 1];
    ASSERT_EQ(e.step, (int64_t{1} << 40) | i);
    ASSERT_EQ(e.values.size(), 1u);
    EXPECT_EQ(e.values[0].tag, "loss");
    EXPECT_EQ(e.values[0].simple_value, 0.5f * i);
  }
  EXPECT_EQ(w.stats().written, 1000u);
}

TEST(EventWriter, FlushIntervalMakesDataVisibleWithoutFlush) {
  const std::string dir = fresh_dir();
  EventWriter w(dir, {.flush_interval = std::chrono::milliseconds(50)});
  w.add_scalar("x", 1.f, 1);
  std::vector<EventView> events;
  for (int i = 0; i < 100 && events.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    events = read_events(dir);
  }
  EXPECT_EQ(events.size(), 2u);
}

TEST(EventWriter, CloseIsIdempotentAndIgnoresLaterAdds) {
  const std::string dir = fresh_dir();
  EventWriter w(dir);
  w.add_scalar("a", 1.f, 0);
  EXPECT_TRUE(w.close());
  EXPECT_TRUE(w.close());
  EXPECT_TRUE(w.closed());
  w.add_scalar("a", 2.f, 1);
  EXPECT_TRUE(w.flush());
  EXPECT_EQ(read_events(dir).size(), 2u);
}

TEST(EventWriter, PurgeStepWritesSessionStart) {
  const std::string dir = fresh_dir();
  {
    EventWriter w(dir, {.purge_step = 42});
  }
  auto events = read_events(dir);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, "session_log");
  EXPECT_EQ(events[1].session_status, 1);  // START
  EXPECT_EQ(events[1].step, 42);
}

TEST(EventWriter, UncreatableDirFailsAtConstructionNamingPathAndReason) {
  const std::string dir = fresh_dir();
  const std::string file = dir + "/not_a_dir";
  std::ofstream(file) << "x";
  try {
    EventWriter w(file + "/run");
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file + "/run"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Not a directory"), std::string::npos) << e.what();
  }
}

TEST(EventWriter, UnwritableDirFailsAtConstruction) {
  if (geteuid() == 0) {
    // root ignores mode bits; a read-only bind is not available here, so use /proc instead.
    try {
      EventWriter w("/proc/trainscope-cannot-exist");
      FAIL() << "expected an exception";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("/proc/trainscope-cannot-exist"), std::string::npos) << e.what();
    }
    return;
  }
  const std::string dir = fresh_dir();
  chmod(dir.c_str(), 0500);
  EXPECT_THROW(EventWriter w(dir), std::runtime_error);
  chmod(dir.c_str(), 0700);
}

TEST(EventWriter, WriteErrorIsCountedReportedOnceAndReturnedByFlush) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "/dev/full missing";
  // An event file whose later writes fail: replace the fd target with /dev/full via a symlink
  // is not possible after open, so open the writer on a dir, then swap the file by fd trick:
  // simplest honest route is writing into /dev/full through a directory of symlinks.
  const std::string dir = fresh_dir();
  static std::vector<std::string> reported;
  reported.clear();
  set_error_handler([](const std::string& m) { reported.push_back(m); });
  {
    EventWriter w(dir);
    // Point the writer's path at /dev/full by reopening: dup2 onto its descriptor.
    const int full = ::open("/dev/full", O_WRONLY);
    ASSERT_GE(full, 0);
    // Find the writer's fd: the highest open fd referring to its file.
    int target = -1;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      auto link = std::filesystem::read_symlink(e.path(), ec);
      if (!ec && link.string() == w.file_path()) target = std::stoi(e.path().filename().string());
    }
    ASSERT_GE(target, 0);
    ASSERT_GE(dup2(full, target), 0);
    ::close(full);
    for (int i = 0; i < 10; ++i) w.add_scalar("x", 1.f, i);
    WriteStatus st = w.flush();
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("No space left"), std::string::npos) << st.message;
    for (int i = 0; i < 10; ++i) w.add_scalar("x", 1.f, i);
    EXPECT_FALSE(w.flush().ok);
    EXPECT_EQ(w.stats().write_errors, 2u);
    EXPECT_FALSE(w.close().ok);
  }
  set_error_handler(nullptr);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_NE(reported[0].find("cannot write"), std::string::npos);
}

TEST(EventWriter, DropNewestCountsAndKeepsOldest) {
  const std::string dir = fresh_dir();
  std::atomic<bool> open{false};
  set_error_handler([](const std::string&) {});
  EventWriter w(dir, {.max_queue_records = 4, .overflow = OverflowPolicy::kDropNewest});
  w.add_deferred("gate", 0, std::make_unique<Gate>(open));
  w.add_scalar("wake", 0.f, 0);  // reaching the high-water mark (2) wakes the writer
  // Wait until the writer holds the gate (queue drained into its batch).
  while (w.stats().queued_records != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int i = 1; i <= 10; ++i) w.add_scalar("x", static_cast<float>(i), i);
  EXPECT_EQ(w.stats().dropped_newest, 6u);
  open = true;
  ASSERT_TRUE(w.flush());
  set_error_handler(nullptr);
  auto events = read_events(dir);
  std::vector<int64_t> steps;
  for (const auto& e : events)
    if (!e.values.empty() && e.values[0].tag == "x") steps.push_back(e.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(EventWriter, DropOldestCountsAndKeepsNewest) {
  const std::string dir = fresh_dir();
  std::atomic<bool> open{false};
  set_error_handler([](const std::string&) {});
  EventWriter w(dir, {.max_queue_records = 4, .overflow = OverflowPolicy::kDropOldest});
  w.add_deferred("gate", 0, std::make_unique<Gate>(open));
  w.add_scalar("wake", 0.f, 0);
  while (w.stats().queued_records != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int i = 1; i <= 10; ++i) w.add_scalar("x", static_cast<float>(i), i);
  EXPECT_EQ(w.stats().dropped_oldest, 6u);
  open = true;
  ASSERT_TRUE(w.flush());
  set_error_handler(nullptr);
  std::vector<int64_t> steps;
  for (const auto& e : read_events(dir))
    if (!e.values.empty() && e.values[0].tag == "x") steps.push_back(e.step);
  EXPECT_EQ(steps, (std::vector<int64_t>{7, 8, 9, 10}));
}

TEST(EventWriter, BlockPolicyWaitsAndLosesNothing) {
  const std::string dir = fresh_dir();
  std::atomic<bool> open{false};
  EventWriter w(dir, {.max_queue_records = 4, .overflow = OverflowPolicy::kBlock});
  w.add_deferred("gate", 0, std::make_unique<Gate>(open));
  w.add_scalar("wake", 0.f, 0);
  while (w.stats().queued_records != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::atomic<int> added{0};
  std::thread producer([&] {
    for (int i = 1; i <= 10; ++i) {
      w.add_scalar("x", static_cast<float>(i), i);
      ++added;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(added.load(), 4);  // blocked on the fifth while the writer is held
  open = true;
  producer.join();
  ASSERT_TRUE(w.flush());
  int n = 0;
  for (const auto& e : read_events(dir))
    if (!e.values.empty() && e.values[0].tag == "x") ++n;
  EXPECT_EQ(n, 10);
  EXPECT_EQ(w.stats().dropped_newest + w.stats().dropped_oldest, 0u);
}

TEST(EventWriter, ByteBoundHolds) {
  const std::string dir = fresh_dir();
  std::atomic<bool> open{false};
  set_error_handler([](const std::string&) {});
  EventWriter w(dir, {.max_queue_bytes = 64 * 1024, .overflow = OverflowPolicy::kDropNewest});
  w.add_deferred("gate", 0, std::make_unique<Gate>(open));
  for (int i = 0; i < 100; ++i) w.add(std::string("t"), i, TextData{std::string(4096, 'a')});
  const auto st = w.stats();
  EXPECT_LE(st.queued_bytes, 64u * 1024u);
  EXPECT_GT(st.dropped_newest, 0u);
  open = true;
  w.close();
  set_error_handler(nullptr);
}

TEST(EventWriter, ManyThreadsLoggingAtOnce) {
  const std::string dir = fresh_dir();
  constexpr int kThreads = 8, kPerThread = 20000;
  {
    EventWriter w(dir, {.max_queue_records = 1024});
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&w, t] {
        const std::string tag = "thread/" + std::to_string(t);
        for (int i = 0; i < kPerThread; ++i) w.add_scalar(tag, static_cast<float>(i), i);
      });
    }
    std::thread flusher([&w] {
      for (int i = 0; i < 20; ++i) w.flush();
    });
    for (auto& th : threads) th.join();
    flusher.join();
  }
  std::map<std::string, int64_t> next;
  size_t total = 0;
  for (const auto& e : read_events(dir)) {
    if (e.kind != "summary") continue;
    ++total;
    auto& expect = next[e.values[0].tag];
    ASSERT_EQ(e.step, expect) << e.values[0].tag;  // per-thread order is kept
    ++expect;
  }
  EXPECT_EQ(total, static_cast<size_t>(kThreads) * kPerThread);
}

// ---- sinks ----------------------------------------------------------------------------------

// The same records, with the same wall times, into `w`: every kind of payload the writer frames.
void log_everything(EventWriter& w) {
  for (int i = 0; i < 300; ++i) w.add_scalar("loss", 1.f / static_cast<float>(i + 1), i, 1700000000.0 + i);
  HistogramData h{
      .min = -1, .max = 2, .num = 3, .sum = 1, .sum_squares = 5, .bucket_limit = {0, 1, 2}, .bucket = {1, 1, 1}};
  w.add("weights", 7, h, 1700000001.5);
  w.add("picture", 8, ImageData{.height = 2, .width = 3, .channels = 3, .pixels = std::vector<uint8_t>(18, 200)},
        1700000002.5);
  w.add("note", 9, TextData{"hello | world"}, 1700000003.5);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The header records (file_version, the purge_step SessionLog) carry the time the writer
// opened, which differs between two writers: give `bytes`' header records the wall times of
// `like`'s, re-encoded and re-framed. Every other byte is left as it is.
std::string with_header_times_of(const std::string& bytes, const std::string& like, size_t header_records) {
  auto a = RecordReader::from_bytes(bytes, "a"), b = RecordReader::from_bytes(like, "b");
  std::string out, pa, pb;
  for (size_t i = 0; i < header_records; ++i) {
    EXPECT_TRUE(a->next(pa) && b->next(pb));
    proto::Event ea, eb;
    EXPECT_TRUE(ea.ParseFromString(pa) && eb.ParseFromString(pb));
    ea.set_wall_time(eb.wall_time());
    append_record(out, ea.SerializeAsString());
  }
  return out + bytes.substr(a->offset());
}

TEST(EventSinks, MemorySinkHoldsExactlyTheBytesTheFileSinkWrites) {
  const std::string dir = fresh_dir();
  auto memory = std::make_shared<MemorySink>();
  std::string path;
  {
    EventWriter file(dir + "/file", {.filename_suffix = ".v2", .purge_step = 5});
    EventWriter mem(dir + "/mem", {.filename_suffix = ".v2", .purge_step = 5, .sink = [memory] { return memory; }});
    log_everything(file);
    log_everything(mem);
    ASSERT_TRUE(file.close());
    ASSERT_TRUE(mem.close());
    path = file.file_path();
    EXPECT_EQ(mem.file_path(), memory->location());
    EXPECT_EQ(mem.stats().bytes_written, file.stats().bytes_written);
  }
  EXPECT_TRUE(memory->closed());
  EXPECT_EQ(memory->log_dir(), dir + "/mem");
  EXPECT_FALSE(std::filesystem::exists(dir + "/mem"));  // a memory sink touches no file system
  const std::string on_disk = file_bytes(path);
  ASSERT_GT(on_disk.size(), 300u * kRecordOverheadBytes);
  EXPECT_EQ(with_header_times_of(memory->bytes(), on_disk, 2), on_disk);
  // And it reads back through RecordReader like the file.
  const auto events = memory->events();
  ASSERT_EQ(events.size(), 2u + 300u + 3u);
  EXPECT_EQ(events[0].kind, "file_version");
  EXPECT_EQ(events[1].kind, "session_log");
  EXPECT_EQ(events[1].step, 5);
  EXPECT_EQ(events[2].values[0].tag, "loss");
  EXPECT_EQ(events[2].values[0].simple_value, 1.f);
  EXPECT_EQ(events.back().values[0].tag, "note");
  EXPECT_EQ(events.back().values[0].plugin_name, "text");
}

TEST(EventSinks, AMemorySinkOpensOnceAndMemorySinksFindsEachRun) {
  const std::string run = fresh_dir() + "/run";
  auto one = std::make_shared<MemorySink>();
  EventWriter a(run + "/a", {.sink = [one] { return one; }});
  EXPECT_THROW(EventWriter(run + "/b", {.sink = [one] { return one; }}), std::logic_error);
  MemorySinks sinks;
  EventWriter b(run + "/b", {.sink = sinks.factory()});
  EventWriter c(run + "/c", {.sink = sinks.factory()});
  b.add_scalar("x", 2.f, 1);
  ASSERT_TRUE(b.flush());
  ASSERT_EQ(sinks.sinks().size(), 2u);
  EXPECT_EQ(sinks.find(run + "/b")->events().size(), 2u);
  EXPECT_EQ(sinks.find(run + "/c")->events().size(), 1u);
  EXPECT_EQ(sinks.find(run + "/d"), nullptr);
  EXPECT_FALSE(std::filesystem::exists(run));
}

TEST(EventSinks, NullSinkCountsRecordsAndCreatesNothing) {
  const std::string dir = fresh_dir() + "/never/created";
  EventWriter w(dir, {.purge_step = 0, .sink = null_sink()});
  EXPECT_TRUE(w.discards());
  for (int i = 0; i < 1000; ++i) w.add_scalar("x", static_cast<float>(i), i);
  w.add("note", 1, TextData{"t"});
  ASSERT_TRUE(w.flush());
  const auto* null = dynamic_cast<const NullSink*>(w.sink().get());
  ASSERT_NE(null, nullptr);
  EXPECT_EQ(null->records(), 2u + 1000u + 1u);  // file_version, the purge SessionLog, the records
  EXPECT_EQ(null->bytes(), w.stats().bytes_written);
  EXPECT_EQ(w.stats().written, 1001u);
  ASSERT_TRUE(w.close());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir).parent_path()));
  EXPECT_NE(w.file_path().find("null sink"), std::string::npos) << w.file_path();
  // The file sink is the default and keeps what it is given.
  EventWriter f(fresh_dir());
  EXPECT_FALSE(f.discards());
  EXPECT_NE(dynamic_cast<const FileSink*>(f.sink().get()), nullptr);
}

// A sink that records every call and fails writes from the `fail_from`-th on, by returning
// an error or by throwing.
class FlakySink final : public EventSink {
 public:
  FlakySink(int fail_from, bool throws) : fail_from_(fail_from), throws_(throws) {}
  void open(const SinkTarget& target) override {
    location_ = "flaky:" + target.log_dir;
    calls.push_back("open");
  }
  WriteStatus write(std::string_view records) override {
    calls.push_back("write");
    if (++writes_ < fail_from_) {
      accepted_bytes += records.size();
      return {};
    }
    if (throws_) throw std::runtime_error("device unplugged");
    return {false, "cannot write " + location_ + ": quota exceeded"};
  }
  WriteStatus flush() override {
    calls.push_back("flush");
    return {};
  }
  WriteStatus sync() override {
    calls.push_back("sync");
    return {};
  }
  WriteStatus close() override {
    calls.push_back("close");
    return {};
  }
  const std::string& location() const override { return location_; }

  std::vector<std::string> calls;  // read after the writer closed
  size_t accepted_bytes = 0;

 private:
  int fail_from_, writes_ = 0;
  bool throws_;
  std::string location_;
};

TEST(EventSinks, AFailingSinkIsCountedReportedOnceAndReturnedByFlushAndCloseNeverThrown) {
  static std::vector<std::string> reported;
  const std::string run = fresh_dir() + "/flaky-run";
  for (const bool throws : {false, true}) {
    reported.clear();
    set_error_handler([](const std::string& m) { reported.push_back(m); });
    auto sink = std::make_shared<FlakySink>(/*fail_from=*/2, throws);  // the header write succeeds
    {
      EventWriter w(run, {.sink = [sink] { return sink; }});
      EXPECT_NO_THROW(for (int i = 0; i < 10; ++i) w.add_scalar("x", 1.f, i));
      const WriteStatus st = w.flush();
      EXPECT_FALSE(st.ok);
      EXPECT_NE(st.message.find(throws ? "device unplugged" : "quota exceeded"), std::string::npos) << st.message;
      EXPECT_NE(st.message.find("cannot write flaky:" + run), std::string::npos) << st.message;
      EXPECT_NO_THROW(for (int i = 0; i < 10; ++i) w.add_scalar("x", 1.f, i));
      EXPECT_FALSE(w.sync().ok);
      EXPECT_EQ(w.stats().write_errors, 2u);
      EXPECT_EQ(w.stats().bytes_written, sink->accepted_bytes);  // the header only
      EXPECT_EQ(w.stats().written, 20u);                         // framed, then refused
      const WriteStatus closed = w.close();
      EXPECT_FALSE(closed.ok);
      EXPECT_EQ(closed.message, st.message);  // the first error, kept
    }
    set_error_handler(nullptr);
    ASSERT_EQ(reported.size(), 1u) << "throws=" << throws;
    EXPECT_NE(reported[0].find(throws ? "device unplugged" : "quota exceeded"), std::string::npos) << reported[0];
    // The writer called the sink in order: open, the header, then batches; sync on request;
    // close last and once.
    ASSERT_GE(sink->calls.size(), 4u);
    EXPECT_EQ(sink->calls[0], "open");
    EXPECT_EQ(sink->calls[1], "write");
    EXPECT_EQ(sink->calls[2], "flush");
    EXPECT_EQ(std::count(sink->calls.begin(), sink->calls.end(), "sync"), 1);
    EXPECT_EQ(std::count(sink->calls.begin(), sink->calls.end(), "close"), 1);
    EXPECT_EQ(sink->calls.back(), "close");
  }
  EXPECT_FALSE(std::filesystem::exists(run));
}

TEST(EventSinks, AHeaderTheSinkRefusesFailsTheConstructorNamingTheSink) {
  auto sink = std::make_shared<FlakySink>(/*fail_from=*/1, /*throws=*/false);
  const std::string run = fresh_dir() + "/refused";
  try {
    EventWriter w(run, {.sink = [sink] { return sink; }});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write flaky:" + run + ": quota exceeded"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(sink->calls, (std::vector<std::string>{"open", "write", "close"}));
}

TEST(EventSinks, SyncReachesTheFileSink) {
  const std::string dir = fresh_dir();
  EventWriter w(dir);
  w.add_scalar("x", 1.f, 1);
  EXPECT_TRUE(w.sync());
  EXPECT_EQ(read_events(dir).size(), 2u);
}

TEST(EventEncode, HandEncodedScalarEqualsProtobuf) {
  for (int64_t step : {int64_t{0}, int64_t{1}, int64_t{300}, int64_t{-5}, int64_t{1} << 50}) {
    for (float v : {0.f, -1.5f, 3.25e-12f, std::numeric_limits<float>::infinity()}) {
      for (const std::string& tag : {std::string("a"), std::string(200, 'x')}) {
        std::string mine;
        detail::encode_scalar_event(mine, 1700000000.25, step, tag, v);
        proto::Event ev;
        ev.set_wall_time(1700000000.25);
        ev.set_step(step);
        auto* val = ev.mutable_summary()->add_value();
        val->set_tag(tag);
        val->set_simple_value(v);
        ASSERT_EQ(mine, ev.SerializeAsString()) << "step " << step << " value " << v;
      }
    }
  }
}

}  // namespace
}  // namespace trainscope
