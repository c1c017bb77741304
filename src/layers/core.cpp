#include "layers/keras_config.hpp"
namespace poolnet::keras {
void register_core_layers(FactoryTable&) {}
}  // namespace poolnet::keras
