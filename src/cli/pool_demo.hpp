// `poolnet pool`: a small feature map and what the four 2D pooling layers make of it.
#pragma once

#include <optional>
#include <string>

#include "poolnet/layers/pooling.hpp"
#include "poolnet/tensor.hpp"

namespace poolnet::cli {

// The default 4x4 example feature map.
Tensor default_feature_map();

// Parses "2" or "2,3" (CLI form of pool_size / strides). Throws ArgumentError naming `argument`.
IntOrTuple parse_int_or_tuple(const std::string& text, std::string_view argument);

// The demo text: the input, the geometry (output size and padding per axis), then
// MaxPooling2D, AveragePooling2D, GlobalMaxPooling2D and GlobalAveragePooling2D side by side.
// `matrix` is rows x cols. Throws the layers' errors for arguments that do not fit.
std::string render_pool_demo(const Tensor& matrix, const IntOrTuple& pool_size,
                             const std::optional<IntOrTuple>& strides, const std::string& padding);

}  // namespace poolnet::cli
