// Distributed data-parallel training on libtorch's c10d: a torchrun-compatible environment, a
// Communicator over a c10d process group (Gloo on CPU, NCCL on CUDA) and the data sharding the
// Trainer uses. docs/distributed.md has the design; `trainscope launch` starts the ranks.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "trainscope/export.h"

namespace trainscope {

// A collective failed: a peer is gone, timed out, or the rendezvous did not complete. what()
// names the lost ranks when they can be told ("rank 1 lost: ...").
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What torchrun (and `trainscope launch`) puts in the environment, plus trainscope's own knobs.
struct TRAINSCOPE_API DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // TRAINSCOPE_DIST_TIMEOUT (seconds, default 60): rendezvous and every collective.
  std::chrono::milliseconds timeout{60000};
  // TRAINSCOPE_DIST_RANK_LOGS=1: every rank writes its own events to <run>/rank<k> (rank 0
  // included); otherwise only rank 0 writes, into <run>.
  bool rank_logs = false;
  // TRAINSCOPE_DIST_REPORT=DIR (debug): each rank writes DIR/rank<k>.json with its local
  // per-step losses and per-epoch sums, for checking the cross-rank means.
  std::string report_dir;

  bool distributed() const { return world_size > 1; }
  // From RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT and TRAINSCOPE_DIST_*.
  // WORLD_SIZE unset (or 1): a single process. Throws std::invalid_argument naming the
  // variable that is missing or malformed.
  static DistributedEnv from_environment();
};

// Collectives among all ranks of one process group. Every call is collective: each rank must
// make the same calls in the same order. Tensors stay on their device (CPU: Gloo, CUDA: NCCL).
// Failures throw DistributedError within the timeout instead of hanging.
class TRAINSCOPE_API Communicator {
 public:
  // Rendezvous through a TCPStore at master_addr:master_port (rank 0 hosts it), then the
  // process group for `device`'s type. Throws DistributedError when peers do not arrive.
  Communicator(const DistributedEnv& env, const c10::Device& device);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const;
  int world_size() const;
  const std::string& backend() const;  // "gloo" or "nccl"

  // In place: every tensor takes `root`'s values.
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  // In place: sum (or mean) over ranks. Tensors are packed into flat buckets of about
  // `bucket_bytes` per dtype (as DDP's 25 MB buckets) and reduced bucket by bucket.
  void allreduce_sum(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  void allreduce_mean(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  // Host values.
  int64_t allreduce_min(int64_t value);
  int64_t allreduce_max(int64_t value);
  bool allreduce_or(bool value) { return allreduce_max(value ? 1 : 0) != 0; }
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// DistributedSampler's split of one epoch's sample order: `order` ([N] int64) padded by
// wrapping to a multiple of `world_size`, then every world_size-th index from `rank`. Every
// rank gets ceil(N / world_size) indices; a padded (repeated) index can only be the last one.
TRAINSCOPE_API at::Tensor shard_indices(const at::Tensor& order, int rank, int world_size);

}  // namespace trainscope
