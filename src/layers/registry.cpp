// Keras class name + config -> layer. One table; every entry says which keys it accepts.
#include "poolnet/layers/registry.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "poolnet/error.hpp"
#include "poolnet/layers/pooling.hpp"

namespace poolnet {
namespace {

using Json = nlohmann::json;

// Keys every Keras layer config may carry that do not change the computation here.
const std::set<std::string> kCommonKeys = {"name", "trainable", "dtype"};
const std::set<std::string> kWindowedKeys = {"pool_size", "strides", "padding", "data_format"};
const std::set<std::string> kGlobalKeys = {"data_format", "keepdims"};

[[noreturn]] void fail(std::string_view layer, const std::string& message) {
  throw ArgumentError(std::string(layer) + ": " + message);
}

// `whole` is the argument's full value, for the message.
std::int64_t json_int(std::string_view layer, std::string_view key, const Json& value,
                      int spatial_rank, const Json& whole) {
  const bool integral = value.is_number_integer() && !value.is_boolean();
  if (!integral || (value.is_number_unsigned() &&
                    value.get<std::uint64_t>() >
                        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
    fail(layer, std::string(key) + " must be an int or a tuple of " + std::to_string(spatial_rank) +
                    " ints, got " + whole.dump());
  }
  return value.get<std::int64_t>();
}

IntOrTuple json_int_or_tuple(std::string_view layer, std::string_view key, const Json& value,
                             int spatial_rank) {
  if (value.is_array()) {
    std::vector<std::int64_t> values;
    for (const Json& v : value) values.push_back(json_int(layer, key, v, spatial_rank, value));
    return IntOrTuple(std::move(values));
  }
  return IntOrTuple(json_int(layer, key, value, spatial_rank, value));
}

std::string json_string(std::string_view layer, std::string_view key, const Json& value) {
  if (!value.is_string()) fail(layer, std::string(key) + " must be a string, got " + value.dump());
  return value.get<std::string>();
}

void check_keys(std::string_view layer, const Json& config, const std::set<std::string>& allowed) {
  if (!config.is_object()) fail(layer, "config must be a JSON object, got " + config.dump());
  for (const auto& [key, value] : config.items()) {
    if (!allowed.contains(key) && !kCommonKeys.contains(key)) {
      std::string known;
      for (const std::string& k : allowed) known += (known.empty() ? "" : ", ") + k;
      fail(layer, "unknown config key '" + key + "' (this layer takes " + known +
                      ", plus name, trainable, dtype)");
    }
  }
  if (config.contains("name") && !config["name"].is_string()) {
    fail(layer, "name must be a string, got " + config["name"].dump());
  }
  // poolnet computes in float32: accept Keras's "float32", null, or a float32 DTypePolicy
  // ({"class_name": "DTypePolicy", "config": {"name": "float32"}}), nothing else.
  if (config.contains("dtype")) {
    const Json& dtype = config["dtype"];
    const bool float32 =
        dtype.is_null() || (dtype.is_string() && dtype.get<std::string>() == "float32") ||
        (dtype.is_object() && dtype.contains("config") && dtype["config"].is_object() &&
         dtype["config"].value("name", Json()) == "float32");
    if (!float32) fail(layer, "dtype " + dtype.dump() + " is not supported (poolnet computes in float32)");
  }
  if (config.contains("trainable") && !config["trainable"].is_boolean()) {
    fail(layer, "trainable must be true or false, got " + config["trainable"].dump());
  }
}

// data_format: missing or null means Keras's image_data_format(), "channels_last".
std::string data_format_of(std::string_view layer, const Json& config) {
  if (!config.contains("data_format") || config["data_format"].is_null()) return "channels_last";
  return json_string(layer, "data_format", config["data_format"]);
}

template <typename LayerT>
std::unique_ptr<Layer> make_windowed(const Json& config) {
  constexpr std::string_view layer = LayerT::kClassName;
  check_keys(layer, config, kWindowedKeys);
  const int n = static_cast<int>(layer[layer.size() - 2] - '0');  // "...Pooling2D"
  const IntOrTuple pool_size =
      config.contains("pool_size") ? json_int_or_tuple(layer, "pool_size", config["pool_size"], n)
                                   : IntOrTuple(2);
  std::optional<IntOrTuple> strides;
  if (config.contains("strides") && !config["strides"].is_null()) {
    strides = json_int_or_tuple(layer, "strides", config["strides"], n);
  }
  const std::string padding =
      config.contains("padding") ? json_string(layer, "padding", config["padding"]) : "valid";
  auto result = std::make_unique<LayerT>(pool_size, strides, padding, data_format_of(layer, config));
  if (config.contains("name")) result->set_name(config["name"].get<std::string>());
  return result;
}

template <typename LayerT>
std::unique_ptr<Layer> make_global(const Json& config) {
  constexpr std::string_view layer = LayerT::kClassName;
  check_keys(layer, config, kGlobalKeys);
  bool keepdims = false;
  if (config.contains("keepdims")) {
    if (!config["keepdims"].is_boolean()) {
      fail(layer, "keepdims must be true or false, got " + config["keepdims"].dump());
    }
    keepdims = config["keepdims"].get<bool>();
  }
  auto result = std::make_unique<LayerT>(data_format_of(layer, config), keepdims);
  if (config.contains("name")) result->set_name(config["name"].get<std::string>());
  return result;
}

using Factory = std::function<std::unique_ptr<Layer>(const Json&)>;

const std::map<std::string, Factory, std::less<>>& factories() {
  static const std::map<std::string, Factory, std::less<>> table = {
      {"MaxPooling1D", make_windowed<MaxPooling1D>},
      {"MaxPooling2D", make_windowed<MaxPooling2D>},
      {"MaxPooling3D", make_windowed<MaxPooling3D>},
      {"AveragePooling1D", make_windowed<AveragePooling1D>},
      {"AveragePooling2D", make_windowed<AveragePooling2D>},
      {"AveragePooling3D", make_windowed<AveragePooling3D>},
      {"GlobalMaxPooling1D", make_global<GlobalMaxPooling1D>},
      {"GlobalMaxPooling2D", make_global<GlobalMaxPooling2D>},
      {"GlobalMaxPooling3D", make_global<GlobalMaxPooling3D>},
      {"GlobalAveragePooling1D", make_global<GlobalAveragePooling1D>},
      {"GlobalAveragePooling2D", make_global<GlobalAveragePooling2D>},
      {"GlobalAveragePooling3D", make_global<GlobalAveragePooling3D>},
  };
  return table;
}

}  // namespace

std::unique_ptr<Layer> make_layer(std::string_view class_name, const nlohmann::json& config) {
  const auto& table = factories();
  const auto it = table.find(class_name);
  if (it == table.end()) {
    std::string known;
    for (const auto& [name, factory] : table) known += (known.empty() ? "" : ", ") + name;
    throw ArgumentError("unknown layer type '" + std::string(class_name) +
                        "' (known: " + known + ")");
  }
  return it->second(config);
}

std::vector<std::string_view> known_layer_classes() {
  std::vector<std::string_view> names;
  for (const auto& [name, factory] : factories()) names.push_back(name);
  return names;
}

}  // namespace poolnet
