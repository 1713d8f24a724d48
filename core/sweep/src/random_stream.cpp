// xoshiro256** (Blackman and Vigna) with splitmix64 seeding, written from the published
// recurrences.
#include "random_stream.h"

#include <random>

namespace trainscope::sweep::detail {

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

RandomStream::RandomStream(uint64_t seed) {
  uint64_t state = seed;
  for (auto& s : s_) s = splitmix64(state);
}

RandomStream RandomStream::for_trial(std::optional<uint64_t> seed, int64_t number, uint64_t salt) {
  uint64_t base = 0;
  if (seed) {
    base = *seed;
  } else {
    std::random_device device;
    base = (static_cast<uint64_t>(device()) << 32) ^ device();
  }
  // Mix the three inputs so that neighbouring (seed, number) pairs give unrelated streams.
  uint64_t state = base;
  uint64_t mixed = splitmix64(state);
  state = mixed ^ static_cast<uint64_t>(number);
  mixed = splitmix64(state);
  state = mixed ^ salt;
  return RandomStream(splitmix64(state));
}

uint64_t RandomStream::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double RandomStream::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t RandomStream::below(uint64_t n) {
  // Rejection sampling: no modulo bias.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x = next();
  while (x >= limit) x = next();
  return x % n;
}

}  // namespace trainscope::sweep::detail
