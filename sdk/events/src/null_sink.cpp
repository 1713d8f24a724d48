// NullSink: counts framed records by walking their length fields, stores nothing.
#include "trainscope/null_sink.h"

#include <cstring>

#include "trainscope/record.h"

namespace trainscope {
namespace {

std::atomic<uint64_t> g_null_sinks{0};

// Records in `bytes`, a sequence of whole framed records (the writer hands nothing else).
uint64_t count_records(std::string_view bytes) {
  uint64_t n = 0;
  size_t off = 0;
  while (off + kRecordHeaderBytes <= bytes.size()) {
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(bytes[off + static_cast<size_t>(i)]);
    off += kRecordOverheadBytes + static_cast<size_t>(len);
    ++n;
  }
  return n;
}

}  // namespace

void NullSink::open(const SinkTarget& target) {
  location_ = target.log_dir + " (null sink #" + std::to_string(g_null_sinks.fetch_add(1)) + ")";
}

WriteStatus NullSink::write(std::string_view records) {
  records_.fetch_add(count_records(records), std::memory_order_relaxed);
  bytes_.fetch_add(records.size(), std::memory_order_relaxed);
  return {};
}

SinkFactory null_sink() {
  return [] { return std::make_shared<NullSink>(); };
}

}  // namespace trainscope
