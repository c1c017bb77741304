// CSV matrices (poolnet pool --input).
#include <sstream>

#include "fuzz_common.hpp"
#include "io/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  poolnet::fuzz::expect_clean([&] {
    std::istringstream in{std::string(poolnet::fuzz::as_text(data, size))};
    const poolnet::Tensor m = poolnet::io::read_csv_matrix(in, "fuzz.csv");
    if (m.rank() != 2 || m.size() != m.dim(0) * m.dim(1)) __builtin_trap();
  });
  return 0;
}
