// Shared by the libFuzzer targets: run a reader on the input and accept only poolnet's own
// errors. Anything else escaping (a std::out_of_range, a JSON type_error, bad_alloc from an
// unchecked size) terminates the process, which libFuzzer reports as a crash.
#pragma once

#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "poolnet/error.hpp"

extern "C" void openblas_set_num_threads(int num_threads);

namespace poolnet::fuzz {

// One thread for our kernels and for OpenBLAS. In this clang build our parallel regions run on
// LLVM's libomp while OpenBLAS was built for GCC's libgomp; a GEMM inside a convolution's
// parallel region then spun forever in OpenBLAS's thread sync (kept in
// fuzz/regressions/model_json/). The threaded code is checked by `make test-tsan`.
inline const bool kSingleThreaded = [] {
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
  return true;
}();

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

template <typename Fn>
void expect_clean(Fn&& fn) {
  try {
    fn();
  } catch (const poolnet::Error&) {
    // Bad input refused with a message: the expected outcome for most inputs.
  }
}

}  // namespace poolnet::fuzz
