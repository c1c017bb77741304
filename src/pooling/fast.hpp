// Fast pooling kernels behind PoolBackend::kFast / kAuto. Same results as the reference (max and
// windowed averages bit-exact, global averages and overlapping-window gradients within float
// rounding), OpenMP threads over disjoint output, SIMD microkernels (simd_kernels.hpp).
#pragma once

#include <cstdint>

#include "poolnet/pooling.hpp"

namespace poolnet::fast {

// Every plan.
void pool_forward(const PoolPlan& plan, const float* input, float* output);

// Every plan (max pooling finds its maxima again, through a temporary argmax when the window has
// at most 255 cells).
void pool_backward(const PoolPlan& plan, const float* input, const float* grad_output,
                   float* grad_input);

// Windowed max with a saved argmax of 1 byte per output (argmax_bytes(plan) == 1).
bool supports_argmax(const PoolPlan& plan);
void pool_forward_argmax(const PoolPlan& plan, const float* input, float* output, std::uint8_t* argmax);
void pool_backward_argmax(const PoolPlan& plan, const std::uint8_t* argmax, const float* grad_output,
                          float* grad_input);

// Outputs of at least this many bytes are written with non-temporal stores (default 16 MiB).
// Returns the previous value; tests lower it to cover the streaming stores on small tensors.
std::int64_t set_stream_threshold(std::int64_t bytes);

// How many streams of input a thread reads at once where the order is free (channels_first
// global pooling; small channels_first planes, taken from that many parts of a thread's run): 2
// on AMD CPUs, 4 on others (default_memory_streams() in fast.cpp says why). Returns the previous
// value; tests set both to cover both orders of reading.
std::int64_t set_memory_streams(std::int64_t streams);

// channels_first windowed forward runs through the channels_last kernels in bands of at most this
// many bytes of transposed input (default 256 KiB). Returns the previous value; tests lower it to
// split small planes into many bands.
std::int64_t set_band_bytes(std::int64_t bytes);

}  // namespace poolnet::fast
