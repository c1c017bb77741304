// Keras core layers: Dense, Flatten, Dropout, Activation, and the glorot_uniform initialiser.
#include "poolnet/layers/core.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "layers/keras_config.hpp"
#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"

namespace poolnet {
namespace {

// A GEMM dimension as OpenBLAS's int, or ShapeError.
blasint blas_dim(std::int64_t n, std::string_view context, const Shape& shape) {
  if (n > INT_MAX) {
    std::string message(context);
    message += ": input shape ";
    message += shape.to_string();
    message += " is too large for the GEMM (a dimension exceeds 2^31 - 1)";
    throw ShapeError(message);
  }
  return static_cast<blasint>(n);
}

// Product of all dims but the last.
std::int64_t leading_rows(const Shape& shape) {
  std::int64_t rows = 1;
  for (int i = 0; i < shape.rank() - 1; ++i) rows *= shape[i];
  return rows;
}

void check_same_shape(std::string_view context, std::string_view what, const Shape& got,
                      const Shape& expected, const Shape& input_shape) {
  if (got == expected) return;
  std::string message(context);
  message += ": ";
  message += what;
  message += " has shape ";
  message += got.to_string();
  message += ", expected ";
  message += expected.to_string();
  message += " (input shape ";
  message += input_shape.to_string();
  message += ")";
  throw ShapeError(message);
}

}  // namespace

// ---- glorot_uniform ---------------------------------------------------------------------------

void glorot_uniform(Tensor& t, std::int64_t fan_in, std::int64_t fan_out, Rng& rng) {
  if (fan_in < 0 || fan_out < 0 || fan_in + fan_out <= 0) {
    std::string message = "glorot_uniform: fan_in + fan_out must be positive, got fan_in ";
    message += std::to_string(fan_in);
    message += " and fan_out ";
    message += std::to_string(fan_out);
    throw ArgumentError(message);
  }
  const float limit = static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)));
  for (float& v : t.values()) v = rng.uniform(-limit, limit);
}

// ---- Dense ------------------------------------------------------------------------------------

Dense::Dense(std::int64_t units, std::string_view activation, bool use_bias)
    : Layer(keras_default_name(kClassName)),
      units_(units),
      activation_(with_context(kClassName, [&] { return parse_activation(activation); })),
      use_bias_(use_bias) {
  if (units <= 0) {
    std::string message = "Dense: units must be a positive integer, got ";
    message += std::to_string(units);
    throw ArgumentError(message);
  }
}

Shape Dense::compute_output_shape(const Shape& input_shape) const {
  if (input_shape.rank() < 2) {
    std::string message = "Dense: input must have rank >= 2 (batch, ..., features), got shape ";
    message += input_shape.to_string();
    throw ShapeError(message);
  }
  if (kernel_.value.rank() == 2 && input_shape[-1] != kernel_.value.dim(0)) {
    std::string message = "Dense: input shape ";
    message += input_shape.to_string();
    message += " does not fit the kernel of shape ";
    message += kernel_.value.shape().to_string();
    message += " (the input's last dimension must be ";
    message += std::to_string(kernel_.value.dim(0));
    message += ")";
    throw ShapeError(message);
  }
  std::array<std::int64_t, kMaxRank> dims{};  // no heap: training computes this every step
  for (int i = 0; i < input_shape.rank(); ++i) dims[static_cast<std::size_t>(i)] = input_shape[i];
  dims[static_cast<std::size_t>(input_shape.rank() - 1)] = units_;
  return Shape(std::span<const std::int64_t>(dims.data(), static_cast<std::size_t>(input_shape.rank())));
}

void Dense::build(const Shape& input_shape, Rng& rng) {
  if (kernel_.value.rank() == 2) {
    (void)compute_output_shape(input_shape);  // same size: keep the weights; else ShapeError
    return;
  }
  (void)compute_output_shape(input_shape);
  const std::int64_t in = input_shape[-1];
  check_weight_shape("Dense", "kernel", Shape{in, units_});
  kernel_.value = Tensor(Shape{in, units_});
  glorot_uniform(kernel_.value, in, units_, rng);
  kernel_.grad = Tensor(Shape{in, units_});
  if (use_bias_) {
    bias_.value = Tensor(Shape{units_});
    bias_.grad = Tensor(Shape{units_});
  }
}

