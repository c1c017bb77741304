// The pooling engine: one N-dimensional (N = 1, 2, 3) pooling operator behind all twelve Keras
// pooling layers. The contract is docs/SEMANTICS.md.
//
//   PoolSpec  what to compute (op, window, strides, padding, layout), independent of input size;
//   PoolPlan  the spec resolved against one input shape: validated, output shape and padding known;
//   pool_forward / pool_backward  run a plan on raw float buffers (or Tensors).
//
// plan_pooling() is the only place that validates and computes geometry; kernels trust a plan.
// Kernels are chosen per call through PoolBackend: the reference (plain loops that read like the
// specification, kept forever as the oracle) and, later, fast kernels behind the same signature.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "poolnet/tensor.hpp"

namespace poolnet {

enum class PoolOp { kMax, kAverage };
enum class Padding { kValid, kSame };
enum class DataFormat { kChannelsLast, kChannelsFirst };

std::string_view to_string(PoolOp op);          // "max", "average"
std::string_view to_string(Padding padding);    // "valid", "same"
std::string_view to_string(DataFormat format);  // "channels_last", "channels_first"

// Keras spellings, case-insensitive as in Keras ("VALID" is accepted, "full" is not).
// Throw ArgumentError naming the value and the accepted ones.
Padding parse_padding(std::string_view text);
DataFormat parse_data_format(std::string_view text);

inline constexpr int kMaxSpatialRank = 3;

// The name of spatial axis `axis` (0-based) in messages: "steps" (rank 1); "rows", "cols"
// (rank 2); "depth", "rows", "cols" (rank 3).
std::string_view spatial_axis_name(int spatial_rank, int axis);

// What to compute. For global pooling, window/strides/padding are ignored: the window is the
// whole spatial extent, and max pooling's gradient is split evenly among tied maxima (Keras's
// reduce_max gradient) instead of going to the first maximum (SEMANTICS.md sections 4 and 6).
struct PoolSpec {
  PoolOp op = PoolOp::kMax;
  int spatial_rank = 2;               // 1, 2 or 3
  bool global = false;
  std::vector<std::int64_t> window;   // spatial_rank entries, each > 0
  std::vector<std::int64_t> strides;  // spatial_rank entries, each > 0
  Padding padding = Padding::kValid;
  DataFormat data_format = DataFormat::kChannelsLast;
};

// One spatial axis of a plan. Output index j covers input positions
// [j*stride - pad_before, j*stride - pad_before + window - 1] clipped to [0, in - 1].
struct AxisGeometry {
  std::int64_t in = 1;
  std::int64_t window = 1;
  std::int64_t stride = 1;
  std::int64_t out = 1;
  std::int64_t pad_before = 0;
  std::int64_t pad_after = 0;

  // Inline: the kernels' drivers call them for every output row.
  std::int64_t window_begin(std::int64_t j) const {  // first real input position, clipped
    const std::int64_t start = j * stride - pad_before;
    return start > 0 ? start : 0;
  }
  std::int64_t window_end(std::int64_t j) const {  // one past the last real input position
    const std::int64_t end = j * stride - pad_before + window;
    return end < in ? end : in;
  }
};

// Output length and padding of one axis (SEMANTICS.md section 3). Arguments must be positive
// except `in` (>= 0); returns out <= 0 for 'valid' windows larger than the input; the caller
// (plan_pooling) turns that into an error with the full context.
AxisGeometry compute_axis_geometry(std::int64_t in, std::int64_t window, std::int64_t stride,
                                   Padding padding);

// A spec resolved against one input shape. Spatial axes are stored right-aligned in `axes`
// (a 1D plan has axes[0] = axes[1] = {in 1, window 1, stride 1, out 1}), so one loop nest over
// (depth, rows, cols) serves every rank.
struct PoolPlan {
  PoolSpec spec;
  Shape input_shape;
  Shape output_shape;  // same layout and rank as the input (global pooling: spatial dims are 1)
  std::int64_t batch = 0;
  std::int64_t channels = 0;
  std::array<AxisGeometry, kMaxSpatialRank> axes;

  std::int64_t spatial_in() const;   // product of axes[i].in
  std::int64_t spatial_out() const;  // product of axes[i].out
};

// Largest pool_size / strides entry accepted (TensorFlow keeps them in int32); keeps all geometry
// arithmetic far from int64 overflow.
inline constexpr std::int64_t kMaxPoolArgument = 2147483647;

// Checks what a spec alone can get wrong (spatial rank, tuple lengths, entries > 0 and not above
// kMaxPoolArgument). Throws ArgumentError; the message starts with `context`.
void validate_pool_spec(const PoolSpec& spec, std::string_view context = "pooling");

// Validates `spec` and `input_shape` together and computes the geometry. Throws ArgumentError for
// a bad spec and ShapeError for a shape that does not fit it; messages start with `context`
// (e.g. the layer's class name) and name the argument, its value, the input shape and data_format.
PoolPlan plan_pooling(const PoolSpec& spec, const Shape& input_shape,
                      std::string_view context = "pooling");

enum class PoolBackend {
  kAuto,       // the fastest kernel that supports the plan
  kReference,  // plain loops; the oracle every other kernel is tested against
  kFast,       // the threaded SIMD kernels (src/pooling/fast.cpp, simd_kernels.cpp)
};

// output: plan.output_shape.elements() floats. Never fails on a valid plan. Buffers of any
// alignment work; 64-byte aligned ones (as Tensor's) are faster: 16 bytes off, (32,112,112,64)
// 2x2/2 took 4.9-5.2 ms instead of 3.8-4.2 ms on 2 threads (vector loads split across cache
// lines, and the output cannot take non-temporal stores).
void pool_forward(const PoolPlan& plan, const float* input, float* output,
                  PoolBackend backend = PoolBackend::kAuto);

// Gradient of sum(output * grad_output) with respect to the input; grad_input is overwritten
// (plan.input_shape.elements() floats). Max pooling reads `input` to find the maxima.
void pool_backward(const PoolPlan& plan, const float* input, const float* grad_output,
                   float* grad_input, PoolBackend backend = PoolBackend::kAuto);

// Training: windowed max pooling saves where each maximum came from, so that backward only
// scatters (no search, no input read). The argmax holds, per output element and in the output's
// layout, the index of the selected cell in its window: row-major over the full pool_size window,
// padding positions included, the first maximum (the first NaN when there is one), as
// argmax_bytes(plan) little-endian bytes: 1 for windows of at most 255 cells, 2 up to 65535, else 4.
// Both throw ArgumentError for a plan that is not windowed max pooling.
std::size_t argmax_bytes(const PoolPlan& plan);
void pool_forward_argmax(const PoolPlan& plan, const float* input, float* output,
                         std::uint8_t* argmax, PoolBackend backend = PoolBackend::kAuto);
// Same result as pool_backward() on the input the argmax was saved from.
void pool_backward_argmax(const PoolPlan& plan, const std::uint8_t* argmax,
                          const float* grad_output, float* grad_input,
                          PoolBackend backend = PoolBackend::kAuto);

// The instruction set the SIMD kernels run on this CPU (chosen at run time), e.g. "AVX3".
std::string_view pool_simd_target();

// Tensor conveniences: check that the tensors' shapes match the plan (ShapeError otherwise).
Tensor pool_forward(const PoolPlan& plan, const Tensor& input,
                    PoolBackend backend = PoolBackend::kAuto);
Tensor pool_backward(const PoolPlan& plan, const Tensor& input, const Tensor& grad_output,
                     PoolBackend backend = PoolBackend::kAuto);

}  // namespace poolnet
