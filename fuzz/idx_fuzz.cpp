// IDX files (plain or gzip) from bytes.
#include "fuzz_common.hpp"
#include "poolnet/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  poolnet::fuzz::expect_clean([&] {
    const poolnet::IdxArray a = poolnet::read_idx_bytes(poolnet::fuzz::as_text(data, size), "fuzz.idx");
    // What the reader promises: the values fill the dims. A zero dimension makes the array empty
    // whatever the others are (their product may not fit: found by this target, a harness bug).
    std::int64_t count = 1;
    for (std::int64_t d : a.dims) {
      if (d == 0) count = 0;
    }
    for (std::int64_t d : a.dims) {
      if (count != 0 && __builtin_mul_overflow(count, d, &count)) __builtin_trap();
    }
    if (count != static_cast<std::int64_t>(a.values.size())) __builtin_trap();
  });
  return 0;
}
