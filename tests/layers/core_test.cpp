// Core layers: Dense (forward against a double reference, gradients of input, kernel and bias
// against central differences for every fused activation, rank 2 and 3), Flatten (both
// data_formats), Dropout (mask statistics, scale, backward, determinism), glorot_uniform, and the
// Keras configs.
#include "poolnet/layers/core.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "poolnet/error.hpp"
#include "poolnet/layers/registry.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::central_differences;
using testing::contains;
using testing::error_of;
using testing::random_tensor;
using testing::weighted_sum;
using Json = nlohmann::json;

constexpr ActivationKind kKinds[] = {ActivationKind::kLinear, ActivationKind::kRelu,
                                     ActivationKind::kSigmoid, ActivationKind::kTanh,
                                     ActivationKind::kElu, ActivationKind::kSoftmax};

void expect_close(const Tensor& analytic, const std::vector<double>& numeric, double tol,
                  const std::string& what) {
  ASSERT_EQ(analytic.size(), static_cast<std::int64_t>(numeric.size())) << what;
  for (std::int64_t i = 0; i < analytic.size(); ++i) {
    const double n = numeric[static_cast<std::size_t>(i)];
    EXPECT_NEAR(analytic[i], n, tol + tol * std::abs(n)) << what << " at " << i;
  }
}

// Dense's pre-activation in double: x W + b over the last axis.
std::vector<double> dense_reference_z(const Tensor& x, Dense& d) {
  const std::int64_t in = d.kernel().value.dim(0), units = d.units();
  const std::int64_t rows = x.size() / in;
  std::vector<double> z(static_cast<std::size_t>(rows * units));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t u = 0; u < units; ++u) {
      double s = d.parameters().size() > 1 ? d.bias().value[u] : 0.0;
      for (std::int64_t k = 0; k < in; ++k)
        s += static_cast<double>(x[r * in + k]) * d.kernel().value[k * units + u];
      z[static_cast<std::size_t>(r * units + u)] = s;
    }
  return z;
}

// ---- glorot_uniform -----------------------------------------------------------------------------

TEST(GlorotUniform, DrawsUniformWithinTheLimitInRowMajorOrder) {
  Tensor t(Shape{30, 20});
  Rng rng(7);
  glorot_uniform(t, 30, 20, rng);
  const float limit = static_cast<float>(std::sqrt(6.0 / 50.0));
  Rng again(7);
  double sum = 0.0;
  for (std::int64_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i], again.uniform(-limit, limit)) << i;
    EXPECT_GE(t[i], -limit);
    EXPECT_LT(t[i], limit);
    sum += t[i];
  }
  EXPECT_NEAR(sum / 600.0, 0.0, 0.05);
  EXPECT_EQ(rng.next_u64(), again.next_u64());  // exactly one draw per element
  Tensor u(Shape{2});
  EXPECT_THROW(glorot_uniform(u, 0, 0, rng), ArgumentError);
}

// ---- Dense ------------------------------------------------------------------------------------

TEST(Dense, CountParams) {
  Rng rng(1);
  Dense a(256, "relu");
  a.build(Shape{32, 1600}, rng);
  EXPECT_EQ(a.count_params(), 409856);
  EXPECT_EQ(a.count_trainable_params(), 409856);
  Dense b(10, "softmax");
  b.build(Shape{32, 256}, rng);
  EXPECT_EQ(b.count_params(), 2570);
  Dense c(10, "linear", false);
  c.build(Shape{1, 256}, rng);
  EXPECT_EQ(c.count_params(), 2560);
  EXPECT_EQ(c.parameters().size(), 1u);
}

