#include "io/json_numbers.hpp"

#include <cmath>
#include <limits>

#include "poolnet/error.hpp"

namespace poolnet::io {

float json_to_float(const nlohmann::json& value, std::string_view what) {
  if (value.is_number() && !value.is_boolean()) return static_cast<float>(value.get<double>());
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s == "nan") return std::numeric_limits<float>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<float>::infinity();
    if (s == "-inf") return -std::numeric_limits<float>::infinity();
  }
  throw FormatError(std::string(what) + ": expected a number or \"nan\", \"inf\", \"-inf\", got " +
                    value.dump());
}

std::vector<float> json_to_floats(const nlohmann::json& array, std::string_view what) {
  if (!array.is_array()) {
    throw FormatError(std::string(what) + ": expected an array of numbers, got " +
                      array.dump().substr(0, 80));
  }
  std::vector<float> values;
  values.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    values.push_back(json_to_float(array[i], std::string(what) + "[" + std::to_string(i) + "]"));
  }
  return values;
}

std::vector<std::int64_t> json_to_dims(const nlohmann::json& array, std::string_view what) {
  if (!array.is_array()) {
    throw FormatError(std::string(what) + ": expected an array of ints, got " +
                      array.dump().substr(0, 80));
  }
  std::vector<std::int64_t> dims;
  for (const nlohmann::json& v : array) {
    if (!v.is_number_integer() || v.is_boolean() ||
        (v.is_number_unsigned() &&
         v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      throw FormatError(std::string(what) + ": expected an array of ints, got " + array.dump());
    }
    dims.push_back(v.get<std::int64_t>());
  }
  return dims;
}

nlohmann::json float_to_json(float value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

}  // namespace poolnet::io
