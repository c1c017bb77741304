// Keras convolution layers Conv1D/2D/3D.
//
// Forward: the input (channels_last internally; channels_first is transposed in and out) is cut
// into tiles of output rows (one row = one output position of one batch item). For each tile,
// im2col gathers the receptive fields into a (rows, K) matrix, K = prod(kernel_size) * in_channels,
// in the kernel's (k_1, ..., k_N, in_channels) order with padding cells as 0; one sgemm with the
// kernel viewed as a (K, filters) matrix gives the tile's output, and bias + activation follow in
// the same pass over the tile while it is in cache. A 1x..x1 kernel with stride 1 needs no im2col:
// the input rows are the columns.
//
// Backward: dZ = activation_backward(y, dy); per tile dW += cols^T dZ, db += sum(dZ),
// dcols = dZ W^T scattered back (col2im) into the input gradient.
//
// Threads (OpenMP): forward tiles write disjoint output rows. Backward runs over batch groups
// (contiguous, disjoint input gradients); each group sums its kernel/bias gradient into its own
// partial, and the partials are added in group order afterwards, so results do not depend on
// scheduling. Inside a parallel region OpenBLAS runs single-threaded.
#include "poolnet/layers/conv.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "layers/keras_config.hpp"
#include "poolnet/error.hpp"
#include "poolnet/layers/core.hpp"

namespace poolnet {

// The geometry of one call. Spatial axes are right-aligned in 3 slots (a 1D conv has two leading
// axes of size 1), as in PoolPlan, so one loop nest serves every rank.
namespace conv_detail {
struct Geometry {
  DataFormat format = DataFormat::kChannelsLast;
  std::int64_t batch = 0;
  std::int64_t channels = 0;
  std::int64_t filters = 0;
  std::array<std::int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, stride{1, 1, 1},
      dil{1, 1, 1}, pad{0, 0, 0};
  std::int64_t spatial_in = 1;
  std::int64_t spatial_out = 1;
  std::int64_t taps = 1;  // prod(kernel_size)

