// Validation and geometry: the one place that decides output shapes and padding.
#include <algorithm>
#include <cctype>
#include <sstream>

#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"

namespace poolnet {
namespace {

std::string lower(std::string_view text) {
  std::string s(text);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Spatial dims of `shape` for a layout (shape rank must be spatial_rank + 2).
std::vector<std::int64_t> spatial_dims(const Shape& shape, int spatial_rank, DataFormat format) {
  std::vector<std::int64_t> dims;
  const int first = format == DataFormat::kChannelsLast ? 1 : 2;
  for (int i = 0; i < spatial_rank; ++i) dims.push_back(shape[first + i]);
  return dims;
}

bool valid_window_fits(const std::vector<std::int64_t>& in, const std::vector<std::int64_t>& window) {
  for (std::size_t i = 0; i < in.size(); ++i)
    if (in[i] < window[i]) return false;
  return true;
}

}  // namespace

std::string_view spatial_axis_name(int spatial_rank, int axis) {
  static constexpr std::string_view k1[] = {"steps"};
  static constexpr std::string_view k2[] = {"rows", "cols"};
  static constexpr std::string_view k3[] = {"depth", "rows", "cols"};
  switch (spatial_rank) {
    case 1: return k1[axis];
    case 2: return k2[axis];
    default: return k3[axis];
  }
}

std::string_view to_string(PoolOp op) { return op == PoolOp::kMax ? "max" : "average"; }
std::string_view to_string(Padding padding) {
  return padding == Padding::kValid ? "valid" : "same";
}
std::string_view to_string(DataFormat format) {
  return format == DataFormat::kChannelsLast ? "channels_last" : "channels_first";
}

Padding parse_padding(std::string_view text) {
  const std::string s = lower(text);
  if (s == "valid") return Padding::kValid;
  if (s == "same") return Padding::kSame;
  throw ArgumentError("padding must be 'valid' or 'same', got " + quoted(text));
}

DataFormat parse_data_format(std::string_view text) {
  const std::string s = lower(text);
  if (s == "channels_last") return DataFormat::kChannelsLast;
  if (s == "channels_first") return DataFormat::kChannelsFirst;
  throw ArgumentError("data_format must be 'channels_first' or 'channels_last', got " +
                      quoted(text));
}

AxisGeometry compute_axis_geometry(std::int64_t in, std::int64_t window, std::int64_t stride,
                                   Padding padding) {
  AxisGeometry g;
  g.in = in;
  g.window = window;
  g.stride = stride;
  if (padding == Padding::kValid) {
    // floor((in - k) / s) + 1, written so that in < k gives out <= 0 (C++ division truncates).
    g.out = in >= window ? (in - window) / stride + 1 : 0;
  } else {
    g.out = (in + stride - 1) / stride;  // ceil(in / s)
    // pad_total = max((out - 1) * s + k - in, 0); the odd cell goes at the end (TensorFlow).
    const std::int64_t pad_total = std::max<std::int64_t>((g.out - 1) * stride + window - in, 0);
    g.pad_before = pad_total / 2;
    g.pad_after = pad_total - g.pad_before;
  }
  return g;
}

std::int64_t PoolPlan::spatial_in() const {
  std::int64_t n = 1;
  for (const AxisGeometry& a : axes) n *= a.in;
  return n;
}

std::int64_t PoolPlan::spatial_out() const {
  std::int64_t n = 1;
  for (const AxisGeometry& a : axes) n *= a.out;
  return n;
}

void validate_pool_spec(const PoolSpec& spec, std::string_view context) {
  const std::string where = std::string(context) + ": ";
  const int n = spec.spatial_rank;
  if (n < 1 || n > kMaxSpatialRank) {
    throw ArgumentError(where + "spatial rank must be 1, 2 or 3, got " + std::to_string(n));
  }
  if (spec.global) return;  // the window is the input; pool_size and strides are not used
  const std::pair<const char*, const std::vector<std::int64_t>*> args[] = {
      {"pool_size", &spec.window}, {"strides", &spec.strides}};
  for (const auto& [arg, values] : args) {
    if (static_cast<int>(values->size()) != n) {
      throw ArgumentError(where + arg + " must be an int or a tuple of " + std::to_string(n) +
                          " ints, got " + dims_to_string(*values));
    }
    for (std::int64_t v : *values) {
      if (v <= 0) {
        throw ArgumentError(where + arg + " must be > 0 in every dimension, got " +
                            dims_to_string(*values));
      }
      if (v > kMaxPoolArgument) {
        throw ArgumentError(where + arg + " must be <= " + std::to_string(kMaxPoolArgument) +
                            " in every dimension, got " + dims_to_string(*values));
      }
    }
  }
}

PoolPlan plan_pooling(const PoolSpec& spec, const Shape& input_shape, std::string_view context) {
  validate_pool_spec(spec, context);
  const std::string where = std::string(context) + ": ";
  const int n = spec.spatial_rank;

  const std::string shape_context = "; input shape " + input_shape.to_string() +
                                    ", data_format " + std::string(to_string(spec.data_format));
  if (input_shape.rank() != n + 2) {
    throw ShapeError(where + "input must have rank " + std::to_string(n + 2) + " (ndim=" +
                     std::to_string(n + 2) + ": batch, " + std::to_string(n) +
                     " spatial, channels), got rank " + std::to_string(input_shape.rank()) +
                     shape_context);
  }

  PoolPlan plan;
  plan.spec = spec;
  plan.input_shape = input_shape;
  plan.batch = input_shape[0];
  plan.channels = spec.data_format == DataFormat::kChannelsLast ? input_shape[-1] : input_shape[1];
  const std::vector<std::int64_t> in = spatial_dims(input_shape, n, spec.data_format);

  for (int i = 0; i < n; ++i) {
    if (in[i] == 0) {
      throw ShapeError(where + "input " + std::string(spatial_axis_name(n, i)) +
                       " is 0: pooling needs at least one element in every spatial dimension" +
                       shape_context);
    }
  }

  const int offset = kMaxSpatialRank - n;  // right-align: axes[offset + i] is spatial axis i
  for (int i = 0; i < n; ++i) {
    AxisGeometry g = spec.global
                         ? compute_axis_geometry(in[i], in[i], 1, Padding::kValid)
                         : compute_axis_geometry(in[i], spec.window[i], spec.strides[i], spec.padding);
    if (g.out <= 0) {
      std::string message = where + "pool_size " + dims_to_string(spec.window) +
                            " does not fit the input with padding 'valid': pool_size " +
                            std::to_string(spec.window[i]) + " > input " +
                            std::string(spatial_axis_name(n, i)) + " " + std::to_string(in[i]) +
                            " (computed output size would be zero or negative)" + shape_context;
      // The usual cause is a channels_first / channels_last mix-up: say so when the other
      // layout would fit.
      const DataFormat other = spec.data_format == DataFormat::kChannelsLast
                                   ? DataFormat::kChannelsFirst
                                   : DataFormat::kChannelsLast;
      if (valid_window_fits(spatial_dims(input_shape, n, other), spec.window)) {
        message += ". The window would fit with data_format " + std::string(to_string(other)) +
                   ": is the input in that layout?";
      }
      throw ShapeError(message);
    }
    plan.axes[offset + i] = g;
  }

  std::vector<std::int64_t> out_dims = input_shape.to_vector();
  const int first = spec.data_format == DataFormat::kChannelsLast ? 1 : 2;
  for (int i = 0; i < n; ++i) out_dims[first + i] = plan.axes[offset + i].out;
  plan.output_shape = Shape(out_dims);
  return plan;
}

}  // namespace poolnet
