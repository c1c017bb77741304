// Numbers in error messages.
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <string>

namespace poolnet {

// The shortest text that reads back as the same value of its type ("2.5", "-1", "nan", "inf",
// "-inf"): a float prints as "0.1", not as the double nearest to it.
template <std::floating_point T>
std::string number_text(T v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, result.ptr);
}

}  // namespace poolnet
