// Communicator over libtorch's c10d (see distributed.h and docs/distributed.md).
//
// Gloo: the wheel's libtorch_cpu contains ProcessGroupGloo but ships no gloo headers, and
// ProcessGroupGloo.hpp includes them. This file is compiled against Debian's libgloo-dev
// headers (an older gloo than the wheel's) under the following discipline, which keeps it
// independent of gloo's version:
//  - ProcessGroupGloo holds gloo objects only through shared_ptr / unique_ptr, so its size and
//    layout, which we need to construct it, do not depend on gloo's own classes;
//  - we call only functions that libtorch_cpu defines out of line (Options::create_default,
//    the constructor, the destructor) and the virtual collectives of c10d::Backend, so every
//    line of code that touches gloo's classes is libtorch's own, built with the wheel's gloo;
//  - this file is compiled with hidden visibility, so inline gloo code that the headers put
//    in our library never interposes on libtorch's copies.
// Nothing of libgloo itself is linked (check: `nm -uC libtrainscope_core.so | grep gloo::`
// lists nothing).
#include "trainscope/distributed.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "distributed_nccl.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

namespace trainscope {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

int64_t env_int(const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || x < lo || x > hi) {
    throw std::invalid_argument(std::string("distributed: ") + name + "=\"" + v + "\" must be an integer in [" +
                                std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return x;
}

std::string list_ranks(const std::vector<int>& ranks) {
  std::string out;
  for (int r : ranks) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

constexpr auto kBeat = std::chrono::milliseconds(250);

}  // namespace

DistributedEnv DistributedEnv::from_environment() {
  DistributedEnv env;
  env.timeout = std::chrono::milliseconds(1000 * env_int("TRAINSCOPE_DIST_TIMEOUT", 60, 1, 86400));
  env.rank_logs = env_int("TRAINSCOPE_DIST_RANK_LOGS", 0, 0, 1) != 0;
  env.report_dir = env_or("TRAINSCOPE_DIST_REPORT", "");
  env.world_size = static_cast<int>(env_int("WORLD_SIZE", 1, 1, 1 << 20));
  if (env.world_size == 1) return env;
  if (std::getenv("RANK") == nullptr) {
    throw std::invalid_argument("distributed: WORLD_SIZE=" + std::to_string(env.world_size) +
                                " but RANK is not set (start the ranks with `trainscope launch` or torchrun)");
  }
  env.rank = static_cast<int>(env_int("RANK", 0, 0, env.world_size - 1));
  env.local_rank = static_cast<int>(env_int("LOCAL_RANK", env.rank, 0, env.world_size - 1));
  if (std::getenv("MASTER_ADDR") == nullptr || std::getenv("MASTER_PORT") == nullptr) {
    throw std::invalid_argument(
        "distributed: WORLD_SIZE > 1 needs MASTER_ADDR and MASTER_PORT (where rank 0 hosts the rendezvous)");
  }
  env.master_addr = env_or("MASTER_ADDR", "127.0.0.1");
  env.master_port = static_cast<int>(env_int("MASTER_PORT", 29500, 1, 65535));
  return env;
}

struct Communicator::Impl {
  DistributedEnv env;
  std::string backend_name;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> data;     // tensors on the training device
  c10::intrusive_ptr<c10d::Backend> control;  // host values (Gloo, CPU): no GPU sync for flags

  // Heartbeats: every rank bumps trainscope/hb/<rank> in the store every kBeat, from its own
  // store connection, so that a failed collective can tell which peers are gone.
  c10::intrusive_ptr<c10d::Store> beat_store;
  std::thread beat_thread;
  std::mutex beat_mu;
  std::condition_variable beat_cv;
  bool beat_stop = false;

  void start_heartbeat() {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env.master_port);
    o.isServer = false;
    o.numWorkers = std::nullopt;
    o.waitWorkers = false;
    o.timeout = std::chrono::milliseconds(5000);
    beat_store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    const std::string key = "trainscope/hb/" + std::to_string(env.rank);
    beat_store->add(key, 1);
    beat_thread = std::thread([this, key] {
      std::unique_lock<std::mutex> lock(beat_mu);
      while (!beat_cv.wait_for(lock, kBeat, [this] { return beat_stop; })) {
        try {
          beat_store->add(key, 1);
        } catch (...) {
          return;  // the store (rank 0) is gone; a collective will say so
        }
      }
    });
  }

  void stop_heartbeat() {
    {
      std::lock_guard<std::mutex> lock(beat_mu);
      beat_stop = true;
    }
    beat_cv.notify_all();
    if (beat_thread.joinable()) beat_thread.join();
  }

  // Which peers stopped beating: two readings of every counter, a few beats apart.
  std::string diagnose(const std::string& what) {
    std::vector<int64_t> first(static_cast<size_t>(env.world_size));
    try {
      c10d::TCPStoreOptions o;
      o.port = static_cast<uint16_t>(env.master_port);
      o.isServer = false;
      o.timeout = std::chrono::milliseconds(3000);
      auto probe = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
      for (int r = 0; r < env.world_size; ++r) first[r] = probe->add("trainscope/hb/" + std::to_string(r), 0);
      std::this_thread::sleep_for(kBeat * 6);
      std::vector<int> lost;
      for (int r = 0; r < env.world_size; ++r) {
        if (r != env.rank && probe->add("trainscope/hb/" + std::to_string(r), 0) == first[r]) lost.push_back(r);
      }
      if (lost.empty()) {
        return "distributed " + what + " failed on rank " + std::to_string(env.rank) +
               " (every peer is still alive: ranks out of step, or a collective slower than TRAINSCOPE_DIST_TIMEOUT)";
      }
      return std::string(lost.size() == 1 ? "rank " : "ranks ") + list_ranks(lost) + " lost: " + what +
             " failed on rank " + std::to_string(env.rank);
    } catch (const std::exception&) {
      return "rank 0 lost: its rendezvous store at " + env.master_addr + ":" + std::to_string(env.master_port) +
             " does not answer; " + what + " failed on rank " + std::to_string(env.rank);
    }
  }

  [[noreturn]] void fail(const std::string& what, const std::exception& e) {
    std::string detail = e.what();
    if (const size_t nl = detail.find('\n'); nl != std::string::npos) detail.resize(nl);
    throw DistributedError(diagnose(what) + " (" + detail + ")");
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
    try {
      work->wait(env.timeout);
    } catch (const std::exception& e) {
      fail(what, e);
    }
  }

  void reduce_host(int64_t& value, c10d::ReduceOp::RedOpType op) {
    std::vector<at::Tensor> t{at::full({1}, value, at::TensorOptions(at::kLong))};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp(op);
    o.timeout = env.timeout;
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = control->allreduce(t, o);
    } catch (const std::exception& e) {
      fail("allreduce", e);
    }
    wait(work, "allreduce");
    value = t[0].item<int64_t>();
  }