TEST(Dense, BuildCreatesGlorotKernelAndZeroBiasAndGrads) {
  Rng rng(3);
  Dense d(5);
  EXPECT_TRUE(d.parameters().empty());
  d.build(Shape{2, 4}, rng);
  ASSERT_EQ(d.parameters().size(), 2u);
  EXPECT_EQ(d.parameters()[0]->name, "kernel");
  EXPECT_EQ(d.parameters()[1]->name, "bias");
  EXPECT_EQ(d.kernel().value.shape(), (Shape{4, 5}));
  EXPECT_EQ(d.kernel().grad.shape(), (Shape{4, 5}));
  EXPECT_EQ(d.bias().value.shape(), (Shape{5}));
  Rng same(3);
  Tensor expected(Shape{4, 5});
  glorot_uniform(expected, 4, 5, same);
  for (std::int64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(d.kernel().value[i], expected[i]);
    EXPECT_EQ(d.kernel().grad[i], 0.0f);
  }
  for (std::int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(d.bias().value[i], 0.0f);
    EXPECT_EQ(d.bias().grad[i], 0.0f);
  }
  // Building again with the same input size keeps the weights; another size is an error.
  d.kernel().value[0] = 42.0f;
  d.build(Shape{7, 4}, rng);
  EXPECT_EQ(d.kernel().value[0], 42.0f);
  EXPECT_THROW(d.build(Shape{7, 3}, rng), ShapeError);
}

TEST(Dense, ForwardBeforeBuildAndShapeErrors) {
  Dense d(3);
  const Tensor x = random_tensor(Shape{2, 4}, 1);
  EXPECT_EQ(error_of([&] { (void)d.forward(x); }).rfind("Dense: not built", 0), 0u);
  try {
    (void)d.forward(x);
  } catch (const ShapeError&) {
    FAIL() << "not built should be a plain poolnet::Error";
  } catch (const Error&) {
  }
  EXPECT_EQ(d.compute_output_shape(Shape{2, 4}), (Shape{2, 3}));
  EXPECT_EQ(d.compute_output_shape(Shape{2, 6, 4}), (Shape{2, 6, 3}));
  EXPECT_THROW((void)d.compute_output_shape(Shape{4}), ShapeError);
  Rng rng(0);
  d.build(Shape{2, 4}, rng);
  const std::string message = error_of([&] { (void)d.forward(random_tensor(Shape{2, 5}, 2)); });
  EXPECT_TRUE(contains(message, "(2, 5)")) << message;
  EXPECT_TRUE(contains(message, "(4, 3)")) << message;
  EXPECT_THROW((void)d.forward(random_tensor(Shape{2, 5}, 2)), ShapeError);
  EXPECT_THROW((void)d.backward(x, Tensor(Shape{2, 4})), ShapeError);
  EXPECT_THROW((void)Dense(0), ArgumentError);
  EXPECT_THROW((void)Dense(-3), ArgumentError);
  EXPECT_TRUE(contains(error_of([] { Dense bad(3, "gelu"); }), "Dense: unknown activation 'gelu'"));
}

TEST(Dense, ForwardMatchesDoubleReferenceOnRank2And3) {
  for (const Shape& shape : {Shape{5, 7}, Shape{2, 3, 7}, Shape{2, 2, 2, 7}}) {
    for (const ActivationKind kind : kKinds) {
      Rng rng(9);
      Dense d(6, to_string(kind));
      d.build(shape, rng);
      for (std::int64_t i = 0; i < 6; ++i) d.bias().value[i] = 0.1f * static_cast<float>(i) - 0.2f;
      const Tensor x = random_tensor(shape, 4, -2.0f, 2.0f);
      const Tensor y = d.forward(x);
      std::vector<std::int64_t> dims = shape.to_vector();
      dims.back() = 6;
      ASSERT_EQ(y.shape(), Shape(dims));
      const std::vector<double> z = dense_reference_z(x, d);
      const std::int64_t rows = x.size() / 7;
      for (std::int64_t r = 0; r < rows; ++r) {
        double m = -1e300, sum = 0.0;
        for (std::int64_t u = 0; u < 6; ++u) m = std::max(m, z[static_cast<std::size_t>(r * 6 + u)]);
        for (std::int64_t u = 0; u < 6; ++u) sum += std::exp(z[static_cast<std::size_t>(r * 6 + u)] - m);
        for (std::int64_t u = 0; u < 6; ++u) {
          const double v = z[static_cast<std::size_t>(r * 6 + u)];
          double want = v;
          switch (kind) {
            case ActivationKind::kLinear: break;
            case ActivationKind::kRelu: want = v > 0 ? v : 0; break;
            case ActivationKind::kSigmoid: want = 1 / (1 + std::exp(-v)); break;
            case ActivationKind::kTanh: want = std::tanh(v); break;
            case ActivationKind::kElu: want = v > 0 ? v : std::expm1(v); break;
            case ActivationKind::kSoftmax: want = std::exp(v - m) / sum; break;
          }
          EXPECT_NEAR(y[r * 6 + u], want, 2e-6) << to_string(kind) << " " << shape.to_string();
        }
      }
    }
  }
}

