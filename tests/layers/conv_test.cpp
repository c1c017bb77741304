// Conv1D/2D/3D: output shapes, forward against a direct-convolution oracle written here, gradients
// against double-precision finite differences and a direct backward oracle, layout independence,
// Keras configs and errors, weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <omp.h>

#include "poolnet/error.hpp"
#include "poolnet/layers/conv.hpp"
#include "poolnet/layers/registry.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using Json = nlohmann::json;
using Dims = std::vector<std::int64_t>;
using testing::contains;
using testing::expect_throws;
using testing::make_shape;
using testing::random_tensor;
using testing::transpose_layout;

constexpr DataFormat kLast = DataFormat::kChannelsLast;
constexpr DataFormat kFirst = DataFormat::kChannelsFirst;
constexpr ActivationKind kAllActivations[] = {ActivationKind::kLinear, ActivationKind::kRelu,
                                              ActivationKind::kSigmoid, ActivationKind::kTanh,
                                              ActivationKind::kElu, ActivationKind::kSoftmax};

// Everything that defines one convolution.
struct ConvArgs {
  int n = 2;
  std::int64_t filters = 1;
  Dims kernel, strides, dilation;
  Padding padding = Padding::kValid;
  DataFormat format = kLast;
  ActivationKind activation = ActivationKind::kLinear;
  bool use_bias = true;
};

std::string describe(const ConvArgs& a) {
  std::string s = "Conv" + std::to_string(a.n) + "D(filters=" + std::to_string(a.filters);
  s += ", kernel_size=" + dims_to_string(std::span<const std::int64_t>(a.kernel));
  s += ", strides=" + dims_to_string(std::span<const std::int64_t>(a.strides));
  s += ", dilation_rate=" + dims_to_string(std::span<const std::int64_t>(a.dilation));
  s += ", padding=" + std::string(to_string(a.padding));
  s += ", data_format=" + std::string(to_string(a.format));
  s += ", activation=" + std::string(to_string(a.activation));
  s += a.use_bias ? ", use_bias)" : ", no bias)";
  return s;
}

std::unique_ptr<ConvLayer> make_conv(const ConvArgs& a) {
  const IntOrTuple k(a.kernel), s(a.strides), d(a.dilation);
  const std::string_view padding = to_string(a.padding);
  const std::string_view format = to_string(a.format);
  const std::string_view act = to_string(a.activation);
  switch (a.n) {
    case 1: return std::make_unique<Conv1D>(a.filters, k, s, padding, format, d, act, a.use_bias);
    case 2: return std::make_unique<Conv2D>(a.filters, k, s, padding, format, d, act, a.use_bias);
    default: return std::make_unique<Conv3D>(a.filters, k, s, padding, format, d, act, a.use_bias);
  }
}

// ---- The oracle: direct convolution in double -------------------------------------------------

// Geometry from the TensorFlow rules, written out independently of poolnet's.
struct RefGeometry {
  std::int64_t batch = 0, channels = 0;
  std::array<std::int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1},
      pad{0, 0, 0};
  Shape output_shape;
};

RefGeometry ref_geometry(const ConvArgs& a, const Shape& input) {
  RefGeometry g;
  g.batch = input[0];
  g.channels = a.format == kLast ? input[-1] : input[1];
  const int first = a.format == kLast ? 1 : 2;
  const int off = 3 - a.n;
  Dims out_dims = input.to_vector();
  for (int i = 0; i < a.n; ++i) {
    const std::size_t ui = static_cast<std::size_t>(i);
    const std::int64_t in = input[first + i];
    const std::int64_t extent = (a.kernel[ui] - 1) * a.dilation[ui] + 1;
    std::int64_t out = 0, pad = 0;
    if (a.padding == Padding::kValid) {
      out = (in - extent) / a.strides[ui] + 1;
    } else {
      out = (in + a.strides[ui] - 1) / a.strides[ui];
      pad = std::max<std::int64_t>((out - 1) * a.strides[ui] + extent - in, 0) / 2;
    }
    g.in[static_cast<std::size_t>(off + i)] = in;
    g.out[static_cast<std::size_t>(off + i)] = out;
    g.k[static_cast<std::size_t>(off + i)] = a.kernel[ui];
    g.s[static_cast<std::size_t>(off + i)] = a.strides[ui];
    g.d[static_cast<std::size_t>(off + i)] = a.dilation[ui];
    g.pad[static_cast<std::size_t>(off + i)] = pad;
    out_dims[static_cast<std::size_t>(first + i)] = out;
  }
  out_dims[a.format == kLast ? static_cast<std::size_t>(a.n + 1) : 1] = a.filters;
  g.output_shape = Shape(out_dims);
  return g;
}

// Flat index of (b, c, p0, p1, p2) in a tensor of the given layout with spatial sizes `sp`.
std::int64_t flat(DataFormat f, const std::array<std::int64_t, 3>& sp, std::int64_t channels,
                  std::int64_t b, std::int64_t c, std::int64_t p0, std::int64_t p1, std::int64_t p2) {
  const std::int64_t pos = (p0 * sp[1] + p1) * sp[2] + p2;
  const std::int64_t spatial = sp[0] * sp[1] * sp[2];
  return f == kLast ? (b * spatial + pos) * channels + c : (b * channels + c) * spatial + pos;
}

// Calls fn(out_index, in_index, kernel_index) for every product term of the convolution.
template <typename Fn>
void for_each_term(const ConvArgs& a, const RefGeometry& g, Fn&& fn) {
  const std::int64_t C = g.channels, F = a.filters;
  for (std::int64_t b = 0; b < g.batch; ++b)
    for (std::int64_t o0 = 0; o0 < g.out[0]; ++o0)
      for (std::int64_t o1 = 0; o1 < g.out[1]; ++o1)
        for (std::int64_t o2 = 0; o2 < g.out[2]; ++o2)
          for (std::int64_t t0 = 0; t0 < g.k[0]; ++t0)
            for (std::int64_t t1 = 0; t1 < g.k[1]; ++t1)
              for (std::int64_t t2 = 0; t2 < g.k[2]; ++t2) {
                const std::int64_t i0 = o0 * g.s[0] - g.pad[0] + t0 * g.d[0];
                const std::int64_t i1 = o1 * g.s[1] - g.pad[1] + t1 * g.d[1];
                const std::int64_t i2 = o2 * g.s[2] - g.pad[2] + t2 * g.d[2];
                if (i0 < 0 || i0 >= g.in[0] || i1 < 0 || i1 >= g.in[1] || i2 < 0 || i2 >= g.in[2])
                  continue;
                const std::int64_t tap = (t0 * g.k[1] + t1) * g.k[2] + t2;
                for (std::int64_t c = 0; c < C; ++c)
                  for (std::int64_t f = 0; f < F; ++f)
                    fn(flat(a.format, g.out, F, b, f, o0, o1, o2),
                       flat(a.format, g.in, C, b, c, i0, i1, i2), (tap * C + c) * F + f);
              }
}

