// Non-finite inputs, ties and padding (docs/SEMANTICS.md sections 4, 5, 6 and 7): NaN propagates
// through max and average pooling from every window position and in every channel (channel
// counts 1, 3 and 17 so that SIMD bodies and scalar tails are both exercised once they exist),
// infinities order as IEEE, all -inf windows, padding that never acts as 0, the first-maximum
// rule for windowed max, the even split for global max, and average 'same' counting real cells.
// Every check runs on both the reference and the kAuto kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "poolnet/pooling.hpp"
#include "poolnet/tensor.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr PoolBackend kBackends[] = {PoolBackend::kReference, PoolBackend::kAuto};

const char* backend_name(PoolBackend backend) {
  return backend == PoolBackend::kReference ? "reference" : "auto";
}

using testing::global_spec;
using testing::make_shape;

// Windowed pooling whose spatial rank is the window's length.
PoolSpec windowed(PoolOp op, const std::vector<std::int64_t>& window,
                  std::vector<std::int64_t> strides, Padding padding,
                  DataFormat format = DataFormat::kChannelsLast) {
  return testing::windowed_spec(op, static_cast<int>(window.size()), window, std::move(strides),
                                padding, format);
}

Tensor forward(const PoolSpec& spec, const Tensor& x, PoolBackend backend) {
  return pool_forward(plan_pooling(spec, x.shape()), x, backend);
}

Tensor backward(const PoolSpec& spec, const Tensor& x, const Tensor& w, PoolBackend backend) {
  return pool_backward(plan_pooling(spec, x.shape()), x, w, backend);
}

// Single-channel tensor (batch 1) from values in row-major spatial order.
Tensor single_channel(const std::vector<std::int64_t>& spatial, std::vector<float> values,
                      DataFormat format = DataFormat::kChannelsLast) {
  return Tensor(make_shape(1, spatial, 1, format), values);
}

// (batch, channel, right-aligned spatial position) of a flat index of the plan's input or output.
struct Coord {
  std::int64_t b = 0;
  std::int64_t c = 0;
  std::array<std::int64_t, kMaxSpatialRank> p{};
};

Coord decompose(const PoolPlan& plan, std::int64_t flat, bool is_output) {
  std::array<std::int64_t, kMaxSpatialRank> dims{};
  for (std::size_t a = 0; a < dims.size(); ++a)
    dims[a] = is_output ? plan.axes[a].out : plan.axes[a].in;
  Coord coord;
  const bool last = plan.spec.data_format == DataFormat::kChannelsLast;
  if (last) {
    coord.c = flat % plan.channels;
    flat /= plan.channels;
  }
  for (std::size_t a = dims.size(); a-- > 0;) {
    coord.p[a] = flat % dims[a];
    flat /= dims[a];
  }
  if (!last) {
    coord.c = flat % plan.channels;
    flat /= plan.channels;
  }
  coord.b = flat;
  return coord;
}

bool window_contains(const PoolPlan& plan, const Coord& out, const Coord& in) {
  if (out.b != in.b || out.c != in.c) return false;
  for (std::size_t a = 0; a < out.p.size(); ++a) {
    const AxisGeometry& g = plan.axes[a];
    if (in.p[a] < g.window_begin(out.p[a]) || in.p[a] >= g.window_end(out.p[a])) return false;
  }
  return true;
}

