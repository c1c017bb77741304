#include "layers/keras_config.hpp"

#include <limits>

#include "poolnet/error.hpp"

namespace poolnet::keras {

ConfigReader::ConfigReader(std::string_view layer, const Json& config,
                           const std::set<std::string>& allowed)
    : layer_(layer), config_(config) {
  if (!config.is_object()) fail("config must be a JSON object, got " + config.dump());
  for (const auto& [key, value] : config.items()) {
    if (allowed.contains(key) || key == "name" || key == "trainable" || key == "dtype") continue;
    std::string known;
    for (const std::string& k : allowed) known += (known.empty() ? "" : ", ") + k;
    fail("unknown config key '" + key + "' (this layer takes " + known +
         ", plus name, trainable, dtype)");
  }
  if (config.contains("name") && !config["name"].is_string()) {
    fail("name must be a string, got " + config["name"].dump());
  }
  if (config.contains("trainable") && !config["trainable"].is_boolean()) {
    fail("trainable must be true or false, got " + config["trainable"].dump());
  }
  // poolnet computes in float32: accept Keras's "float32", null, or a float32 DTypePolicy
  // ({"class_name": "DTypePolicy", "config": {"name": "float32"}}), nothing else.
  if (config.contains("dtype")) {
    const Json& dtype = config["dtype"];
    const bool float32 =
        dtype.is_null() || (dtype.is_string() && dtype.get<std::string>() == "float32") ||
        (dtype.is_object() && dtype.contains("config") && dtype["config"].is_object() &&
         dtype["config"].value("name", Json()) == "float32");
    if (!float32) fail("dtype " + dtype.dump() + " is not supported (poolnet computes in float32)");
  }
}

void ConfigReader::fail(const std::string& message) const {
  throw ArgumentError(layer_ + ": " + message);
}

bool ConfigReader::has(std::string_view key) const { return config_.find(key) != config_.end(); }

bool ConfigReader::has_value(std::string_view key) const {
  const auto it = config_.find(key);
  return it != config_.end() && !it->is_null();
}

const Json& ConfigReader::get(std::string_view key) const {
  const auto it = config_.find(key);
  if (it == config_.end()) fail("missing config key '" + std::string(key) + "'");
  return *it;
}

IntOrTuple ConfigReader::int_or_tuple(std::string_view key, int rank,
                                      std::optional<IntOrTuple> fallback) const {
  if (!has(key)) {
    if (fallback) return *fallback;
    fail("missing config key '" + std::string(key) + "'");
  }
  const Json& value = get(key);
  auto as_int = [&](const Json& v) {
    const bool integral = v.is_number_integer() && !v.is_boolean();
    if (!integral ||
        (v.is_number_unsigned() &&
         v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      fail(std::string(key) + " must be an int or a tuple of " + std::to_string(rank) +
           " ints, got " + value.dump());
    }
    return v.get<std::int64_t>();
  };
  if (value.is_array()) {
    std::vector<std::int64_t> values;
    for (const Json& v : value) values.push_back(as_int(v));
    return IntOrTuple(std::move(values));
  }
  return IntOrTuple(as_int(value));
}

std::optional<IntOrTuple> ConfigReader::optional_int_or_tuple(std::string_view key, int rank) const {
  if (!has_value(key)) return std::nullopt;
  return int_or_tuple(key, rank, std::nullopt);
}

std::int64_t ConfigReader::integer(std::string_view key, std::optional<std::int64_t> fallback) const {
  if (!has(key)) {
    if (fallback) return *fallback;
    fail("missing config key '" + std::string(key) + "'");
  }
  const Json& v = get(key);
  if (!v.is_number_integer() || v.is_boolean() ||
      (v.is_number_unsigned() &&
       v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
    fail(std::string(key) + " must be an int, got " + v.dump());
  }
  return v.get<std::int64_t>();
}

double ConfigReader::number(std::string_view key, std::optional<double> fallback) const {
  if (!has(key)) {
    if (fallback) return *fallback;
    fail("missing config key '" + std::string(key) + "'");
  }
  const Json& v = get(key);
  if (!v.is_number() || v.is_boolean()) fail(std::string(key) + " must be a number, got " + v.dump());
  return v.get<double>();
}

bool ConfigReader::boolean(std::string_view key, std::optional<bool> fallback) const {
  if (!has(key)) {
    if (fallback) return *fallback;
    fail("missing config key '" + std::string(key) + "'");
  }
  const Json& v = get(key);
  if (!v.is_boolean()) fail(std::string(key) + " must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::string ConfigReader::string(std::string_view key, std::optional<std::string> fallback) const {
  if (!has(key)) {
    if (fallback) return *fallback;
    fail("missing config key '" + std::string(key) + "'");
  }
  const Json& v = get(key);
  if (!v.is_string()) fail(std::string(key) + " must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::optional<std::string> ConfigReader::optional_string(std::string_view key) const {
  if (!has_value(key)) return std::nullopt;
  return string(key, std::nullopt);
}

std::string ConfigReader::data_format() const {
  return optional_string("data_format").value_or("channels_last");
}

void ConfigReader::apply_name(Layer& layer) const {
  if (has_value("name")) layer.set_name(get("name").get<std::string>());
}

}  // namespace poolnet::keras
