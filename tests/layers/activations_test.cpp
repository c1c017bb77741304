// Activations: names, forward values against double references, stability, NaN propagation,
// and derivatives (from the output) against central differences through ActivationLayer.
#include "poolnet/layers/activations.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "poolnet/error.hpp"
#include "poolnet/layers/core.hpp"
#include "poolnet/layers/registry.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::contains;
using testing::random_tensor;

constexpr ActivationKind kKinds[] = {ActivationKind::kLinear, ActivationKind::kRelu,
                                     ActivationKind::kSigmoid, ActivationKind::kTanh,
                                     ActivationKind::kElu, ActivationKind::kSoftmax};

// Double-precision reference of one row.
std::vector<double> reference(ActivationKind kind, const std::vector<double>& x) {
  std::vector<double> y(x.size());
  if (kind == ActivationKind::kSoftmax) {
    double m = -std::numeric_limits<double>::infinity();
    for (double v : x) m = std::max(m, v);
    double sum = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) sum += y[i] = std::exp(x[i] - m);
    for (double& v : y) v /= sum;
    return y;
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    switch (kind) {
      case ActivationKind::kLinear: y[i] = v; break;
      case ActivationKind::kRelu: y[i] = v > 0 ? v : 0.0; break;
      case ActivationKind::kSigmoid: y[i] = 1.0 / (1.0 + std::exp(-v)); break;
      case ActivationKind::kTanh: y[i] = std::tanh(v); break;
      case ActivationKind::kElu: y[i] = v > 0 ? v : std::exp(v) - 1.0; break;
      case ActivationKind::kSoftmax: break;
    }
  }
  return y;
}

TEST(Activations, ParsesKerasNamesAndRoundTrips) {
  for (const ActivationKind kind : kKinds) {
    EXPECT_EQ(parse_activation(to_string(kind)), kind);
  }
  EXPECT_EQ(parse_activation("relu"), ActivationKind::kRelu);
  EXPECT_EQ(parse_activation("softmax"), ActivationKind::kSoftmax);
  EXPECT_EQ(to_string(ActivationKind::kElu), "elu");
}

TEST(Activations, UnknownNameListsTheKnownOnes) {
  for (const char* bad : {"ReLU", "Relu", "gelu", "", "softmax "}) {
    try {
      (void)parse_activation(bad);
      FAIL() << "accepted '" << bad << "'";
    } catch (const ArgumentError& e) {
      const std::string what = e.what();
      EXPECT_TRUE(contains(what, "unknown activation")) << what;
      for (const char* known : {"linear", "relu", "sigmoid", "tanh", "elu", "softmax"}) {
        EXPECT_TRUE(contains(what, known)) << what;
      }
    }
  }
}

TEST(Activations, ForwardMatchesDoubleReference) {
  const std::int64_t rows = 4, cols = 7;
  const Tensor x = random_tensor(Shape{rows, cols}, 11, -4.0f, 4.0f);
  for (const ActivationKind kind : kKinds) {
    Tensor y = x;
    activation_forward(kind, y.values(), cols);
    for (std::int64_t r = 0; r < rows; ++r) {
      std::vector<double> row(static_cast<std::size_t>(cols));
      for (std::int64_t c = 0; c < cols; ++c) row[static_cast<std::size_t>(c)] = x[r * cols + c];
      const std::vector<double> want = reference(kind, row);
      for (std::int64_t c = 0; c < cols; ++c) {
        const double w = want[static_cast<std::size_t>(c)];
        EXPECT_NEAR(y[r * cols + c], w, 2e-7 * std::max(1.0, std::abs(w)))
            << to_string(kind) << " row " << r << " col " << c;
      }
    }
  }
}