// Output-layout index of each output element's filter (for the bias).
std::vector<std::int64_t> filter_of_output(const ConvArgs& a, const RefGeometry& g) {
  std::vector<std::int64_t> filter(static_cast<std::size_t>(g.output_shape.elements()));
  for (std::int64_t b = 0; b < g.batch; ++b)
    for (std::int64_t f = 0; f < a.filters; ++f)
      for (std::int64_t o0 = 0; o0 < g.out[0]; ++o0)
        for (std::int64_t o1 = 0; o1 < g.out[1]; ++o1)
          for (std::int64_t o2 = 0; o2 < g.out[2]; ++o2)
            filter[static_cast<std::size_t>(flat(a.format, g.out, a.filters, b, f, o0, o1, o2))] = f;
  return filter;
}

// Activation on rows of the output's last axis (Keras's axis=-1), in double.
void ref_activate(ActivationKind kind, std::vector<double>& v, std::int64_t row) {
  switch (kind) {
    case ActivationKind::kLinear: return;
    case ActivationKind::kRelu: for (double& x : v) x = std::max(x, 0.0); return;
    case ActivationKind::kSigmoid: for (double& x : v) x = 1.0 / (1.0 + std::exp(-x)); return;
    case ActivationKind::kTanh: for (double& x : v) x = std::tanh(x); return;
    case ActivationKind::kElu: for (double& x : v) x = x > 0 ? x : std::expm1(x); return;
    case ActivationKind::kSoftmax:
      for (std::size_t start = 0; start < v.size(); start += static_cast<std::size_t>(row)) {
        double m = v[start], sum = 0;
        for (std::size_t i = start; i < start + static_cast<std::size_t>(row); ++i) m = std::max(m, v[i]);
        for (std::size_t i = start; i < start + static_cast<std::size_t>(row); ++i) sum += std::exp(v[i] - m);
        for (std::size_t i = start; i < start + static_cast<std::size_t>(row); ++i) v[i] = std::exp(v[i] - m) / sum;
      }
      return;
  }
}

std::vector<double> to_double(const Tensor& t) { return {t.values().begin(), t.values().end()}; }

// The pre-activation (with bias) in the output layout.
std::vector<double> ref_preactivation(const ConvArgs& a, const RefGeometry& g,
                                      const std::vector<double>& x, const std::vector<double>& w,
                                      const std::vector<double>& bias) {
  std::vector<double> z(static_cast<std::size_t>(g.output_shape.elements()), 0.0);
  for_each_term(a, g, [&](std::int64_t o, std::int64_t i, std::int64_t k) {
    z[static_cast<std::size_t>(o)] += x[static_cast<std::size_t>(i)] * w[static_cast<std::size_t>(k)];
  });
  if (a.use_bias) {
    const std::vector<std::int64_t> filter = filter_of_output(a, g);
    for (std::size_t o = 0; o < z.size(); ++o) z[o] += bias[static_cast<std::size_t>(filter[o])];
  }
  return z;
}

std::vector<double> ref_forward(const ConvArgs& a, const RefGeometry& g, const std::vector<double>& x,
                                const std::vector<double>& w, const std::vector<double>& bias) {
  std::vector<double> y = ref_preactivation(a, g, x, w, bias);
  ref_activate(a.activation, y, g.output_shape[-1]);
  return y;
}

// A random layer (built for `input_shape`, random kernel and bias) and a random input.
struct ConvCase {
  ConvArgs args;
  std::unique_ptr<ConvLayer> layer;
  Tensor input;
  RefGeometry geometry;
};

ConvCase make_case(const ConvArgs& a, const Shape& input_shape, std::uint32_t seed) {
  ConvCase s{a, make_conv(a), random_tensor(input_shape, seed), ref_geometry(a, input_shape)};
  Rng rng(seed);
  s.layer->build(input_shape, rng);
  s.layer->kernel().value = random_tensor(s.layer->kernel().value.shape(), seed + 1, -0.5f, 0.5f);
  if (a.use_bias) s.layer->bias().value = random_tensor(Shape{a.filters}, seed + 2, -0.5f, 0.5f);
  return s;
}

std::vector<double> bias_values(const ConvCase& s) {
  return s.args.use_bias ? to_double(s.layer->bias().value) : std::vector<double>{};
}

void expect_close(std::span<const float> actual, const std::vector<double>& expected, double rel,
                  const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int failures = 0;
  for (std::size_t i = 0; i < expected.size() && failures < 5; ++i) {
    const double tol = rel * std::max(1.0, std::abs(expected[i]));
    if (!(std::abs(static_cast<double>(actual[i]) - expected[i]) <= tol)) {
      ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected " << expected[i];
      ++failures;
    }
  }
}

// ---- (a) output shapes -------------------------------------------------------------------------

TEST(ConvShapes, KerasExamples) {
  // keras.io: input (None, 28, 28, 1), Conv2D(32, (3, 3)) -> (None, 26, 26, 32).
  EXPECT_EQ(Conv2D(32, {3, 3}).compute_output_shape(Shape{4, 28, 28, 1}), (Shape{4, 26, 26, 32}));
  EXPECT_EQ(Conv1D(32, 3).compute_output_shape(Shape{4, 10, 128}), (Shape{4, 8, 32}));
  EXPECT_EQ(Conv3D(2, 3).compute_output_shape(Shape{4, 28, 28, 28, 1}), (Shape{4, 26, 26, 26, 2}));
  EXPECT_EQ(Conv2D(2, 3, 1, "valid", "channels_first").compute_output_shape(Shape{4, 1, 28, 28}),
            (Shape{4, 2, 26, 26}));
}

