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

// Tiles of at most max_tile rows that split `rows` evenly (968 rows with at most 910 a tile:
// two of 484, not 910 + 58, whose small GEMM runs at a fraction of the speed).
std::int64_t even_tile(std::int64_t rows, std::int64_t max_tile) {
  max_tile = std::max<std::int64_t>(1, std::min(rows, max_tile));
  const std::int64_t tiles = (rows + max_tile - 1) / max_tile;
  return std::max<std::int64_t>(1, (rows + tiles - 1) / tiles);
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
  // Messages are built only on the error paths: a training step plans every call and must not
  // allocate.
  const auto where = [&] { return std::string(class_name_) + ": "; };
  const auto context = [&] {
    return "; input shape " + input_shape.to_string() + ", data_format " +
           std::string(to_string(data_format_));
  };
  const int n = spatial_rank_;
  if (input_shape.rank() != n + 2) {
    throw ShapeError(where() + "input must have rank " + std::to_string(n + 2) + " (batch, " +
                     std::to_string(n) + " spatial, channels), got rank " +
                     std::to_string(input_shape.rank()) + context());
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
  const auto hint = [&] { return ". Is the input in data_format " + std::string(to_string(other)) + "?"; };

  if (p.channels == 0) {
    throw ShapeError(where() + "input has 0 channels: a convolution needs at least one" + context());
  }
  if (built()) {
    // The weights may have been replaced (loaded): they must still fit the layer's arguments.
    bool kernel_ok = kernel_.value.rank() == n + 2 && kernel_.value.dim(n) > 0 &&
                     kernel_.value.dim(n + 1) == filters_;
    for (int i = 0; kernel_ok && i < n; ++i)
      kernel_ok = kernel_.value.dim(i) == kernel_size_[static_cast<std::size_t>(i)];
    const bool bias_ok = !use_bias_ || (bias_.value.rank() == 1 && bias_.value.dim(0) == filters_);
    if (!kernel_ok || !bias_ok) {
      std::string message = where() + "weights do not fit the layer: kernel shape " +
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
      std::string message = where() + "input has " + std::to_string(p.channels) +
                            " channels but the layer was built for " +
                            std::to_string(built_channels) + " (kernel shape " +
                            kernel_.value.shape().to_string() + ")" + context();
      if (other_channels == built_channels) message += hint();
      throw ShapeError(message);
    }
  }
  for (int i = 0; i < n; ++i) {
    const std::int64_t in = input_shape[first + i];
    if (in == 0) {
      throw ShapeError(where() + "input " + std::string(spatial_axis_name(n, i)) +
                       " is 0: a convolution needs at least one element in every spatial dimension" +
                       context());
    }
    const std::int64_t extent = (kernel_size_[i] - 1) * dilation_rate_[i] + 1;
    const AxisGeometry g = compute_axis_geometry(in, extent, strides_[i], padding_);
    if (g.out <= 0) {
      std::string message = where() + "kernel_size " + dims_to_string(kernel_size_) +
                            " with dilation_rate " + dims_to_string(dilation_rate_) +
                            " does not fit the input with padding 'valid': dilated kernel extent " +
                            std::to_string(extent) + " > input " + std::string(spatial_axis_name(n, i)) +
                            " " + std::to_string(in) +
                            " (computed output size would be zero or negative)" + context();
      // The usual cause is a channels_first / channels_last mix-up: say so when it would fit.
      const int other_first = last ? 2 : 1;
      bool fits = true;
      for (int j = 0; j < n; ++j) {
        const std::int64_t e = (kernel_size_[j] - 1) * dilation_rate_[j] + 1;
        if (input_shape[other_first + j] < e) fits = false;
      }
      if (fits) message += hint();
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
  std::array<std::int64_t, kMaxRank> out_dims{};
  for (int i = 0; i < input_shape.rank(); ++i) out_dims[static_cast<std::size_t>(i)] = input_shape[i];
  for (int i = 0; i < n; ++i) out_dims[static_cast<std::size_t>(first + i)] = p.out[offset + i];
  out_dims[last ? static_cast<std::size_t>(n + 1) : 1] = filters_;
  p.output_shape = Shape(std::span<const std::int64_t>(out_dims.data(), static_cast<std::size_t>(n + 2)));
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

namespace {

// At least n floats of `v` (grown, never shrunk: training steps reuse it).
float* grow(std::vector<float>& v, std::int64_t n) {
  if (v.size() < static_cast<std::size_t>(n)) v.resize(static_cast<std::size_t>(n));
  return v.data();
}
double* grow(std::vector<double>& v, std::int64_t n) {
  if (v.size() < static_cast<std::size_t>(n)) v.resize(static_cast<std::size_t>(n));
  return v.data();
}

}  // namespace

void ConvLayer::check_built() const {
  if (built()) return;
  std::string message(class_name_);
  message += ": the layer is not built: call build(input_shape, rng) (or load weights) before forward";
  throw Error(message);
}

Tensor ConvLayer::forward(const Tensor& input) const {
  const Plan p = plan(input.shape());
  check_built();
  Tensor output(p.output_shape);
  Scratch scratch;  // per call: forward() is const and may run on several threads at once
  forward_impl(p, input.data(), output.data(), scratch);
  return output;
}

void ConvLayer::forward_into(const Tensor& input, Tensor& output) const {
  const Plan p = plan(input.shape());
  check_built();
  output.resize(p.output_shape);
  Scratch scratch;
  forward_impl(p, input.data(), output.data(), scratch);
}

void ConvLayer::forward_train_into(const Tensor& input, Tensor& output, Rng& rng) {
  (void)rng;
  const Plan p = plan(input.shape());
  check_built();
  output.resize(p.output_shape);
  forward_impl(p, input.data(), output.data(), scratch_);
}

void ConvLayer::forward_impl(const Plan& p, const float* input, float* output, Scratch& s) const {
  const std::int64_t R = p.rows();
  if (R == 0) return;
  const bool last = p.format == DataFormat::kChannelsLast;
  const std::int64_t C = p.channels;
  const std::int64_t K = p.cols();
  const std::int64_t F = p.filters;

  const float* x = input;
  float* y = output;
  if (!last) {
    float* x_last = grow(s.x_last, p.batch * p.spatial_in * C);
    transpose_items(input, x_last, p.batch, C, p.spatial_in);
    x = x_last;
    y = grow(s.y_last, R * F);
  }

  const int threads = std::max(1, omp_get_max_threads());
  const std::int64_t budget_rows = std::max(kMinTileRows, kColsBudget / K);
  const std::int64_t balance_rows = (R + 4 * threads - 1) / (4 * threads);
  const std::int64_t tile = even_tile(R, std::min(budget_rows, std::max(kMinTileRows, balance_rows)));
  const std::int64_t tiles = (R + tile - 1) / tile;
  const bool identity = p.identity_cols();
  const int workers = R * K * F < kParallelWork
                          ? 1
                          : static_cast<int>(std::min<std::int64_t>(threads, tiles));
  float* scratch = identity ? nullptr : grow(s.cols, workers * tile * K);
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
      float* cols = scratch + static_cast<std::int64_t>(omp_get_thread_num()) * tile * K;
      im2col(p, x, r0, r1, cols);
      a = cols;
    }
    float* out = y + r0 * F;
    // The bias goes in first and the GEMM adds to it (beta 1): with beta 0 OpenBLAS would
    // spend a pass zeroing the tile, and the bias would need another.
    float beta = 0.0f;
    if (bias != nullptr) {
      for (std::int64_t r = 0; r < m; ++r) std::copy_n(bias, F, out + r * F);
      beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, to_blas(m), to_blas(F), to_blas(K),
                1.0f, a, to_blas(K), w, to_blas(F), beta, out, to_blas(F));
    if (last && act != ActivationKind::kLinear) {
      activation_forward(act, std::span<float>(out, static_cast<std::size_t>(m * F)), F);
    }
  }

  if (!last) {
    transpose_items(y, output, p.batch, p.spatial_out, F);
    activate_items(act, output, p.batch, p.spatial_out * F, p.out[2]);
  }
}

Tensor ConvLayer::backward(const Tensor& input, const Tensor& grad_output) const {
  const Plan p = plan(input.shape());
  check_built();
  Scratch scratch;
  Tensor output;
  if (activation_ != ActivationKind::kLinear) {
    output = Tensor(p.output_shape);
    forward_impl(p, input.data(), output.data(), scratch);
  }
  Tensor grad_input(input.shape());
  backward_impl(p, input, output, grad_output, grad_input.data(), nullptr, nullptr, scratch);
  return grad_input;
}

void ConvLayer::backward_train_into(const Tensor& input, const Tensor& output,
                                    const Tensor& grad_output, Tensor* grad_input) {
  const Plan p = plan(input.shape());
  check_built();
  // Gradients accumulate; a gradient that was never allocated (weights set directly) starts at 0.
  if (!(kernel_.grad.shape() == kernel_.value.shape())) kernel_.grad = Tensor(kernel_.value.shape());
  if (use_bias_ && !(bias_.grad.shape() == bias_.value.shape())) bias_.grad = Tensor(bias_.value.shape());
  float* gx = nullptr;
  if (grad_input != nullptr) {
    grad_input->resize(input.shape());
    gx = grad_input->data();
  }
  backward_impl(p, input, output, grad_output, gx, &kernel_.grad, use_bias_ ? &bias_.grad : nullptr,
                scratch_);
}

void ConvLayer::backward_impl(const Plan& p, const Tensor& input, const Tensor& output,
                              const Tensor& grad_output, float* grad_input, Tensor* kernel_grad,
                              Tensor* bias_grad, Scratch& s) const {
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

  const std::int64_t R = p.rows();
  const bool last = p.format == DataFormat::kChannelsLast;
  const std::int64_t C = p.channels;
  const std::int64_t K = p.cols();
  const std::int64_t F = p.filters;
  const std::int64_t P = p.spatial_out;
  const std::int64_t item_in = p.spatial_in * C;
  if (R == 0) {
    if (grad_input != nullptr) std::fill(grad_input, grad_input + p.batch * item_in, 0.0f);
    return;
  }

  // dZ, channels_last (rows, F). channels_last with an activation computes it per tile below,
  // right before the GEMMs read it (one pass over the output less, and the tile stays in cache).
  const float* dz = grad_output.data();
  const bool tile_dz = last && !linear;
  if (!last) {
    const float* src = grad_output.data();
    if (!linear) {
      float* d = grow(s.dz_first, R * F);
      activation_grad_items(activation_, output.data(), grad_output.data(), d, p.batch, P * F,
                            p.out[2]);
      src = d;
    }
    float* d = grow(s.dz, R * F);
    transpose_items(src, d, p.batch, F, P);
    dz = d;
  }

  const float* x = input.data();
  float* gx = grad_input;
  if (!last) {
    float* x_last = grow(s.x_last, p.batch * item_in);
    transpose_items(input.data(), x_last, p.batch, C, p.spatial_in);
    x = x_last;
    if (grad_input != nullptr) gx = grow(s.gx_last, p.batch * item_in);
  }

  // Batch groups: the unit of parallel work and of the parameter-gradient partials.
  const int threads = std::max(1, omp_get_max_threads());
  std::int64_t groups = std::min<std::int64_t>(p.batch, std::max<std::int64_t>(kMinGroups, threads));
  if (kernel_grad != nullptr) groups = std::min(groups, std::max<std::int64_t>(1, kPartialBudget / (K * F)));
  const std::int64_t max_group_rows = ((p.batch + groups - 1) / groups) * P;
  const std::int64_t tile = even_tile(max_group_rows, std::max(kMinTileRows, kColsBudget / K));
  const bool identity = p.identity_cols();
  const int workers = R * K * F < kParallelWork
                          ? 1
                          : static_cast<int>(std::min<std::int64_t>(threads, groups));
  const std::int64_t per_worker = (identity ? 0 : 2 * tile * K) + (tile_dz ? tile * F : 0);
  float* scratch = per_worker == 0 ? nullptr : grow(s.cols, workers * per_worker);
  float* dw_partial = kernel_grad != nullptr ? grow(s.dw_partial, groups * K * F) : nullptr;
  double* db_partial = bias_grad != nullptr ? grow(s.db_partial, groups * F) : nullptr;
  const float* w = kernel_.value.data();

#pragma omp parallel for schedule(dynamic, 1) num_threads(workers) if (workers > 1)
  for (std::int64_t g = 0; g < groups; ++g) {
    const std::int64_t b0 = g * p.batch / groups;
    const std::int64_t b1 = (g + 1) * p.batch / groups;
    float* mine = scratch == nullptr ? nullptr
                                     : scratch + static_cast<std::int64_t>(omp_get_thread_num()) * per_worker;
    float* cols = identity ? nullptr : mine;
    float* dcols = identity ? nullptr : mine + tile * K;
    float* dz_tile = tile_dz ? mine + (identity ? 0 : 2 * tile * K) : nullptr;
    float* dw = dw_partial != nullptr ? dw_partial + g * K * F : nullptr;
    double* db = db_partial != nullptr ? db_partial + g * F : nullptr;
    if (db != nullptr) std::fill(db, db + F, 0.0);
    // col2im adds into the group's slice of the input gradient.
    if (gx != nullptr && !identity) std::fill(gx + b0 * item_in, gx + b1 * item_in, 0.0f);
    bool first = true;
    for (std::int64_t r0 = b0 * P; r0 < b1 * P; r0 += tile) {
      const std::int64_t r1 = std::min(b1 * P, r0 + tile);
      const std::int64_t m = r1 - r0;
      const float* dzt = dz + r0 * F;
      if (tile_dz) {
        const auto n = static_cast<std::size_t>(m * F);
        activation_backward(activation_, std::span<const float>(output.data() + r0 * F, n),
                            std::span<const float>(grad_output.data() + r0 * F, n),
                            std::span<float>(dz_tile, n), F);
        dzt = dz_tile;
      }
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
      if (gx != nullptr) {
        if (identity) {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, to_blas(m), to_blas(K), to_blas(F),
                      1.0f, dzt, to_blas(F), w, to_blas(F), 0.0f, gx + r0 * C, to_blas(C));
        } else {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, to_blas(m), to_blas(K), to_blas(F),
                      1.0f, dzt, to_blas(F), w, to_blas(F), 0.0f, dcols, to_blas(K));
          col2im(p, dcols, r0, r1, gx);
        }
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
      double sum = 0.0;
      for (std::int64_t g = 0; g < groups; ++g) sum += static_cast<double>(dw_partial[g * n + i]);
      kg[i] += static_cast<float>(sum);
    }
  }
  if (bias_grad != nullptr) {
    float* bg = bias_grad->data();
    for (std::int64_t f = 0; f < F; ++f) {
      double sum = 0.0;
      for (std::int64_t g = 0; g < groups; ++g) sum += db_partial[g * F + f];
      bg[f] += static_cast<float>(sum);
    }
  }

  if (!last && grad_input != nullptr) transpose_items(gx, grad_input, p.batch, p.spatial_in, C);
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