// Input, kernel and bias gradients of sum(dense(x) * w) against central differences.
void check_dense_gradients(const Shape& shape, ActivationKind kind, bool use_bias) {
  const std::string what = std::string(to_string(kind)) + " " + shape.to_string() +
                           (use_bias ? " bias" : " no bias");
  const std::int64_t units = 4;
  Rng rng(5);
  Dense d(units, to_string(kind), use_bias);
  d.build(shape, rng);
  if (use_bias)
    for (std::int64_t i = 0; i < units; ++i) d.bias().value[i] = 0.15f * static_cast<float>(i) - 0.2f;
  // An input whose pre-activations stay away from relu's and elu's kink at 0.
  Tensor x;
  for (std::uint32_t seed = 100;; ++seed) {
    x = random_tensor(shape, seed, -1.5f, 1.5f);
    double closest = 1e300;
    for (double z : dense_reference_z(x, d)) closest = std::min(closest, std::abs(z));
    if (closest > 0.08) break;
    ASSERT_LT(seed, 10000u);
  }
  std::vector<std::int64_t> out_dims = shape.to_vector();
  out_dims.back() = units;
  const Tensor w = random_tensor(Shape(out_dims), 77);

  const Tensor y = d.forward(x);
  for (Parameter* p : d.parameters()) p->grad.fill(0.0f);
  const Tensor dx = d.backward_train(x, y, w);
  const Tensor dx_const = d.backward(x, w);
  for (std::int64_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx[i], dx_const[i], 1e-6) << what;

  const float h = 1e-2f;
  const double tol = 2e-3;
  Tensor probe = x;
  expect_close(dx, central_differences(probe, [&] { return weighted_sum(d.forward(probe), w); }, h),
               tol, what + " dX");
  const Tensor kernel_grad = d.kernel().grad;
  expect_close(kernel_grad,
               central_differences(d.kernel().value, [&] { return weighted_sum(d.forward(x), w); }, h),
               tol, what + " dW");
  if (use_bias) {
    const Tensor bias_grad = d.bias().grad;
    expect_close(bias_grad,
                 central_differences(d.bias().value, [&] { return weighted_sum(d.forward(x), w); }, h),
                 tol, what + " db");
  }
  // backward_train ADDS into the gradients.
  (void)d.backward_train(x, y, w);
  for (std::int64_t i = 0; i < kernel_grad.size(); ++i)
    EXPECT_NEAR(d.kernel().grad[i], 2 * kernel_grad[i], 1e-6 + 1e-6 * std::abs(kernel_grad[i])) << what;
}

TEST(Dense, GradientsMatchCentralDifferencesForEveryActivation) {
  for (const ActivationKind kind : kKinds) {
    check_dense_gradients(Shape{3, 5}, kind, true);
    check_dense_gradients(Shape{2, 3, 5}, kind, true);
  }
  check_dense_gradients(Shape{3, 5}, ActivationKind::kTanh, false);
}