// Puts `poison` (NaN) at every input position in turn and checks that exactly the outputs whose
// window holds that position become NaN while all others stay bit-identical.
void expect_nan_propagates_from_every_cell(const PoolSpec& spec, const Shape& shape,
                                           bool every_cell_is_read, float poison = kNaN) {
  const PoolPlan plan = plan_pooling(spec, shape);
  const Tensor base = testing::random_distinct_tensor(shape, 2024u, 0.01f);
  for (const PoolBackend backend : kBackends) {
    SCOPED_TRACE(backend_name(backend));
    const Tensor base_out = pool_forward(plan, base, backend);
    for (const float v : base_out.values()) ASSERT_FALSE(std::isnan(v));
    int failures = 0;
    Tensor x = base;
    for (std::int64_t i = 0; i < x.size() && failures < 5; ++i) {
      x[i] = poison;
      const Tensor out = pool_forward(plan, x, backend);
      x[i] = base[i];
      const Coord in = decompose(plan, i, false);
      int nan_outputs = 0;
      for (std::int64_t o = 0; o < out.size(); ++o) {
        const bool expect_nan = window_contains(plan, decompose(plan, o, true), in);
        const bool is_nan = std::isnan(out[o]);
        nan_outputs += is_nan ? 1 : 0;
        if (expect_nan != is_nan || (!expect_nan && out[o] != base_out[o])) {
          ADD_FAILURE() << "NaN at input " << i << " (batch " << in.b << ", channel " << in.c
                        << "): output " << o << " is " << out[o] << ", expected "
                        << (expect_nan ? "NaN" : std::to_string(base_out[o]));
          ++failures;
        }
      }
      if (every_cell_is_read && nan_outputs == 0) {
        ADD_FAILURE() << "NaN at input " << i << " reached no output";
        ++failures;
      }
    }
  }
}

struct NaNConfig {
  const char* what;
  std::vector<std::int64_t> spatial;
  std::int64_t batch;
  std::vector<std::int64_t> window;  // empty: global
  std::vector<std::int64_t> strides;
  Padding padding;
  bool every_cell_is_read;
};

const std::vector<NaNConfig>& nan_configs() {
  static const std::vector<NaNConfig> configs = {
      {"1D pool 3 stride 2 same", {9}, 2, {3}, {2}, Padding::kSame, true},
      {"1D pool 2 stride 2 valid, tail ignored", {7}, 1, {2}, {2}, Padding::kValid, false},
      {"1D pool 4 stride 1 same, overlapping", {5}, 1, {4}, {1}, Padding::kSame, true},
      {"2D pool 2 stride 2 same, padded edges", {3, 5}, 1, {2, 2}, {2, 2}, Padding::kSame, true},
      {"2D pool 3 stride 1 valid, overlapping", {4, 4}, 1, {3, 3}, {1, 1}, Padding::kValid, true},
      {"2D pool (2,3) stride (3,1) valid, skipped rows", {5, 4}, 1, {2, 3}, {3, 1},
       Padding::kValid, false},
      {"3D pool 2 stride 2 same", {3, 3, 2}, 1, {2, 2, 2}, {2, 2, 2}, Padding::kSame, true},
      {"3D pool 2 stride 1 valid", {2, 3, 3}, 1, {2, 2, 2}, {1, 1, 1}, Padding::kValid, true},
      {"global 1D", {5}, 2, {}, {}, Padding::kValid, true},
      {"global 2D", {3, 4}, 1, {}, {}, Padding::kValid, true},
      {"global 3D", {2, 3, 2}, 1, {}, {}, Padding::kValid, true},
  };
  return configs;
}

