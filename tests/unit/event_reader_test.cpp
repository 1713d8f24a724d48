// RecordReader: reads what EventWriter wrote and reports corruption with kind and offset.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "test_util.h"
#include "trainscope/event_reader.h"
#include "trainscope/event_writer.h"
#include "trainscope/record.h"

namespace trainscope {
namespace {

std::string write_sample(const std::string& dir, int n) {
  EventWriter w(dir);
  for (int i = 0; i < n; ++i) w.add_scalar("s", static_cast<float>(i), i);
  w.close();
  return w.file_path();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void dump(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Reads until the end or an error; returns the number of good records.
int count_records(RecordReader& r) {
  std::string payload;
  int n = 0;
  while (r.next(payload)) ++n;
  return n;
}

TEST(RecordReader, ReadsEverythingWritten) {
  const std::string path = write_sample(testing::fresh_dir(), 5);
  RecordReader r(path);
  std::string payload;
  std::vector<int64_t> steps;
  while (r.next(payload)) {
    EventView ev;
    ASSERT_TRUE(decode_event(payload, ev));
    if (ev.kind == "summary") steps.push_back(ev.step);
  }
  EXPECT_FALSE(r.error().has_value());
  EXPECT_EQ(steps, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(r.offset(), std::filesystem::file_size(path));
}

TEST(RecordReader, TruncatedTailIsReportedAtTheLastRecord) {
  const std::string path = write_sample(testing::fresh_dir(), 5);
  std::string bytes = slurp(path);
  const size_t full = bytes.size();
  for (size_t cut : {size_t{1}, size_t{5}, size_t{13}}) {
    dump(path, bytes.substr(0, full - cut));
    RecordReader r(path);
    EXPECT_EQ(count_records(r), 5);  // file_version + 4 scalars survive
    ASSERT_TRUE(r.error().has_value());
    const auto kind = r.error()->kind;
    EXPECT_TRUE(kind == RecordError::Kind::kTruncatedData || kind == RecordError::Kind::kTruncatedHeader);
    EXPECT_EQ(r.error()->offset, r.offset());
    EXPECT_NE(r.error()->message.find(path), std::string::npos);
  }
}

TEST(RecordReader, FlippedDataByteIsBadDataCrc) {
  const std::string path = write_sample(testing::fresh_dir(), 3);
  std::string bytes = slurp(path);
  RecordReader probe(path);
  std::string payload;
  ASSERT_TRUE(probe.next(payload));
  const uint64_t second = probe.offset();  // the first scalar record
  bytes[second + kRecordHeaderBytes + 2] ^= 0x40;
  dump(path, bytes);
  RecordReader r(path);
  EXPECT_EQ(count_records(r), 1);
  ASSERT_TRUE(r.error().has_value());
  EXPECT_EQ(r.error()->kind, RecordError::Kind::kBadDataCrc);
  EXPECT_EQ(r.error()->offset, second);
  EXPECT_NE(r.error()->message.find("offset " + std::to_string(second)), std::string::npos) << r.error()->message;
}

TEST(RecordReader, FlippedLengthByteIsBadLengthCrc) {
  const std::string path = write_sample(testing::fresh_dir(), 3);
  std::string bytes = slurp(path);
  bytes[0] ^= 0x01;
  dump(path, bytes);
  RecordReader r(path);
  EXPECT_EQ(count_records(r), 0);
  ASSERT_TRUE(r.error().has_value());
  EXPECT_EQ(r.error()->kind, RecordError::Kind::kBadLengthCrc);
  EXPECT_EQ(r.error()->offset, 0u);
}

TEST(RecordReader, MissingFileThrowsNamingIt) {
  try {
    RecordReader r("/nonexistent/events.out.tfevents.x");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/events.out.tfevents.x"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos);
  }
}

TEST(DecodeEvent, RejectsGarbage) {
  EventView ev;
  std::string err;
  EXPECT_FALSE(decode_event(std::string("\xff\xff\xff", 3), ev, &err));
  EXPECT_FALSE(err.empty());
}

}  // namespace
}  // namespace trainscope
