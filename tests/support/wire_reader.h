// A small protobuf wire-format reader for tests that look inside a serialized message (a
// plugin's SummaryMetadata content, a custom-scalars Layout) without the generated classes: a
// torch translation unit never includes a .pb.h. Field numbers come from the .proto files.
//
//   for (auto entry : wire::all_bytes(wire::first_bytes(plugin_data, 3), 1)) ...
//
// Malformed input (a truncated varint or field, a group or unknown wire type) throws
// std::runtime_error, which fails the calling test.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace trainscope::testing::wire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One field of a message: for varints `varint`, otherwise `bytes` (8 or 4 bytes for fixed
// fields, the payload for length-delimited ones).
struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t varint = 0;
  std::string_view bytes;

  // A fixed64 field read as a double (protobuf `double`).
  double as_double() const {
    if (wire != kFixed64) throw std::runtime_error("field " + std::to_string(number) + " is not a fixed64");
    double d = 0;
    std::memcpy(&d, bytes.data(), sizeof d);
    return d;
  }
  // A fixed32 field read as a float (protobuf `float`).
  float as_float() const {
    if (wire != kFixed32) throw std::runtime_error("field " + std::to_string(number) + " is not a fixed32");
    float f = 0;
    std::memcpy(&f, bytes.data(), sizeof f);
    return f;
  }
};

// Every field of `msg`, in order.
inline std::vector<Field> fields(std::string_view msg) {
  std::vector<Field> out;
  size_t i = 0;
  auto varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0; i < msg.size() && shift < 64; shift += 7) {
      const auto c = static_cast<uint8_t>(msg[i++]);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if ((c & 0x80) == 0) return v;
    }
    throw std::runtime_error("protobuf: truncated varint");
  };
  while (i < msg.size()) {
    const uint64_t key = varint();
    Field f;
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<uint32_t>(key & 7);
    size_t n = 0;
    switch (f.wire) {
      case kVarint: f.varint = varint(); break;
      case kFixed64: n = 8; break;
      case kFixed32: n = 4; break;
      case kLengthDelimited: n = static_cast<size_t>(varint()); break;
      default: throw std::runtime_error("protobuf: unexpected wire type " + std::to_string(f.wire));
    }
    if (n > msg.size() - i) throw std::runtime_error("protobuf: truncated field " + std::to_string(f.number));
    f.bytes = msg.substr(i, n);
    i += n;
    out.push_back(f);
  }
  return out;
}

// Every field numbered `number`, in order.
inline std::vector<Field> all(std::string_view msg, uint32_t number) {
  std::vector<Field> out;
  for (const auto& f : fields(msg)) {
    if (f.number == number) out.push_back(f);
  }
  return out;
}

// The payloads of the length-delimited fields numbered `number` (strings, bytes, messages,
// repeated ones in order).
inline std::vector<std::string_view> all_bytes(std::string_view msg, uint32_t number) {
  std::vector<std::string_view> out;
  for (const auto& f : fields(msg)) {
    if (f.number == number && f.wire == kLengthDelimited) out.push_back(f.bytes);
  }
  return out;
}

// The first length-delimited field numbered `number`; empty when there is none (as protobuf
// reads an absent string or message).
inline std::string_view first_bytes(std::string_view msg, uint32_t number) {
  for (const auto& f : fields(msg)) {
    if (f.number == number && f.wire == kLengthDelimited) return f.bytes;
  }
  return {};
}
inline std::string first_string(std::string_view msg, uint32_t number) { return std::string(first_bytes(msg, number)); }

// The first varint field numbered `number` (ints, enums, bools), if any.
inline std::optional<uint64_t> first_varint(std::string_view msg, uint32_t number) {
  for (const auto& f : fields(msg)) {
    if (f.number == number && f.wire == kVarint) return f.varint;
  }
  return std::nullopt;
}

}  // namespace trainscope::testing::wire
