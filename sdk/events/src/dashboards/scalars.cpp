// The scalars dashboard's encoders (see scalars.h).
#include "trainscope/wire/dashboards/scalars.h"

#include <cstring>

#include "trainscope/proto/summary.pb.h"

namespace trainscope::detail {
namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
template <typename T>
void put_fixed(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // x86-64/aarch64 are little-endian, as the wire is
  out.append(buf, sizeof(T));
}

}  // namespace

void encode_scalar_event(std::string& out, double wall_time, int64_t step, std::string_view tag, float value) {
  // Value{1: tag, 2: simple_value}; Summary{1: value}; Event{1: wall_time, 2: step, 5: summary}.
  const size_t value_len = 1 + varint_size(tag.size()) + tag.size() + 1 + 4;
  const size_t summary_len = 1 + varint_size(value_len) + value_len;
  if (wall_time != 0.0) {
    out.push_back(0x09);
    put_fixed(out, wall_time);
  }
  if (step != 0) {
    out.push_back(0x10);
    put_varint(out, static_cast<uint64_t>(step));
  }
  out.push_back(0x2a);
  put_varint(out, summary_len);
  out.push_back(0x0a);
  put_varint(out, value_len);
  out.push_back(0x0a);
  put_varint(out, tag.size());
  out.append(tag);
  out.push_back(0x15);
  put_fixed(out, value);
}

void fill_value(proto::Summary_Value* value, const ScalarData& scalar) { value->set_simple_value(scalar.value); }

}  // namespace trainscope::detail