TEST(Dense, BackwardTrainChecksShapes) {
  Rng rng(1);
  Dense d(3);
  const Tensor x = random_tensor(Shape{2, 4}, 1);
  EXPECT_THROW((void)d.backward_train(x, Tensor(Shape{2, 3}), Tensor(Shape{2, 3})), Error);
  d.build(Shape{2, 4}, rng);
  EXPECT_THROW((void)d.backward_train(x, Tensor(Shape{2, 3}), Tensor(Shape{3, 3})), ShapeError);
  EXPECT_THROW((void)d.backward_train(x, Tensor(Shape{2, 2}), Tensor(Shape{2, 3})), ShapeError);
}

TEST(Dense, EmptyBatch) {
  Rng rng(1);
  Dense d(3, "softmax");
  d.build(Shape{1, 4}, rng);
  const Tensor x(Shape{0, 4});
  const Tensor y = d.forward(x);
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  EXPECT_EQ(d.backward_train(x, y, Tensor(Shape{0, 3})).shape(), (Shape{0, 4}));
}

TEST(Dense, NanPropagates) {
  Rng rng(1);
  Dense d(3, "relu");
  d.build(Shape{1, 2}, rng);
  Tensor x(Shape{1, 2});
  x[0] = std::numeric_limits<float>::quiet_NaN();
  const Tensor y = d.forward(x);
  for (std::int64_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(y[i]));
}

TEST(Dense, ConfigRoundTripsAndReadsKerasConfigs) {
  const Json keras = Json::parse(R"({
    "name": "dense_1", "trainable": true,
    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
              "registered_name": null},
    "units": 10, "activation": "softmax", "use_bias": true,
    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                           "config": {"seed": null}, "registered_name": null},
    "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                         "registered_name": null},
    "kernel_regularizer": null, "bias_regularizer": null,
    "kernel_constraint": null, "bias_constraint": null})");
  const auto layer = make_layer("Dense", keras);
  auto* dense = dynamic_cast<Dense*>(layer.get());
  ASSERT_NE(dense, nullptr);
  EXPECT_EQ(dense->name(), "dense_1");
  EXPECT_EQ(dense->units(), 10);
  EXPECT_EQ(dense->activation(), ActivationKind::kSoftmax);
  const Json config = layer->get_config();
  EXPECT_EQ(config["dtype"], "float32");
  for (const char* key : {"units", "activation", "use_bias", "kernel_initializer",
                          "bias_initializer", "kernel_regularizer", "bias_constraint"}) {
    EXPECT_EQ(config[key], keras[key]) << key;
  }
  EXPECT_EQ(make_layer("Dense", config)->get_config(), config);

  // Defaults, null activation, Keras 2 initializer forms, use_bias false, trainable false.
  const auto minimal = make_layer("Dense", {{"units", 4}, {"activation", nullptr}});
  EXPECT_EQ(minimal->name(), "dense");
  EXPECT_EQ(minimal->get_config()["activation"], "linear");
  EXPECT_EQ(minimal->get_config()["use_bias"], true);
  const auto k2 = make_layer(
      "Dense", Json::parse(R"({"units": 2, "use_bias": false, "trainable": false,
                              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": 3}},
                              "bias_initializer": "zeros", "activity_regularizer": null})"));
  Rng rng(0);
  k2->build(Shape{1, 3}, rng);
  EXPECT_EQ(k2->count_params(), 6);
  EXPECT_EQ(k2->count_trainable_params(), 0);
  EXPECT_EQ(k2->get_config()["trainable"], false);
  EXPECT_EQ(k2->get_config()["use_bias"], false);
}

