// The reference pooling kernels: plain loops that read like docs/SEMANTICS.md. They are the
// oracle for every fast kernel, so they favour obviousness (and exactness: sums in double,
// rounded once) over speed.
#pragma once

#include "poolnet/pooling.hpp"

namespace poolnet::reference {

void pool_forward(const PoolPlan& plan, const float* input, float* output);
void pool_backward(const PoolPlan& plan, const float* input, const float* grad_output,
                   float* grad_input);

// Windowed max only; argmax: argmax_bytes(plan) little-endian bytes per output element.
void pool_forward_argmax(const PoolPlan& plan, const float* input, float* output, std::uint8_t* argmax);
void pool_backward_argmax(const PoolPlan& plan, const std::uint8_t* argmax, const float* grad_output,
                          float* grad_input);

}  // namespace poolnet::reference