TEST(Activations, SigmoidAndSoftmaxAreStableForLargeInputs) {
  std::vector<float> v = {-1000.0f, -100.0f, -20.0f, 0.0f, 20.0f, 100.0f, 1000.0f};
  activation_forward(ActivationKind::kSigmoid, v, 7);
  for (float y : v) EXPECT_TRUE(std::isfinite(y));
  EXPECT_EQ(v[0], 0.0f);
  EXPECT_EQ(v[3], 0.5f);
  EXPECT_EQ(v[6], 1.0f);
  EXPECT_NEAR(v[2], 2.0611536e-9, 1e-15);

  std::vector<float> s = {1000.0f, 1001.0f, 999.0f, -1000.0f, -999.0f, -1001.0f};
  activation_forward(ActivationKind::kSoftmax, s, 3);
  const std::vector<double> want = reference(ActivationKind::kSoftmax, {0.0, 1.0, -1.0});
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(s[r * 3 + c], want[c], 1e-7);
}

TEST(Activations, SoftmaxRowsSumToOne) {
  Tensor x = random_tensor(Shape{5, 3, 10}, 3, -10.0f, 10.0f);
  activation_forward(ActivationKind::kSoftmax, x.values(), 10);
  for (std::int64_t r = 0; r < 15; ++r) {
    double sum = 0.0;
    for (std::int64_t c = 0; c < 10; ++c) sum += x[r * 10 + c];
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
}

TEST(Activations, EluIsExpMinusOneBelowZero) {
  std::vector<float> v = {-30.0f, -1.0f, -1e-4f, 0.0f, 2.5f};
  activation_forward(ActivationKind::kElu, v, 5);
  EXPECT_FLOAT_EQ(v[0], -1.0f);
  EXPECT_FLOAT_EQ(v[1], static_cast<float>(std::exp(-1.0) - 1.0));
  EXPECT_FLOAT_EQ(v[2], static_cast<float>(std::expm1(-1e-4)));
  EXPECT_EQ(v[3], 0.0f);
  EXPECT_EQ(v[4], 2.5f);
}

TEST(Activations, NanInGivesNanOut) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const ActivationKind kind : kKinds) {
    std::vector<float> v = {nan, 0.5f, -0.5f};
    activation_forward(kind, v, 3);
    EXPECT_TRUE(std::isnan(v[0])) << to_string(kind);
    if (kind == ActivationKind::kLinear) continue;  // its derivative is 1 whatever y is
    // Backward from a NaN output gives NaN.
    std::vector<float> dy = {1.0f, 1.0f, 1.0f};
    std::vector<float> dx(3);
    activation_backward(kind, v, dy, dx, 3);
    EXPECT_TRUE(std::isnan(dx[0])) << to_string(kind);
  }
  // Softmax: the NaN row is NaN, the other row is untouched.
  std::vector<float> s = {1.0f, nan, 2.0f, 1.0f, 2.0f, 3.0f};
  activation_forward(ActivationKind::kSoftmax, s, 3);
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(std::isnan(s[c]));
  for (int c = 3; c < 6; ++c) EXPECT_TRUE(std::isfinite(s[c]));
  // NaN gradient passes through every activation.
  for (const ActivationKind kind : kKinds) {
    std::vector<float> y = {0.3f, 0.3f, 0.4f};
    std::vector<float> dy = {nan, 1.0f, 1.0f};
    std::vector<float> dx(3);
    activation_backward(kind, y, dy, dx, 3);
    EXPECT_TRUE(std::isnan(dx[0])) << to_string(kind);
  }
}

TEST(Activations, BackwardMayAliasDy) {
  const Tensor x = random_tensor(Shape{3, 5}, 5);
  for (const ActivationKind kind : kKinds) {
    Tensor y = x;
    activation_forward(kind, y.values(), 5);
    const Tensor dy = random_tensor(Shape{3, 5}, 6);
    Tensor separate(Shape{3, 5});
    activation_backward(kind, y.values(), dy.values(), separate.values(), 5);
    Tensor aliased = dy;
    activation_backward(kind, y.values(), aliased.values(), aliased.values(), 5);
    for (std::int64_t i = 0; i < 15; ++i) EXPECT_EQ(aliased[i], separate[i]) << to_string(kind);
  }
}