TEST(Dense, ConfigErrors) {
  auto message = [](const Json& config) {
    return error_of([&] { (void)make_layer("Dense", config); });
  };
  EXPECT_TRUE(contains(message({{"units", 4},
                                {"kernel_regularizer",
                                 {{"class_name", "L2"}, {"config", {{"l2", 0.01}}}}}}),
                       "kernel_regularizer is not supported"));
  EXPECT_TRUE(contains(message({{"units", 4}, {"bias_constraint", {{"class_name", "NonNeg"}}}}),
                       "bias_constraint is not supported"));
  EXPECT_TRUE(contains(message({{"units", 4}, {"kernel_initializer", "he_normal"}}),
                       "kernel_initializer \"he_normal\" is not supported"));
  EXPECT_TRUE(contains(message({{"units", 4}, {"bias_initializer", {{"class_name", "Ones"}, {"config", Json::object()}}}}),
                       "bias_initializer"));
  EXPECT_TRUE(contains(message({{"activation", "relu"}}), "missing config key 'units'"));
  EXPECT_TRUE(contains(message({{"units", 0}}), "units must be a positive integer"));
  EXPECT_TRUE(contains(message({{"units", 4}, {"activation", "Relu"}}), "unknown activation"));
  EXPECT_TRUE(contains(message({{"units", 4}, {"kernel_size", 3}}), "unknown config key 'kernel_size'"));
  EXPECT_TRUE(contains(message({{"units", 4.5}}), "units must be an int"));
  EXPECT_THROW((void)make_layer("Dense", {{"units", 4}, {"use_bias", "yes"}}), ArgumentError);
}

// ---- Flatten ----------------------------------------------------------------------------------

// (batch, channels, s...) -> (batch, s..., channels), written out independently.
Tensor to_channels_last(const Tensor& t) {
  std::vector<std::int64_t> dims{t.dim(0)};
  std::int64_t spatial = 1;
  for (int i = 2; i < t.rank(); ++i) {
    dims.push_back(t.dim(i));
    spatial *= t.dim(i);
  }
  dims.push_back(t.dim(1));
  Tensor out{Shape(dims)};
  const std::int64_t c = t.dim(1);
  for (std::int64_t b = 0; b < t.dim(0); ++b)
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t s = 0; s < spatial; ++s)
        out[(b * spatial + s) * c + ch] = t[(b * c + ch) * spatial + s];
  return out;
}

TEST(Flatten, ChannelsLastIsAReshape) {
  Flatten f;
  EXPECT_EQ(f.name(), "flatten");
  const Tensor x = random_tensor(Shape{2, 3, 4, 5}, 1);
  EXPECT_EQ(f.compute_output_shape(x.shape()), (Shape{2, 60}));
  const Tensor y = f.forward(x);
  ASSERT_EQ(y.shape(), (Shape{2, 60}));
  for (std::int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i]);
  const Tensor g = random_tensor(Shape{2, 60}, 2);
  const Tensor dx = f.backward(x, g);
  ASSERT_EQ(dx.shape(), x.shape());
  for (std::int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(dx[i], g[i]);
  // Rank 1 and 2, as Keras: (batch,) -> (batch, 1).
  EXPECT_EQ(f.compute_output_shape(Shape{7}), (Shape{7, 1}));
  EXPECT_EQ(f.forward(random_tensor(Shape{7}, 3)).shape(), (Shape{7, 1}));
  EXPECT_EQ(f.compute_output_shape(Shape{7, 3}), (Shape{7, 3}));
  EXPECT_THROW((void)f.backward(x, Tensor(Shape{2, 59})), ShapeError);
}

TEST(Flatten, ChannelsFirstEqualsTransposeThenFlatten) {
  Flatten first("channels_first");
  Flatten last("channels_last");
  for (const Shape& shape : {Shape{2, 3, 5}, Shape{2, 3, 4, 5}, Shape{2, 3, 2, 4, 5}, Shape{1, 1, 3}}) {
    const Tensor x = random_tensor(shape, 8);
    const Tensor y = first.forward(x);
    const Tensor want = last.forward(to_channels_last(x));
    ASSERT_EQ(y.shape(), want.shape()) << shape.to_string();
    for (std::int64_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], want[i]) << shape.to_string();
    // Backward is the adjoint: <forward(x), g> == <x, backward(x, g)>, and it inverts forward.
    const Tensor g = random_tensor(y.shape(), 9);
    const Tensor dx = first.backward(x, g);
    ASSERT_EQ(dx.shape(), shape);
    EXPECT_NEAR(weighted_sum(y, g), weighted_sum(x, dx), 1e-5);
    const Tensor round_trip = first.backward(x, y);
    for (std::int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(round_trip[i], x[i]);
  }
  // Rank 2: a plain reshape in both formats.
  const Tensor x2 = random_tensor(Shape{3, 4}, 1);
  const Tensor y2 = first.forward(x2);
  for (std::int64_t i = 0; i < x2.size(); ++i) EXPECT_EQ(y2[i], x2[i]);
}