std::vector<Parameter*> Dense::parameters() {
  if (kernel_.value.rank() == 0) return {};
  if (use_bias_) return {&kernel_, &bias_};
  return {&kernel_};
}

Tensor Dense::forward(const Tensor& input) const {
  if (kernel_.value.rank() != 2) throw Error("Dense: not built (call build() before forward())");
  Tensor output(compute_output_shape(input.shape()));
  forward_impl(input, output);
  return output;
}

void Dense::forward_into(const Tensor& input, Tensor& output) const {
  if (kernel_.value.rank() != 2) throw Error("Dense: not built (call build() before forward())");
  output.resize(compute_output_shape(input.shape()));
  forward_impl(input, output);
}

void Dense::forward_train_into(const Tensor& input, Tensor& output, Rng& rng) {
  (void)rng;
  if (kernel_.value.rank() != 2) throw Error("Dense: not built (call build() before forward_train())");
  output.resize(compute_output_shape(input.shape()));
  forward_impl(input, output);
}

void Dense::forward_impl(const Tensor& input, Tensor& output) const {
  const std::int64_t rows = leading_rows(input.shape());
  const std::int64_t in = kernel_.value.dim(0);
  if (rows == 0) return;
  if (in > 0) {
    const blasint m = blas_dim(rows, kClassName, input.shape());
    const blasint n = blas_dim(units_, kClassName, input.shape());
    const blasint k = blas_dim(in, kClassName, input.shape());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, input.data(), k,
                kernel_.value.data(), n, 0.0f, output.data(), n);
  } else {
    output.fill(0.0f);
  }
  // Bias and activation in one pass over the output, row by row (softmax needs whole rows).
  float* out = output.data();
  const float* bias = use_bias_ ? bias_.value.data() : nullptr;
  const std::int64_t units = units_;
  const ActivationKind activation = activation_;
#pragma omp parallel for schedule(static) if (rows * units >= (1 << 16))
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = out + r * units;
    if (bias != nullptr) {
      for (std::int64_t j = 0; j < units; ++j) row[j] += bias[j];
    }
    activation_forward(activation, std::span<float>(row, static_cast<std::size_t>(units)), units);
  }
}

Tensor Dense::backward(const Tensor& input, const Tensor& grad_output) const {
  const Tensor output = forward(input);  // checks built and the input shape
  check_same_shape(kClassName, "grad_output", grad_output.shape(), output.shape(), input.shape());
  Tensor dz(output.shape());
  activation_backward(activation_, output.values(), grad_output.values(), dz.values(), units_);
  Tensor grad_input(input.shape());
  const std::int64_t rows = leading_rows(input.shape());
  const std::int64_t in = kernel_.value.dim(0);
  if (rows == 0 || in == 0) return grad_input;
  const blasint m = blas_dim(rows, kClassName, input.shape());
  const blasint n = blas_dim(in, kClassName, input.shape());
  const blasint k = blas_dim(units_, kClassName, input.shape());
  // dX (rows, in) = dZ (rows, units) * W^T (units, in).
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, dz.data(), k,
              kernel_.value.data(), k, 0.0f, grad_input.data(), n);
  return grad_input;
}

