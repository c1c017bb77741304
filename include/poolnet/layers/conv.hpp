// Keras convolution layers Conv1D, Conv2D, Conv3D: im2col + OpenBLAS GEMM, bias and activation
// fused into the output pass. Output size and 'same' padding follow the pooling geometry
// (compute_axis_geometry with the dilated kernel extent (k - 1) * d + 1 as the window).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "poolnet/layers/activations.hpp"
#include "poolnet/layers/layer.hpp"
#include "poolnet/layers/pooling.hpp"

namespace poolnet {

// Weights as in Keras: kernel (k_1, ..., k_N, in_channels, filters) glorot_uniform, bias
// (filters,) zeros. Keras rejects strides > 1 together with dilation_rate > 1; so does poolnet.
class ConvLayer : public Layer {
 public:
  std::string_view class_name() const override { return class_name_; }
  Shape compute_output_shape(const Shape& input_shape) const override;
  void build(const Shape& input_shape, Rng& rng) override;
  Tensor forward(const Tensor& input) const override;
  void forward_into(const Tensor& input, Tensor& output) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  std::vector<Parameter*> parameters() override;
  nlohmann::json get_config() const override;

  std::int64_t filters() const { return filters_; }
  Parameter& kernel() { return kernel_; }
  Parameter& bias() { return bias_; }

 protected:
  void forward_train_into(const Tensor& input, Tensor& output, Rng& rng) override;
  void backward_train_into(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                           Tensor* grad_input) override;

  ConvLayer(std::string_view class_name, int spatial_rank, std::int64_t filters,
            const IntOrTuple& kernel_size, const IntOrTuple& strides, std::string_view padding,
            std::string_view data_format, const IntOrTuple& dilation_rate,
            std::string_view activation, bool use_bias);

 private:
  std::string_view class_name_;
  int spatial_rank_;
  std::int64_t filters_;
  std::vector<std::int64_t> kernel_size_, strides_, dilation_rate_;
  Padding padding_;
  DataFormat data_format_;
  ActivationKind activation_;
  bool use_bias_;
  Parameter kernel_{"kernel", {}, {}, true};
  Parameter bias_{"bias", {}, {}, true};

  // Scratch of one call, grown as needed: forward()/backward() use their own (they are const and
  // may run on several threads at once); the training calls reuse scratch_ across steps.
  struct Scratch {
    std::vector<float> cols;        // im2col tiles (and their gradients), per worker
    std::vector<float> x_last, y_last, dz, dz_first, gx_last;  // layout changes, dZ
    std::vector<float> dw_partial;  // kernel-gradient partial per batch group
    std::vector<double> db_partial;
  };
  Scratch scratch_;

  // The geometry of one call (defined in conv.cpp): validates the input shape against the
  // layer's arguments (and the built kernel, when built) and throws ShapeError otherwise.
  struct Plan;
  Plan plan(const Shape& input_shape) const;
  bool built() const { return kernel_.value.rank() != 0; }
  void check_built() const;  // Error "not built" otherwise
  // output = activation(conv(input) + bias), both in the layer's data_format.
  void forward_impl(const Plan& p, const float* input, float* output, Scratch& s) const;
  // Writes the input gradient of sum(output * grad_output) into grad_input when it is not null;
  // adds the parameter gradients into kernel_grad / bias_grad when they are not null.
  void backward_impl(const Plan& p, const Tensor& input, const Tensor& output,
                     const Tensor& grad_output, float* grad_input, Tensor* kernel_grad,
                     Tensor* bias_grad, Scratch& s) const;
};

namespace detail {
template <int N> struct ConvName;
template <> struct ConvName<1> { static constexpr std::string_view value = "Conv1D"; };
template <> struct ConvName<2> { static constexpr std::string_view value = "Conv2D"; };
template <> struct ConvName<3> { static constexpr std::string_view value = "Conv3D"; };
}  // namespace detail

template <int N>
class Conv final : public ConvLayer {
 public:
  static constexpr std::string_view kClassName = detail::ConvName<N>::value;
  static constexpr int kSpatialRank = N;
  Conv(std::int64_t filters, const IntOrTuple& kernel_size, const IntOrTuple& strides = 1,
       std::string_view padding = "valid", std::string_view data_format = "channels_last",
       const IntOrTuple& dilation_rate = 1, std::string_view activation = "linear",
       bool use_bias = true)
      : ConvLayer(kClassName, N, filters, kernel_size, strides, padding, data_format,
                  dilation_rate, activation, use_bias) {}
  Conv(std::int64_t filters, std::initializer_list<std::int64_t> kernel_size,
       const IntOrTuple& strides = 1, std::string_view padding = "valid",
       std::string_view data_format = "channels_last", const IntOrTuple& dilation_rate = 1,
       std::string_view activation = "linear", bool use_bias = true)
      : Conv(filters, IntOrTuple(kernel_size), strides, padding, data_format, dilation_rate,
             activation, use_bias) {}
};

using Conv1D = Conv<1>;
using Conv2D = Conv<2>;
using Conv3D = Conv<3>;

}  // namespace poolnet