void run_nan_sweep(PoolOp op) {
  for (const NaNConfig& config : nan_configs()) {
    for (const std::int64_t channels : {1, 3, 17}) {
      for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
        SCOPED_TRACE(std::string(config.what) + ", channels " + std::to_string(channels) + ", " +
                     std::string(to_string(format)));
        const int rank = static_cast<int>(config.spatial.size());
        const PoolSpec spec =
            config.window.empty()
                ? global_spec(op, rank, format)
                : windowed(op, config.window, config.strides, config.padding, format);
        expect_nan_propagates_from_every_cell(
            spec, make_shape(config.batch, config.spatial, channels, format),
            config.every_cell_is_read);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// NaN

TEST(PoolSpecialValuesTest, MaxPropagatesNaNFromEveryWindowPositionAndChannel) {
  run_nan_sweep(PoolOp::kMax);
}

TEST(PoolSpecialValuesTest, AveragePropagatesNaNFromEveryWindowPositionAndChannel) {
  run_nan_sweep(PoolOp::kAverage);
}

TEST(PoolSpecialValuesTest, MaxPropagatesNegativeSignedNaN) {
  const PoolSpec spec = windowed(PoolOp::kMax, {2, 2}, {1, 1}, Padding::kSame);
  expect_nan_propagates_from_every_cell(spec, Shape{1, 3, 3, 3}, true, -kNaN);
}

TEST(PoolSpecialValuesTest, MaxNaNBeforeAndAfterLargerValuesInOneWindow) {
  // One 1D window of 4 cells holding NaN first, in the middle and last, next to +inf, finite and
  // -inf values (an order-dependent `a > b ? a : b` would drop the NaN in some of these).
  const std::vector<std::vector<float>> windows = {
      {kNaN, 1, 2, 3},      {1, kNaN, 2, 3},    {3, 2, 1, kNaN},    {kNaN, kInf, 0, 0},
      {kInf, kNaN, 0, 0},   {-kInf, kNaN, -kInf, -kInf},          {kNaN, kNaN, kNaN, kNaN},
      {kNaN, -kInf, -kInf, -kInf},
  };
  for (const std::vector<float>& values : windows) {
    for (const PoolBackend backend : kBackends) {
      const Tensor out = forward(windowed(PoolOp::kMax, {4}, {4}, Padding::kValid),
                                 single_channel({4}, values), backend);
      EXPECT_TRUE(std::isnan(out[0])) << "window " << ::testing::PrintToString(values) << " gave "
                                      << out[0] << " (" << backend_name(backend) << ")";
    }
  }
}

TEST(PoolSpecialValuesTest, AllNaNWindowGivesNaNNotLowestFloat) {
  for (const PoolBackend backend : kBackends) {
    const Tensor x(Shape{1, 4, 4, 3}, kNaN);
    const Tensor out = forward(windowed(PoolOp::kMax, {2, 2}, {2, 2}, Padding::kValid), x, backend);
    for (const float v : out.values()) EXPECT_TRUE(std::isnan(v)) << v;
    const Tensor global = forward(global_spec(PoolOp::kMax, 2), x, backend);
    for (const float v : global.values()) EXPECT_TRUE(std::isnan(v)) << v;
  }
}

TEST(PoolSpecialValuesTest, GlobalMaxWithNaNGivesNaNOnlyInThatSlice) {
  // (batch 2, 6 steps, 3 channels): NaN in batch 1, channel 2 only.
  Tensor x = testing::random_distinct_tensor(Shape{2, 6, 3}, 7u);
  x.at({1, 4, 2}) = kNaN;
  for (const PoolBackend backend : kBackends) {
    const Tensor out = forward(global_spec(PoolOp::kMax, 1), x, backend);
    ASSERT_EQ(out.shape(), (Shape{2, 1, 3}));
    for (std::int64_t b = 0; b < 2; ++b)
      for (std::int64_t c = 0; c < 3; ++c)
        EXPECT_EQ(std::isnan(out.at({b, 0, c})), b == 1 && c == 2) << b << "," << c;
  }
}

// ---------------------------------------------------------------------------------------------
// Infinities

TEST(PoolSpecialValuesTest, AverageOfPlusAndMinusInfIsNaN) {
  const Tensor x = single_channel({2, 2}, {kInf, 1, -kInf, 2});
  for (const PoolBackend backend : kBackends) {
    const Tensor out = forward(windowed(PoolOp::kAverage, {2, 2}, {2, 2}, Padding::kValid), x,
                               backend);
    EXPECT_TRUE(std::isnan(out[0])) << out[0];
    const Tensor global = forward(global_spec(PoolOp::kAverage, 2), x, backend);
    EXPECT_TRUE(std::isnan(global[0])) << global[0];
    // Max of the same window is +inf: -inf < finite < +inf.
    const Tensor max = forward(windowed(PoolOp::kMax, {2, 2}, {2, 2}, Padding::kValid), x, backend);
    EXPECT_EQ(max[0], kInf);
  }
}

TEST(PoolSpecialValuesTest, AverageWithOneKindOfInfinityIsThatInfinity) {
  for (const PoolBackend backend : kBackends) {
    const Tensor plus = single_channel({4}, {1, kInf, 3, kInf});
    const Tensor minus = single_channel({4}, {-kInf, 1, 3, 4});
    const PoolSpec spec = windowed(PoolOp::kAverage, {2}, {2}, Padding::kValid);
    const Tensor p = forward(spec, plus, backend);
    EXPECT_EQ(p[0], kInf);
    EXPECT_EQ(p[1], kInf);
    const Tensor m = forward(spec, minus, backend);
    EXPECT_EQ(m[0], -kInf);
    EXPECT_EQ(m[1], 3.5f);
  }
}

TEST(PoolSpecialValuesTest, AverageGradientDoesNotDependOnInfiniteValues) {
  const Tensor x = single_channel({2, 2}, {kInf, 1, -kInf, kNaN});
  const Tensor w = single_channel({1, 1}, {2.0f});
  for (const PoolBackend backend : kBackends) {
    const Tensor g = backward(windowed(PoolOp::kAverage, {2, 2}, {2, 2}, Padding::kValid), x, w,
                              backend);
    for (const float v : g.values()) EXPECT_EQ(v, 0.5f);
  }
}

TEST(PoolSpecialValuesTest, UniquePlusInfMaximumGetsTheGradient) {
  // 4x4, pool 2 stride 2: +inf at (1,0) in the first window.
  std::vector<float> values(16);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  values[4] = kInf;
  for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
    const Tensor x = single_channel({4, 4}, values, format);
    const Tensor w = single_channel({2, 2}, {1.5f, 2, 3, 4}, format);
    for (const PoolBackend backend : kBackends) {
      const PoolSpec spec = windowed(PoolOp::kMax, {2, 2}, {2, 2}, Padding::kValid, format);
      const Tensor out = forward(spec, x, backend);
      EXPECT_EQ(out[0], kInf);
      EXPECT_EQ(out[1], 7.0f);
      const Tensor g = backward(spec, x, w, backend);
      EXPECT_EQ(g[4], 1.5f);
      EXPECT_EQ(g[0], 0.0f);
      EXPECT_EQ(g[5], 0.0f);
      EXPECT_EQ(g[7], 2.0f);
      // Global max: +inf is the unique maximum and takes the whole upstream value.
      const Tensor gg = backward(global_spec(PoolOp::kMax, 2, format), x,
                                 single_channel({1, 1}, {3.0f}, format), backend);
      for (std::size_t i = 0; i < values.size(); ++i)
        EXPECT_EQ(gg[static_cast<std::int64_t>(i)], i == 4 ? 3.0f : 0.0f) << i;
    }
  }
}

TEST(PoolSpecialValuesTest, MinusInfLosesToFiniteValuesAndWinsOnlyAlone) {
  // 1D in=3, pool 2 stride 2 same: windows [0,1] and [2] (pad 0/1).
  const Tensor x = single_channel({3}, {-kInf, -5, -kInf});
  const Tensor w = single_channel({2}, {2, 3});
  for (const PoolBackend backend : kBackends) {
    const PoolSpec spec = windowed(PoolOp::kMax, {2}, {2}, Padding::kSame);
    const Tensor out = forward(spec, x, backend);
    EXPECT_EQ(out[0], -5.0f);
    EXPECT_EQ(out[1], -kInf);
    const Tensor g = backward(spec, x, w, backend);
    EXPECT_EQ(g[0], 0.0f);
    EXPECT_EQ(g[1], 2.0f);
    EXPECT_EQ(g[2], 3.0f);
  }
}

TEST(PoolSpecialValuesTest, AllMinusInfWindowOutputsMinusInfAndRoutesGradientToFirstCell) {
  // 2D 4x4, pool 2 stride 2: the top-left window is all -inf, the others finite.
  std::vector<float> values(16);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  for (const std::size_t i : {0u, 1u, 4u, 5u}) values[i] = -kInf;
  for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
    const Tensor x = single_channel({4, 4}, values, format);
    const Tensor w = single_channel({2, 2}, {5, 6, 7, 8}, format);
    for (const PoolBackend backend : kBackends) {
      const PoolSpec spec = windowed(PoolOp::kMax, {2, 2}, {2, 2}, Padding::kValid, format);
      const Tensor out = forward(spec, x, backend);
      EXPECT_EQ(out[0], -kInf);
      const Tensor g = backward(spec, x, w, backend);
      EXPECT_EQ(g[0], 5.0f);
      EXPECT_EQ(g[1], 0.0f);
      EXPECT_EQ(g[4], 0.0f);
      EXPECT_EQ(g[5], 0.0f);
    }
  }
}

TEST(PoolSpecialValuesTest, AllMinusInfSamePaddedWindowsRouteGradientToFirstRealCell) {
  // in=5, k=4, s=2, same: windows [0..2], [1..4], [3..4].
  const Tensor x = single_channel({5}, std::vector<float>(5, -kInf));
  const Tensor w = single_channel({3}, {1, 10, 100});
  for (const PoolBackend backend : kBackends) {
    const PoolSpec spec = windowed(PoolOp::kMax, {4}, {2}, Padding::kSame);
    const Tensor out = forward(spec, x, backend);
    for (const float v : out.values()) EXPECT_EQ(v, -kInf);
    const Tensor g = backward(spec, x, w, backend);
    const float expected[] = {1, 10, 0, 100, 0};
    for (std::int64_t i = 0; i < 5; ++i) EXPECT_EQ(g[i], expected[i]) << i;
  }
}

TEST(PoolSpecialValuesTest, AllMinusInf3DWindowRoutesGradientToFirstCell) {
  const Tensor x(Shape{1, 2, 2, 2, 2}, -kInf);  // channels_last, 2 channels
  const Tensor w(Shape{1, 1, 1, 1, 2}, std::vector<float>{3, 4});
  for (const PoolBackend backend : kBackends) {
    const PoolSpec spec = windowed(PoolOp::kMax, {2, 2, 2}, {2, 2, 2}, Padding::kValid);
    const Tensor out = forward(spec, x, backend);
    EXPECT_EQ(out[0], -kInf);
    EXPECT_EQ(out[1], -kInf);
    const Tensor g = backward(spec, x, w, backend);
    for (std::int64_t i = 0; i < g.size(); ++i) {
      const float expected = i == 0 ? 3.0f : i == 1 ? 4.0f : 0.0f;
      EXPECT_EQ(g[i], expected) << i;
    }
  }
}

TEST(PoolSpecialValuesTest, GlobalMaxOfAllMinusInfSplitsGradientEvenly) {
  // (1, 2, 3, 2) channels_last: channel 0 all -inf, channel 1 finite with a unique maximum.
  Tensor x(Shape{1, 2, 3, 2});
  for (std::int64_t s = 0; s < 6; ++s) {
    x[s * 2] = -kInf;
    x[s * 2 + 1] = static_cast<float>(s);
  }
  const Tensor w(Shape{1, 1, 1, 2}, std::vector<float>{6, 9});
  for (const PoolBackend backend : kBackends) {
    const PoolSpec spec = global_spec(PoolOp::kMax, 2);
    const Tensor out = forward(spec, x, backend);
    EXPECT_EQ(out[0], -kInf);
    EXPECT_EQ(out[1], 5.0f);
    const Tensor g = backward(spec, x, w, backend);
    for (std::int64_t s = 0; s < 6; ++s) {
      EXPECT_EQ(g[s * 2], 1.0f) << s;
      EXPECT_EQ(g[s * 2 + 1], s == 5 ? 9.0f : 0.0f) << s;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Padding never acts as 0

TEST(PoolSpecialValuesTest, AllNegativeInputWithSamePaddingHasNegativeMax2D) {
  // 3x3 input -1..-9: pool 2 stride 2 same pads one row and column at the end.
  std::vector<float> values(9);
  for (std::size_t i = 0; i < 9; ++i) values[i] = -static_cast<float>(i + 1);
  for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
    const Tensor x = single_channel({3, 3}, values, format);
    for (const PoolBackend backend : kBackends) {
      const Tensor out =
          forward(windowed(PoolOp::kMax, {2, 2}, {2, 2}, Padding::kSame, format), x, backend);
      const float expected[] = {-1, -3, -7, -9};
      for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(out[i], expected[i]) << i;

      // pool 3 stride 1 same: pad 1/1, every output is the max of its clipped 3x3 neighbourhood.
      const Tensor o3 =
          forward(windowed(PoolOp::kMax, {3, 3}, {1, 1}, Padding::kSame, format), x, backend);
      for (std::int64_t r = 0; r < 3; ++r)
        for (std::int64_t c = 0; c < 3; ++c) {
          const float best =
              -static_cast<float>(std::max<std::int64_t>(r - 1, 0) * 3 +
                                  std::max<std::int64_t>(c - 1, 0) + 1);
          EXPECT_EQ(o3[r * 3 + c], best) << r << "," << c;
        }

      // Average: padding is not counted either.
      const Tensor avg =
          forward(windowed(PoolOp::kAverage, {2, 2}, {2, 2}, Padding::kSame, format), x, backend);
      const float expected_avg[] = {-3, -4.5f, -7.5f, -9};
      for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(avg[i], expected_avg[i]) << i;
    }
  }
}

TEST(PoolSpecialValuesTest, AllNegativeInputWithSamePaddingHasNegativeMax1DAnd3D) {
  for (const PoolBackend backend : kBackends) {
    // 1D in=3, pool 2 stride 2 same: windows [0,1], [2] + padding.
    const Tensor x1 = single_channel({3}, {-5, -4, -3});
    const Tensor o1 = forward(windowed(PoolOp::kMax, {2}, {2}, Padding::kSame), x1, backend);
    EXPECT_EQ(o1[0], -4.0f);
    EXPECT_EQ(o1[1], -3.0f);
    // 1D in=1, pool 4 stride 4 same: the window is mostly padding.
    const Tensor o1b = forward(windowed(PoolOp::kMax, {4}, {4}, Padding::kSame),
                               single_channel({1}, {-2.5f}), backend);
    EXPECT_EQ(o1b[0], -2.5f);

    // 3D: values in [-2, -1), pool 2 stride 2 same on 3x3x3 (padded at every far edge).
    const Tensor x3 = testing::random_tensor(Shape{1, 3, 3, 3, 2}, 11u, -2.0f, -1.0f);
    const PoolSpec spec = windowed(PoolOp::kMax, {2, 2, 2}, {2, 2, 2}, Padding::kSame);
    const Tensor o3 = forward(spec, x3, backend);
    ASSERT_EQ(o3.shape(), (Shape{1, 2, 2, 2, 2}));
    // The corner output (1,1,1) sees only the real cell (2,2,2).
    EXPECT_EQ(o3.at({0, 1, 1, 1, 0}), x3.at({0, 2, 2, 2, 0}));
    EXPECT_EQ(o3.at({0, 1, 1, 1, 1}), x3.at({0, 2, 2, 2, 1}));
    for (const float v : o3.values()) EXPECT_LT(v, -1.0f);
  }
}

// ---------------------------------------------------------------------------------------------
// Ties

TEST(PoolSpecialValuesTest, WindowedMaxTieSendsGradientToFirstMaximumInRowMajorOrder) {
  // 2x2 [[3, 7], [7, 7]] -> (0, 1).
  for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
    const Tensor x = single_channel({2, 2}, {3, 7, 7, 7}, format);
    const Tensor w = single_channel({1, 1}, {2.5f}, format);
    for (const PoolBackend backend : kBackends) {
      const PoolSpec spec = windowed(PoolOp::kMax, {2, 2}, {2, 2}, Padding::kValid, format);
      EXPECT_EQ(forward(spec, x, backend)[0], 7.0f);
      const Tensor g = backward(spec, x, w, backend);
      const float expected[] = {0, 2.5f, 0, 0};
      for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(g[i], expected[i]) << i;
    }
  }
}

TEST(PoolSpecialValuesTest, WindowedMaxTieIsDecidedPerChannel) {
  // (1, 2, 2, 3) channels_last; the maxima of each channel tie at different cells:
  // channel 0 at (0,1),(1,0),(1,1); channel 1 at (1,0),(1,1); channel 2 at all four.
  const float values[] = {3, 0, 5, 7, 1, 5, 7, 9, 5, 7, 9, 5};
  const Tensor x(Shape{1, 2, 2, 3}, values);
  const Tensor w(Shape{1, 1, 1, 3}, std::vector<float>{1, 2, 4});
  for (const PoolBackend backend : kBackends) {
    const Tensor g =
        backward(windowed(PoolOp::kMax, {2, 2}, {2, 2}, Padding::kValid), x, w, backend);
    // channel 0 -> cell 1, channel 1 -> cell 2, channel 2 -> cell 0.
    const float expected[] = {0, 0, 4, 1, 0, 0, 0, 2, 0, 0, 0, 0};
    for (std::int64_t i = 0; i < 12; ++i) EXPECT_EQ(g[i], expected[i]) << i;
  }
}

TEST(PoolSpecialValuesTest, WindowedMax3DTieSendsGradientToFirstMaximumDepthRowCol) {
  // 2x2x2 window, maximum 9 at (0,1,1), (1,0,0) and (1,1,1): the first is (0,1,1) = flat 3.
  const std::vector<float> values = {1, 2, 3, 9, 9, 4, 5, 9};
  for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
    const Tensor x = single_channel({2, 2, 2}, values, format);
    const Tensor w = single_channel({1, 1, 1}, {1.25f}, format);
    for (const PoolBackend backend : kBackends) {
      const PoolSpec spec = windowed(PoolOp::kMax, {2, 2, 2}, {2, 2, 2}, Padding::kValid, format);
      const Tensor g = backward(spec, x, w, backend);
      for (std::int64_t i = 0; i < 8; ++i) EXPECT_EQ(g[i], i == 3 ? 1.25f : 0.0f) << i;
      // All equal: the first cell (0,0,0).
      const Tensor flat = single_channel({2, 2, 2}, std::vector<float>(8, 1.0f), format);
      const Tensor gf = backward(spec, flat, w, backend);
      for (std::int64_t i = 0; i < 8; ++i) EXPECT_EQ(gf[i], i == 0 ? 1.25f : 0.0f) << i;
    }
  }
}

TEST(PoolSpecialValuesTest, OverlappingTiedWindowsEachPickTheirOwnFirstMaximum) {
  // [5, 5, 5], pool 2 stride 1: windows [0,1] and [1,2] pick cells 0 and 1.
  const Tensor x = single_channel({3}, {5, 5, 5});
  const Tensor w = single_channel({2}, {1, 2});
  for (const PoolBackend backend : kBackends) {
    const Tensor g = backward(windowed(PoolOp::kMax, {2}, {1}, Padding::kValid), x, w, backend);
    EXPECT_EQ(g[0], 1.0f);
    EXPECT_EQ(g[1], 2.0f);
    EXPECT_EQ(g[2], 0.0f);
  }
}

TEST(PoolSpecialValuesTest, GlobalMaxSplitsGradientEvenlyAmongTies) {
  // Same [[3, 7], [7, 7]] as the windowed test: global max splits w among the three 7s,
  // while a MaxPooling window covering the whole input gives it all to the first.
  for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
    const Tensor x = single_channel({2, 2}, {3, 7, 7, 7}, format);
    const Tensor w = single_channel({1, 1}, {3.0f}, format);
    for (const PoolBackend backend : kBackends) {
      const Tensor g = backward(global_spec(PoolOp::kMax, 2, format), x, w, backend);
      const float expected[] = {0, 1, 1, 1};
      for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(g[i], expected[i]) << i;
    }
  }
}

