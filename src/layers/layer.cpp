#include "poolnet/layers/layer.hpp"

#include <cctype>

#include "poolnet/error.hpp"

namespace poolnet {

std::string keras_default_name(std::string_view class_name) {
  // Keras's to_snake_case: an underscore before each capital that follows a lower-case letter
  // or digit ("MaxPooling2D" -> "max_pooling2d", "GlobalAveragePooling1D" -> "global_average_pooling1d").
  std::string name;
  for (std::size_t i = 0; i < class_name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(class_name[i]);
    if (std::isupper(c) && i > 0 && std::islower(static_cast<unsigned char>(class_name[i - 1]))) {
      name += '_';
    }
    name += static_cast<char>(std::tolower(c));
  }
  return name;
}

void check_weight_shape(std::string_view layer, std::string_view weight, const Shape& shape) {
  if (shape.elements() > kMaxWeightElements) {
    throw ShapeError(std::string(layer) + ": " + std::string(weight) + " of shape " +
                     shape.to_string() + " would have " + std::to_string(shape.elements()) +
                     " elements, more than the limit of " + std::to_string(kMaxWeightElements));
  }
}

std::vector<const Parameter*> Layer::parameters() const {
  std::vector<Parameter*> mutable_params = const_cast<Layer*>(this)->parameters();
  return {mutable_params.begin(), mutable_params.end()};
}

std::int64_t Layer::count_params() const {
  std::int64_t n = 0;
  for (const Parameter* p : parameters()) n += p->value.size();
  return n;
}

std::int64_t Layer::count_trainable_params() const {
  std::int64_t n = 0;
  for (const Parameter* p : parameters())
    if (p->trainable) n += p->value.size();
  return n;
}

}  // namespace poolnet

namespace poolnet {

Tensor Layer::forward_train(const Tensor& input, Rng& rng) {
  Tensor output;
  forward_train_into(input, output, rng);
  return output;
}

Tensor Layer::backward_train(const Tensor& input, const Tensor& output, const Tensor& grad_output) {
  Tensor grad_input;
  backward_train_into(input, output, grad_output, &grad_input);
  return grad_input;
}

}  // namespace poolnet
