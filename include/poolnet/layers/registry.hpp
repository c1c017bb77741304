// Building layers from Keras configs: the class name and the "config" object of model.to_json(),
// or of a conformance case.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "poolnet/layers/layer.hpp"

namespace poolnet {

// Builds a layer from its Keras class name and config. Missing keys take Keras's defaults;
// "name", "trainable" and "dtype" are accepted. Throws ArgumentError for an unknown class name
// (listing the known ones), an unknown key, or a value of the wrong type or range.
std::unique_ptr<Layer> make_layer(std::string_view class_name, const nlohmann::json& config);

// Every class name make_layer knows, sorted.
std::vector<std::string_view> known_layer_classes();

}  // namespace poolnet
