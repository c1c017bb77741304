// Keras activations and their derivatives written in terms of the output y = f(x).
//
// NaN propagates: a NaN input gives a NaN output (relu, elu and the stable sigmoid are written so
// that their comparisons let NaN through), and a NaN output gives a NaN input gradient.
#include "poolnet/layers/activations.hpp"

#include <cmath>
#include <string>

#include "poolnet/error.hpp"

namespace poolnet {
namespace {

constexpr ActivationKind kAllKinds[] = {ActivationKind::kLinear, ActivationKind::kRelu,
                                        ActivationKind::kSigmoid, ActivationKind::kTanh,
                                        ActivationKind::kElu, ActivationKind::kSoftmax};

void check_rows(std::size_t size, std::int64_t row_size, const char* what) {
  if (row_size <= 0 || size % static_cast<std::size_t>(row_size) != 0) {
    std::string message = what;
    message += ": softmax row size ";
    message += std::to_string(row_size);
    message += " does not divide the ";
    message += std::to_string(size);
    message += " values";
    throw ArgumentError(message);
  }
}

inline float relu(float x) { return x < 0.0f ? 0.0f : x; }  // NaN: the comparison is false

inline float sigmoid(float x) {
  // exp of a non-positive argument only, so neither branch overflows. NaN takes the else branch.
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

inline float elu(float x) { return x > 0.0f ? x : std::expm1(x); }  // expm1(NaN) = NaN

void softmax_rows(std::span<float> values, std::int64_t row_size) {
  const std::size_t n = static_cast<std::size_t>(row_size);
  for (std::size_t start = 0; start < values.size(); start += n) {
    float* row = values.data() + start;
    // Max over the row; a NaN anywhere makes the whole row NaN below (exp(NaN - m) = NaN).
    float m = row[0];
    bool has_nan = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (std::isnan(row[i])) has_nan = true;
      if (row[i] > m) m = row[i];
    }
    if (has_nan) {
      for (std::size_t i = 0; i < n; ++i) row[i] = std::nanf("");
      continue;
    }
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      row[i] = std::exp(row[i] - m);
      sum += row[i];
    }
    const double inv = 1.0 / sum;
    for (std::size_t i = 0; i < n; ++i) row[i] = static_cast<float>(row[i] * inv);
  }
}

}  // namespace

ActivationKind parse_activation(std::string_view name) {
  for (const ActivationKind kind : kAllKinds) {
    if (to_string(kind) == name) return kind;
  }
  std::string message = "unknown activation '";
  message += name;
  message += "' (known: ";
  bool first = true;
  for (const ActivationKind kind : kAllKinds) {
    if (!first) message += ", ";
    first = false;
    message += to_string(kind);
  }
  message += ")";
  throw ArgumentError(message);
}

std::string_view to_string(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kLinear: return "linear";
    case ActivationKind::kRelu: return "relu";
    case ActivationKind::kSigmoid: return "sigmoid";
    case ActivationKind::kTanh: return "tanh";
    case ActivationKind::kElu: return "elu";
    case ActivationKind::kSoftmax: return "softmax";
  }
  return "unknown";
}

void activation_forward(ActivationKind kind, std::span<float> values, std::int64_t row_size) {
  switch (kind) {
    case ActivationKind::kLinear:
      return;
    case ActivationKind::kRelu:
      for (float& v : values) v = relu(v);
      return;
    case ActivationKind::kSigmoid:
      for (float& v : values) v = sigmoid(v);
      return;
    case ActivationKind::kTanh:
      for (float& v : values) v = std::tanh(v);
      return;
    case ActivationKind::kElu:
      for (float& v : values) v = elu(v);
      return;
    case ActivationKind::kSoftmax:
      if (values.empty()) return;
      check_rows(values.size(), row_size, "activation_forward");
      softmax_rows(values, row_size);
      return;
  }
}

void activation_backward(ActivationKind kind, std::span<const float> y, std::span<const float> dy,
                         std::span<float> dx, std::int64_t row_size) {
  if (y.size() != dy.size() || y.size() != dx.size()) {
    std::string message = "activation_backward: y, dy and dx have ";
    message += std::to_string(y.size());
    message += ", ";
    message += std::to_string(dy.size());
    message += " and ";
    message += std::to_string(dx.size());
    message += " values; they must match";
    throw ArgumentError(message);
  }
  const std::size_t n = y.size();
  switch (kind) {
    case ActivationKind::kLinear:
      if (dx.data() != dy.data()) {
        for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i];
      }
      return;
    case ActivationKind::kRelu:
      // y > 0 exactly where x > 0; a NaN output passes NaN on.
      // Two selects and no calls, so the loop can vectorize (no branch to mispredict on
      // random signs); dy is read unconditionally, or GCC will not if-convert the load.
      for (std::size_t i = 0; i < n; ++i) {
        const float yi = y[i];
        const float gi = dy[i];
        const float kept = yi > 0.0f ? gi : 0.0f;
        dx[i] = yi != yi ? yi : kept;
      }
      return;
    case ActivationKind::kSigmoid:
      for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * (y[i] * (1.0f - y[i]));
      return;
    case ActivationKind::kTanh:
      for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      return;
    case ActivationKind::kElu:
      // x > 0: 1; else f'(x) = exp(x) = y + 1.
      for (std::size_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : dy[i] * (y[i] + 1.0f);
      return;
    case ActivationKind::kSoftmax: {
      if (n == 0) return;
      check_rows(n, row_size, "activation_backward");
      const std::size_t r = static_cast<std::size_t>(row_size);
      for (std::size_t start = 0; start < n; start += r) {
        double dot = 0.0;
        for (std::size_t i = start; i < start + r; ++i) dot += static_cast<double>(dy[i]) * y[i];
        const float d = static_cast<float>(dot);
        for (std::size_t i = start; i < start + r; ++i) dx[i] = y[i] * (dy[i] - d);
      }
      return;
    }
  }
}

}  // namespace poolnet
