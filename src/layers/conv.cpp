#include "layers/keras_config.hpp"
namespace poolnet::keras {
void register_conv_layers(FactoryTable&) {}
}  // namespace poolnet::keras