TEST(ConvShapes, PaddingStridesDilation) {
  struct Case {
    ConvArgs args;
    Shape input, expected;
  };
  auto args = [](int n, std::int64_t f, Dims k, Dims s, Dims d, Padding p, DataFormat fmt) {
    ConvArgs a;
    a.n = n;
    a.filters = f;
    a.kernel = std::move(k);
    a.strides = std::move(s);
    a.dilation = std::move(d);
    a.padding = p;
    a.format = fmt;
    return a;
  };
  const Padding V = Padding::kValid, S = Padding::kSame;
  const std::vector<Case> cases = {
      {args(2, 8, {3, 3}, {2, 2}, {1, 1}, S, kLast), Shape{2, 28, 28, 3}, Shape{2, 14, 14, 8}},
      {args(2, 8, {3, 3}, {2, 2}, {1, 1}, V, kLast), Shape{2, 28, 28, 3}, Shape{2, 13, 13, 8}},
      {args(2, 8, {3, 3}, {1, 1}, {2, 2}, V, kLast), Shape{2, 28, 28, 3}, Shape{2, 24, 24, 8}},
      {args(2, 8, {3, 3}, {1, 1}, {2, 2}, S, kFirst), Shape{2, 3, 28, 27}, Shape{2, 8, 28, 27}},
      {args(2, 5, {3, 1}, {3, 2}, {1, 1}, S, kFirst), Shape{1, 3, 10, 7}, Shape{1, 5, 4, 4}},
      {args(1, 4, {5}, {1}, {3}, V, kLast), Shape{3, 13, 2}, Shape{3, 1, 4}},
      {args(1, 4, {5}, {4}, {1}, S, kFirst), Shape{3, 2, 13}, Shape{3, 4, 4}},
      {args(3, 6, {2, 3, 1}, {1, 2, 3}, {1, 1, 1}, V, kLast), Shape{1, 5, 7, 7, 2}, Shape{1, 4, 3, 3, 6}},
      {args(3, 6, {3, 3, 3}, {1, 1, 1}, {1, 2, 3}, V, kFirst), Shape{1, 2, 5, 7, 7}, Shape{1, 6, 3, 3, 1}},
      {args(3, 6, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, S, kFirst), Shape{1, 2, 5, 6, 1}, Shape{1, 6, 3, 3, 1}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c.args) + " on " + c.input.to_string());
    const auto layer = make_conv(c.args);
    EXPECT_EQ(layer->compute_output_shape(c.input), c.expected);
    EXPECT_EQ(ref_geometry(c.args, c.input).output_shape, c.expected);
    Rng rng(1);
    layer->build(c.input, rng);
    EXPECT_EQ(layer->forward(random_tensor(c.input, 3)).shape(), c.expected);
  }
}

// ---- (b) forward against the oracle -------------------------------------------------------------

// A random configuration that fits its input; `big` makes tiles and batch groups split.
std::pair<ConvArgs, Shape> random_config(std::mt19937& gen, int index) {
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(gen);
  };
  ConvArgs a;
  a.n = static_cast<int>(pick(1, 3));
  a.filters = pick(1, 6);
  a.format = pick(0, 1) ? kFirst : kLast;
  a.padding = pick(0, 1) ? Padding::kSame : Padding::kValid;
  a.activation = kAllActivations[index % 6];
  a.use_bias = pick(0, 3) != 0;
  const bool dilated = pick(0, 2) == 0;
  Dims spatial;
  for (int i = 0; i < a.n; ++i) {
    const std::int64_t k = pick(1, a.n == 3 ? 3 : 4);
    const std::int64_t d = dilated ? pick(1, 3) : 1;
    const std::int64_t s = dilated ? 1 : pick(1, 3);
    a.kernel.push_back(k);
    a.dilation.push_back(d);
    a.strides.push_back(s);
    spatial.push_back((k - 1) * d + 1 + pick(0, a.n == 3 ? 3 : 6));
  }
  const std::int64_t channels = pick(1, 5);
  return {a, make_shape(pick(1, 3), spatial, channels, a.format)};
}

TEST(ConvForward, MatchesDirectConvolutionOnRandomConfigs) {
  std::mt19937 gen(20240601);
  for (int i = 0; i < 150; ++i) {
    const auto [args, shape] = random_config(gen, i);
    SCOPED_TRACE(describe(args) + " on " + shape.to_string());
    const ConvCase s = make_case(args, shape, static_cast<std::uint32_t>(100 + i));
    const Tensor y = s.layer->forward(s.input);
    ASSERT_EQ(y.shape(), s.geometry.output_shape);
    expect_close(y.values(),
                 ref_forward(args, s.geometry, to_double(s.input), to_double(s.layer->kernel().value),
                             bias_values(s)),
                 1e-5, "output");
  }
}

TEST(ConvForward, PointwiseAndLargeConfigs) {
  // 1x1 kernels with stride 1 skip im2col; the larger ones split into several tiles.
  std::vector<std::pair<ConvArgs, Shape>> cases;
  for (const DataFormat f : {kLast, kFirst}) {
    ConvArgs a;
    a.n = 2;
    a.filters = 7;
    a.kernel = {1, 1};
    a.strides = {1, 1};
    a.dilation = {1, 1};
    a.format = f;
    a.activation = ActivationKind::kTanh;
    cases.emplace_back(a, make_shape(3, {5, 6}, 4, f));
    a.kernel = {3, 3};
    a.padding = Padding::kSame;
    a.filters = 8;
    a.activation = ActivationKind::kSoftmax;
    cases.emplace_back(a, make_shape(3, {17, 19}, 40, f));
  }
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& [args, shape] = cases[i];
    SCOPED_TRACE(describe(args) + " on " + shape.to_string());
    const ConvCase s = make_case(args, shape, static_cast<std::uint32_t>(7 + i));
    expect_close(s.layer->forward(s.input).values(),
                 ref_forward(args, s.geometry, to_double(s.input), to_double(s.layer->kernel().value),
                             bias_values(s)),
                 1e-5, "output");
  }
}

