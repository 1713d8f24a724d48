// The chunk pool (see parallel_chunks.h). Chunks are claimed with one atomic counter; the
// caller waits only for chunks already claimed, on a second counter. A job lives in a
// shared_ptr so that a helper waking late finds a finished job, not freed memory; it only
// touches the job's counters then, never the caller's context.
#include "parallel_chunks.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

namespace trainscope::detail {
namespace {

constexpr size_t kCopyChunk = size_t{512} << 10;  // parallel_copy's share per claim

struct Job {
  size_t chunks = 0;
  ChunkWork work = nullptr;
  void* ctx = nullptr;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<unsigned> joined{0};
};

void participate(Job& job, unsigned participant) {
  size_t did = 0;
  for (size_t c; (c = job.next.fetch_add(1, std::memory_order_relaxed)) < job.chunks; ++did) {
    job.work(job.ctx, participant, c);
  }
  if (did == 0) return;
  if (job.done.fetch_add(did, std::memory_order_acq_rel) + did == job.chunks) job.done.notify_all();
}

unsigned configured_participants() {
  unsigned n = std::min(std::max(std::thread::hardware_concurrency(), 1u), 8u);
  if (const char* env = std::getenv("TRAINSCOPE_HISTOGRAM_THREADS")) {
    const long v = std::strtol(env, nullptr, 10);
    if (v >= 1 && v <= 64) n = static_cast<unsigned>(v);
  }
  return n;
}

class Pool {
 public:
  static Pool& get() {
    static Pool* pool = [] {
      auto* p = new Pool;  // leaked: helpers may still be parked at exit
      instance_.store(p, std::memory_order_release);
      pthread_atfork([] { get_existing()->mu_.lock(); }, [] { get_existing()->mu_.unlock(); },
                     [] {
                       Pool* q = get_existing();
                       q->helpers_ = 0;  // a forked child has no helper threads
                       q->mu_.unlock();
                     });
      return p;
    }();
    return *pool;
  }

  unsigned participants() const { return helpers_ + 1; }

  void run(size_t chunks, ChunkWork work, void* ctx) {
    auto job = std::make_shared<Job>();
    job->chunks = chunks;
    job->work = work;
    job->ctx = ctx;
    bool helped = false;
    {
      std::lock_guard lk(mu_);
      if (helpers_ > 0) {
        job_ = job;
        ++generation_;
        helped = true;
      }
    }
    if (helped) cv_.notify_all();
    participate(*job, 0);
    for (size_t d; (d = job->done.load(std::memory_order_acquire)) < chunks;) {
      job->done.wait(d, std::memory_order_acquire);
    }
    if (helped) {
      std::lock_guard lk(mu_);
      if (job_ == job) job_.reset();
    }
  }

 private:
  Pool() : helpers_(configured_participants() - 1) {
    for (unsigned i = 0; i < helpers_; ++i) std::thread([this] { loop(); }).detach();
  }

  static Pool* get_existing() { return instance_.load(std::memory_order_acquire); }

  void loop() {
    pthread_setname_np(pthread_self(), "ts-histogram");
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return generation_ != seen; });
        seen = generation_;
        job = job_;
      }
      if (!job) continue;
      const unsigned participant = 1 + job->joined.fetch_add(1, std::memory_order_relaxed);
      participate(*job, participant);
    }
  }

  static inline std::atomic<Pool*> instance_{nullptr};
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
  unsigned helpers_;
};

}  // namespace

void run_chunks(size_t chunks, ChunkWork work, void* ctx) {
  if (chunks == 0) return;
  if (chunks == 1 || max_participants() == 1) {
    for (size_t c = 0; c < chunks; ++c) work(ctx, 0, c);
    return;
  }
  Pool::get().run(chunks, work, ctx);
}

void parallel_copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;  // an empty tensor's data() may be null: memcpy(_, nullptr, 0) is UB
  if (bytes < 2 * kCopyChunk || max_participants() == 1) {
    std::memcpy(dst, src, bytes);
    return;
  }
  struct Copy {
    char* dst;
    const char* src;
    size_t bytes;
  } copy{static_cast<char*>(dst), static_cast<const char*>(src), bytes};
  run_chunks((bytes + kCopyChunk - 1) / kCopyChunk,
             [](void* ctx, unsigned, size_t chunk) {
               const auto& c = *static_cast<const Copy*>(ctx);
               const size_t begin = chunk * kCopyChunk;
               std::memcpy(c.dst + begin, c.src + begin, std::min(kCopyChunk, c.bytes - begin));
             },
             &copy);
}

unsigned max_participants() {
  static const unsigned n = configured_participants();
  return n;
}

}  // namespace trainscope::detail
