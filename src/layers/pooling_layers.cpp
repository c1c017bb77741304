#include "poolnet/error.hpp"
#include "poolnet/layers/pooling.hpp"

namespace poolnet {
namespace {

nlohmann::json tuple_json(const std::vector<std::int64_t>& values) {
  return nlohmann::json(values);
}

}  // namespace

PoolingLayer::PoolingLayer(std::string_view class_name, PoolOp op, int spatial_rank,
                           const IntOrTuple& pool_size, const std::optional<IntOrTuple>& strides,
                           std::string_view padding, std::string_view data_format)
    : Layer(keras_default_name(class_name)), class_name_(class_name) {
  spec_.op = op;
  spec_.spatial_rank = spatial_rank;
  spec_.window = pool_size.expand(spatial_rank, class_name, "pool_size");
  // Keras: strides=None means strides = pool_size.
  spec_.strides = strides ? strides->expand(spatial_rank, class_name, "strides") : spec_.window;
  spec_.padding = with_context(class_name, [&] { return parse_padding(padding); });
  spec_.data_format = with_context(class_name, [&] { return parse_data_format(data_format); });
  // Keras accepts strides=0 here and fails at call time; rejecting now is earlier and clearer.
  validate_pool_spec(spec_, class_name);
}

PoolingLayer::PoolingLayer(std::string_view class_name, PoolOp op, int spatial_rank,
                           std::string_view data_format, bool keepdims)
    : Layer(keras_default_name(class_name)), class_name_(class_name), keepdims_(keepdims) {
  spec_.op = op;
  spec_.spatial_rank = spatial_rank;
  spec_.global = true;
  spec_.data_format = with_context(class_name, [&] { return parse_data_format(data_format); });
  validate_pool_spec(spec_, class_name);
}

PoolPlan PoolingLayer::plan(const Shape& input_shape) const {
  return plan_pooling(spec_, input_shape, class_name_);
}

Shape PoolingLayer::layer_output_shape(const PoolPlan& p) const {
  // Without keepdims the global output drops its unit spatial axes; the flat order
  // (batch * channels + channel) is the same in every case.
  if (spec_.global && !keepdims_) return Shape{p.batch, p.channels};
  return p.output_shape;
}

Shape PoolingLayer::compute_output_shape(const Shape& input_shape) const {
  return layer_output_shape(plan(input_shape));
}

Tensor PoolingLayer::forward(const Tensor& input) const {
  const PoolPlan p = plan(input.shape());
  return pool_forward(p, input, backend_).reshaped(layer_output_shape(p));
}

void PoolingLayer::check_grad_output(const PoolPlan& p, const Tensor& input, const Tensor& grad_output) const {
  const Shape expected = layer_output_shape(p);
  if (!(grad_output.shape() == expected)) {
    throw ShapeError(std::string(class_name_) + ": grad_output has shape " +
                     grad_output.shape().to_string() + ", expected the output shape " +
                     expected.to_string() + "; input shape " + input.shape().to_string() +
                     ", data_format " + std::string(to_string(spec_.data_format)));
  }
}

Tensor PoolingLayer::backward(const Tensor& input, const Tensor& grad_output) const {
  const PoolPlan p = plan(input.shape());
  check_grad_output(p, input, grad_output);
  Tensor grad_input(p.input_shape);
  pool_backward(p, input.data(), grad_output.data(), grad_input.data(), backend_);
  return grad_input;
}

void PoolingLayer::forward_into(const Tensor& input, Tensor& output) const {
  const PoolPlan p = plan(input.shape());
  output.resize(layer_output_shape(p));
  pool_forward(p, input.data(), output.data(), backend_);
}

const PoolPlan& PoolingLayer::train_plan(const Shape& input_shape) {
  if (!(train_plan_.input_shape == input_shape)) train_plan_ = plan(input_shape);
  return train_plan_;
}

void PoolingLayer::forward_train_into(const Tensor& input, Tensor& output, Rng& rng) {
  (void)rng;
  const PoolPlan& p = train_plan(input.shape());
  output.resize(layer_output_shape(p));
  if (saves_argmax()) {
    const auto bytes = static_cast<std::size_t>(p.output_shape.elements()) * argmax_bytes(p);
    if (argmax_.size() < bytes) argmax_.resize(bytes);
    pool_forward_argmax(p, input.data(), output.data(), argmax_.data(), backend_);
    argmax_input_shape_ = input.shape();
  } else {
    pool_forward(p, input.data(), output.data(), backend_);
  }
}

void PoolingLayer::backward_train_into(const Tensor& input, const Tensor& output,
                                       const Tensor& grad_output, Tensor* grad_input) {
  (void)output;
  const PoolPlan& p = train_plan(input.shape());
  check_grad_output(p, input, grad_output);
  if (grad_input == nullptr) return;
  grad_input->resize(p.input_shape);
  if (saves_argmax() && argmax_input_shape_ == input.shape()) {
    pool_backward_argmax(p, argmax_.data(), grad_output.data(), grad_input->data(), backend_);
  } else {
    pool_backward(p, input.data(), grad_output.data(), grad_input->data(), backend_);
  }
}

nlohmann::json PoolingLayer::get_config() const {
  nlohmann::json config = {{"name", name()}, {"trainable", true}, {"dtype", "float32"}};
  if (spec_.global) {
    config["data_format"] = to_string(spec_.data_format);
    config["keepdims"] = keepdims_;
  } else {
    config["pool_size"] = tuple_json(spec_.window);
    config["padding"] = to_string(spec_.padding);
    config["strides"] = tuple_json(spec_.strides);
    config["data_format"] = to_string(spec_.data_format);
  }
  return config;
}

}  // namespace poolnet