TEST(Activations, BackwardRejectsMismatchedSizes) {
  std::vector<float> y(4), dy(4), dx(3);
  EXPECT_THROW(activation_backward(ActivationKind::kRelu, y, dy, dx, 4), ArgumentError);
  std::vector<float> v(6);
  EXPECT_THROW(activation_forward(ActivationKind::kSoftmax, v, 4), ArgumentError);
}

// Input gradient of sum(layer(x) * w) by central differences: the float input is perturbed
// by h, the sum is taken in double, and the step actually taken (after rounding) divides.
std::vector<double> numeric_input_gradient(const Layer& layer, const Tensor& x, const Tensor& w,
                                           float h) {
  Tensor probe = x;
  return testing::central_differences(
      probe, [&] { return testing::weighted_sum(layer.forward(probe), w); }, h);
}

TEST(ActivationLayer, GradientsMatchCentralDifferences) {
  const Shape shape{2, 3, 6};
  Tensor x = random_tensor(shape, 21, -2.0f, 2.0f);
  // Keep relu/elu away from their kink at 0.
  for (float& v : x.values())
    if (std::abs(v) < 0.1f) v += v < 0 ? -0.1f : 0.1f;
  const Tensor w = random_tensor(shape, 22);
  for (const ActivationKind kind : kKinds) {
    ActivationLayer layer(to_string(kind));
    const Tensor y = layer.forward(x);
    const Tensor analytic = layer.backward_train(x, y, w);
    const Tensor via_const = layer.backward(x, w);
    const std::vector<double> numeric = numeric_input_gradient(layer, x, w, 1e-2f);
    for (std::int64_t i = 0; i < x.size(); ++i) {
      const double n = numeric[static_cast<std::size_t>(i)];
      EXPECT_NEAR(analytic[i], n, 2e-3 + 2e-3 * std::abs(n)) << to_string(kind) << " at " << i;
      EXPECT_EQ(analytic[i], via_const[i]) << to_string(kind);
    }
  }
}

TEST(ActivationLayer, ShapesAndErrors) {
  ActivationLayer layer("tanh");
  EXPECT_EQ(layer.class_name(), "Activation");
  EXPECT_EQ(layer.name(), "activation");
  EXPECT_EQ(layer.compute_output_shape(Shape{4, 5}), (Shape{4, 5}));
  EXPECT_EQ(layer.count_params(), 0);
  const Tensor x = random_tensor(Shape{2, 3}, 1);
  EXPECT_THROW((void)layer.backward(x, Tensor(Shape{3, 2})), ShapeError);
  try {
    ActivationLayer bad("swish");
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_TRUE(contains(e.what(), "Activation: unknown activation 'swish'")) << e.what();
  }
}

TEST(ActivationLayer, ConfigRoundTrips) {
  for (const ActivationKind kind : kKinds) {
    ActivationLayer layer(to_string(kind));
    layer.set_name("act_7");
    const nlohmann::json config = layer.get_config();
    EXPECT_EQ(config["activation"], std::string(to_string(kind)));
    EXPECT_EQ(config["dtype"], "float32");
    EXPECT_EQ(config["trainable"], true);
    const auto rebuilt = make_layer("Activation", config);
    EXPECT_EQ(rebuilt->class_name(), "Activation");
    EXPECT_EQ(rebuilt->name(), "act_7");
    EXPECT_EQ(rebuilt->get_config(), config);
  }
  // Keras writes None as null: linear.
  const auto linear = make_layer("Activation", {{"activation", nullptr}});
  EXPECT_EQ(linear->get_config()["activation"], "linear");
  EXPECT_THROW((void)make_layer("Activation", {{"activation", "Softmax"}}), ArgumentError);
  EXPECT_THROW((void)make_layer("Activation", {{"activation", "relu"}, {"alpha", 1}}),
               ArgumentError);
}

}  // namespace
}  // namespace poolnet