TEST(ConvForward, SoftmaxIsOverTheLastAxisOfTheOutput) {
  // Keras applies activations on axis -1: the filters for channels_last, the last spatial axis
  // for channels_first.
  for (const DataFormat f : {kLast, kFirst}) {
    Conv2D layer(3, 2, 1, "valid", to_string(f), 1, "softmax");
    const Shape shape = make_shape(2, {4, 5}, 2, f);
    Rng rng(5);
    layer.build(shape, rng);
    const Tensor y = layer.forward(random_tensor(shape, 9));
    const std::int64_t row = y.dim(-1);
    EXPECT_EQ(row, f == kLast ? 3 : 4);
    for (std::int64_t start = 0; start < y.size(); start += row) {
      double sum = 0;
      for (std::int64_t i = start; i < start + row; ++i) sum += y[i];
      EXPECT_NEAR(sum, 1.0, 1e-6);
    }
  }
}

// ---- (c) gradients -----------------------------------------------------------------------------

// Checks backward_train's input, kernel and bias gradients (and backward()'s input gradient) of
// L = sum(output * w) against central differences of the double oracle.
void check_gradients(const ConvArgs& args, const Shape& shape, std::uint32_t seed) {
  SCOPED_TRACE(describe(args) + " on " + shape.to_string());
  ConvCase s = make_case(args, shape, seed);
  std::vector<double> x = to_double(s.input);
  std::vector<double> w = to_double(s.layer->kernel().value);
  std::vector<double> b = bias_values(s);
  // Keep relu away from its kink: re-draw until no pre-activation is near 0.
  if (args.activation == ActivationKind::kRelu) {
    for (std::uint32_t retry = 1; retry < 200; ++retry) {
      const std::vector<double> z = ref_preactivation(args, s.geometry, x, w, b);
      if (std::none_of(z.begin(), z.end(), [](double v) { return std::abs(v) < 1e-3; })) break;
      s.input = random_tensor(shape, seed + 1000 * retry);
      x = to_double(s.input);
    }
  }
  const Tensor weights = random_tensor(s.geometry.output_shape, seed + 77);
  const std::vector<double> lw = to_double(weights);
  // The oracle's product terms, listed once: every loss evaluation replays them.
  struct Term {
    std::size_t o, i, k;
  };
  std::vector<Term> terms;
  for_each_term(args, s.geometry, [&](std::int64_t o, std::int64_t i, std::int64_t k) {
    terms.push_back({static_cast<std::size_t>(o), static_cast<std::size_t>(i), static_cast<std::size_t>(k)});
  });
  const std::vector<std::int64_t> filter = filter_of_output(args, s.geometry);
  std::vector<double> y(lw.size());
  auto loss = [&]() {
    for (std::size_t o = 0; o < y.size(); ++o) y[o] = args.use_bias ? b[static_cast<std::size_t>(filter[o])] : 0.0;
    for (const Term& t : terms) y[t.o] += x[t.i] * w[t.k];
    ref_activate(args.activation, y, s.geometry.output_shape[-1]);
    double sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += y[i] * lw[i];
    return sum;
  };
  auto numeric = [&](std::vector<double>& v) {
    constexpr double eps = 1e-5;
    std::vector<double> g(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      const double saved = v[i];
      v[i] = saved + eps;
      const double plus = loss();
      v[i] = saved - eps;
      const double minus = loss();
      v[i] = saved;
      g[i] = (plus - minus) / (2 * eps);
    }
    return g;
  };

  const Tensor output = s.layer->forward(s.input);
  for (Parameter* p : s.layer->parameters()) p->grad.fill(0.0f);
  const Tensor grad_input = s.layer->backward_train(s.input, output, weights);
  expect_close(grad_input.values(), numeric(x), 1e-4, "input gradient");
  expect_close(s.layer->kernel().grad.values(), numeric(w), 1e-4, "kernel gradient");
  if (args.use_bias) expect_close(s.layer->bias().grad.values(), numeric(b), 1e-4, "bias gradient");

  const Tensor const_grad = s.layer->backward(s.input, weights);
  ASSERT_EQ(const_grad.shape(), grad_input.shape());
  for (std::int64_t i = 0; i < const_grad.size(); ++i) ASSERT_EQ(const_grad[i], grad_input[i]);
}

TEST(ConvGradient, FiniteDifferencesEveryRankFormatPaddingDilationActivation) {
  std::uint32_t seed = 1;
  for (int n = 1; n <= 3; ++n)
    for (const DataFormat f : {kLast, kFirst})
      for (const Padding p : {Padding::kValid, Padding::kSame})
        for (const bool dilated : {false, true})
          for (const ActivationKind act :
               {ActivationKind::kLinear, ActivationKind::kRelu, ActivationKind::kTanh}) {
            ConvArgs a;
            a.n = n;
            a.filters = n == 3 ? 2 : 3;
            a.format = f;
            a.padding = p;
            a.activation = act;
            a.use_bias = !(dilated && act == ActivationKind::kTanh);
            Dims spatial;
            const Dims sizes = n == 1 ? Dims{9} : n == 2 ? Dims{6, 7} : Dims{5, 4, 5};
            for (int i = 0; i < n; ++i) {
              a.kernel.push_back(n == 3 ? 2 : 3 - (i % 2));
              a.dilation.push_back(dilated ? 2 - (i % 2) : 1);
              a.strides.push_back(dilated ? 1 : 1 + ((i + n) % 2));
              spatial.push_back(sizes[static_cast<std::size_t>(i)]);
            }
            check_gradients(a, make_shape(2, spatial, 2, f), seed++);
          }
}

TEST(ConvGradient, FiniteDifferencesOtherActivationsAndPointwise) {
  std::uint32_t seed = 500;
  for (const DataFormat f : {kLast, kFirst})
    for (const ActivationKind act :
         {ActivationKind::kSigmoid, ActivationKind::kElu, ActivationKind::kSoftmax}) {
      ConvArgs a;
      a.n = 2;
      a.filters = 3;
      a.kernel = {2, 3};
      a.strides = {1, 2};
      a.dilation = {1, 1};
      a.format = f;
      a.padding = Padding::kSame;
      a.activation = act;
      check_gradients(a, make_shape(2, {4, 5}, 2, f), seed++);
      a.kernel = {1, 1};
      a.strides = {1, 1};
      a.activation = ActivationKind::kTanh;
      check_gradients(a, make_shape(2, {3, 4}, 3, f), seed++);
    }
}