void Dense::backward_train_into(const Tensor& input, const Tensor& output,
                                const Tensor& grad_output, Tensor* grad_input) {
  if (kernel_.value.rank() != 2) throw Error("Dense: not built (call build() before backward_train())");
  const Shape out_shape = compute_output_shape(input.shape());
  check_same_shape(kClassName, "output", output.shape(), out_shape, input.shape());
  check_same_shape(kClassName, "grad_output", grad_output.shape(), out_shape, input.shape());
  dz_.resize(out_shape);
  activation_backward(activation_, output.values(), grad_output.values(), dz_.values(), units_);

  const std::int64_t rows = leading_rows(input.shape());
  const std::int64_t in = kernel_.value.dim(0);
  if (grad_input != nullptr) {
    grad_input->resize(input.shape());
    if (rows == 0 || in == 0) grad_input->fill(0.0f);
  }
  if (rows == 0) return;
  const blasint r = blas_dim(rows, kClassName, input.shape());
  const blasint u = blas_dim(units_, kClassName, input.shape());
  const blasint k = blas_dim(in, kClassName, input.shape());
  if (in > 0) {
    // dW (in, units) += X^T (in, rows) * dZ (rows, units).
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, u, r, 1.0f, input.data(), k,
                dz_.data(), u, 1.0f, kernel_.grad.data(), u);
    // dX (rows, in) = dZ (rows, units) * W^T (units, in).
    if (grad_input != nullptr) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, k, u, 1.0f, dz_.data(), u,
                  kernel_.value.data(), u, 0.0f, grad_input->data(), k);
    }
  }
  if (use_bias_) {
    // db = sum over rows of dZ, in double, always in row order (deterministic).
    bias_sum_.assign(static_cast<std::size_t>(units_), 0.0);
    const float* d = dz_.data();
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < units_; ++j) bias_sum_[static_cast<std::size_t>(j)] += d[i * units_ + j];
    }
    float* db = bias_.grad.data();
    for (std::int64_t j = 0; j < units_; ++j) db[j] += static_cast<float>(bias_sum_[static_cast<std::size_t>(j)]);
  }
}

nlohmann::json Dense::get_config() const {
  nlohmann::json config = {
      {"name", name()},
      {"trainable", kernel_.trainable},
      {"dtype", "float32"},
      {"units", units_},
      {"activation", to_string(activation_)},
      {"use_bias", use_bias_},
  };
  config.update(keras::weight_config_json());
  return config;
}

// ---- Flatten ----------------------------------------------------------------------------------

Flatten::Flatten(std::string_view data_format)
    : Layer(keras_default_name(kClassName)),
      channels_first_(with_context(kClassName, [&] { return parse_data_format(data_format); }) ==
                      DataFormat::kChannelsFirst) {}

Shape Flatten::compute_output_shape(const Shape& input_shape) const {
  if (input_shape.rank() < 1) throw ShapeError("Flatten: input must have a batch axis");
  // Keras: (batch,) -> (batch, 1); else (batch, prod(rest)).
  std::int64_t rest = 1;
  for (int i = 1; i < input_shape.rank(); ++i) rest *= input_shape[i];
  return Shape{input_shape[0], rest};
}

namespace {

// (batch, channels, spatial) <-> (batch, spatial, channels) for a channels_first Flatten.
void transpose_channels(const float* src, float* dst, std::int64_t batch, std::int64_t channels,
                        std::int64_t spatial, bool to_channels_last) {
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::int64_t base = b * channels * spatial;
    for (std::int64_t c = 0; c < channels; ++c) {
      for (std::int64_t s = 0; s < spatial; ++s) {
        const std::int64_t first = base + c * spatial + s;
        const std::int64_t last = base + s * channels + c;
        if (to_channels_last) {
          dst[last] = src[first];
        } else {
          dst[first] = src[last];
        }
      }
    }
  }
}

}  // namespace

Tensor Flatten::forward(const Tensor& input) const {
  const Shape out_shape = compute_output_shape(input.shape());
  if (!channels_first_ || input.rank() < 3) return input.reshaped(out_shape);
  Tensor output(out_shape);
  const std::int64_t batch = input.dim(0);
  const std::int64_t channels = input.dim(1);
  const std::int64_t spatial = batch * channels == 0 ? 0 : input.size() / (batch * channels);
  transpose_channels(input.data(), output.data(), batch, channels, spatial, true);
  return output;
}

