// Kernel dispatch: the seam where fast kernels plug in beside the reference.
#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"
#include "pooling/fast.hpp"
#include "pooling/reference.hpp"

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
      if (fast::supports_backward(plan)) {
        fast::pool_backward(plan, input, grad_output, grad_input);
        return;
      }
      // Global max backward (an even split among ties) is rare and cheap: the reference serves.
      reference::pool_backward(plan, input, grad_output, grad_input);
      return;
    case PoolBackend::kReference:
      reference::pool_backward(plan, input, grad_output, grad_input);
      return;
  }
}

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