  std::int64_t cols() const { return taps * channels; }  // K
  std::int64_t rows() const { return batch * spatial_out; }
  // 1x..x1 kernel, stride 1 (then padding is 0 and out == in): the input rows are the columns.
  bool identity_cols() const {
    for (int a = 0; a < 3; ++a)
      if (k[a] != 1 || stride[a] != 1) return false;
    return true;
  }
};
}  // namespace conv_detail

struct ConvLayer::Plan : conv_detail::Geometry {
  Shape output_shape;
};

namespace {

constexpr std::int64_t kColsBudget = std::int64_t{1} << 18;     // floats per im2col tile (1 MiB)
constexpr std::int64_t kMinTileRows = 64;
constexpr std::int64_t kPartialBudget = std::int64_t{1} << 22;  // floats of kernel-grad partials
constexpr std::int64_t kMinGroups = 16;
// Below this many multiply-adds a call runs on one thread: waking a team costs more.
constexpr std::int64_t kParallelWork = std::int64_t{1} << 18;

blasint to_blas(std::int64_t v) { return static_cast<blasint>(v); }

// Scratch that is fully written before it is read: no zero fill.
using Buffer = std::unique_ptr<float[]>;
Buffer uninitialized(std::int64_t n) {
  return std::make_unique_for_overwrite<float[]>(static_cast<std::size_t>(n));
}

// Copies and scatter-adds of `n` floats (n is the channel count: often small).
inline void copy_floats(const float* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i];
}
inline void add_floats(const float* src, float* dst, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// Walks output rows [r0, r1) (row = batch * spatial_out + output position) and, for every kernel
// tap, calls cell(row_ptr, input_ptr_or_null, count): `count` floats of the column row that
// correspond to `count` consecutive input floats (null: padding). Shared by im2col and col2im.
template <typename Cell>
void walk_fields(const conv_detail::Geometry& p, std::int64_t r0, std::int64_t r1, Cell&& cell) {
  const std::int64_t C = p.channels;
  const std::int64_t K = p.cols();
  const std::int64_t plane_out = p.out[1] * p.out[2];
  std::int64_t b = r0 / p.spatial_out;
  std::int64_t q = r0 % p.spatial_out;
  std::int64_t o0 = q / plane_out;
  std::int64_t o1 = (q % plane_out) / p.out[2];
  std::int64_t o2 = q % p.out[2];
  const std::int64_t run2 = p.k[2] * C;
  for (std::int64_t r = r0; r < r1; ++r) {
    std::int64_t col = (r - r0) * K;
    const std::int64_t base0 = o0 * p.stride[0] - p.pad[0];
    const std::int64_t base1 = o1 * p.stride[1] - p.pad[1];
    const std::int64_t base2 = o2 * p.stride[2] - p.pad[2];
    const std::int64_t item = b * p.spatial_in * C;
    // The whole k[2] run is contiguous in the input when it is undilated and inside the row.
    const bool contiguous2 = p.dil[2] == 1 && base2 >= 0 && base2 + p.k[2] <= p.in[2];
    for (std::int64_t t0 = 0; t0 < p.k[0]; ++t0) {
      const std::int64_t i0 = base0 + t0 * p.dil[0];
      if (i0 < 0 || i0 >= p.in[0]) {
        cell(col, std::int64_t{-1}, p.k[1] * run2);
        col += p.k[1] * run2;
        continue;
      }
      for (std::int64_t t1 = 0; t1 < p.k[1]; ++t1) {
        const std::int64_t i1 = base1 + t1 * p.dil[1];
        if (i1 < 0 || i1 >= p.in[1]) {
          cell(col, std::int64_t{-1}, run2);
          col += run2;
          continue;
        }
        const std::int64_t line = item + (i0 * p.in[1] + i1) * p.in[2] * C;
        if (contiguous2) {
          cell(col, line + base2 * C, run2);
          col += run2;
          continue;
        }
        for (std::int64_t t2 = 0; t2 < p.k[2]; ++t2) {
          const std::int64_t i2 = base2 + t2 * p.dil[2];
          cell(col, (i2 < 0 || i2 >= p.in[2]) ? std::int64_t{-1} : line + i2 * C, C);
          col += C;
        }
      }
    }
    if (++o2 == p.out[2]) {
      o2 = 0;
      if (++o1 == p.out[1]) {
        o1 = 0;
        if (++o0 == p.out[0]) {
          o0 = 0;
          ++b;
        }
      }
    }
  }
}

// cols[(r - r0) * K + j] = the receptive field of output row r (0 for padding).
void im2col(const conv_detail::Geometry& p, const float* x, std::int64_t r0, std::int64_t r1,
            float* cols) {
  walk_fields(p, r0, r1, [&](std::int64_t col, std::int64_t src, std::int64_t n) {
    if (src < 0) {
      std::memset(cols + col, 0, static_cast<std::size_t>(n) * sizeof(float));
    } else {
      copy_floats(x + src, cols + col, n);
    }
  });
}

// The adjoint of im2col: grad_x[field cell] += dcols[...]; padding cells are dropped.
void col2im(const conv_detail::Geometry& p, const float* dcols, std::int64_t r0, std::int64_t r1,
            float* grad_x) {
  walk_fields(p, r0, r1, [&](std::int64_t col, std::int64_t dst, std::int64_t n) {
    if (dst >= 0) add_floats(dcols + col, grad_x + dst, n);
  });
}

// (batch, a, b) -> (batch, b, a), in tiles so that both sides stay in cache.
void transpose_items(const float* src, float* dst, std::int64_t batch, std::int64_t a,
                     std::int64_t b) {
  constexpr std::int64_t kBlock = 32;
#pragma omp parallel for schedule(static) if (batch > 1 && batch * a * b > 65536)
  for (std::int64_t n = 0; n < batch; ++n) {
    const float* s = src + n * a * b;
    float* d = dst + n * a * b;
    for (std::int64_t i0 = 0; i0 < a; i0 += kBlock) {
      const std::int64_t i1 = std::min(a, i0 + kBlock);
      for (std::int64_t j0 = 0; j0 < b; j0 += kBlock) {
        const std::int64_t j1 = std::min(b, j0 + kBlock);
        for (std::int64_t i = i0; i < i1; ++i)
          for (std::int64_t j = j0; j < j1; ++j) d[j * a + i] = s[i * b + j];
      }
    }
  }
}

// The rows of the activation: the last axis of the output tensor (Keras applies activations,
// softmax included, on axis -1 of the layer's output in its own data_format).
void activate_items(ActivationKind kind, float* y, std::int64_t batch, std::int64_t item_size,
                    std::int64_t row_size) {
  if (kind == ActivationKind::kLinear) return;
#pragma omp parallel for schedule(static) if (batch > 1 && batch * item_size > 65536)
  for (std::int64_t n = 0; n < batch; ++n) {
    activation_forward(kind, std::span<float>(y + n * item_size, static_cast<std::size_t>(item_size)),
                       row_size);
  }
}

void activation_grad_items(ActivationKind kind, const float* y, const float* dy, float* dz,
                           std::int64_t batch, std::int64_t item_size, std::int64_t row_size) {
  const auto size = static_cast<std::size_t>(item_size);
#pragma omp parallel for schedule(static) if (batch > 1 && batch * item_size > 65536)
  for (std::int64_t n = 0; n < batch; ++n) {
    const std::int64_t o = n * item_size;
    activation_backward(kind, std::span<const float>(y + o, size),
                        std::span<const float>(dy + o, size), std::span<float>(dz + o, size),
                        row_size);
  }
}

}  // namespace

ConvLayer::ConvLayer(std::string_view class_name, int spatial_rank, std::int64_t filters,
                     const IntOrTuple& kernel_size, const IntOrTuple& strides,
                     std::string_view padding, std::string_view data_format,
                     const IntOrTuple& dilation_rate, std::string_view activation, bool use_bias)
    : Layer(keras_default_name(class_name)),
      class_name_(class_name),
      spatial_rank_(spatial_rank),
      filters_(filters),
      padding_(Padding::kValid),
      data_format_(DataFormat::kChannelsLast),
      activation_(ActivationKind::kLinear),
      use_bias_(use_bias) {
  std::string where(class_name);
  where += ": ";
  if (spatial_rank < 1 || spatial_rank > kMaxSpatialRank) {
    throw ArgumentError(where + "spatial rank must be 1, 2 or 3, got " + std::to_string(spatial_rank));
  }
  if (filters <= 0 || filters > kMaxPoolArgument) {
    throw ArgumentError(where + "filters must be a positive integer (at most " +
                        std::to_string(kMaxPoolArgument) + "), got " + std::to_string(filters));
  }
  auto positive_tuple = [&](const IntOrTuple& value, std::string_view argument) {
    std::vector<std::int64_t> values = value.expand(spatial_rank, class_name, argument);
    for (const std::int64_t v : values) {
      if (v <= 0 || v > kMaxPoolArgument) {
        std::string message = where;
        message += argument;
        message += " entries must be positive integers (at most ";
        message += std::to_string(kMaxPoolArgument);
        message += "), got ";
        message += dims_to_string(values);
        throw ArgumentError(message);
      }
    }
    return values;
  };
  kernel_size_ = positive_tuple(kernel_size, "kernel_size");
  strides_ = positive_tuple(strides, "strides");
  dilation_rate_ = positive_tuple(dilation_rate, "dilation_rate");
  // Keras: "`strides > 1` not supported in conjunction with `dilation_rate > 1`".
  if (*std::max_element(strides_.begin(), strides_.end()) > 1 &&
      *std::max_element(dilation_rate_.begin(), dilation_rate_.end()) > 1) {
    throw ArgumentError(where + "strides > 1 is not supported together with dilation_rate > 1 (as in Keras), got strides " +
                        dims_to_string(strides_) + " and dilation_rate " + dims_to_string(dilation_rate_));
  }
  std::string padding_lower(padding);
  for (char& c : padding_lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (padding_lower == "causal") {
    std::string message = where;
    message += "padding 'causal' is not supported (poolnet supports 'valid' and 'same'), got '";
    message += padding;
    message += "'";
    throw ArgumentError(message);
  }
  padding_ = with_context(class_name, [&] { return parse_padding(padding); });
  data_format_ = with_context(class_name, [&] { return parse_data_format(data_format); });
  activation_ = with_context(class_name, [&] { return parse_activation(activation); });
}

ConvLayer::Plan ConvLayer::plan(const Shape& input_shape) const {
  std::string where(class_name_);
  where += ": ";
  std::string context = "; input shape ";
  context += input_shape.to_string();
  context += ", data_format ";
  context += to_string(data_format_);
  const int n = spatial_rank_;
  if (input_shape.rank() != n + 2) {
    throw ShapeError(where + "input must have rank " + std::to_string(n + 2) + " (batch, " +
                     std::to_string(n) + " spatial, channels), got rank " +
                     std::to_string(input_shape.rank()) + context);
  }
  const bool last = data_format_ == DataFormat::kChannelsLast;
  Plan p;
  p.format = data_format_;
  p.batch = input_shape[0];
  p.channels = last ? input_shape[-1] : input_shape[1];
  p.filters = filters_;
  const int first = last ? 1 : 2;
  const int offset = 3 - n;
  const DataFormat other = last ? DataFormat::kChannelsFirst : DataFormat::kChannelsLast;
  const std::int64_t other_channels = last ? input_shape[1] : input_shape[-1];
  std::string hint = ". Is the input in data_format ";
  hint += to_string(other);
  hint += "?";

  if (p.channels == 0) {
    throw ShapeError(where + "input has 0 channels: a convolution needs at least one" + context);
  }
  if (built()) {
    // The weights may have been replaced (loaded): they must still fit the layer's arguments.
    std::vector<std::int64_t> expected = kernel_size_;
    expected.push_back(kernel_.value.rank() == n + 2 ? kernel_.value.dim(n) : -1);
    expected.push_back(filters_);
    const bool kernel_ok = kernel_.value.rank() == n + 2 && kernel_.value.shape().to_vector() == expected &&
                           expected[static_cast<std::size_t>(n)] > 0;
    const bool bias_ok = !use_bias_ || (bias_.value.rank() == 1 && bias_.value.dim(0) == filters_);
    if (!kernel_ok || !bias_ok) {
      std::string message = where + "weights do not fit the layer: kernel shape " +
                            kernel_.value.shape().to_string() + ", expected (kernel_size..., in_channels, " +
                            std::to_string(filters_) + ") with kernel_size " + dims_to_string(kernel_size_);
      if (use_bias_) {
        message += "; bias shape ";
        message += bias_.value.rank() == 0 ? std::string("()") : bias_.value.shape().to_string();
        message += ", expected (";
        message += std::to_string(filters_);
        message += ",)";
      }
      throw Error(message);
    }
    const std::int64_t built_channels = kernel_.value.dim(n);
    if (p.channels != built_channels) {
      std::string message = where + "input has " + std::to_string(p.channels) +
                            " channels but the layer was built for " +
                            std::to_string(built_channels) + " (kernel shape " +
                            kernel_.value.shape().to_string() + ")" + context;
      if (other_channels == built_channels) message += hint;
      throw ShapeError(message);
    }
  }
  for (int i = 0; i < n; ++i) {
    const std::int64_t in = input_shape[first + i];
    if (in == 0) {
      throw ShapeError(where + "input " + std::string(spatial_axis_name(n, i)) +
                       " is 0: a convolution needs at least one element in every spatial dimension" +
                       context);
    }
    const std::int64_t extent = (kernel_size_[i] - 1) * dilation_rate_[i] + 1;
    const AxisGeometry g = compute_axis_geometry(in, extent, strides_[i], padding_);
    if (g.out <= 0) {
      std::string message = where + "kernel_size " + dims_to_string(kernel_size_) +
                            " with dilation_rate " + dims_to_string(dilation_rate_) +
                            " does not fit the input with padding 'valid': dilated kernel extent " +
                            std::to_string(extent) + " > input " + std::string(spatial_axis_name(n, i)) +
                            " " + std::to_string(in) +
                            " (computed output size would be zero or negative)" + context;
      // The usual cause is a channels_first / channels_last mix-up: say so when it would fit.
      const int other_first = last ? 2 : 1;
      bool fits = true;
      for (int j = 0; j < n; ++j) {
        const std::int64_t e = (kernel_size_[j] - 1) * dilation_rate_[j] + 1;
        if (input_shape[other_first + j] < e) fits = false;
      }
      if (fits) message += hint;
      throw ShapeError(message);
    }
    const int a = offset + i;
    p.in[a] = in;
    p.out[a] = g.out;
    p.k[a] = kernel_size_[i];
    p.stride[a] = strides_[i];
    p.dil[a] = dilation_rate_[i];
    p.pad[a] = g.pad_before;
  }
  for (int a = 0; a < 3; ++a) {
    p.spatial_in *= p.in[a];
    p.spatial_out *= p.out[a];
    p.taps *= p.k[a];
  }
  std::vector<std::int64_t> out_dims = input_shape.to_vector();
  for (int i = 0; i < n; ++i) out_dims[static_cast<std::size_t>(first + i)] = p.out[offset + i];
  out_dims[last ? static_cast<std::size_t>(n + 1) : 1] = filters_;
  p.output_shape = Shape(out_dims);
  return p;
}

Shape ConvLayer::compute_output_shape(const Shape& input_shape) const {
  return plan(input_shape).output_shape;
}

void ConvLayer::build(const Shape& input_shape, Rng& rng) {
  const Plan p = plan(input_shape);  // a built layer rejects another channel count here
  if (built()) return;
  std::vector<std::int64_t> dims = kernel_size_;
  dims.push_back(p.channels);
  dims.push_back(filters_);
  const Shape shape(dims);
  const std::int64_t k = shape.elements() / (p.channels * filters_);  // prod(kernel_size)
  const std::int64_t max_int = std::numeric_limits<int>::max();
  if (k * p.channels > max_int) {
    throw ShapeError(std::string(class_name_) + ": kernel " + shape.to_string() +
                     " is too large (prod(kernel_size) * in_channels must fit in an int for BLAS)");
  }
  check_weight_shape(class_name_, "kernel", shape);
  Tensor value(shape);
  glorot_uniform(value, k * p.channels, k * filters_, rng);
  kernel_.value = std::move(value);
  kernel_.grad = Tensor(shape);
  if (use_bias_) {
    bias_.value = Tensor(Shape{filters_});
    bias_.grad = Tensor(Shape{filters_});
  }
}

std::vector<Parameter*> ConvLayer::parameters() {
  if (!built()) return {};
  if (use_bias_) return {&kernel_, &bias_};
  return {&kernel_};
}

Tensor ConvLayer::forward(const Tensor& input) const {
  const Plan p = plan(input.shape());
  if (!built()) {
    std::string message(class_name_);
    message += ": the layer is not built: call build(input_shape, rng) (or load weights) before forward";
    throw Error(message);
  }
  Tensor output(p.output_shape);
  const std::int64_t R = p.rows();
  if (R == 0) return output;
  const bool last = p.format == DataFormat::kChannelsLast;
  const std::int64_t C = p.channels;
  const std::int64_t K = p.cols();
  const std::int64_t F = p.filters;

  Buffer x_last;
  const float* x = input.data();
  if (!last) {
    x_last = uninitialized(input.size());
    transpose_items(input.data(), x_last.get(), p.batch, C, p.spatial_in);
    x = x_last.get();
  }
  Buffer y_last;
  float* y = output.data();
  if (!last) {
    y_last = uninitialized(output.size());
    y = y_last.get();
  }

  const int threads = std::max(1, omp_get_max_threads());
  const std::int64_t budget_rows = std::max(kMinTileRows, kColsBudget / K);
  const std::int64_t balance_rows = (R + 4 * threads - 1) / (4 * threads);
  const std::int64_t tile = std::min(R, std::min(budget_rows, std::max(kMinTileRows, balance_rows)));
  const std::int64_t tiles = (R + tile - 1) / tile;
  const bool identity = p.identity_cols();
  const int workers = R * K * F < kParallelWork
                          ? 1
                          : static_cast<int>(std::min<std::int64_t>(threads, tiles));
  std::vector<float> scratch(identity ? 0 : static_cast<std::size_t>(workers * tile * K));
  const float* w = kernel_.value.data();
  const float* bias = use_bias_ ? bias_.value.data() : nullptr;
  const ActivationKind act = activation_;

#pragma omp parallel for schedule(static) num_threads(workers) if (workers > 1)
  for (std::int64_t t = 0; t < tiles; ++t) {
    const std::int64_t r0 = t * tile;
    const std::int64_t r1 = std::min(R, r0 + tile);
    const std::int64_t m = r1 - r0;
    const float* a = x + r0 * C;
    if (!identity) {
      float* cols = scratch.data() + static_cast<std::int64_t>(omp_get_thread_num()) * tile * K;
      im2col(p, x, r0, r1, cols);
      a = cols;
    }
    float* out = y + r0 * F;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, to_blas(m), to_blas(F), to_blas(K),
                1.0f, a, to_blas(K), w, to_blas(F), 0.0f, out, to_blas(F));
    if (bias != nullptr) {
      for (std::int64_t r = 0; r < m; ++r)
        for (std::int64_t f = 0; f < F; ++f) out[r * F + f] += bias[f];
    }
    if (last && act != ActivationKind::kLinear) {
      activation_forward(act, std::span<float>(out, static_cast<std::size_t>(m * F)), F);
    }
  }

  if (!last) {
    transpose_items(y_last.get(), output.data(), p.batch, p.spatial_out, F);
    activate_items(act, output.data(), p.batch, p.spatial_out * F, p.out[2]);
  }
  return output;
}

Tensor ConvLayer::backward(const Tensor& input, const Tensor& grad_output) const {
  if (activation_ == ActivationKind::kLinear) {
    if (!built()) (void)forward(input);  // throws "not built" after validating the shape
    return backward_impl(input, Tensor(), grad_output, nullptr, nullptr);
  }
  const Tensor output = forward(input);
  return backward_impl(input, output, grad_output, nullptr, nullptr);
}

Tensor ConvLayer::backward_train(const Tensor& input, const Tensor& output,
                                 const Tensor& grad_output) {
  if (!built()) (void)forward(input);  // throws "not built" after validating the shape
  // Gradients accumulate; a gradient that was never allocated (weights set directly) starts at 0.
  if (!(kernel_.grad.shape() == kernel_.value.shape())) kernel_.grad = Tensor(kernel_.value.shape());
  if (use_bias_ && !(bias_.grad.shape() == bias_.value.shape())) bias_.grad = Tensor(bias_.value.shape());
  return backward_impl(input, output, grad_output, &kernel_.grad,
                       use_bias_ ? &bias_.grad : nullptr);
}

Tensor ConvLayer::backward_impl(const Tensor& input, const Tensor& output,
                                const Tensor& grad_output, Tensor* kernel_grad,
                                Tensor* bias_grad) const {
  const Plan p = plan(input.shape());
  auto check = [&](const Tensor& t, std::string_view what) {
    if (t.shape() == p.output_shape) return;
    std::string message(class_name_);
    message += ": ";
    message += what;
    message += " has shape ";
    message += t.rank() == 0 ? std::string("()") : t.shape().to_string();
    message += ", expected the output shape ";
    message += p.output_shape.to_string();
    message += "; input shape ";
    message += input.shape().to_string();
    message += ", data_format ";
    message += to_string(data_format_);
    throw ShapeError(message);
  };
  check(grad_output, "grad_output");
  const bool linear = activation_ == ActivationKind::kLinear;
  if (!linear) check(output, "output");

  Tensor grad_input(input.shape());
  const std::int64_t R = p.rows();
  if (R == 0) return grad_input;
  const bool last = p.format == DataFormat::kChannelsLast;
  const std::int64_t C = p.channels;
  const std::int64_t K = p.cols();
  const std::int64_t F = p.filters;
  const std::int64_t P = p.spatial_out;

  // dZ, channels_last (rows, F).
  Buffer dz_storage;
  const float* dz = grad_output.data();
  if (last) {
    if (!linear) {
      dz_storage = uninitialized(R * F);
      activation_grad_items(activation_, output.data(), grad_output.data(), dz_storage.get(),
                            p.batch, P * F, F);
      dz = dz_storage.get();
    }
  } else {
    Buffer dz_first;
    const float* src = grad_output.data();
    if (!linear) {
      dz_first = uninitialized(R * F);
      activation_grad_items(activation_, output.data(), grad_output.data(), dz_first.get(),
                            p.batch, P * F, p.out[2]);
      src = dz_first.get();
    }
    dz_storage = uninitialized(R * F);
    transpose_items(src, dz_storage.get(), p.batch, F, P);
    dz = dz_storage.get();
  }

  Buffer x_last;
  const float* x = input.data();
  Tensor gx_last;
  float* gx = grad_input.data();
  if (!last) {
    x_last = uninitialized(input.size());
    transpose_items(input.data(), x_last.get(), p.batch, C, p.spatial_in);
    x = x_last.get();
    gx_last = Tensor(Shape{p.batch, p.spatial_in, C});
    gx = gx_last.data();
  }

  // Batch groups: the unit of parallel work and of the parameter-gradient partials.
  const int threads = std::max(1, omp_get_max_threads());
  std::int64_t groups = std::min<std::int64_t>(p.batch, std::max<std::int64_t>(kMinGroups, threads));
  if (kernel_grad != nullptr) groups = std::min(groups, std::max<std::int64_t>(1, kPartialBudget / (K * F)));
  const std::int64_t max_group_rows = ((p.batch + groups - 1) / groups) * P;
  const std::int64_t tile = std::min(max_group_rows, std::max(kMinTileRows, kColsBudget / K));
  const bool identity = p.identity_cols();
  const int workers = R * K * F < kParallelWork
                          ? 1
                          : static_cast<int>(std::min<std::int64_t>(threads, groups));
  const std::size_t per_worker = static_cast<std::size_t>(identity ? 0 : 2 * tile * K);
  std::vector<float> scratch(static_cast<std::size_t>(workers) * per_worker);
  std::vector<float> dw_partial(kernel_grad != nullptr ? static_cast<std::size_t>(groups * K * F) : 0);
  std::vector<double> db_partial(bias_grad != nullptr ? static_cast<std::size_t>(groups * F) : 0, 0.0);
  const float* w = kernel_.value.data();

#pragma omp parallel for schedule(dynamic, 1) num_threads(workers) if (workers > 1)
  for (std::int64_t g = 0; g < groups; ++g) {
    const std::int64_t b0 = g * p.batch / groups;
    const std::int64_t b1 = (g + 1) * p.batch / groups;
    float* cols = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * per_worker;
    float* dcols = cols + (identity ? 0 : tile * K);
    float* dw = kernel_grad != nullptr ? dw_partial.data() + g * K * F : nullptr;
    double* db = bias_grad != nullptr ? db_partial.data() + g * F : nullptr;
    bool first = true;
    for (std::int64_t r0 = b0 * P; r0 < b1 * P; r0 += tile) {
      const std::int64_t r1 = std::min(b1 * P, r0 + tile);
      const std::int64_t m = r1 - r0;
      const float* dzt = dz + r0 * F;
      const float* a = x + r0 * C;
      if (!identity && dw != nullptr) {
        im2col(p, x, r0, r1, cols);
        a = cols;
      }
      if (dw != nullptr) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, to_blas(K), to_blas(F), to_blas(m),
                    1.0f, a, to_blas(K), dzt, to_blas(F), first ? 0.0f : 1.0f, dw, to_blas(F));
      }
      if (db != nullptr) {
        for (std::int64_t r = 0; r < m; ++r)
          for (std::int64_t f = 0; f < F; ++f) db[f] += static_cast<double>(dzt[r * F + f]);
      }
      if (identity) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, to_blas(m), to_blas(K), to_blas(F),
                    1.0f, dzt, to_blas(F), w, to_blas(F), 0.0f, gx + r0 * C, to_blas(C));
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, to_blas(m), to_blas(K), to_blas(F),
                    1.0f, dzt, to_blas(F), w, to_blas(F), 0.0f, dcols, to_blas(K));
        col2im(p, dcols, r0, r1, gx);
      }
      first = false;
    }
    if (dw != nullptr && first) std::fill(dw, dw + K * F, 0.0f);  // an empty group
  }

  // Parameter gradients: the group partials in group order.
  if (kernel_grad != nullptr) {
    float* kg = kernel_grad->data();
    const std::int64_t n = K * F;
#pragma omp parallel for schedule(static) if (n * groups > 65536)
    for (std::int64_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (std::int64_t g = 0; g < groups; ++g) s += static_cast<double>(dw_partial[static_cast<std::size_t>(g * n + i)]);
      kg[i] += static_cast<float>(s);
    }
  }
  if (bias_grad != nullptr) {
    float* bg = bias_grad->data();
    for (std::int64_t f = 0; f < F; ++f) {
      double s = 0.0;
      for (std::int64_t g = 0; g < groups; ++g) s += db_partial[static_cast<std::size_t>(g * F + f)];
      bg[f] += static_cast<float>(s);
    }
  }

  if (!last) transpose_items(gx_last.data(), grad_input.data(), p.batch, p.spatial_in, C);
  return grad_input;
}

