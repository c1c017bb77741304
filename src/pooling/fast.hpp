// Fast pooling kernels behind PoolBackend::kFast / kAuto. Same results as the reference (max:
// bit-exact; sums: within float rounding), much less index arithmetic, OpenMP threads over
// disjoint output, vectorizable inner loops across channels.
#pragma once

#include "poolnet/pooling.hpp"

namespace poolnet::fast {

// Every plan.
void pool_forward(const PoolPlan& plan, const float* input, float* output);

// Every plan except global max (whose tie rule splits the gradient; see supports_backward).
bool supports_backward(const PoolPlan& plan);
void pool_backward(const PoolPlan& plan, const float* input, const float* grad_output,
                   float* grad_input);

}  // namespace poolnet::fast
