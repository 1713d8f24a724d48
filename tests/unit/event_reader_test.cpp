// RecordReader: reads what EventWriter wrote and reports corruption with kind and offset.
// decode_event: a tensor's dtype, content, values and strings, and the plugin content.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "test_util.h"
#include "trainscope/crc32c.h"
#include "trainscope/event_reader.h"
#include "trainscope/event_writer.h"
#include "trainscope/proto/event.pb.h"
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

// A length field near 2^64 with a valid length CRC once wrapped the "len + 4 fits" check
// around and died in std::string::resize with only "basic_string::_M_replace_aux".
TEST(RecordReader, HugeLengthWithValidCrcIsTruncatedDataAtItsOffset) {
  const std::string path = write_sample(testing::fresh_dir(), 2);
  const std::string good = slurp(path);
  for (uint64_t len : {~uint64_t{0}, ~uint64_t{0} - 3, ~uint64_t{0} - 4, uint64_t{1} << 62}) {
    std::string header(12, '\0');
    for (int i = 0; i < 8; ++i) header[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    const uint32_t crc = mask_crc(crc32c_extend(0, header.data(), 8));
    for (int i = 0; i < 4; ++i) header[8 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    dump(path, good + header + "tail");
    RecordReader r(path);
    EXPECT_EQ(count_records(r), 3);  // file_version + 2 scalars
    ASSERT_TRUE(r.error().has_value()) << len;
    EXPECT_EQ(r.error()->kind, RecordError::Kind::kTruncatedData) << len;
    EXPECT_EQ(r.error()->offset, good.size());
    EXPECT_NE(r.error()->message.find(path + ": truncated record data at offset " + std::to_string(good.size())),
              std::string::npos)
        << r.error()->message;
    EXPECT_NE(r.error()->message.find("says " + std::to_string(len) + " bytes"), std::string::npos)
        << r.error()->message;
  }
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

// ---- Tensor values ---------------------------------------------------------------------------

// The little-endian bytes of `values` as T, as tensor_content holds them.
template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// The only value of the only summary event in `dir`.
ValueView only_value(const std::string& dir) {
  std::vector<ValueView> found;
  for (auto& ev : testing::read_events(dir)) {
    for (auto& v : ev.values) found.push_back(std::move(v));
  }
  EXPECT_EQ(found.size(), 1u);
  return found.empty() ? ValueView{} : found[0];
}

ValueView write_and_read(const TensorData& t) {
  const std::string dir = testing::fresh_dir();
  EventWriter w(dir);
  w.add("t", 7, t);
  w.close();
  return only_value(dir);
}

TEST(DecodeEvent, TensorContentOfEachDtypeComesBackAsValues) {
  TensorData t;
  t.dtype = WireDType::kFloat;
  t.shape = {2, 3};
  const std::vector<float> f = {0.5f, -1.25f, 3e-8f, 1e30f, -0.f, 7.f};
  t.content = bytes_of(f);
  t.plugin_name = "pr_curves";
  t.plugin_content = std::string("\x08\x01\x00\xff", 4);  // any bytes, NULs included
  ValueView v = write_and_read(t);
  EXPECT_EQ(v.kind, "tensor");
  EXPECT_EQ(v.tensor_dtype, 1);
  EXPECT_EQ(v.tensor_shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(v.tensor_content, t.content);
  EXPECT_EQ(v.plugin_name, "pr_curves");
  EXPECT_EQ(v.plugin_content, t.plugin_content);
  EXPECT_EQ(v.tensor_values, std::vector<double>(f.begin(), f.end()));
  EXPECT_TRUE(v.tensor_strings.empty());

  const std::vector<double> d = {1.0 / 3.0, -1e300, 0.0};
  t = TensorData{.dtype = WireDType::kDouble, .shape = {3}, .content = bytes_of(d)};
  v = write_and_read(t);
  EXPECT_EQ(v.tensor_dtype, 2);
  EXPECT_EQ(v.tensor_values, d);
  EXPECT_TRUE(v.plugin_content.empty());

  const std::vector<int64_t> l = {-(int64_t{1} << 40), 0, 123456789};
  v = write_and_read({.dtype = WireDType::kInt64, .shape = {3}, .content = bytes_of(l)});
  EXPECT_EQ(v.tensor_dtype, 9);
  EXPECT_EQ(v.tensor_values, std::vector<double>(l.begin(), l.end()));

  const std::vector<int32_t> i = {-5, 2147483647};
  v = write_and_read({.dtype = WireDType::kInt32, .shape = {2}, .content = bytes_of(i)});
  EXPECT_EQ(v.tensor_dtype, 3);
  EXPECT_EQ(v.tensor_values, std::vector<double>(i.begin(), i.end()));

  const std::vector<uint8_t> u = {0, 200, 255};
  v = write_and_read({.dtype = WireDType::kUInt8, .shape = {3}, .content = bytes_of(u)});
  EXPECT_EQ(v.tensor_values, (std::vector<double>{0, 200, 255}));

  const std::vector<uint8_t> b = {1, 0, 1};
  v = write_and_read({.dtype = WireDType::kBool, .shape = {3}, .content = bytes_of(b)});
  EXPECT_EQ(v.tensor_dtype, 10);
  EXPECT_EQ(v.tensor_values, (std::vector<double>{1, 0, 1}));
}

TEST(DecodeEvent, StringTensorsComeBackAsStrings) {
  // TextData: a one-element DT_STRING tensor of plugin "text" (the "/text_summary" tag suffix is
  // the SummaryWriter's, not the EventWriter's).
  const std::string dir = testing::fresh_dir();
  EventWriter w(dir);
  w.add("notes", 1, TextData{"# title\n| a | b |"});
  TensorData t{.dtype = WireDType::kString, .shape = {2}, .strings = {"first", std::string("x\0y", 3)}};
  w.add("strings", 2, t);
  w.close();
  std::vector<ValueView> values;
  for (auto& ev : testing::read_events(dir)) {
    for (auto& v : ev.values) values.push_back(std::move(v));
  }
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].tag, "notes");
  EXPECT_EQ(values[0].tensor_dtype, 7);
  EXPECT_EQ(values[0].tensor_strings, (std::vector<std::string>{"# title\n| a | b |"}));
  EXPECT_EQ(values[0].plugin_name, "text");
  EXPECT_TRUE(values[0].tensor_values.empty());
  EXPECT_TRUE(values[0].tensor_content.empty());
  EXPECT_EQ(values[1].tensor_strings, t.strings);
  EXPECT_EQ(values[1].tensor_shape, (std::vector<int64_t>{2}));
}

// A summary Event with one tensor value built by `fill`, serialized and decoded.
template <typename Fill>
ValueView decode_tensor(Fill fill) {
  proto::Event ev;
  ev.set_step(3);
  auto* value = ev.mutable_summary()->add_value();
  value->set_tag("typed");
  auto* t = value->mutable_tensor();
  fill(*t);
  EventView out;
  std::string err;
  EXPECT_TRUE(decode_event(ev.SerializeAsString(), out, &err)) << err;
  EXPECT_EQ(out.values.size(), 1u);
  return out.values.empty() ? ValueView{} : out.values[0];
}

TEST(DecodeEvent, TypedRepeatedFieldsComeBackAsValues) {
  ValueView v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_FLOAT);
    for (float x : {1.5f, -2.f, 0.1f}) t.add_float_val(x);
  });
  EXPECT_EQ(v.tensor_dtype, 1);
  EXPECT_TRUE(v.tensor_content.empty());
  EXPECT_EQ(v.tensor_values, (std::vector<double>{1.5, -2.0, static_cast<double>(0.1f)}));

  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_DOUBLE);
    for (double x : {0.1, 1e-300}) t.add_double_val(x);
  });
  EXPECT_EQ(v.tensor_values, (std::vector<double>{0.1, 1e-300}));

  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_INT32);
    for (int x : {-7, 9}) t.add_int_val(x);
  });
  EXPECT_EQ(v.tensor_values, (std::vector<double>{-7, 9}));

  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_INT64);
    t.add_int64_val(int64_t{1} << 50);
  });
  EXPECT_EQ(v.tensor_values, (std::vector<double>{std::ldexp(1.0, 50)}));

  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_BOOL);
    t.add_bool_val(true);
    t.add_bool_val(false);
  });
  EXPECT_EQ(v.tensor_values, (std::vector<double>{1, 0}));

  // half_val holds binary16 bits: 1, -2, the smallest subnormal 2^-24, +inf.
  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_HALF);
    for (int bits : {0x3c00, 0xc000, 0x0001, 0x7c00}) t.add_half_val(bits);
  });
  EXPECT_EQ(v.tensor_values, (std::vector<double>{1.0, -2.0, std::ldexp(1.0, -24), std::numeric_limits<double>::infinity()}));

  // bfloat16 bits are the upper half of a float32: 0x4049 -> 0x40490000 = 3.140625.
  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_BFLOAT16);
    for (int bits : {0x3f80, 0x4049}) t.add_half_val(bits);
  });
  EXPECT_EQ(v.tensor_values, (std::vector<double>{1.0, 3.140625}));

  // Half precision in tensor_content: two bytes per element.
  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_HALF);
    t.set_tensor_content(bytes_of(std::vector<uint16_t>{0x3800, 0xbc00}));  // 0.5, -1
  });
  EXPECT_EQ(v.tensor_values, (std::vector<double>{0.5, -1.0}));

  // A rank-0 float keeps filling simple_value as before.
  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_FLOAT);
    t.add_float_val(4.25f);
  });
  EXPECT_EQ(v.simple_value, 4.25);
  EXPECT_EQ(v.tensor_values, (std::vector<double>{4.25}));
}