// A direct backward oracle for configurations too large for finite differences: several tiles
// per batch group, several groups, gradients accumulated over calls.
TEST(ConvGradient, LargeConfigsMatchDirectBackward) {
  std::vector<std::pair<ConvArgs, Shape>> cases;
  {
    ConvArgs a;
    a.n = 2;
    a.filters = 8;
    a.kernel = {3, 3};
    a.strides = {1, 1};
    a.dilation = {1, 1};
    a.activation = ActivationKind::kRelu;
    a.padding = Padding::kSame;
    cases.emplace_back(a, make_shape(2, {24, 26}, 40, kLast));  // several tiles per group
    a.format = kFirst;
    a.activation = ActivationKind::kSigmoid;
    a.padding = Padding::kValid;
    a.filters = 5;
    cases.emplace_back(a, make_shape(37, {9, 8}, 3, kFirst));  // several batch groups
    a.n = 1;
    a.kernel = {1};
    a.strides = {1};
    a.dilation = {1};
    a.format = kLast;
    cases.emplace_back(a, make_shape(33, {40}, 6, kLast));  // pointwise, groups and tiles
  }
  std::uint32_t seed = 900;
  for (const auto& [args, shape] : cases) {
    SCOPED_TRACE(describe(args) + " on " + shape.to_string());
    ConvCase s = make_case(args, shape, seed++);
    const Tensor dy = random_tensor(s.geometry.output_shape, seed++);
    const std::vector<double> x = to_double(s.input), w = to_double(s.layer->kernel().value);
    const std::vector<double> b = bias_values(s);
    // dZ from the oracle's output, then the adjoint of every product term.
    const std::vector<double> y = ref_forward(args, s.geometry, x, w, b);
    std::vector<double> dz(y.size());
    for (std::size_t i = 0; i < y.size(); ++i) {
      const double g = dy[static_cast<std::int64_t>(i)];
      dz[i] = args.activation == ActivationKind::kRelu ? (y[i] > 0 ? g : 0.0) : g * y[i] * (1 - y[i]);
    }
    std::vector<double> dx(x.size(), 0.0), dw(w.size(), 0.0), db(b.size(), 0.0);
    for_each_term(args, s.geometry, [&](std::int64_t o, std::int64_t i, std::int64_t k) {
      dx[static_cast<std::size_t>(i)] += dz[static_cast<std::size_t>(o)] * w[static_cast<std::size_t>(k)];
      dw[static_cast<std::size_t>(k)] += dz[static_cast<std::size_t>(o)] * x[static_cast<std::size_t>(i)];
    });
    const std::vector<std::int64_t> filter = filter_of_output(args, s.geometry);
    for (std::size_t o = 0; o < dz.size(); ++o) db[static_cast<std::size_t>(filter[o])] += dz[o];

    const Tensor output = s.layer->forward(s.input);
    expect_close(output.values(), y, 1e-5, "output");
    for (Parameter* p : s.layer->parameters()) p->grad.fill(0.0f);
    // Two calls: parameter gradients add up.
    (void)s.layer->backward_train(s.input, output, dy);
    const Tensor gx = s.layer->backward_train(s.input, output, dy);
    expect_close(gx.values(), dx, 1e-4, "input gradient");
    for (double& v : dw) v *= 2;
    for (double& v : db) v *= 2;
    expect_close(s.layer->kernel().grad.values(), dw, 1e-4, "kernel gradient");
    expect_close(s.layer->bias().grad.values(), db, 1e-4, "bias gradient");
  }
}

TEST(ConvGradient, RepeatedCallsAreBitwiseIdentical) {
  ConvArgs a;
  a.n = 2;
  a.filters = 6;
  a.kernel = {3, 3};
  a.strides = {1, 1};
  a.dilation = {1, 1};
  a.activation = ActivationKind::kTanh;
  const Shape shape = make_shape(20, {10, 10}, 4, kLast);
  ConvCase s = make_case(a, shape, 31);
  const Tensor dy = random_tensor(s.geometry.output_shape, 32);
  std::vector<Tensor> results;
  for (int run = 0; run < 2; ++run) {
    for (Parameter* p : s.layer->parameters()) p->grad.fill(0.0f);
    const Tensor y = s.layer->forward(s.input);
    results.push_back(y);
    results.push_back(s.layer->backward_train(s.input, y, dy));
    results.push_back(s.layer->kernel().grad);
    results.push_back(s.layer->bias().grad);
  }
  for (std::size_t i = 0; i < 4; ++i)
    for (std::int64_t j = 0; j < results[i].size(); ++j) ASSERT_EQ(results[i][j], results[i + 4][j]);
}

// The training interface: outputs go into caller-owned tensors that are reused (and may hold
// stale values from a larger earlier call), and a null grad_input (the model's first layer)
// skips the input gradient but still gives the same parameter gradients, bit for bit.
TEST(ConvGradient, TrainingIntoReusedTensorsAndWithoutInputGradient) {
  for (const DataFormat format : {kLast, kFirst}) {
    for (const ActivationKind act : {ActivationKind::kRelu, ActivationKind::kLinear}) {
      ConvArgs a;
      a.n = 2;
      a.filters = 6;
      a.kernel = {3, 3};
      a.strides = {1, 1};
      a.dilation = {1, 1};
      a.format = format;
      a.activation = act;
      ConvCase s = make_case(a, make_shape(9, {8, 7}, 3, format), 71);
      SCOPED_TRACE(describe(a));
      const Tensor dy = random_tensor(s.geometry.output_shape, 72);
      const Tensor y = s.layer->forward(s.input);
      const Tensor gx = s.layer->backward(s.input, dy);
      for (Parameter* p : s.layer->parameters()) p->grad.fill(0.0f);
      (void)s.layer->backward_train(s.input, y, dy);
      const Tensor kernel_grad = s.layer->kernel().grad;
      const Tensor bias_grad = s.layer->bias().grad;

      // Buffers that already hold garbage, larger than needed.
      Tensor y_into(Shape{1000}, 7.0f), gx_into(Shape{2000}, -3.0f);
      Rng rng(1);
      s.layer->forward_train(s.input, y_into, rng);
      ASSERT_EQ(y_into.shape(), y.shape());
      for (std::int64_t i = 0; i < y.size(); ++i) ASSERT_EQ(y_into[i], y[i]) << i;
      for (Parameter* p : s.layer->parameters()) p->grad.fill(0.0f);
      s.layer->backward_train(s.input, y_into, dy, &gx_into);
      ASSERT_EQ(gx_into.shape(), s.input.shape());
      for (std::int64_t i = 0; i < gx.size(); ++i) ASSERT_EQ(gx_into[i], gx[i]) << i;

      for (Parameter* p : s.layer->parameters()) p->grad.fill(0.0f);
      s.layer->backward_train(s.input, y_into, dy, nullptr);
      for (std::int64_t i = 0; i < kernel_grad.size(); ++i)
        ASSERT_EQ(s.layer->kernel().grad[i], kernel_grad[i]) << i;
      for (std::int64_t i = 0; i < bias_grad.size(); ++i) ASSERT_EQ(s.layer->bias().grad[i], bias_grad[i]) << i;
    }
  }
}