nlohmann::json ConvLayer::get_config() const {
  nlohmann::json config = {
      {"name", name()},
      {"trainable", kernel_.trainable},
      {"dtype", "float32"},
      {"filters", filters_},
      {"kernel_size", kernel_size_},
      {"strides", strides_},
      {"padding", to_string(padding_)},
      {"data_format", to_string(data_format_)},
      {"dilation_rate", dilation_rate_},
      {"groups", 1},
      {"activation", to_string(activation_)},
      {"use_bias", use_bias_},
      {"activity_regularizer", nullptr},
  };
  config.update(keras::weight_config_json());
  return config;
}

}  // namespace poolnet

// ---- Keras configs --------------------------------------------------------------------------

namespace poolnet::keras {
namespace {

template <typename LayerT>
std::unique_ptr<Layer> make_conv(const Json& config) {
  const ConfigReader read(LayerT::kClassName, config,
                          with_weight_config_keys({"filters", "kernel_size", "strides", "padding",
                                                   "data_format", "dilation_rate", "groups",
                                                   "activation", "use_bias"}));
  const int n = LayerT::kSpatialRank;
  const std::int64_t groups = read.integer("groups", 1);
  if (groups != 1) {
    read.fail("groups " + std::to_string(groups) + " is not supported (only groups=1)");
  }
  read.check_default_weight_settings();
  auto layer = std::make_unique<LayerT>(
      read.integer("filters", std::nullopt), read.int_or_tuple("kernel_size", n, std::nullopt),
      read.int_or_tuple("strides", n, IntOrTuple(1)), read.string("padding", "valid"),
      read.data_format(), read.int_or_tuple("dilation_rate", n, IntOrTuple(1)),
      read.optional_string("activation").value_or("linear"), read.boolean("use_bias", true));
  read.apply_name(*layer);
  const bool trainable = read.boolean("trainable", true);
  layer->kernel().trainable = trainable;
  layer->bias().trainable = trainable;
  return layer;
}

}  // namespace

void register_conv_layers(FactoryTable& table) {
  table.emplace("Conv1D", make_conv<Conv1D>);
  table.emplace("Conv2D", make_conv<Conv2D>);
  table.emplace("Conv3D", make_conv<Conv3D>);
}

}  // namespace poolnet::keras
