// Keras activations: linear, relu, sigmoid, tanh, elu (alpha 1), softmax (last axis).
// Every derivative is written in terms of the activation's OUTPUT y, so layers with a fused
// activation keep only their output for backward.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace poolnet {

enum class ActivationKind { kLinear, kRelu, kSigmoid, kTanh, kElu, kSoftmax };

// "linear", "relu", ... (Keras names; null/None in configs means linear). ArgumentError otherwise,
// listing the known names.
ActivationKind parse_activation(std::string_view name);
std::string_view to_string(ActivationKind kind);

// In place. `values` holds rows of `row_size` (the last axis); only softmax uses rows.
void activation_forward(ActivationKind kind, std::span<float> values, std::int64_t row_size);

// dx = dy * f'(x), computed from y = f(x). dx may alias dy. Softmax: dx = y * (dy - sum(dy * y))
// per row.
void activation_backward(ActivationKind kind, std::span<const float> y, std::span<const float> dy,
                         std::span<float> dx, std::int64_t row_size);

}  // namespace poolnet