Tensor Flatten::backward(const Tensor& input, const Tensor& grad_output) const {
  const Shape out_shape = compute_output_shape(input.shape());
  check_same_shape(kClassName, "grad_output", grad_output.shape(), out_shape, input.shape());
  if (!channels_first_ || input.rank() < 3) return grad_output.reshaped(input.shape());
  Tensor grad_input(input.shape());
  const std::int64_t batch = input.dim(0);
  const std::int64_t channels = input.dim(1);
  const std::int64_t spatial = batch * channels == 0 ? 0 : input.size() / (batch * channels);
  transpose_channels(grad_output.data(), grad_input.data(), batch, channels, spatial, false);
  return grad_input;
}

void Flatten::forward_train_into(const Tensor& input, Tensor& output, Rng& rng) {
  (void)rng;
  forward_into(input, output);
}

void Flatten::forward_into(const Tensor& input, Tensor& output) const {
  output.resize(compute_output_shape(input.shape()));
  if (!channels_first_ || input.rank() < 3) {
    std::copy_n(input.data(), input.size(), output.data());
    return;
  }
  const std::int64_t batch = input.dim(0);
  const std::int64_t channels = input.dim(1);
  const std::int64_t spatial = batch * channels == 0 ? 0 : input.size() / (batch * channels);
  transpose_channels(input.data(), output.data(), batch, channels, spatial, true);
}

void Flatten::backward_train_into(const Tensor& input, const Tensor& output,
                                  const Tensor& grad_output, Tensor* grad_input) {
  (void)output;
  check_same_shape(kClassName, "grad_output", grad_output.shape(),
                   compute_output_shape(input.shape()), input.shape());
  if (grad_input == nullptr) return;
  grad_input->resize(input.shape());
  if (!channels_first_ || input.rank() < 3) {
    std::copy_n(grad_output.data(), grad_output.size(), grad_input->data());
    return;
  }
  const std::int64_t batch = input.dim(0);
  const std::int64_t channels = input.dim(1);
  const std::int64_t spatial = batch * channels == 0 ? 0 : input.size() / (batch * channels);
  transpose_channels(grad_output.data(), grad_input->data(), batch, channels, spatial, false);
}

nlohmann::json Flatten::get_config() const {
  return {{"name", name()},
          {"trainable", true},
          {"dtype", "float32"},
          {"data_format", channels_first_ ? "channels_first" : "channels_last"}};
}

// ---- Dropout ----------------------------------------------------------------------------------

namespace {

// Below this many elements the mask loops run on one thread. They are memory-bound (a second
// thread gains ~0.15 ms on the example's 692,224 elements), while a parallel region on an
// oversubscribed machine waits for a descheduled thread: 9 ms per call measured under load.
constexpr std::int64_t kDropoutParallel = std::int64_t{1} << 23;

// value when keep is 1, +0.0f when it is 0 (also for NaN/inf values). A bit mask rather than a
// select, so that GCC vectorizes the loops around it.
inline float masked(float value, std::uint8_t keep) {
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(keep);
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(value) & mask);
}

}  // namespace

Dropout::Dropout(double rate) : Layer(keras_default_name(kClassName)), rate_(rate) {
  if (!(rate >= 0.0 && rate < 1.0)) {
    std::string message = "Dropout: rate must be a number in [0, 1), got ";
    message += nlohmann::json(rate).dump();
    throw ArgumentError(message);
  }
}

Tensor Dropout::backward(const Tensor& input, const Tensor& grad_output) const {
  check_same_shape(kClassName, "grad_output", grad_output.shape(), input.shape(), input.shape());
  return grad_output;
}

void Dropout::forward_into(const Tensor& input, Tensor& output) const {
  output.resize(input.shape());
  std::copy_n(input.data(), input.size(), output.data());
}

