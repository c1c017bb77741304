// Keras class name + config -> layer: one table, filled by each family of layers.
#include "poolnet/layers/registry.hpp"

#include "layers/keras_config.hpp"
#include "poolnet/error.hpp"

namespace poolnet {
namespace {

const keras::FactoryTable& factories() {
  static const keras::FactoryTable table = [] {
    keras::FactoryTable t;
    keras::register_pooling_layers(t);
    keras::register_conv_layers(t);
    keras::register_core_layers(t);
    return t;
  }();
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
