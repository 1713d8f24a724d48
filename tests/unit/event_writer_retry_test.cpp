// EventWriter on a sink that runs out of space (a full disk): the records that fit are
// written, the rest wait and are retried, in order, once space comes back; nothing is written
// twice; the failure stays visible (flush()/close() keep the first error), while sync() says
// whether everything is on disk now. docs/reliability.md.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "test_util.h"
#include "trainscope/event_reader.h"
#include "trainscope/event_writer.h"

namespace {

using namespace trainscope;

// Accepts a write only when all of it fits in `capacity` bytes, as a file does after
// FileSink cut off the part of a failed write that did fit.
class SmallDisk final : public EventSink {
 public:
  explicit SmallDisk(size_t capacity) : capacity_(capacity) {}
  void open(const SinkTarget& target) override { location_ = "small-disk:" + target.log_dir; }
  WriteStatus write(std::string_view records) override {
    std::lock_guard lk(mu_);
    ++writes_;
    if (bytes_.size() + records.size() > capacity_) return {false, "cannot write " + location_ + ": No space left"};
    bytes_.append(records);
    return {};
  }
  const std::string& location() const override { return location_; }

  void grow(size_t capacity) {
    std::lock_guard lk(mu_);
    capacity_ = capacity;
  }
  std::string bytes() const {
    std::lock_guard lk(mu_);
    return bytes_;
  }

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  int writes_ = 0;
  std::string bytes_;
  std::string location_;
};

// The steps of the "x" scalars in the sink's bytes, in file order.
std::vector<int64_t> steps_of(const std::string& bytes) {
  std::vector<int64_t> steps;
  auto reader = RecordReader::from_bytes(bytes, "sink");
  std::string payload;
  while (reader->next(payload)) {
    EventView ev;
    EXPECT_TRUE(decode_event(payload, ev));
    for (const auto& v : ev.values) {
      if (v.tag == "x") steps.push_back(ev.step);
    }
  }
  EXPECT_FALSE(reader->error().has_value()) << "the sink holds a partial record";
  return steps;
}

size_t scalar_record_size() {
  auto probe = std::make_shared<SmallDisk>(1 << 20);
  EventWriter w(trainscope::testing::fresh_dir() + "/probe", {.sink = [probe] { return probe; }});
  const size_t header = probe->bytes().size();
  w.add_scalar("x", 1.f, 1);
  w.flush();
  return probe->bytes().size() - header;
}

TEST(EventWriterRetry, RecordsThatFitAreWrittenTheRestRetriedInOrderOnce) {
  const size_t record = scalar_record_size();
  auto disk = std::make_shared<SmallDisk>(0);
  std::vector<std::string> reported;
  static std::vector<std::string>* sink_of_reports = nullptr;
  sink_of_reports = &reported;
  set_error_handler([](const std::string& m) { sink_of_reports->push_back(m); });
  {
    disk->grow(1 << 20);
    EventWriter w(trainscope::testing::fresh_dir() + "/retry", {.sink = [disk] { return disk; }});
    const size_t header = disk->bytes().size();
    disk->grow(header + 5 * record);  // room for 5 of the 20 records

    for (int i = 1; i <= 20; ++i) w.add_scalar("x", static_cast<float>(i), i);
    const WriteStatus first = w.flush();
    EXPECT_FALSE(first.ok);
    EXPECT_NE(first.message.find("No space left"), std::string::npos) << first.message;
    // One batch did not fit, but its first five records did: they are on the disk.
    EXPECT_EQ(steps_of(disk->bytes()), (std::vector<int64_t>{1, 2, 3, 4, 5}));
    EXPECT_FALSE(w.sync().ok);  // 15 records still wait
    EXPECT_GE(w.stats().write_errors, 1u);

    // Space comes back: the 15 waiting records go first, then the new ones, each once.
    disk->grow(1 << 20);
    for (int i = 21; i <= 25; ++i) w.add_scalar("x", static_cast<float>(i), i);
    EXPECT_FALSE(w.flush().ok);                    // flush() keeps reporting the first error: the run had one
    EXPECT_TRUE(w.sync().ok) << w.sync().message;  // but everything is written now
    std::vector<int64_t> want;
    for (int i = 1; i <= 25; ++i) want.push_back(i);
    EXPECT_EQ(steps_of(disk->bytes()), want);
    EXPECT_EQ(w.stats().dropped_oldest, 0u);
    EXPECT_FALSE(w.close().ok);
  }
  set_error_handler(nullptr);
  ASSERT_FALSE(reported.empty());
  EXPECT_NE(reported.front().find("No space left"), std::string::npos) << reported.front();
}

TEST(EventWriterRetry, WhatWaitsIsBoundedAndWhatIsDroppedIsCounted) {
  const size_t record = scalar_record_size();
  auto disk = std::make_shared<SmallDisk>(1 << 20);
  set_error_handler([](const std::string&) {});
  {
    EventWriter w(trainscope::testing::fresh_dir() + "/bounded",
                  {.max_queue_bytes = 10 * record, .sink = [disk] { return disk; }});
    disk->grow(disk->bytes().size());  // full from now on
    for (int i = 1; i <= 30; ++i) {
      w.add_scalar("x", static_cast<float>(i), i);
      if (i % 10 == 0) w.flush();
    }
    const WriterStats st = w.stats();
    EXPECT_EQ(st.dropped_oldest, 20u);  // 10 records' worth of bytes waits, the oldest went
    disk->grow(1 << 20);
    EXPECT_TRUE(w.sync().ok);
    std::vector<int64_t> want;
    for (int i = 21; i <= 30; ++i) want.push_back(i);
    EXPECT_EQ(steps_of(disk->bytes()), want);  // the newest, in order
  }
  set_error_handler(nullptr);
}

}  // namespace
