// Keras core layers: Dense, Flatten, Dropout, Activation.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

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
  void forward_into(const Tensor& input, Tensor& output) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  std::vector<Parameter*> parameters() override;
  nlohmann::json get_config() const override;

  std::int64_t units() const { return units_; }
  ActivationKind activation() const { return activation_; }
  Parameter& kernel() { return kernel_; }
  Parameter& bias() { return bias_; }

 protected:
  void forward_train_into(const Tensor& input, Tensor& output, Rng& rng) override;
  void backward_train_into(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                           Tensor* grad_input) override;

 private:
  // output (already of the output shape) = activation(input * kernel + bias).
  void forward_impl(const Tensor& input, Tensor& output) const;

  std::int64_t units_;
  ActivationKind activation_;
  bool use_bias_;
  Parameter kernel_{"kernel", {}, {}, true};
  Parameter bias_{"bias", {}, {}, true};
  // Training scratch kept across steps: dZ and the bias-gradient sums.
  Tensor dz_;
  std::vector<double> bias_sum_;
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
  void forward_into(const Tensor& input, Tensor& output) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  nlohmann::json get_config() const override;

 protected:
  void forward_train_into(const Tensor& input, Tensor& output, Rng& rng) override;
  void backward_train_into(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                           Tensor* grad_input) override;

 private:
  bool channels_first_ = false;
};

// Dropout(rate, seed=None): inverted dropout in training (kept values scaled by 1 / (1 - rate)),
// identity in inference. rate in [0, 1). The mask comes from the model's Rng: element 2i uses
// the high 32 bits of the i-th next_u64(), element 2i + 1 the low 32 bits; an element is kept
// when those bits, read as a uniform u in [0, 1) with 32-bit resolution, satisfy u >= rate.
class Dropout final : public Layer {
 public:
  static constexpr std::string_view kClassName = "Dropout";
  explicit Dropout(double rate);
  std::string_view class_name() const override { return kClassName; }
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }
  Tensor forward(const Tensor& input) const override { return input; }
  void forward_into(const Tensor& input, Tensor& output) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  nlohmann::json get_config() const override;
  double rate() const { return rate_; }

 protected:
  void forward_train_into(const Tensor& input, Tensor& output, Rng& rng) override;
  void backward_train_into(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                           Tensor* grad_input) override;

 private:
  double rate_;
  // The last forward_train's mask (1 = kept) and its input shape (rank 0: none yet), and the
  // random words it was drawn from; kept across steps so that training does not allocate.
  std::vector<std::uint8_t> keep_;
  std::vector<std::uint64_t> bits_;
  Shape mask_shape_;
};

// Activation(activation).
class ActivationLayer final : public Layer {
 public:
  static constexpr std::string_view kClassName = "Activation";
  explicit ActivationLayer(std::string_view activation);
  std::string_view class_name() const override { return kClassName; }
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }
  Tensor forward(const Tensor& input) const override;
  void forward_into(const Tensor& input, Tensor& output) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  nlohmann::json get_config() const override;

 protected:
  void forward_train_into(const Tensor& input, Tensor& output, Rng& rng) override;
  void backward_train_into(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                           Tensor* grad_input) override;

 private:
  ActivationKind activation_;
};

// Glorot (Xavier) uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)); Keras's
// default kernel initialiser. Convolution kernels: fan_in = prod(kernel) * in_channels,
// fan_out = prod(kernel) * filters.
void glorot_uniform(Tensor& t, std::int64_t fan_in, std::int64_t fan_out, Rng& rng);

}  // namespace poolnet
