// Keras core layers: Dense, Flatten, Dropout, Activation.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "poolnet/layers/activations.hpp"
#include "poolnet/layers/layer.hpp"

namespace poolnet {

// Dense(units, activation=None, use_bias=True). On inputs of rank > 2 it applies to the last
// axis, as in Keras. Weights: kernel (in_features, units) glorot_uniform, bias (units,) zeros.
// Bias and activation are fused into the GEMM's output pass.
class Dense final : public Layer {
 public:
  static constexpr std::string_view kClassName = "Dense";
  explicit Dense(std::int64_t units, std::string_view activation = "linear", bool use_bias = true);

  std::string_view class_name() const override { return kClassName; }
  Shape compute_output_shape(const Shape& input_shape) const override;
  void build(const Shape& input_shape, Rng& rng) override;
  Tensor forward(const Tensor& input) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  Tensor backward_train(const Tensor& input, const Tensor& output, const Tensor& grad_output) override;
  std::vector<Parameter*> parameters() override;
  nlohmann::json get_config() const override;

  std::int64_t units() const { return units_; }
  ActivationKind activation() const { return activation_; }
  Parameter& kernel() { return kernel_; }
  Parameter& bias() { return bias_; }

 private:
  std::int64_t units_;
  ActivationKind activation_;
  bool use_bias_;
  Parameter kernel_{"kernel", {}, {}, true};
  Parameter bias_{"bias", {}, {}, true};
};

// Flatten(data_format=None): (batch, ...) -> (batch, prod(...)). Keras's channels_first Flatten
// transposes to channels_last first; poolnet does the same so that weights carry over.
class Flatten final : public Layer {
 public:
  static constexpr std::string_view kClassName = "Flatten";
  explicit Flatten(std::string_view data_format = "channels_last");
  std::string_view class_name() const override { return kClassName; }
  Shape compute_output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& input) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  nlohmann::json get_config() const override;

 private:
  bool channels_first_ = false;
};

// Dropout(rate, seed=None): inverted dropout in training (kept values scaled by 1 / (1 - rate)),
// identity in inference. rate in [0, 1).
class Dropout final : public Layer {
 public:
  static constexpr std::string_view kClassName = "Dropout";
  explicit Dropout(double rate);
  std::string_view class_name() const override { return kClassName; }
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }
  Tensor forward(const Tensor& input) const override { return input; }
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  Tensor forward_train(const Tensor& input, Rng& rng) override;
  Tensor backward_train(const Tensor& input, const Tensor& output, const Tensor& grad_output) override;
  nlohmann::json get_config() const override;
  double rate() const { return rate_; }

 private:
  double rate_;
  Tensor mask_;  // the last forward_train's scale per element (0 or 1 / (1 - rate))
};

// Activation(activation).
class ActivationLayer final : public Layer {
 public:
  static constexpr std::string_view kClassName = "Activation";
  explicit ActivationLayer(std::string_view activation);
  std::string_view class_name() const override { return kClassName; }
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }
  Tensor forward(const Tensor& input) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  Tensor backward_train(const Tensor& input, const Tensor& output, const Tensor& grad_output) override;
  nlohmann::json get_config() const override;

 private:
  ActivationKind activation_;
};

// Glorot (Xavier) uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)); Keras's
// default kernel initialiser. Convolution kernels: fan_in = prod(kernel) * in_channels,
// fan_out = prod(kernel) * filters.
void glorot_uniform(Tensor& t, std::int64_t fan_in, std::int64_t fan_out, Rng& rng);

}  // namespace poolnet