  void reduce_buckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes, double scale);
};

Communicator::Communicator(const DistributedEnv& env, const c10::Device& device) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.env = env;
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(env.master_port);
  o.isServer = env.rank == 0;
  o.numWorkers = env.world_size;
  o.waitWorkers = true;
  o.timeout = env.timeout;
  try {
    s.store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    s.start_heartbeat();
    auto gloo_store = c10::make_intrusive<c10d::PrefixStore>("trainscope/gloo", s.store);
    auto gloo_opts = c10d::ProcessGroupGloo::Options::create_default(env.timeout);
    s.control = c10::make_intrusive<c10d::ProcessGroupGloo>(gloo_store, env.rank, env.world_size, gloo_opts);
  } catch (const std::exception& e) {
    std::string detail = e.what();
    if (const size_t nl = detail.find('\n'); nl != std::string::npos) detail.resize(nl);
    throw DistributedError("distributed rendezvous at " + env.master_addr + ":" + std::to_string(env.master_port) +
                           " failed on rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                           " (timeout " + std::to_string(env.timeout.count() / 1000) + " s): " + detail);
  }
  if (device.is_cuda()) {
#ifdef USE_C10D_NCCL
    auto nccl_store = c10::make_intrusive<c10d::PrefixStore>("trainscope/nccl", s.store);
    s.data = detail::make_nccl_backend(nccl_store, env.rank, env.world_size, env.timeout);
    s.backend_name = "nccl";
#else
    throw DistributedError("distributed training on CUDA needs NCCL, and this trainscope was built without it");
#endif
  } else {
    s.data = s.control;
    s.backend_name = "gloo";
  }
}