TEST(ConvGradient, ParameterAndInputGradientsDoNotDependOnTheThreadCount) {
  // Batch groups and their partial sums are fixed by the problem, not by the thread count.
  ConvArgs a;
  a.n = 2;
  a.filters = 16;
  a.kernel = {3, 3};
  a.strides = {1, 1};
  a.dilation = {1, 1};
  a.padding = Padding::kSame;
  a.activation = ActivationKind::kRelu;
  const Shape shape = make_shape(24, {12, 12}, 8, kFirst);
  ConvCase s = make_case(a, shape, 61);
  const Tensor dy = random_tensor(s.geometry.output_shape, 62);
  const Tensor y = s.layer->forward(s.input);
  const int saved = omp_get_max_threads();
  std::vector<Tensor> results;
  for (const int threads : {1, 3}) {
    omp_set_num_threads(threads);
    for (Parameter* p : s.layer->parameters()) p->grad.fill(0.0f);
    results.push_back(s.layer->backward_train(s.input, y, dy));
    results.push_back(s.layer->kernel().grad);
    results.push_back(s.layer->bias().grad);
  }
  omp_set_num_threads(saved);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < results[i].size(); ++j) ASSERT_EQ(results[i][j], results[i + 3][j]) << i;
}

// ---- (d) layout independence ---------------------------------------------------------------------

TEST(ConvLayout, ChannelsFirstAgreesWithChannelsLastOnTransposedInputs) {
  std::uint32_t seed = 40;
  for (int n = 1; n <= 3; ++n)
    for (const Padding p : {Padding::kValid, Padding::kSame}) {
      ConvArgs a;
      a.n = n;
      a.filters = 4;
      a.padding = p;
      a.activation = ActivationKind::kElu;
      for (int i = 0; i < n; ++i) {
        a.kernel.push_back(3 - i);
        a.strides.push_back(1 + i % 2);
        a.dilation.push_back(1);
      }
      const Dims spatial = n == 1 ? Dims{11} : n == 2 ? Dims{7, 6} : Dims{5, 6, 4};
      const Shape last_shape = make_shape(3, spatial, 3, kLast);
      SCOPED_TRACE(describe(a));
      ConvCase cl = make_case(a, last_shape, seed);
      ConvArgs af = a;
      af.format = kFirst;
      auto cf = make_conv(af);
      const Tensor x_first = transpose_layout(cl.input, kLast);
      Rng rng(0);
      cf->build(x_first.shape(), rng);
      cf->kernel().value = cl.layer->kernel().value;
      cf->bias().value = cl.layer->bias().value;

      const Tensor y_last = cl.layer->forward(cl.input);
      const Tensor y_first = cf->forward(x_first);
      const Tensor y_back = transpose_layout(y_first, kFirst);
      ASSERT_EQ(y_back.shape(), y_last.shape());
      for (std::int64_t i = 0; i < y_last.size(); ++i) EXPECT_NEAR(y_back[i], y_last[i], 1e-6);

      const Tensor dy = random_tensor(y_last.shape(), seed + 1);
      for (Parameter* q : cl.layer->parameters()) q->grad.fill(0.0f);
      for (Parameter* q : cf->parameters()) q->grad.fill(0.0f);
      const Tensor gx_last = cl.layer->backward_train(cl.input, y_last, dy);
      const Tensor gx_first = cf->backward_train(x_first, y_first, transpose_layout(dy, kLast));
      const Tensor gx_back = transpose_layout(gx_first, kFirst);
      for (std::int64_t i = 0; i < gx_last.size(); ++i) EXPECT_NEAR(gx_back[i], gx_last[i], 1e-5);
      for (std::int64_t i = 0; i < cl.layer->kernel().grad.size(); ++i)
        EXPECT_NEAR(cf->kernel().grad[i], cl.layer->kernel().grad[i], 1e-4);
      for (std::int64_t i = 0; i < a.filters; ++i)
        EXPECT_NEAR(cf->bias().grad[i], cl.layer->bias().grad[i], 1e-4);
      ++seed;
    }
}

// ---- (e) configs and errors ----------------------------------------------------------------------

