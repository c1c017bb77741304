// Conformance case files (JSON lines) through the runner behind `poolnet conform`.
#include <sstream>

#include "fuzz_common.hpp"
#include "poolnet/conformance.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The runner never throws: every problem with a case is a reported failure.
  std::istringstream in{std::string(poolnet::fuzz::as_text(data, size))};
  const poolnet::ConformanceReport report = poolnet::run_conformance(in, poolnet::PoolBackend::kAuto);
  if (report.failed != static_cast<int>(report.failures.size())) __builtin_trap();
  return 0;
}
