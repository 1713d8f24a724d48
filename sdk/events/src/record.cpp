// TFRecord framing (see record.h).
#include "trainscope/record.h"

#include <cstring>

#include "trainscope/crc32c.h"

namespace trainscope {
namespace {
void put_u32(char* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
}  // namespace

void append_record(std::string& out, std::string_view payload) {
  const size_t start = out.size();
  out.resize(start + kRecordHeaderBytes + payload.size() + kRecordFooterBytes);
  char* p = out.data() + start;
  const uint64_t len = payload.size();
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  put_u32(p + 8, mask_crc(crc32c_extend(0, p, 8)));
  if (!payload.empty()) std::memcpy(p + kRecordHeaderBytes, payload.data(), payload.size());
  put_u32(p + kRecordHeaderBytes + payload.size(), mask_crc(crc32c(payload)));
}

}  // namespace trainscope
