// Kernel dispatch: the seam where fast kernels plug in beside the reference.
#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"
#include "pooling/fast.hpp"
#include "pooling/reference.hpp"
#include "pooling/simd_kernels.hpp"

namespace poolnet {
namespace {

void check_shape(const Tensor& t, const Shape& expected, std::string_view what) {
  if (!(t.shape() == expected)) {
    throw ShapeError("pooling: " + std::string(what) + " has shape " + t.shape().to_string() +
                     ", the plan expects " + expected.to_string());
  }
}

}  // namespace

void pool_forward(const PoolPlan& plan, const float* input, float* output, PoolBackend backend) {
  switch (backend) {
    case PoolBackend::kAuto:
    case PoolBackend::kFast:
      fast::pool_forward(plan, input, output);
      return;
    case PoolBackend::kReference:
      reference::pool_forward(plan, input, output);
      return;
  }
}

void pool_backward(const PoolPlan& plan, const float* input, const float* grad_output,
                   float* grad_input, PoolBackend backend) {
  switch (backend) {
    case PoolBackend::kAuto:
    case PoolBackend::kFast:
      fast::pool_backward(plan, input, grad_output, grad_input);
      return;
    case PoolBackend::kReference:
      reference::pool_backward(plan, input, grad_output, grad_input);
      return;
  }
}

std::size_t argmax_bytes(const PoolPlan& plan) {
  const std::int64_t cells = plan.axes[0].window * plan.axes[1].window * plan.axes[2].window;
  return cells <= 255 ? 1 : cells <= 65535 ? 2 : 4;
}

namespace {
void check_argmax_plan(const PoolPlan& plan, std::string_view function) {
  if (plan.spec.op != PoolOp::kMax || plan.spec.global) {
    throw ArgumentError("pooling: " + std::string(function) + " needs windowed max pooling, got " +
                        (plan.spec.global ? "global " : "windowed ") + std::string(to_string(plan.spec.op)));
  }
}
}  // namespace

void pool_forward_argmax(const PoolPlan& plan, const float* input, float* output,
                         std::uint8_t* argmax, PoolBackend backend) {
  check_argmax_plan(plan, "pool_forward_argmax");
  // The fast kernels keep 1-byte indices; wider windows (over 255 cells) take the reference.
  if (backend != PoolBackend::kReference && fast::supports_argmax(plan)) {
    fast::pool_forward_argmax(plan, input, output, argmax);
  } else {
    reference::pool_forward_argmax(plan, input, output, argmax);
  }
}

void pool_backward_argmax(const PoolPlan& plan, const std::uint8_t* argmax,
                          const float* grad_output, float* grad_input, PoolBackend backend) {
  check_argmax_plan(plan, "pool_backward_argmax");
  if (backend != PoolBackend::kReference && fast::supports_argmax(plan)) {
    fast::pool_backward_argmax(plan, argmax, grad_output, grad_input);
  } else {
    reference::pool_backward_argmax(plan, argmax, grad_output, grad_input);
  }
}

std::string_view pool_simd_target() { return simd::target_name(); }

Tensor pool_forward(const PoolPlan& plan, const Tensor& input, PoolBackend backend) {
  check_shape(input, plan.input_shape, "input");
  Tensor output(plan.output_shape);
  pool_forward(plan, input.data(), output.data(), backend);
  return output;
}

Tensor pool_backward(const PoolPlan& plan, const Tensor& input, const Tensor& grad_output,
                     PoolBackend backend) {
  check_shape(input, plan.input_shape, "input");
  check_shape(grad_output, plan.output_shape, "grad_output");
  Tensor grad_input(plan.input_shape);
  pool_backward(plan, input.data(), grad_output.data(), grad_input.data(), backend);
  return grad_input;
}

}  // namespace poolnet