// ---- Keras configs --------------------------------------------------------------------------

#include "layers/keras_config.hpp"

namespace poolnet::keras {
namespace {

template <typename LayerT>
std::unique_ptr<Layer> make_windowed(const Json& config) {
  const ConfigReader read(LayerT::kClassName, config,
                          {"pool_size", "strides", "padding", "data_format"});
  const int n = LayerT::kSpatialRank;
  auto layer = std::make_unique<LayerT>(read.int_or_tuple("pool_size", n, IntOrTuple(2)),
                                        read.optional_int_or_tuple("strides", n),
                                        read.string("padding", "valid"), read.data_format());
  read.apply_name(*layer);
  return layer;
}

template <typename LayerT>
std::unique_ptr<Layer> make_global(const Json& config) {
  const ConfigReader read(LayerT::kClassName, config, {"data_format", "keepdims"});
  auto layer = std::make_unique<LayerT>(read.data_format(), read.boolean("keepdims", false));
  read.apply_name(*layer);
  return layer;
}

}  // namespace

void register_pooling_layers(FactoryTable& table) {
  table.emplace("MaxPooling1D", make_windowed<MaxPooling1D>);
  table.emplace("MaxPooling2D", make_windowed<MaxPooling2D>);
  table.emplace("MaxPooling3D", make_windowed<MaxPooling3D>);
  table.emplace("AveragePooling1D", make_windowed<AveragePooling1D>);
  table.emplace("AveragePooling2D", make_windowed<AveragePooling2D>);
  table.emplace("AveragePooling3D", make_windowed<AveragePooling3D>);
  table.emplace("GlobalMaxPooling1D", make_global<GlobalMaxPooling1D>);
  table.emplace("GlobalMaxPooling2D", make_global<GlobalMaxPooling2D>);
  table.emplace("GlobalMaxPooling3D", make_global<GlobalMaxPooling3D>);
  table.emplace("GlobalAveragePooling1D", make_global<GlobalAveragePooling1D>);
  table.emplace("GlobalAveragePooling2D", make_global<GlobalAveragePooling2D>);
  table.emplace("GlobalAveragePooling3D", make_global<GlobalAveragePooling3D>);
}

}  // namespace poolnet::keras