void Dropout::forward_train_into(const Tensor& input, Tensor& output, Rng& rng) {
  output.resize(input.shape());
  mask_shape_ = input.shape();
  const std::int64_t n = input.size();
  const float* in = input.data();
  float* out = output.data();
  if (rate_ == 0.0) {  // Keras skips dropout entirely (and draws nothing)
    std::copy_n(in, n, out);
    return;
  }
  // Two 32-bit draws per random word, drawn in bulk. Kept when bits / 2^32 >= rate, i.e. when
  // bits >= ceil(rate * 2^32) (exact: scaling by 2^32 is exact in double).
  const double scaled_rate = std::ceil(rate_ * 4294967296.0);
  const std::int64_t words = (n + 1) / 2;
  if (bits_.size() < static_cast<std::size_t>(words)) bits_.resize(static_cast<std::size_t>(words));
  if (keep_.size() < static_cast<std::size_t>(2 * words)) keep_.resize(static_cast<std::size_t>(2 * words));
  rng.fill(std::span<std::uint64_t>(bits_.data(), static_cast<std::size_t>(words)));
  std::uint8_t* keep = keep_.data();
  const std::uint64_t* bits = bits_.data();
  if (scaled_rate >= 4294967296.0) {  // rate within 2^-32 of 1: nothing is kept
    std::fill_n(keep, 2 * words, std::uint8_t{0});
  } else {
    // 32-bit compares, so that the loop vectorizes.
    const auto threshold = static_cast<std::uint32_t>(scaled_rate);
    for (std::int64_t i = 0; i < words; ++i) {
      const auto high = static_cast<std::uint32_t>(bits[i] >> 32);
      const auto low = static_cast<std::uint32_t>(bits[i]);
      keep[2 * i] = static_cast<std::uint8_t>(high >= threshold);
      keep[2 * i + 1] = static_cast<std::uint8_t>(low >= threshold);
    }
  }
  const float scale = static_cast<float>(1.0 / (1.0 - rate_));
  // Dropped values are 0, even NaN/inf (Keras's where()): a select, not a multiply by 0.
#pragma omp parallel for schedule(static) if (n > kDropoutParallel)
  for (std::int64_t i = 0; i < n; ++i) out[i] = masked(in[i] * scale, keep[i]);
}

void Dropout::backward_train_into(const Tensor& input, const Tensor& output,
                                  const Tensor& grad_output, Tensor* grad_input) {
  (void)output;
  check_same_shape(kClassName, "grad_output", grad_output.shape(), input.shape(), input.shape());
  if (!(mask_shape_ == input.shape())) {
    std::string message = "Dropout: backward_train for input shape ";
    message += input.shape().to_string();
    message += " without a matching forward_train (the last mask has shape ";
    message += mask_shape_.rank() == 0 ? std::string("none") : mask_shape_.to_string();
    message += ")";
    throw ShapeError(message);
  }
  if (grad_input == nullptr) return;
  grad_input->resize(input.shape());
  const std::int64_t n = input.size();
  const float* g = grad_output.data();
  float* dx = grad_input->data();
  if (rate_ == 0.0) {
    std::copy_n(g, n, dx);
    return;
  }
  const float scale = static_cast<float>(1.0 / (1.0 - rate_));
  const std::uint8_t* keep = keep_.data();
#pragma omp parallel for schedule(static) if (n > kDropoutParallel)
  for (std::int64_t i = 0; i < n; ++i) dx[i] = masked(g[i] * scale, keep[i]);
}

nlohmann::json Dropout::get_config() const {
  return {{"name", name()},   {"trainable", true},  {"dtype", "float32"},
          {"rate", rate_},    {"seed", nullptr},    {"noise_shape", nullptr}};
}

// ---- Activation -------------------------------------------------------------------------------

ActivationLayer::ActivationLayer(std::string_view activation)
    : Layer(keras_default_name(kClassName)),
      activation_(with_context(kClassName, [&] { return parse_activation(activation); })) {}

Tensor ActivationLayer::forward(const Tensor& input) const {
  Tensor output = input;
  const std::int64_t row = input.dim(-1);
  activation_forward(activation_, output.values(), row);
  return output;
}

