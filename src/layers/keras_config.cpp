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

void ConfigReader::require_null(std::string_view key) const {
  if (!has_value(key)) return;
  fail(std::string(key) + " is not supported (poolnet supports only null, Keras's default), got " +
       get(key).dump());
}

namespace {

// An initializer that must be Keras's default: missing, null, the class or function name, or a
// serialised initializer object of that class ({"module": "keras.initializers", "class_name":
// ..., "config": {...}, "registered_name": null}; Keras 2 omits module and registered_name).
void check_default_initializer(const ConfigReader& read, const Json& config, const std::string& key,
                               std::string_view class_name, std::string_view function_name,
                               bool takes_seed) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return;
  const Json& value = *it;
  const auto is_name = [&](const Json& v) {
    return v.is_string() && (v.get<std::string>() == class_name || v.get<std::string>() == function_name);
  };
  bool ok = false;
  if (value.is_string()) {
    ok = is_name(value);
  } else if (value.is_object() && value.contains("class_name") && value["class_name"].is_string()) {
    ok = is_name(value["class_name"]);
    for (const auto& [k, v] : value.items()) {
      if (k == "class_name") continue;
      if (k == "module") {
        ok = ok && v.is_string() && v.get<std::string>() == "keras.initializers";
      } else if (k == "registered_name") {
        ok = ok && (v.is_null() || (v.is_string() && v.get<std::string>() == class_name));
      } else if (k == "config") {
        ok = ok && (v.is_object() || v.is_null());
        if (!ok) break;
        for (const auto& [ck, cv] : v.items()) {
          const bool seed = takes_seed && ck == "seed" &&
                            (cv.is_null() || (cv.is_number_integer() && !cv.is_boolean()));
          if (!seed) ok = false;
        }
      } else {
        ok = false;
      }
    }
  } else {
    read.fail(key + " must be null, an initializer name or a Keras initializer object, got " +
              value.dump());
  }
  if (!ok) {
    read.fail(key + " " + value.dump() + " is not supported (poolnet supports only Keras's default, " +
              std::string(class_name) + "; load trained weights to use other values)");
  }
}

}  // namespace

void ConfigReader::check_default_weight_settings() const {
  check_default_initializer(*this, config_, "kernel_initializer", "GlorotUniform", "glorot_uniform",
                            true);
  check_default_initializer(*this, config_, "bias_initializer", "Zeros", "zeros", false);
  for (const char* key : {"kernel_regularizer", "bias_regularizer", "activity_regularizer",
                          "kernel_constraint", "bias_constraint"}) {
    require_null(key);
  }
}

std::set<std::string> with_weight_config_keys(std::set<std::string> keys) {
  keys.insert({"kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
               "activity_regularizer", "kernel_constraint", "bias_constraint"});
  return keys;
}

Json weight_config_json() {
  return {
      {"kernel_initializer",
       {{"module", "keras.initializers"},
        {"class_name", "GlorotUniform"},
        {"config", {{"seed", nullptr}}},
        {"registered_name", nullptr}}},
      {"bias_initializer",
       {{"module", "keras.initializers"},
        {"class_name", "Zeros"},
        {"config", Json::object()},
        {"registered_name", nullptr}}},
      {"kernel_regularizer", nullptr},
      {"bias_regularizer", nullptr},
      {"kernel_constraint", nullptr},
      {"bias_constraint", nullptr},
  };
}

}  // namespace poolnet::keras
