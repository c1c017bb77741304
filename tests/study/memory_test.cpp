// The study's peak-memory probe: it sees memory touched after it started, and (where the kernel
// allows the reset) not a larger peak from before.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "study/memory.hpp"

namespace poolnet::study {
namespace {

constexpr std::int64_t kMiB = 1 << 20;

// Allocates and touches `bytes`, so that they become resident.
std::unique_ptr<char[]> touch(std::int64_t bytes) {
  auto block = std::make_unique<char[]>(static_cast<std::size_t>(bytes));
  std::memset(block.get(), 1, static_cast<std::size_t>(bytes));
  __asm__ __volatile__("" : : "r"(block.get()) : "memory");  // the compiler must not drop the writes
  return block;
}

TEST(PeakMemoryProbe, SeesWhatIsTouchedAfterItStartsAndForgetsEarlierPeaks) {
  { const auto earlier = touch(256 * kMiB); }  // a peak before the probe, then freed
  const PeakMemoryProbe probe;
  ASSERT_GT(probe.start_bytes(), 0) << "no /proc/self/status?";
  const auto block = touch(64 * kMiB);
  const std::int64_t peak = probe.peak_bytes();
  EXPECT_GE(peak, probe.start_bytes() + 60 * kMiB);
  if (probe.method().find("clear_refs") != std::string::npos) {
    EXPECT_LT(peak, probe.start_bytes() + 200 * kMiB) << "the earlier 256 MiB peak was not forgotten";
  }
}

}  // namespace
}  // namespace poolnet::study
