// A small, portable pseudo-random stream (xoshiro256** seeded through splitmix64). The
// standard library's distributions are implementation-defined, so samplers draw from this to
// give the same proposals on every platform and compiler.
#pragma once

#include <cstdint>
#include <optional>

namespace trainscope::sweep::detail {

class RandomStream {
 public:
  explicit RandomStream(uint64_t seed);
  // The stream of trial `number` of a sampler seeded with `seed` (a fresh random seed when
  // there is none): the same pair always gives the same stream.
  static RandomStream for_trial(std::optional<uint64_t> seed, int64_t number, uint64_t salt = 0);

  uint64_t next();
  // Uniform in [0, 1).
  double uniform();
  // Uniform in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [0, n); n > 0.
  uint64_t below(uint64_t n);

 private:
  uint64_t s_[4];
};

}  // namespace trainscope::sweep::detail
