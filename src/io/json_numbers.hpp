// float32 values in JSON: numbers, or the strings "nan", "inf", "-inf" (JSON has no non-finite
// numbers). Used by the conformance files and anything else that stores tensors as JSON.
#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace poolnet::io {

// Throws FormatError naming `what` (e.g. "case pub-0001: input[3]") for anything else.
float json_to_float(const nlohmann::json& value, std::string_view what);
std::vector<float> json_to_floats(const nlohmann::json& array, std::string_view what);
std::vector<std::int64_t> json_to_dims(const nlohmann::json& array, std::string_view what);

// The inverse: a number, or "nan"/"inf"/"-inf".
nlohmann::json float_to_json(float value);

}  // namespace poolnet::io
