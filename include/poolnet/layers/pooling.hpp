// The twelve Keras pooling layers. Each is a thin configuration of the pooling engine
// (poolnet/pooling.hpp): the class fixes the op and the spatial rank, the constructor takes
// Keras's arguments with Keras's defaults.
//
//   poolnet::MaxPooling2D pool(2);                         // pool_size=(2,2), strides=pool_size
//   poolnet::AveragePooling1D avg({3}, 1, "same");
//   poolnet::GlobalAveragePooling3D gap("channels_first", /*keepdims=*/true);
//
// Invalid arguments throw ArgumentError from the constructor; an input that does not fit throws
// ShapeError from compute_output_shape/forward/backward. Messages name the layer, the argument,
// its value, the input shape and the data_format.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

#include "poolnet/layers/layer.hpp"
#include "poolnet/pooling.hpp"

namespace poolnet {

// pool_size / strides as Keras takes them: an int (the same on every spatial axis) or a tuple
// with one entry per spatial axis.
class IntOrTuple {
 public:
  IntOrTuple(std::int64_t value) : values_{value}, is_int_(true) {}  // NOLINT: implicit like Keras
  IntOrTuple(std::initializer_list<std::int64_t> values) : values_(values) {}
  IntOrTuple(std::vector<std::int64_t> values) : values_(std::move(values)) {}  // NOLINT

  bool is_int() const { return is_int_; }
  const std::vector<std::int64_t>& values() const { return values_; }

  // One value per spatial axis, or ArgumentError ("<context>: pool_size must be an int or a tuple
  // of 2 ints, got (2, 2, 2)"). Negative and zero values are checked by the caller.
  std::vector<std::int64_t> expand(int spatial_rank, std::string_view context,
                                   std::string_view argument) const;

 private:
  std::vector<std::int64_t> values_;
  bool is_int_ = false;
};

// Base of all twelve: owns a PoolSpec and runs it through the engine.
class PoolingLayer : public Layer {
 public:
  std::string_view class_name() const override { return class_name_; }
  const PoolSpec& spec() const { return spec_; }
  bool keepdims() const { return keepdims_; }

  // The engine plan for an input shape (validated; throws like forward()).
  PoolPlan plan(const Shape& input_shape) const;

  Shape compute_output_shape(const Shape& input_shape) const override;
  Tensor forward(const Tensor& input) const override;
  void forward_into(const Tensor& input, Tensor& output) const override;
  Tensor backward(const Tensor& input, const Tensor& grad_output) const override;
  nlohmann::json get_config() const override;

  // Which kernels forward/backward use (tests pin the reference; default: fastest).
  void set_backend(PoolBackend backend) { backend_ = backend; }

 protected:
  void forward_train_into(const Tensor& input, Tensor& output, Rng& rng) override;
  void backward_train_into(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                           Tensor* grad_input) override;

  // Windowed layers.
  PoolingLayer(std::string_view class_name, PoolOp op, int spatial_rank, const IntOrTuple& pool_size,
               const std::optional<IntOrTuple>& strides, std::string_view padding,
               std::string_view data_format);
  // Global layers.
  PoolingLayer(std::string_view class_name, PoolOp op, int spatial_rank,
               std::string_view data_format, bool keepdims);

 private:
  Shape layer_output_shape(const PoolPlan& plan) const;  // the plan's, minus keepdims
  // ShapeError naming the layer unless grad_output has the layer's output shape.
  void check_grad_output(const PoolPlan& p, const Tensor& input, const Tensor& grad_output) const;
  // The plan of the last training call, re-planned only when the input shape changes:
  // plan_pooling builds its error context eagerly, and a training step must not allocate.
  const PoolPlan& train_plan(const Shape& input_shape);
  bool saves_argmax() const { return !spec_.global && spec_.op == PoolOp::kMax; }