Communicator::~Communicator() {
  impl_->stop_heartbeat();
  impl_->data.reset();
  impl_->control.reset();
}

int Communicator::rank() const { return impl_->env.rank; }
int Communicator::world_size() const { return impl_->env.world_size; }
const std::string& Communicator::backend() const { return impl_->backend_name; }

void Communicator::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = impl_->env.timeout;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  std::vector<std::vector<at::Tensor>> args;
  args.reserve(tensors.size());
  for (const auto& t : tensors) {
    TORCH_CHECK(t.is_contiguous(), "Communicator::broadcast: tensors must be contiguous");
    args.push_back({t});
    try {
      works.push_back(impl_->data->broadcast(args.back(), o));
    } catch (const std::exception& e) {
      impl_->fail("broadcast", e);
    }
  }
  for (auto& w : works) impl_->wait(w, "broadcast");
}

void Communicator::Impl::reduce_buckets(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes,
                                       double scale) {
  Impl& s = *this;
  // Buckets: consecutive tensors of one dtype and device, up to bucket_bytes each.
  struct Bucket {
    std::vector<at::Tensor> members;
    int64_t bytes = 0;
  };
  std::vector<Bucket> buckets;
  for (const auto& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    if (buckets.empty() || buckets.back().members.front().scalar_type() != t.scalar_type() ||
        buckets.back().members.front().device() != t.device() || buckets.back().bytes + bytes > bucket_bytes) {
      buckets.emplace_back();
    }
    buckets.back().members.push_back(t);
    buckets.back().bytes += bytes;
  }
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp(c10d::ReduceOp::SUM);
  o.timeout = s.env.timeout;
  std::vector<std::vector<at::Tensor>> flats(buckets.size());
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (size_t i = 0; i < buckets.size(); ++i) {
    auto& m = buckets[i].members;
    if (m.size() == 1 && m.front().is_contiguous()) {
      flats[i] = {m.front()};  // reduced in place
    } else {
      std::vector<at::Tensor> views;
      views.reserve(m.size());
      for (const auto& t : m) views.push_back(t.reshape({-1}));
      flats[i] = {at::cat(views)};
    }
    try {
      works.push_back(s.data->allreduce(flats[i], o));
    } catch (const std::exception& e) {
      s.fail("allreduce", e);
    }
  }
  for (size_t i = 0; i < buckets.size(); ++i) {
    s.wait(works[i], "allreduce");
    at::Tensor& flat = flats[i].front();
    if (scale != 1.0) flat.mul_(scale);
    auto& m = buckets[i].members;
    if (m.size() == 1 && flat.is_same(m.front())) continue;
    int64_t offset = 0;
    for (auto& t : m) {
      t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

void Communicator::allreduce_sum(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  impl_->reduce_buckets(tensors, bucket_bytes, 1.0);
}

void Communicator::allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  impl_->reduce_buckets(tensors, bucket_bytes, 1.0 / impl_->env.world_size);
}

int64_t Communicator::allreduce_min(int64_t value) {
  impl_->reduce_host(value, c10d::ReduceOp::MIN);
  return value;
}

int64_t Communicator::allreduce_max(int64_t value) {
  impl_->reduce_host(value, c10d::ReduceOp::MAX);
  return value;
}

void Communicator::barrier() {
  c10d::BarrierOptions o;
  o.timeout = impl_->env.timeout;
  c10::intrusive_ptr<c10d::Work> work;
  try {
    work = impl_->control->barrier(o);
  } catch (const std::exception& e) {
    impl_->fail("barrier", e);
  }
  impl_->wait(work, "barrier");
}

at::Tensor shard_indices(const at::Tensor& order, int rank, int world_size) {
  TORCH_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "shard_indices: rank ", rank, " of ", world_size);
  const int64_t n = order.size(0);
  if (world_size == 1 || n == 0) return order;
  const int64_t per_rank = (n + world_size - 1) / world_size;
  const int64_t total = per_rank * world_size;
  at::Tensor padded = order;
  // Wrap around as DistributedSampler does (repeatedly when n < world_size).
  while (padded.size(0) < total) padded = at::cat({padded, order.narrow(0, 0, std::min(n, total - padded.size(0)))});
  return padded.slice(0, rank, total, world_size).contiguous();
}

}  // namespace trainscope