TEST(DecodeEvent, ContentThatIsNotWholeElementsOrOfAnUnknownDtypeGivesNoValues) {
  ValueView v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(proto::DT_FLOAT);
    t.set_tensor_content(std::string(6, '\x01'));
  });
  EXPECT_EQ(v.tensor_content, std::string(6, '\x01'));
  EXPECT_TRUE(v.tensor_values.empty());
  v = decode_tensor([](proto::TensorProto& t) {
    t.set_dtype(static_cast<proto::DataType>(8));  // DT_COMPLEX64: not decoded
    t.set_tensor_content(std::string(8, '\0'));
  });
  EXPECT_EQ(v.tensor_dtype, 8);
  EXPECT_EQ(v.tensor_content.size(), 8u);
  EXPECT_TRUE(v.tensor_values.empty());
}

TEST(DecodeEvent, NonTensorValuesLeaveTheTensorFieldsEmpty) {
  const std::string dir = testing::fresh_dir();
  EventWriter w(dir);
  w.add_scalar("s", 2.5f, 1);
  w.close();
  const ValueView v = only_value(dir);
  EXPECT_EQ(v.kind, "simple_value");
  EXPECT_EQ(v.simple_value, 2.5);
  EXPECT_EQ(v.tensor_dtype, 0);
  EXPECT_TRUE(v.tensor_content.empty());
  EXPECT_TRUE(v.tensor_values.empty());
  EXPECT_TRUE(v.tensor_strings.empty());
}

}  // namespace
}  // namespace trainscope