  std::string_view class_name_;  // points at a string literal
  PoolSpec spec_;
  bool keepdims_ = false;
  PoolBackend backend_ = PoolBackend::kAuto;
  PoolPlan train_plan_;  // input_shape rank 0: none yet
  // Training: windowed max pooling saves its argmax (1 byte per output for windows of at most 255
  // cells) so that backward_train scatters the gradient without searching the input again. The
  // buffer only grows, so a steady-state step does not allocate.
  std::vector<std::uint8_t> argmax_;
  Shape argmax_input_shape_;  // rank 0: no argmax saved
};

namespace detail {
template <PoolOp Op, int N> struct WindowedName;
template <> struct WindowedName<PoolOp::kMax, 1> { static constexpr std::string_view value = "MaxPooling1D"; };
template <> struct WindowedName<PoolOp::kMax, 2> { static constexpr std::string_view value = "MaxPooling2D"; };
template <> struct WindowedName<PoolOp::kMax, 3> { static constexpr std::string_view value = "MaxPooling3D"; };
template <> struct WindowedName<PoolOp::kAverage, 1> { static constexpr std::string_view value = "AveragePooling1D"; };
template <> struct WindowedName<PoolOp::kAverage, 2> { static constexpr std::string_view value = "AveragePooling2D"; };
template <> struct WindowedName<PoolOp::kAverage, 3> { static constexpr std::string_view value = "AveragePooling3D"; };
template <PoolOp Op, int N> struct GlobalName;
template <> struct GlobalName<PoolOp::kMax, 1> { static constexpr std::string_view value = "GlobalMaxPooling1D"; };
template <> struct GlobalName<PoolOp::kMax, 2> { static constexpr std::string_view value = "GlobalMaxPooling2D"; };
template <> struct GlobalName<PoolOp::kMax, 3> { static constexpr std::string_view value = "GlobalMaxPooling3D"; };
template <> struct GlobalName<PoolOp::kAverage, 1> { static constexpr std::string_view value = "GlobalAveragePooling1D"; };
template <> struct GlobalName<PoolOp::kAverage, 2> { static constexpr std::string_view value = "GlobalAveragePooling2D"; };
template <> struct GlobalName<PoolOp::kAverage, 3> { static constexpr std::string_view value = "GlobalAveragePooling3D"; };
}  // namespace detail

// MaxPooling{1,2,3}D and AveragePooling{1,2,3}D. Keras defaults: pool_size 2 on every axis,
// strides = pool_size, padding "valid", data_format "channels_last".
template <PoolOp Op, int N>
class WindowedPooling final : public PoolingLayer {
 public:
  static constexpr std::string_view kClassName = detail::WindowedName<Op, N>::value;
  static constexpr int kSpatialRank = N;

  explicit WindowedPooling(const IntOrTuple& pool_size = 2,
                           const std::optional<IntOrTuple>& strides = std::nullopt,
                           std::string_view padding = "valid",
                           std::string_view data_format = "channels_last")
      : PoolingLayer(kClassName, Op, N, pool_size, strides, padding, data_format) {}

  // So that a braced tuple alone, MaxPooling2D({3, 4}), is a pool_size and not a copy.
  explicit WindowedPooling(std::initializer_list<std::int64_t> pool_size,
                           const std::optional<IntOrTuple>& strides = std::nullopt,
                           std::string_view padding = "valid",
                           std::string_view data_format = "channels_last")
      : WindowedPooling(IntOrTuple(pool_size), strides, padding, data_format) {}
};

// GlobalMaxPooling{1,2,3}D and GlobalAveragePooling{1,2,3}D. Keras defaults: data_format
// "channels_last", keepdims false.
template <PoolOp Op, int N>
class GlobalPooling final : public PoolingLayer {
 public:
  static constexpr std::string_view kClassName = detail::GlobalName<Op, N>::value;
  static constexpr int kSpatialRank = N;

  explicit GlobalPooling(std::string_view data_format = "channels_last", bool keepdims = false)
      : PoolingLayer(kClassName, Op, N, data_format, keepdims) {}
};

using MaxPooling1D = WindowedPooling<PoolOp::kMax, 1>;
using MaxPooling2D = WindowedPooling<PoolOp::kMax, 2>;
using MaxPooling3D = WindowedPooling<PoolOp::kMax, 3>;
using AveragePooling1D = WindowedPooling<PoolOp::kAverage, 1>;
using AveragePooling2D = WindowedPooling<PoolOp::kAverage, 2>;
using AveragePooling3D = WindowedPooling<PoolOp::kAverage, 3>;
using GlobalMaxPooling1D = GlobalPooling<PoolOp::kMax, 1>;
using GlobalMaxPooling2D = GlobalPooling<PoolOp::kMax, 2>;
using GlobalMaxPooling3D = GlobalPooling<PoolOp::kMax, 3>;
using GlobalAveragePooling1D = GlobalPooling<PoolOp::kAverage, 1>;
using GlobalAveragePooling2D = GlobalPooling<PoolOp::kAverage, 2>;
using GlobalAveragePooling3D = GlobalPooling<PoolOp::kAverage, 3>;

}  // namespace poolnet