TEST(Flatten, Config) {
  Flatten f("channels_first");
  const Json config = f.get_config();
  EXPECT_EQ(config["data_format"], "channels_first");
  EXPECT_EQ(make_layer("Flatten", config)->get_config(), config);
  EXPECT_EQ(make_layer("Flatten", Json::object())->get_config()["data_format"], "channels_last");
  EXPECT_EQ(make_layer("Flatten", {{"data_format", nullptr}})->get_config()["data_format"], "channels_last");
  EXPECT_THROW((void)make_layer("Flatten", {{"data_format", "NCHW"}}), ArgumentError);
  EXPECT_THROW((void)make_layer("Flatten", {{"keepdims", true}}), ArgumentError);
  EXPECT_TRUE(contains(error_of([] { Flatten bad("nhwc"); }), "Flatten"));
}

// ---- Dropout ----------------------------------------------------------------------------------

TEST(Dropout, MaskStatisticsScaleAndBackward) {
  const double rate = 0.3;
  Dropout d(rate);
  const Tensor x = random_tensor(Shape{200, 1000}, 5, 0.5f, 1.5f);  // no zeros in x
  Rng rng(11);
  const Tensor y = d.forward_train(x, rng);
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  std::int64_t dropped = 0;
  for (std::int64_t i = 0; i < x.size(); ++i) {
    if (y[i] == 0.0f) {
      ++dropped;
    } else {
      ASSERT_EQ(y[i], x[i] * scale) << i;
    }
  }
  const double fraction = static_cast<double>(dropped) / static_cast<double>(x.size());
  EXPECT_NEAR(fraction, rate, 0.005);  // sigma ~ 0.001
  // Element 2i is kept exactly when the high 32 bits of the i-th next_u64(), as a fraction of
  // 2^32, are >= rate; element 2i + 1 likewise with the low 32 bits.
  Rng replay(11);
  for (std::int64_t i = 0; i < 1000; i += 2) {
    const std::uint64_t bits = replay.next_u64();
    EXPECT_EQ(y[i] != 0.0f, static_cast<double>(bits >> 32) / 4294967296.0 >= rate) << i;
    EXPECT_EQ(y[i + 1] != 0.0f, static_cast<double>(bits & 0xFFFFFFFFu) / 4294967296.0 >= rate) << i + 1;
  }

  const Tensor g = random_tensor(x.shape(), 6, 0.5f, 1.5f);
  const Tensor dx = d.backward_train(x, y, g);
  for (std::int64_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(dx[i], y[i] == 0.0f ? 0.0f : g[i] * scale) << i;
  }
  // Inference: identity forward and backward.
  const Tensor inference = d.forward(x);
  const Tensor inference_grad = d.backward(x, g);
  for (std::int64_t i = 0; i < x.size(); i += 997) {
    EXPECT_EQ(inference[i], x[i]);
    EXPECT_EQ(inference_grad[i], g[i]);
  }
}

