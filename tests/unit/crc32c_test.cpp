// CRC-32C against published vectors, hardware vs portable, and TFRecord framing.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "trainscope/crc32c.h"
#include "trainscope/record.h"

namespace trainscope {
namespace {

TEST(Crc32c, PublishedVectors) {
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62a8ab43u);  // RFC 3720 B.4
  std::string inc(32, 0);
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c(inc), 0x46dd794eu);  // RFC 3720 B.4, incrementing bytes
  EXPECT_EQ(crc32c("123456789"), 0xe3069283u);  // the standard check value
}

TEST(Crc32c, MaskedVectorFromTensorFlow) {
  EXPECT_EQ(masked_crc32c(std::string("\x1a\x11" "CRC test, one two", 19)), 0x5794d08au);
}

TEST(Crc32c, MaskRoundTrips) {
  for (uint32_t v : {0u, 1u, 0xdeadbeefu, 0xffffffffu}) EXPECT_EQ(unmask_crc(mask_crc(v)), v);
}

TEST(Crc32c, HardwareAndPortableAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::string data(4096 + 17, 0);
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t off = 0; off < 9; ++off) {
    for (size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 1000u, 4096u}) {
      ASSERT_EQ(crc32c_extend(0, data.data() + off, len), crc32c_portable(0, data.data() + off, len))
          << "off=" << off << " len=" << len;
    }
  }
  // Extending in pieces equals one pass.
  uint32_t c = crc32c_extend(0, data.data(), 100);
  c = crc32c_extend(c, data.data() + 100, 900);
  EXPECT_EQ(c, crc32c_extend(0, data.data(), 1000));
}

TEST(Record, FramingLayout) {
  std::string out;
  append_record(out, "hello");
  ASSERT_EQ(out.size(), kRecordOverheadBytes + 5);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(out[i]);
  EXPECT_EQ(len, 5u);
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(out[at + i]);
    return v;
  };
  EXPECT_EQ(u32(8), mask_crc(crc32c(std::string_view(out.data(), 8))));
  EXPECT_EQ(out.substr(12, 5), "hello");
  EXPECT_EQ(u32(17), masked_crc32c("hello"));
  append_record(out, "");
  EXPECT_EQ(out.size(), 2 * kRecordOverheadBytes + 5);
}

}  // namespace
}  // namespace trainscope
