// MemorySink and MemorySinks: event records kept in memory (see memory_sink.h).
#include "trainscope/memory_sink.h"

#include <atomic>
#include <stdexcept>

namespace trainscope {
namespace {
std::atomic<uint64_t> g_memory_sinks{0};
}  // namespace

void MemorySink::open(const SinkTarget& target) {
  std::lock_guard lk(mu_);
  if (opened_) throw std::logic_error("MemorySink: opened twice (" + location_ + "); use MemorySinks::factory()");
  opened_ = true;
  log_dir_ = target.log_dir;
  location_ = target.log_dir + " (memory sink #" + std::to_string(g_memory_sinks.fetch_add(1)) + ")";
}

WriteStatus MemorySink::write(std::string_view records) {
  std::lock_guard lk(mu_);
  if (closed_) return {false, "cannot write " + location_ + ": closed"};
  bytes_.append(records);
  return {};
}

WriteStatus MemorySink::close() {
  std::lock_guard lk(mu_);
  closed_ = true;
  return {};
}

std::string MemorySink::log_dir() const {
  std::lock_guard lk(mu_);
  return log_dir_;
}

bool MemorySink::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

std::string MemorySink::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

std::vector<std::string> MemorySink::records() const {
  const std::unique_ptr<RecordReader> reader = RecordReader::from_bytes(bytes(), location_);
  std::vector<std::string> out;
  std::string payload;
  while (reader->next(payload)) out.push_back(payload);
  if (reader->error()) throw std::runtime_error("trainscope: " + reader->error()->message);
  return out;
}

std::vector<EventView> MemorySink::events() const {
  std::vector<EventView> out;
  for (const std::string& r : records()) {
    EventView e;
    std::string error;
    if (!decode_event(r, e, &error)) throw std::runtime_error("trainscope: " + location_ + ": " + error);
    out.push_back(std::move(e));
  }
  return out;
}

struct MemorySinks::State {
  mutable std::mutex mu;
  std::vector<std::shared_ptr<MemorySink>> sinks;
};

MemorySinks::MemorySinks() : state_(std::make_shared<State>()) {}

SinkFactory MemorySinks::factory() const {
  return [state = state_] {
    auto sink = std::make_shared<MemorySink>();
    std::lock_guard lk(state->mu);
    state->sinks.push_back(sink);
    return std::shared_ptr<EventSink>(sink);
  };
}

std::vector<std::shared_ptr<MemorySink>> MemorySinks::sinks() const {
  std::lock_guard lk(state_->mu);
  return state_->sinks;
}

std::shared_ptr<MemorySink> MemorySinks::find(std::string_view log_dir) const {
  std::lock_guard lk(state_->mu);
  for (auto it = state_->sinks.rbegin(); it != state_->sinks.rend(); ++it) {
    if ((*it)->log_dir() == log_dir) return *it;
  }
  return nullptr;
}

}  // namespace trainscope
