// Shared by the libFuzzer targets: run a reader on the input and accept only poolnet's own
// errors. Anything else escaping (a std::out_of_range, a JSON type_error, bad_alloc from an
// unchecked size) terminates the process, which libFuzzer reports as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "poolnet/error.hpp"

namespace poolnet::fuzz {

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