namespace {

Tensor activation_layer_backward(ActivationKind activation, const Tensor& input, const Tensor& output,
                                 const Tensor& grad_output) {
  check_same_shape(ActivationLayer::kClassName, "output", output.shape(), input.shape(),
                   input.shape());
  check_same_shape(ActivationLayer::kClassName, "grad_output", grad_output.shape(), input.shape(),
                   input.shape());
  Tensor grad_input(input.shape());
  activation_backward(activation, output.values(), grad_output.values(), grad_input.values(),
                      input.dim(-1));
  return grad_input;
}

}  // namespace

Tensor ActivationLayer::backward(const Tensor& input, const Tensor& grad_output) const {
  return activation_layer_backward(activation_, input, forward(input), grad_output);
}

void ActivationLayer::forward_train_into(const Tensor& input, Tensor& output, Rng& rng) {
  (void)rng;
  forward_into(input, output);
}

void ActivationLayer::forward_into(const Tensor& input, Tensor& output) const {
  output.resize(input.shape());
  std::copy_n(input.data(), input.size(), output.data());
  activation_forward(activation_, output.values(), input.dim(-1));
}

void ActivationLayer::backward_train_into(const Tensor& input, const Tensor& output,
                                          const Tensor& grad_output, Tensor* grad_input) {
  check_same_shape(kClassName, "output", output.shape(), input.shape(), input.shape());
  check_same_shape(kClassName, "grad_output", grad_output.shape(), input.shape(), input.shape());
  if (grad_input == nullptr) return;
  grad_input->resize(input.shape());
  activation_backward(activation_, output.values(), grad_output.values(), grad_input->values(),
                      input.dim(-1));
}

nlohmann::json ActivationLayer::get_config() const {
  return {{"name", name()},
          {"trainable", true},
          {"dtype", "float32"},
          {"activation", to_string(activation_)}};
}

}  // namespace poolnet

// ---- Keras configs --------------------------------------------------------------------------

namespace poolnet::keras {
namespace {

std::unique_ptr<Layer> make_dense(const Json& config) {
  const ConfigReader read(Dense::kClassName, config,
                          with_weight_config_keys({"units", "activation", "use_bias", "lora_rank",
                                                   "quantization_config"}));
  read.check_default_weight_settings();
  read.require_null("lora_rank");
  read.require_null("quantization_config");
  const std::string activation = read.optional_string("activation").value_or("linear");
  auto layer = std::make_unique<Dense>(read.integer("units", std::nullopt), activation,
                                       read.boolean("use_bias", true));
  if (config.contains("trainable") && config["trainable"] == false) {
    layer->kernel().trainable = false;
    layer->bias().trainable = false;
  }
  read.apply_name(*layer);
  return layer;
}

std::unique_ptr<Layer> make_flatten(const Json& config) {
  const ConfigReader read(Flatten::kClassName, config, {"data_format"});
  auto layer = std::make_unique<Flatten>(read.data_format());
  read.apply_name(*layer);
  return layer;
}

std::unique_ptr<Layer> make_dropout(const Json& config) {
  const ConfigReader read(Dropout::kClassName, config, {"rate", "seed", "noise_shape"});
  // seed: an int or null, accepted and ignored (the model's seed drives dropout).
  if (read.has_value("seed")) (void)read.integer("seed", std::nullopt);
  read.require_null("noise_shape");
  auto layer = std::make_unique<Dropout>(read.number("rate", std::nullopt));
  read.apply_name(*layer);
  return layer;
}

std::unique_ptr<Layer> make_activation(const Json& config) {
  const ConfigReader read(ActivationLayer::kClassName, config, {"activation"});
  auto layer = std::make_unique<ActivationLayer>(read.optional_string("activation").value_or("linear"));
  read.apply_name(*layer);
  return layer;
}

}  // namespace

void register_core_layers(FactoryTable& table) {
  table.emplace(std::string(Dense::kClassName), make_dense);
  table.emplace(std::string(Flatten::kClassName), make_flatten);
  table.emplace(std::string(Dropout::kClassName), make_dropout);
  table.emplace(std::string(ActivationLayer::kClassName), make_activation);
}

}  // namespace poolnet::keras