TEST(PoolSpecialValuesTest, GlobalMax3DTiesSplitPerChannel) {
  // (1, 2, 1, 2, 2) channels_last: channel 0 = [4, 4, 1, 4] (3 ties), channel 1 = [0, 2, 2, 1].
  const float values[] = {4, 0, 4, 2, 1, 2, 4, 1};
  const Tensor x(Shape{1, 2, 1, 2, 2}, values);
  const Tensor w(Shape{1, 1, 1, 1, 2}, std::vector<float>{3, 5});
  for (const PoolBackend backend : kBackends) {
    const Tensor g = backward(global_spec(PoolOp::kMax, 3), x, w, backend);
    const float expected[] = {1, 0, 1, 2.5f, 0, 2.5f, 1, 0};
    for (std::int64_t i = 0; i < 8; ++i) EXPECT_EQ(g[i], expected[i]) << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Average 'same' counts only real cells

TEST(PoolSpecialValuesTest, AverageSameDividesByRealCellCount) {
  // SEMANTICS.md section 5: 3x3 input 1..9, pool 2 stride 2 same -> [[3, 4.5], [7.5, 9]].
  std::vector<float> values(9);
  for (std::size_t i = 0; i < 9; ++i) values[i] = static_cast<float>(i + 1);
  for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
    const Tensor x = single_channel({3, 3}, values, format);
    const PoolSpec spec = windowed(PoolOp::kAverage, {2, 2}, {2, 2}, Padding::kSame, format);
    for (const PoolBackend backend : kBackends) {
      const Tensor out = forward(spec, x, backend);
      const float expected[] = {3, 4.5f, 7.5f, 9};
      for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(out[i], expected[i]) << i;

      // Gradient: w / count to each real cell of the window (counts 4, 2, 2, 1).
      const Tensor w = single_channel({2, 2}, {4, 8, 16, 32}, format);
      const Tensor g = backward(spec, x, w, backend);
      const float expected_grad[] = {1, 1, 4, 1, 1, 4, 8, 8, 32};
      for (std::int64_t i = 0; i < 9; ++i) EXPECT_EQ(g[i], expected_grad[i]) << i;
    }
  }
}

TEST(PoolSpecialValuesTest, AverageSame3DDividesByProductOfClippedLengths) {
  // 3x3x3 of ones, pool 2 stride 2 same (pad 0/1 on every axis): every average is exactly 1 only
  // if padding is neither summed nor counted; the gradient is w / (clipped window volume).
  const Tensor x(Shape{1, 3, 3, 3, 1}, 1.0f);
  const PoolSpec spec = windowed(PoolOp::kAverage, {2, 2, 2}, {2, 2, 2}, Padding::kSame);
  const Tensor w(Shape{1, 2, 2, 2, 1}, 8.0f);
  for (const PoolBackend backend : kBackends) {
    const Tensor out = forward(spec, x, backend);
    for (const float v : out.values()) EXPECT_EQ(v, 1.0f);
    const Tensor g = backward(spec, x, w, backend);
    EXPECT_EQ(g.at({0, 0, 0, 0, 0}), 1.0f);  // window of 8 cells
    EXPECT_EQ(g.at({0, 0, 0, 2, 0}), 2.0f);  // 2x2x1 = 4 cells
    EXPECT_EQ(g.at({0, 0, 2, 2, 0}), 4.0f);  // 2x1x1 = 2 cells
    EXPECT_EQ(g.at({0, 2, 2, 2, 0}), 8.0f);  // 1 cell
  }
}

}  // namespace
}  // namespace poolnet
