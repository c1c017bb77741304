// Reading Keras layer configs (the "config" object of model.to_json()): typed accessors that
// throw ArgumentError naming the layer, the key and the offending value. Shared by every layer
// factory so that all layers accept and reject configs the same way.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "poolnet/layers/layer.hpp"
#include "poolnet/layers/pooling.hpp"

namespace poolnet::keras {

using Json = nlohmann::json;

// Reads one layer's config. Construction checks that `config` is an object whose keys are all in
// `allowed` or are the common "name", "trainable", "dtype" (dtype must be float32).
class ConfigReader {
 public:
  ConfigReader(std::string_view layer, const Json& config, const std::set<std::string>& allowed);

  // Accessors return `fallback` when the key is missing and fail when it is null (Keras rejects
  // None for these); the optional_* ones also map null to nullopt (Keras's default is None).
  bool has(std::string_view key) const;        // present, possibly null
  bool has_value(std::string_view key) const;  // present and not null
  // An int or a tuple of `rank` ints.
  IntOrTuple int_or_tuple(std::string_view key, int rank, std::optional<IntOrTuple> fallback) const;
  std::optional<IntOrTuple> optional_int_or_tuple(std::string_view key, int rank) const;
  std::int64_t integer(std::string_view key, std::optional<std::int64_t> fallback) const;
  double number(std::string_view key, std::optional<double> fallback) const;
  bool boolean(std::string_view key, std::optional<bool> fallback) const;
  std::string string(std::string_view key, std::optional<std::string> fallback) const;
  std::optional<std::string> optional_string(std::string_view key) const;
  // data_format: missing or null means "channels_last" (Keras's image_data_format()).
  std::string data_format() const;
  // Applies "name" (when given) to the built layer.
  void apply_name(Layer& layer) const;

  // Fails unless `key` is missing or null (Keras's default for a feature poolnet lacks).
  void require_null(std::string_view key) const;
  // The weight settings of a layer with a kernel and a bias (the keys of weight_config_keys()):
  // poolnet draws kernels with glorot_uniform and biases as zeros, and has no regularizers or
  // constraints, so each key must be missing, null, or Keras's default. The initializers may be
  // given as a name ("glorot_uniform", "GlorotUniform") or a serialised Keras 2/3 initializer
  // object whose config holds at most a seed (accepted and ignored: the model's Rng draws).
  void check_default_weight_settings() const;

  [[noreturn]] void fail(const std::string& message) const;

 private:
  const Json& get(std::string_view key) const;  // fails when missing
  std::string layer_;
  const Json& config_;
};

// `keys` plus the weight-setting keys of a layer with a kernel and a bias: kernel_initializer,
// bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer,
// kernel_constraint, bias_constraint.
std::set<std::string> with_weight_config_keys(std::set<std::string> keys);

// What Keras writes for those settings at their defaults (GlorotUniform kernel, Zeros bias, no
// regularizers or constraints), activity_regularizer excepted: Keras's Conv writes it, Dense not.
Json weight_config_json();

using Factory = std::function<std::unique_ptr<Layer>(const Json& config)>;
using FactoryTable = std::map<std::string, Factory, std::less<>>;

// Each family of layers adds its Keras class names to the table (src/layers/*.cpp).
void register_pooling_layers(FactoryTable& table);
void register_conv_layers(FactoryTable& table);
void register_core_layers(FactoryTable& table);

}  // namespace poolnet::keras