TEST(ConvConfig, RoundTripsThroughMakeLayer) {
  const std::vector<std::pair<std::string, Json>> configs = {
      {"Conv1D", {{"filters", 4}, {"kernel_size", 3}}},
      {"Conv1D", {{"filters", 4}, {"kernel_size", {5}}, {"strides", 2}, {"padding", "SAME"},
                  {"data_format", "channels_first"}, {"activation", "tanh"}, {"use_bias", false},
                  {"name", "c1"}}},
      {"Conv2D", {{"filters", 32}, {"kernel_size", {3, 3}}, {"activation", "relu"}}},
      {"Conv2D", {{"filters", 2}, {"kernel_size", {3, 2}}, {"dilation_rate", {2, 1}},
                  {"padding", "same"}, {"activation", nullptr}, {"trainable", false}}},
      {"Conv3D", {{"filters", 3}, {"kernel_size", 2}, {"strides", {1, 2, 3}},
                  {"data_format", "channels_first"}, {"activation", "softmax"}}},
  };
  for (const auto& [cls, config] : configs) {
    SCOPED_TRACE(cls + " " + config.dump());
    const auto layer = make_layer(cls, config);
    EXPECT_EQ(layer->class_name(), cls);
    const Json out = layer->get_config();
    const int n = cls[4] - '0';
    EXPECT_EQ(out["filters"], config["filters"]);
    EXPECT_TRUE(out["kernel_size"].is_array());
    EXPECT_EQ(out["kernel_size"].size(), static_cast<std::size_t>(n));
    EXPECT_EQ(out["strides"].size(), static_cast<std::size_t>(n));
    EXPECT_EQ(out["dilation_rate"].size(), static_cast<std::size_t>(n));
    EXPECT_EQ(out["dtype"], "float32");
    EXPECT_EQ(out["groups"], 1);
    EXPECT_EQ(out["trainable"], config.value("trainable", true));
    const auto again = make_layer(cls, out);
    EXPECT_EQ(again->get_config(), out);
  }
  const Json c = make_layer("Conv1D", configs[1].second)->get_config();
  EXPECT_EQ(c["name"], "c1");
  EXPECT_EQ(c["kernel_size"], Json({5}));
  EXPECT_EQ(c["strides"], Json({2}));
  EXPECT_EQ(c["padding"], "same");
  EXPECT_EQ(c["data_format"], "channels_first");
  EXPECT_EQ(c["activation"], "tanh");
  EXPECT_EQ(c["use_bias"], false);
  EXPECT_EQ(make_layer("Conv2D", configs[3].second)->get_config()["activation"], "linear");
  EXPECT_EQ(make_layer("Conv2D", configs[2].second)->name(), "conv2d");
}

TEST(ConvConfig, AcceptsAKeras3ExportedConfig) {
  const Json config = Json::parse(R"({
    "name": "conv2d_1", "trainable": true,
    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null},
    "filters": 64, "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
    "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": "relu",
    "use_bias": true,
    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null}, "registered_name": null},
    "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null},
    "kernel_regularizer": null, "bias_regularizer": null, "activity_regularizer": null,
    "kernel_constraint": null, "bias_constraint": null})");
  const auto layer = make_layer("Conv2D", config);
  EXPECT_EQ(layer->name(), "conv2d_1");
  EXPECT_EQ(layer->compute_output_shape(Shape{1, 13, 13, 32}), (Shape{1, 11, 11, 64}));
  Json keras2 = config;
  keras2["dtype"] = "float32";
  keras2["kernel_initializer"] = Json{{"class_name", "GlorotUniform"}, {"config", {{"seed", nullptr}}}};
  keras2["bias_initializer"] = "zeros";
  EXPECT_NO_THROW(make_layer("Conv2D", keras2));
}

TEST(ConvConfig, RejectsWhatPoolnetDoesNotSupport) {
  const Json base = {{"filters", 4}, {"kernel_size", {3, 3}}};
  auto with = [&](const std::string& key, const Json& value) {
    Json c = base;
    c[key] = value;
    return c;
  };
  const std::vector<std::pair<Json, std::vector<std::string_view>>> cases = {
      {with("groups", 2), {"Conv2D", "groups", "2", "not supported"}},
      {with("kernel_regularizer", {{"class_name", "L2"}, {"config", {{"l2", 0.01}}}}),
       {"Conv2D", "kernel_regularizer", "not supported"}},
      {with("activity_regularizer", "l2"), {"activity_regularizer", "not supported"}},
      {with("bias_constraint", {{"class_name", "NonNeg"}}), {"bias_constraint", "not supported"}},
      {with("kernel_initializer", "he_normal"), {"kernel_initializer", "he_normal", "not supported"}},
      {with("bias_initializer", {{"class_name", "Ones"}, {"config", Json::object()}}),
       {"bias_initializer", "Ones", "not supported"}},
      {with("padding", "causal"), {"Conv2D", "padding", "causal", "not supported"}},
      {with("filters", 0), {"Conv2D", "filters", "0"}},
      {with("kernel_size", {3, 3, 3}), {"Conv2D", "kernel_size", "(3, 3, 3)"}},
      {with("activation", "swish"), {"Conv2D", "swish"}},
      {with("kernel_sizes", 3), {"Conv2D", "unknown config key 'kernel_sizes'"}},
      {with("use_bias", "yes"), {"Conv2D", "use_bias"}},
      {with("dtype", "float64"), {"Conv2D", "dtype", "float64"}},
      {Json{{"kernel_size", 3}}, {"Conv2D", "filters"}},
      {Json{{"filters", 3}}, {"Conv2D", "kernel_size"}},
  };
  for (const auto& [config, pieces] : cases) {
    SCOPED_TRACE(config.dump());
    try {
      (void)make_layer("Conv2D", config);
      ADD_FAILURE() << "accepted";
    } catch (const ArgumentError& e) {
      for (const std::string_view piece : pieces)
        EXPECT_TRUE(contains(e.what(), piece)) << "message lacks \"" << piece << "\": " << e.what();
    }
  }
}

TEST(ConvErrors, ConstructorArguments) {
  expect_throws<ArgumentError>([] { Conv2D(0, 3); }, {"Conv2D", "filters", "0"});
  expect_throws<ArgumentError>([] { Conv1D(-2, 3); }, {"Conv1D", "filters", "-2"});
  expect_throws<ArgumentError>([] { Conv2D(1, {3, 0}); }, {"Conv2D", "kernel_size", "(3, 0)"});
  expect_throws<ArgumentError>([] { Conv2D(1, {3, 3, 3}); }, {"Conv2D", "kernel_size", "(3, 3, 3)"});
  expect_throws<ArgumentError>([] { Conv3D(1, 3, IntOrTuple({1, 1})); }, {"Conv3D", "strides", "(1, 1)"});
  expect_throws<ArgumentError>([] { Conv2D(1, 3, IntOrTuple({1, 0})); }, {"Conv2D", "strides", "(1, 0)"});
  expect_throws<ArgumentError>([] { Conv1D(1, 3, 1, "valid", "channels_last", 0); },
                               {"Conv1D", "dilation_rate", "(0,)"});
  expect_throws<ArgumentError>([] { Conv2D(1, 3, IntOrTuple({2, 1}), "valid", "channels_last", IntOrTuple({1, 2})); },
                               {"Conv2D", "strides", "dilation_rate", "(2, 1)", "(1, 2)"});
  expect_throws<ArgumentError>([] { Conv1D(1, 3, 1, "causal"); }, {"Conv1D", "padding", "'causal'", "not supported"});
  expect_throws<ArgumentError>([] { Conv2D(1, 3, 1, "full"); }, {"Conv2D", "padding", "'full'"});
  expect_throws<ArgumentError>([] { Conv2D(1, 3, 1, "valid", "NHWC"); }, {"Conv2D", "data_format", "'NHWC'"});
  expect_throws<ArgumentError>([] { Conv2D(1, 3, 1, "valid", "channels_last", 1, "gelu"); },
                               {"Conv2D", "activation", "gelu"});
  // Case-insensitive like Keras.
  EXPECT_NO_THROW(Conv2D(1, 3, 1, "SAME", "Channels_First"));
}

