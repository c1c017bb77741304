// Deterministic random numbers: the same seed gives the same sequence on every platform and
// compiler (std::uniform_real_distribution and friends are implementation-defined, so they are
// not used anywhere that affects results).
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace poolnet {

// xoshiro256** seeded through SplitMix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0);

  std::uint64_t next_u64();
  // out[i] = the next out.size() values of next_u64(), in order (the state stays in registers:
  // several times faster than a next_u64() call per value).
  void fill(std::span<std::uint64_t> out);
  // Uniform in [0, 1) with 24 random bits (exactly representable as float).
  float uniform();
  // Uniform in [lo, hi).
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n), without modulo bias. n > 0.
  std::uint64_t below(std::uint64_t n);

  // The whole state, for checkpoints.
  std::array<std::uint64_t, 4> state() const { return state_; }
  void set_state(const std::array<std::uint64_t, 4>& state) { state_ = state; }

 private:
  std::array<std::uint64_t, 4> state_{};
};

}  // namespace poolnet
