// Fuzzes the event-file reader three ways: the bytes as a file of records (framing and CRCs),
// the bytes as one record's payload (decode_event), and the bytes framed as a valid record
// (the reader must give back exactly the payload).
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "trainscope/crc32c.h"
#include "trainscope/event_reader.h"

namespace {

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

// protobuf logs every string field with invalid UTF-8 it parses: noise, and slow.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string payload, error;
  trainscope::EventView ev;

  auto file = trainscope::RecordReader::from_bytes(bytes, "fuzz.tfevents");
  for (int n = 0; n < 4096 && file->next(payload); ++n) trainscope::decode_event(payload, ev, &error);
  // A corrupt file is reported with its name and the offset of the record.
  if (file->error() && (file->error()->message.find("fuzz.tfevents: ") != 0 || file->error()->offset > size)) {
    __builtin_trap();
  }

  trainscope::decode_event(bytes, ev, &error);

  std::string framed;
  std::string length;
  put_le(length, size, 8);
  framed += length;
  put_le(framed, trainscope::mask_crc(trainscope::crc32c_extend(0, length.data(), 8)), 4);
  framed += bytes;
  put_le(framed, trainscope::masked_crc32c(bytes), 4);
  auto one = trainscope::RecordReader::from_bytes(framed, "framed.tfevents");
  if (!one->next(payload) || payload != bytes || one->next(payload) || one->error()) __builtin_trap();
  return 0;
}