TEST(ConvErrors, InputShapes) {
  Conv2D layer(4, 3);
  expect_throws<Error>([&] { (void)layer.forward(Tensor(Shape{1, 5, 5, 2})); },
                       {"Conv2D", "not built"});
  expect_throws<ShapeError>([&] { (void)layer.compute_output_shape(Shape{5, 5, 2}); },
                            {"Conv2D", "rank 4", "(5, 5, 2)", "channels_last"});
  expect_throws<ShapeError>([&] { (void)layer.compute_output_shape(Shape{1, 2, 5, 2}); },
                            {"Conv2D", "'valid'", "(1, 2, 5, 2)", "channels_last"});
  // The hint names the other layout when the kernel would fit it.
  expect_throws<ShapeError>([&] { (void)layer.compute_output_shape(Shape{1, 1, 28, 28}); },
                            {"Conv2D", "(1, 1, 28, 28)", "channels_first"});
  Rng rng(1);
  layer.build(Shape{1, 5, 5, 2}, rng);
  expect_throws<ShapeError>([&] { (void)layer.forward(Tensor(Shape{1, 5, 5, 3})); },
                            {"Conv2D", "3 channels", "built for 2", "(1, 5, 5, 3)", "channels_last"});
  expect_throws<ShapeError>([&] { layer.build(Shape{1, 5, 5, 3}, rng); }, {"Conv2D", "built for 2"});
  expect_throws<ShapeError>([&] { (void)layer.backward(Tensor(Shape{1, 5, 5, 2}), Tensor(Shape{1, 3, 3, 3})); },
                            {"Conv2D", "grad_output", "(1, 3, 3, 3)", "(1, 3, 3, 4)"});
  Conv3D dilated(1, 3, 1, "valid", "channels_first", IntOrTuple({1, 1, 3}));
  expect_throws<ShapeError>([&] { (void)dilated.compute_output_shape(Shape{1, 2, 5, 5, 6}); },
                            {"Conv3D", "dilation_rate", "(1, 1, 3)", "7", "(1, 2, 5, 5, 6)", "channels_first"});
  // An empty batch is fine.
  EXPECT_EQ(layer.forward(Tensor(Shape{0, 5, 5, 2})).shape(), (Shape{0, 3, 3, 4}));
  // Weights replaced with ones of the wrong shape are reported, not read out of bounds.
  layer.kernel().value = Tensor(Shape{3, 2, 2, 4});
  expect_throws<Error>([&] { (void)layer.forward(Tensor(Shape{1, 5, 5, 2})); },
                       {"Conv2D", "weights do not fit", "(3, 2, 2, 4)"});
  layer.kernel().value = Tensor(Shape{3, 3, 2, 4});
  layer.bias().value = Tensor(Shape{5});
  expect_throws<Error>([&] { (void)layer.forward(Tensor(Shape{1, 5, 5, 2})); },
                       {"Conv2D", "bias shape (5,)"});
}

// ---- (f) weights ---------------------------------------------------------------------------------

TEST(ConvWeights, BuildCountsAndDeterminism) {
  Conv2D a(32, {3, 3}), b(32, {3, 3}), c(32, {3, 3});
  EXPECT_TRUE(a.parameters().empty());
  Rng r1(42), r2(42), r3(43);
  a.build(Shape{1, 28, 28, 1}, r1);
  b.build(Shape{8, 28, 28, 1}, r2);
  c.build(Shape{1, 28, 28, 1}, r3);
  EXPECT_EQ(a.count_params(), 320);
  EXPECT_EQ(a.kernel().value.shape(), (Shape{3, 3, 1, 32}));
  EXPECT_EQ(a.bias().value.shape(), (Shape{32}));
  EXPECT_EQ(a.kernel().grad.shape(), (Shape{3, 3, 1, 32}));
  bool differs = false;
  const float limit = std::sqrt(6.0f / (9 * 1 + 9 * 32));
  for (std::int64_t i = 0; i < a.kernel().value.size(); ++i) {
    EXPECT_EQ(a.kernel().value[i], b.kernel().value[i]);
    EXPECT_LE(std::abs(a.kernel().value[i]), limit);
    differs = differs || a.kernel().value[i] != c.kernel().value[i];
  }
  EXPECT_TRUE(differs);
  for (std::int64_t i = 0; i < 32; ++i) EXPECT_EQ(a.bias().value[i], 0.0f);

  // Building again with the same channel count keeps the weights.
  const Tensor before = a.kernel().value;
  a.build(Shape{3, 10, 10, 1}, r1);
  for (std::int64_t i = 0; i < before.size(); ++i) EXPECT_EQ(a.kernel().value[i], before[i]);

  Conv2D second(64, {3, 3});
  second.build(Shape{1, 13, 13, 32}, r1);
  EXPECT_EQ(second.count_params(), 18496);
  Conv1D no_bias(5, 3, 1, "valid", "channels_last", 1, "linear", false);
  no_bias.build(Shape{1, 10, 4}, r1);
  EXPECT_EQ(no_bias.count_params(), 60);
  EXPECT_EQ(no_bias.parameters().size(), 1u);
  Conv3D cf(2, {2, 3, 4}, 1, "valid", "channels_first");
  cf.build(Shape{1, 3, 5, 5, 5}, r1);
  EXPECT_EQ(cf.kernel().value.shape(), (Shape{2, 3, 4, 3, 2}));
  EXPECT_EQ(cf.count_params(), 2 * 3 * 4 * 3 * 2 + 2);
}

}  // namespace
}  // namespace poolnet
