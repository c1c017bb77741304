// The layer interface shared by every Keras layer poolnet implements.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "poolnet/tensor.hpp"

namespace poolnet {

class Layer {
 public:
  virtual ~Layer() = default;

  // Keras class name, e.g. "MaxPooling2D".
  virtual std::string_view class_name() const = 0;

  // Layer name as in Keras ("max_pooling2d" unless set).
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // Output shape (batch included) for an input shape, or the exception forward() would throw.
  virtual Shape compute_output_shape(const Shape& input_shape) const = 0;

  // Stateless layers are safe to call from several threads at once.
  virtual Tensor forward(const Tensor& input) const = 0;

  // Gradient of sum(forward(input) * grad_output) with respect to input.
  virtual Tensor backward(const Tensor& input, const Tensor& grad_output) const = 0;

  // The Keras config (the object under "config" in model.to_json()).
  virtual nlohmann::json get_config() const = 0;

 protected:
  explicit Layer(std::string name) : name_(std::move(name)) {}

 private:
  std::string name_;
};

// "MaxPooling2D" -> "max_pooling2d", Keras's default layer name.
std::string keras_default_name(std::string_view class_name);

}  // namespace poolnet