TEST(Dropout, SameSeedSameMask) {
  Dropout a(0.5), b(0.5);
  const Tensor x = random_tensor(Shape{8, 64}, 1, 0.5f, 1.0f);
  Rng r1(42), r2(42), r3(43);
  const Tensor ya = a.forward_train(x, r1);
  const Tensor yb = b.forward_train(x, r2);
  const Tensor yc = b.forward_train(x, r3);
  bool differs = false;
  for (std::int64_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(ya[i], yb[i]);
    differs = differs || ya[i] != yc[i];
  }
  EXPECT_TRUE(differs);
  // The next call draws new numbers: a different mask.
  const Tensor ya2 = a.forward_train(x, r1);
  differs = false;
  for (std::int64_t i = 0; i < x.size(); ++i) differs = differs || ya[i] != ya2[i];
  EXPECT_TRUE(differs);
}

TEST(Dropout, RateZeroIsIdentityAndDrawsNothing) {
  Dropout d(0.0);
  const Tensor x = random_tensor(Shape{3, 4}, 1);
  Rng rng(5), untouched(5);
  const Tensor y = d.forward_train(x, rng);
  for (std::int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i]);
  EXPECT_EQ(rng.next_u64(), untouched.next_u64());
  const Tensor g = random_tensor(x.shape(), 2);
  const Tensor dx = d.backward_train(x, y, g);
  for (std::int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(dx[i], g[i]);
}

TEST(Dropout, DroppedNanBecomesZero) {
  Dropout d(0.5);
  Tensor x(Shape{1, 256}, std::numeric_limits<float>::quiet_NaN());
  Rng rng(3);
  const Tensor y = d.forward_train(x, rng);
  int zeros = 0, nans = 0;
  for (float v : y.values()) {
    zeros += v == 0.0f;
    nans += std::isnan(v);
  }
  EXPECT_EQ(zeros + nans, 256);
  EXPECT_GT(zeros, 0);
  EXPECT_GT(nans, 0);
}

TEST(Dropout, Errors) {
  for (double bad : {-0.1, 1.0, 1.5, std::nan("")}) {
    EXPECT_TRUE(contains(error_of([&] { Dropout d(bad); }), "Dropout: rate must be")) << bad;
  }
  Dropout d(0.5);
  const Tensor x = random_tensor(Shape{2, 3}, 1);
  EXPECT_THROW((void)d.backward_train(x, x, x), ShapeError);  // no forward_train yet
  Rng rng(1);
  (void)d.forward_train(x, rng);
  const Tensor other = random_tensor(Shape{3, 2}, 1);
  EXPECT_THROW((void)d.backward_train(other, other, other), ShapeError);
  EXPECT_THROW((void)d.backward(x, other), ShapeError);
}

TEST(Dropout, Config) {
  Dropout d(0.25);
  const Json config = d.get_config();
  EXPECT_EQ(config["rate"], 0.25);
  EXPECT_TRUE(config["seed"].is_null());
  EXPECT_TRUE(config["noise_shape"].is_null());
  EXPECT_EQ(make_layer("Dropout", config)->get_config(), config);
  const auto seeded = make_layer("Dropout", {{"rate", 0.5}, {"seed", 1337}, {"noise_shape", nullptr}});
  EXPECT_EQ(dynamic_cast<Dropout&>(*seeded).rate(), 0.5);
  EXPECT_TRUE(contains(error_of([] { (void)make_layer("Dropout", {{"rate", 0.5}, {"noise_shape", {1, 4}}}); }),
                       "noise_shape is not supported"));
  EXPECT_TRUE(contains(error_of([] { (void)make_layer("Dropout", {{"rate", 1.0}}); }), "rate must be"));
  EXPECT_TRUE(contains(error_of([] { (void)make_layer("Dropout", Json::object()); }),
                       "missing config key 'rate'"));
  EXPECT_THROW((void)make_layer("Dropout", {{"rate", 0.5}, {"seed", "x"}}), ArgumentError);
}

TEST(CoreLayers, AreRegistered) {
  const std::vector<std::string_view> known = known_layer_classes();
  for (std::string_view name : {"Dense", "Flatten", "Dropout", "Activation"}) {
    EXPECT_NE(std::find(known.begin(), known.end(), name), known.end()) << name;
  }
}

}  // namespace
}  // namespace poolnet
