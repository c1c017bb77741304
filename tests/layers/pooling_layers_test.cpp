// The twelve Keras pooling layers: layout independence, Keras defaults, output shapes, argument and
// shape errors, and get_config round trips (docs/SEMANTICS.md sections 1, 2, 6, 8).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "poolnet/error.hpp"
#include "poolnet/layers/pooling.hpp"
#include "poolnet/layers/registry.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::expect_throws;
using testing::random_distinct_tensor;
using testing::transpose_layout;

// Arguments for one layer instance; windowed layers use pool/strides/padding, global ones keepdims.
struct LayerArgs {
  std::vector<std::int64_t> pool;
  std::vector<std::int64_t> strides;
  std::string padding = "valid";
  bool keepdims = false;
};

using LayerFactory =
    std::function<std::unique_ptr<PoolingLayer>(const LayerArgs&, std::string_view data_format)>;

struct LayerKind {
  std::string name;
  int spatial_rank;
  bool global;
  bool max;
  LayerFactory make;
};

// gtest prints a failing parameter with this instead of its bytes.
void PrintTo(const LayerKind& kind, std::ostream* os) { *os << kind.name; }

template <typename L>
LayerKind windowed_kind(int n, bool max) {
  return {std::string(L::kClassName), n, false, max,
          [](const LayerArgs& a, std::string_view data_format) -> std::unique_ptr<PoolingLayer> {
            return std::make_unique<L>(IntOrTuple(a.pool), IntOrTuple(a.strides), a.padding,
                                       data_format);
          }};
}

template <typename L>
LayerKind global_kind(int n, bool max) {
  return {std::string(L::kClassName), n, true, max,
          [](const LayerArgs& a, std::string_view data_format) -> std::unique_ptr<PoolingLayer> {
            return std::make_unique<L>(data_format, a.keepdims);
          }};
}

const std::vector<LayerKind>& all_kinds() {
  static const std::vector<LayerKind> kinds = {
      windowed_kind<MaxPooling1D>(1, true),
      windowed_kind<MaxPooling2D>(2, true),
      windowed_kind<MaxPooling3D>(3, true),
      windowed_kind<AveragePooling1D>(1, false),
      windowed_kind<AveragePooling2D>(2, false),
      windowed_kind<AveragePooling3D>(3, false),
      global_kind<GlobalMaxPooling1D>(1, true),
      global_kind<GlobalMaxPooling2D>(2, true),
      global_kind<GlobalMaxPooling3D>(3, true),
      global_kind<GlobalAveragePooling1D>(1, false),
      global_kind<GlobalAveragePooling2D>(2, false),
      global_kind<GlobalAveragePooling3D>(3, false),
  };
  return kinds;
}

// Elementwise comparison: exact for max pooling, |a - b| <= 1e-6 otherwise.
void expect_tensors_match(const Tensor& got, const Tensor& expected, bool exact,
                          const std::string& what) {
  ASSERT_EQ(got.shape(), expected.shape()) << what;
  for (std::int64_t i = 0; i < got.size(); ++i) {
    if (exact) {
      ASSERT_EQ(got[i], expected[i]) << what << " at flat index " << i;
    } else {
      ASSERT_NEAR(got[i], expected[i], 1e-6) << what << " at flat index " << i;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// (a) channels_first and channels_last agree, for all twelve layers.

class PoolingLayerLayouts : public ::testing::TestWithParam<LayerKind> {};

TEST_P(PoolingLayerLayouts, ChannelsFirstForwardAndBackwardEqualTransposedChannelsLast) {
  const LayerKind& kind = GetParam();
  constexpr int kShapes = 30;
  for (int trial = 0; trial < kShapes; ++trial) {
    const auto seed = static_cast<std::uint32_t>(1000 * kind.spatial_rank + 97 * trial +
                                                 (kind.global ? 7 : 0) + (kind.max ? 3 : 0));
    std::mt19937 rng(seed);
    auto uniform = [&rng](std::int64_t lo, std::int64_t hi) {
      return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
    };

    const std::int64_t batch = uniform(1, 3);
    const std::int64_t channels = uniform(1, 5);
    std::vector<std::int64_t> spatial;
    for (int i = 0; i < kind.spatial_rank; ++i) spatial.push_back(uniform(1, 7));

    LayerArgs args;
    args.padding = uniform(0, 1) == 0 ? "valid" : "same";
    args.keepdims = uniform(0, 1) == 1;
    for (int i = 0; i < kind.spatial_rank; ++i) {
      std::int64_t k = uniform(1, 4);
      if (args.padding == "valid") k = std::min(k, spatial[static_cast<std::size_t>(i)]);
      args.pool.push_back(k);
      args.strides.push_back(uniform(1, 4));
    }

    std::vector<std::int64_t> last_dims{batch};
    last_dims.insert(last_dims.end(), spatial.begin(), spatial.end());
    last_dims.push_back(channels);
    const Shape last_shape(last_dims);

    std::string where = kind.name + " trial " + std::to_string(trial) + ": input " +
                        last_shape.to_string() + " (channels_last)";
    if (kind.global) {
      where += ", keepdims " + std::string(args.keepdims ? "true" : "false");
    } else {
      where += ", pool " + dims_to_string(std::span<const std::int64_t>(args.pool)) +
               ", strides " + dims_to_string(std::span<const std::int64_t>(args.strides)) +
               ", padding " + args.padding;
    }
    SCOPED_TRACE(where);

    // Values in [-0.5, 0.5), all distinct: no ties for max, sums near 1 for the 1e-6 tolerance.
    const float scale = 1.0f / static_cast<float>(last_shape.elements());
    const Tensor x_last = random_distinct_tensor(last_shape, seed, scale);
    const Tensor x_first = transpose_layout(x_last, DataFormat::kChannelsLast);

    const auto last_layer = kind.make(args, "channels_last");
    const auto first_layer = kind.make(args, "channels_first");

    const Tensor y_last = last_layer->forward(x_last);
    const Tensor y_first = first_layer->forward(x_first);
    EXPECT_EQ(y_last.shape(), last_layer->compute_output_shape(x_last.shape()));
    EXPECT_EQ(y_first.shape(), first_layer->compute_output_shape(x_first.shape()));
    // Global pooling without keepdims gives (batch, channels) in both layouts: no transpose.
    const bool flat_output = kind.global && !args.keepdims;
    const Tensor y_expected =
        flat_output ? y_last : transpose_layout(y_last, DataFormat::kChannelsLast);
    expect_tensors_match(y_first, y_expected, kind.max, "forward");

    const Tensor w_last = random_distinct_tensor(y_last.shape(), seed + 1, 1.0f / 64);
    const Tensor w_first =
        flat_output ? w_last : transpose_layout(w_last, DataFormat::kChannelsLast);
    const Tensor g_last = last_layer->backward(x_last, w_last);
    const Tensor g_first = first_layer->backward(x_first, w_first);
    EXPECT_EQ(g_last.shape(), x_last.shape());
    expect_tensors_match(g_first, transpose_layout(g_last, DataFormat::kChannelsLast), kind.max,
                         "backward");
    if (::testing::Test::HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTwelve, PoolingLayerLayouts, ::testing::ValuesIn(all_kinds()),
                         [](const ::testing::TestParamInfo<LayerKind>& param_info) {
                           return param_info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// (b) Keras defaults.

TEST(PoolingLayerDefaults, MaxPooling2DDefaultsArePool2Strides2ValidChannelsLast) {
  const MaxPooling2D layer;
  EXPECT_EQ(layer.spec().window, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(layer.spec().strides, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(layer.spec().padding, Padding::kValid);
  EXPECT_EQ(layer.spec().data_format, DataFormat::kChannelsLast);
  EXPECT_EQ(layer.spec().op, PoolOp::kMax);
  EXPECT_FALSE(layer.spec().global);
  EXPECT_EQ(layer.compute_output_shape(Shape{1, 4, 6, 3}), (Shape{1, 2, 3, 3}));
}

TEST(PoolingLayerDefaults, DefaultPoolSizeIsTwoOnEveryAxisForEveryRank) {
  EXPECT_EQ(MaxPooling1D().spec().window, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(AveragePooling1D().spec().strides, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(AveragePooling2D().spec().window, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(MaxPooling3D().spec().window, (std::vector<std::int64_t>{2, 2, 2}));
  EXPECT_EQ(AveragePooling3D().spec().strides, (std::vector<std::int64_t>{2, 2, 2}));
  EXPECT_EQ(AveragePooling3D().spec().op, PoolOp::kAverage);
}

TEST(PoolingLayerDefaults, StridesDefaultToPoolSize) {
  const MaxPooling2D tuple_pool(IntOrTuple{3, 4});
  EXPECT_EQ(tuple_pool.spec().strides, (std::vector<std::int64_t>{3, 4}));
  const AveragePooling3D int_pool(3);
  EXPECT_EQ(int_pool.spec().strides, (std::vector<std::int64_t>{3, 3, 3}));
  // An explicit stride overrides it.
  const MaxPooling2D explicit_stride(3, 1);
  EXPECT_EQ(explicit_stride.spec().window, (std::vector<std::int64_t>{3, 3}));
  EXPECT_EQ(explicit_stride.spec().strides, (std::vector<std::int64_t>{1, 1}));
}

TEST(PoolingLayerDefaults, IntPoolSizeExpandsToEveryAxis) {
  EXPECT_EQ(MaxPooling3D(3).spec().window, (std::vector<std::int64_t>{3, 3, 3}));
  EXPECT_EQ(AveragePooling2D(4).spec().window, (std::vector<std::int64_t>{4, 4}));
  EXPECT_EQ(MaxPooling2D(2, 3).spec().strides, (std::vector<std::int64_t>{3, 3}));
}

TEST(PoolingLayerDefaults, OneDimensionalLayersAcceptListAndInt) {
  const MaxPooling1D from_list(IntOrTuple{3});
  const MaxPooling1D from_lone_braces({3});  // a pool_size, not a copy
  const MaxPooling2D rect({3, 4});
  EXPECT_EQ(from_lone_braces.spec().window, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(rect.spec().window, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(rect.spec().strides, (std::vector<std::int64_t>{3, 4}));
  const MaxPooling1D from_braces({3}, std::nullopt);
  const MaxPooling1D from_int(3);
  EXPECT_FALSE(IntOrTuple{3}.is_int());
  EXPECT_TRUE(IntOrTuple(3).is_int());
  EXPECT_EQ(from_list.spec().window, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(from_braces.spec().window, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(from_int.spec().window, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(from_list.spec().strides, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(from_list.get_config(), from_int.get_config());
  const AveragePooling1D avg_list({3}, std::optional<IntOrTuple>(IntOrTuple{1}), "same");
  EXPECT_EQ(avg_list.spec().strides, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(avg_list.compute_output_shape(Shape{2, 5, 4}), (Shape{2, 5, 4}));
}

TEST(PoolingLayerDefaults, GlobalLayersDefaultToChannelsLastWithoutKeepdims) {
  const GlobalMaxPooling2D gmp;
  EXPECT_EQ(gmp.spec().data_format, DataFormat::kChannelsLast);
  EXPECT_FALSE(gmp.keepdims());
  EXPECT_TRUE(gmp.spec().global);
  const GlobalAveragePooling1D gap;
  EXPECT_EQ(gap.spec().op, PoolOp::kAverage);
  EXPECT_EQ(gap.compute_output_shape(Shape{2, 7, 3}), (Shape{2, 3}));
}

TEST(PoolingLayerDefaults, PaddingAndDataFormatAreCaseInsensitiveAsInKeras) {
  const MaxPooling2D upper(2, std::nullopt, "VALID");
  EXPECT_EQ(upper.spec().padding, Padding::kValid);
  const AveragePooling2D mixed(2, std::nullopt, "Same");
  EXPECT_EQ(mixed.spec().padding, Padding::kSame);
  EXPECT_EQ(mixed.get_config()["padding"], "same");
  const MaxPooling1D format(2, std::nullopt, "valid", "Channels_First");
  EXPECT_EQ(format.spec().data_format, DataFormat::kChannelsFirst);
  EXPECT_EQ(format.get_config()["data_format"], "channels_first");
}

// ---------------------------------------------------------------------------------------------
// (c) Output shapes.

TEST(PoolingLayerShapes, ComputeOutputShapeMatchesForwardForValidAndSame) {
  const Tensor x2 = random_distinct_tensor(Shape{2, 5, 7, 3}, 11);
  const MaxPooling2D valid({2, 3}, IntOrTuple{2, 2});
  EXPECT_EQ(valid.compute_output_shape(x2.shape()), (Shape{2, 2, 3, 3}));
  EXPECT_EQ(valid.forward(x2).shape(), (Shape{2, 2, 3, 3}));
  const AveragePooling2D same(3, 2, "same", "channels_first");  // (2, 5 channels, 7, 3)
  EXPECT_EQ(same.compute_output_shape(x2.shape()), (Shape{2, 5, 4, 2}));
  EXPECT_EQ(same.forward(x2).shape(), (Shape{2, 5, 4, 2}));

  const Tensor x3 = random_distinct_tensor(Shape{1, 4, 5, 6, 2}, 12);
  const MaxPooling3D pool3({1, 2, 4}, IntOrTuple{1, 3, 1}, "same");
  EXPECT_EQ(pool3.compute_output_shape(x3.shape()), pool3.forward(x3).shape());
  EXPECT_EQ(pool3.forward(x3).shape(), (Shape{1, 4, 2, 6, 2}));
  const Tensor x1 = random_distinct_tensor(Shape{3, 8, 2}, 13);
  const AveragePooling1D pool1(3, 2, "valid");
  EXPECT_EQ(pool1.compute_output_shape(x1.shape()), (Shape{3, 3, 2}));
  EXPECT_EQ(pool1.forward(x1).shape(), (Shape{3, 3, 2}));
}

TEST(PoolingLayerShapes, GlobalWithoutKeepdimsGivesBatchByChannels) {
  const Tensor last = random_distinct_tensor(Shape{2, 3, 4, 5, 6}, 21);
  const GlobalAveragePooling3D gap_last("channels_last", false);
  const GlobalMaxPooling3D gmp_first("channels_first", false);
  EXPECT_EQ(gap_last.compute_output_shape(last.shape()), (Shape{2, 6}));
  EXPECT_EQ(gap_last.forward(last).shape(), (Shape{2, 6}));
  EXPECT_EQ(gmp_first.compute_output_shape(last.shape()), (Shape{2, 3}));
  EXPECT_EQ(gmp_first.forward(last).shape(), (Shape{2, 3}));
}

TEST(PoolingLayerShapes, GlobalKeepdimsPutsOnesOnTheSpatialAxesOfTheLayout) {
  const Tensor x3 = random_distinct_tensor(Shape{2, 3, 4, 5, 6}, 22);
  EXPECT_EQ(GlobalAveragePooling3D("channels_last", true).forward(x3).shape(),
            (Shape{2, 1, 1, 1, 6}));
  EXPECT_EQ(GlobalAveragePooling3D("channels_last", true).compute_output_shape(x3.shape()),
            (Shape{2, 1, 1, 1, 6}));
  EXPECT_EQ(GlobalMaxPooling3D("channels_first", true).forward(x3).shape(),
            (Shape{2, 3, 1, 1, 1}));
  EXPECT_EQ(GlobalMaxPooling3D("channels_first", true).compute_output_shape(x3.shape()),
            (Shape{2, 3, 1, 1, 1}));
  const Tensor x2 = random_distinct_tensor(Shape{1, 4, 5, 2}, 23);
  EXPECT_EQ(GlobalMaxPooling2D("channels_last", true).forward(x2).shape(), (Shape{1, 1, 1, 2}));
  EXPECT_EQ(GlobalMaxPooling2D("channels_first", true).forward(x2).shape(), (Shape{1, 4, 1, 1}));
  const Tensor x1 = random_distinct_tensor(Shape{3, 7, 2}, 24);
  EXPECT_EQ(GlobalAveragePooling1D("channels_last", true).forward(x1).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(GlobalAveragePooling1D("channels_first", true).forward(x1).shape(), (Shape{3, 7, 1}));
}

TEST(PoolingLayerShapes, GlobalValuesAreTheSameWithAndWithoutKeepdims) {
  const Tensor x = random_distinct_tensor(Shape{2, 3, 4, 5}, 25);
  for (const char* format : {"channels_last", "channels_first"}) {
    const Tensor flat = GlobalMaxPooling2D(format, false).forward(x);
    const Tensor kept = GlobalMaxPooling2D(format, true).forward(x);
    ASSERT_EQ(flat.size(), kept.size()) << format;
    for (std::int64_t i = 0; i < flat.size(); ++i) EXPECT_EQ(flat[i], kept[i]) << format << " " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// (d) Constructor errors.

TEST(PoolingLayerArgumentErrors, PoolSizeZeroNegativeOrWrongLength) {
  expect_throws<ArgumentError>([] { MaxPooling2D layer(0); },
                               {"MaxPooling2D", "pool_size", "(0, 0)"});
  expect_throws<ArgumentError>([] { AveragePooling3D layer({2, -1, 2}); },
                               {"AveragePooling3D", "pool_size", "(2, -1, 2)"});
  expect_throws<ArgumentError>([] { MaxPooling1D layer(-3); },
                               {"MaxPooling1D", "pool_size", "-3"});
  expect_throws<ArgumentError>([] { MaxPooling2D layer({2, 2, 2}); },
                               {"MaxPooling2D", "pool_size", "2 ints", "(2, 2, 2)"});
  expect_throws<ArgumentError>([] { AveragePooling1D layer(IntOrTuple{2, 2}); },
                               {"AveragePooling1D", "pool_size", "(2, 2)"});
  expect_throws<ArgumentError>([] { MaxPooling3D layer(IntOrTuple{3}); },
                               {"MaxPooling3D", "pool_size", "(3,)"});
}

TEST(PoolingLayerArgumentErrors, StridesZeroNegativeOrWrongLength) {
  expect_throws<ArgumentError>([] { MaxPooling2D layer(2, 0); },
                               {"MaxPooling2D", "strides", "(0, 0)"});
  expect_throws<ArgumentError>([] { AveragePooling1D layer(2, -1); },
                               {"AveragePooling1D", "strides", "-1"});
  expect_throws<ArgumentError>([] { MaxPooling3D layer(2, IntOrTuple{1, 0, 1}); },
                               {"MaxPooling3D", "strides", "(1, 0, 1)"});
  expect_throws<ArgumentError>([] { AveragePooling2D layer(2, IntOrTuple{1, 1, 1}); },
                               {"AveragePooling2D", "strides", "(1, 1, 1)"});
}

TEST(PoolingLayerArgumentErrors, PaddingOtherThanValidOrSame) {
  expect_throws<ArgumentError>([] { MaxPooling2D layer(2, std::nullopt, "full"); },
                               {"MaxPooling2D", "padding", "'full'"});
  expect_throws<ArgumentError>([] { AveragePooling1D layer(2, std::nullopt, "causal"); },
                               {"AveragePooling1D", "padding", "'causal'"});
  expect_throws<ArgumentError>([] { MaxPooling3D layer(2, std::nullopt, ""); },
                               {"MaxPooling3D", "padding"});
}

TEST(PoolingLayerArgumentErrors, DataFormatOtherThanChannelsFirstOrLast) {
  expect_throws<ArgumentError>(
      [] { MaxPooling2D layer(2, std::nullopt, "valid", "NHWC"); },
      {"MaxPooling2D", "data_format", "'NHWC'"});
  expect_throws<ArgumentError>(
      [] { AveragePooling3D layer(2, std::nullopt, "same", "channels_middle"); },
      {"AveragePooling3D", "data_format", "'channels_middle'"});
  expect_throws<ArgumentError>([] { GlobalMaxPooling1D layer("NHWC"); },
                               {"GlobalMaxPooling1D", "data_format", "'NHWC'"});
  expect_throws<ArgumentError>([] { GlobalAveragePooling2D layer("channels_middle", true); },
                               {"GlobalAveragePooling2D", "data_format", "'channels_middle'"});
}

// ---------------------------------------------------------------------------------------------
// (e) Call-time errors.

TEST(PoolingLayerShapeErrors, WrongRankNamesLayerShapeAndDataFormat) {
  const MaxPooling2D layer;
  const Tensor rank3(Shape{1, 3, 3});
  expect_throws<ShapeError>([&] { (void)layer.forward(rank3); },
                            {"MaxPooling2D", "rank 4", "(1, 3, 3)", "channels_last"});
  expect_throws<ShapeError>([&] { (void)layer.compute_output_shape(Shape{1, 3, 3}); },
                            {"MaxPooling2D", "(1, 3, 3)"});
  const GlobalAveragePooling1D global("channels_first");
  expect_throws<ShapeError>(
      [&] { (void)global.forward(Tensor(Shape{1, 3, 3, 1})); },
      {"GlobalAveragePooling1D", "rank 3", "(1, 3, 3, 1)", "channels_first"});
  const AveragePooling3D avg3;
  expect_throws<ShapeError>(
      [&] { (void)avg3.backward(Tensor(Shape{1, 4, 4, 1}), Tensor(Shape{1, 2, 2, 1})); },
      {"AveragePooling3D", "(1, 4, 4, 1)"});
}

TEST(PoolingLayerShapeErrors, ValidPoolLargerThanInputNamesLayerShapeAndDataFormat) {
  const MaxPooling2D layer(4);
  const Tensor input(Shape{1, 3, 3, 1});
  expect_throws<ShapeError>(
      [&] { (void)layer.forward(input); },
      {"MaxPooling2D", "pool_size", "(4, 4)", "(1, 3, 3, 1)", "channels_last"});
  expect_throws<ShapeError>([&] { (void)layer.compute_output_shape(input.shape()); },
                            {"MaxPooling2D", "(1, 3, 3, 1)", "channels_last"});
  expect_throws<ShapeError>(
      [&] { (void)layer.backward(input, Tensor(Shape{1, 1, 1, 1})); },
      {"MaxPooling2D", "(1, 3, 3, 1)"});
  // in = k - 1 is an error too (Keras 3), in one axis only, in channels_first.
  const AveragePooling2D avg({2, 3}, std::nullopt, "valid", "channels_first");
  expect_throws<ShapeError>(
      [&] { (void)avg.forward(Tensor(Shape{1, 1, 5, 2})); },
      {"AveragePooling2D", "(1, 1, 5, 2)", "channels_first"});
  // The same window with 'same' padding is fine.
  EXPECT_EQ(MaxPooling2D(4, std::nullopt, "same").forward(input).shape(), (Shape{1, 1, 1, 1}));
}

TEST(PoolingLayerShapeErrors, BackwardRejectsGradOutputOfTheWrongShape) {
  const Tensor input = random_distinct_tensor(Shape{1, 4, 4, 2}, 31);
  const MaxPooling2D layer(2);  // output (1, 2, 2, 2)
  expect_throws<ShapeError>(
      [&] { (void)layer.backward(input, Tensor(Shape{1, 2, 2, 1})); },
      {"MaxPooling2D", "grad_output", "(1, 2, 2, 1)", "(1, 2, 2, 2)"});
  // Same element count, different shape.
  EXPECT_THROW((void)layer.backward(input, Tensor(Shape{1, 2, 4, 1})), ShapeError);
  EXPECT_THROW((void)layer.backward(input, Tensor(Shape{8})), ShapeError);
  // Global without keepdims wants (batch, channels), not the keepdims shape.
  const GlobalAveragePooling2D gap;
  EXPECT_THROW((void)gap.backward(input, Tensor(Shape{1, 1, 1, 2})), ShapeError);
  EXPECT_EQ(gap.backward(input, Tensor(Shape{1, 2}, 1.0f)).shape(), input.shape());
  const GlobalAveragePooling2D gap_keep("channels_last", true);
  EXPECT_THROW((void)gap_keep.backward(input, Tensor(Shape{1, 2})), ShapeError);
}

// ---------------------------------------------------------------------------------------------
// (f) get_config round trips and default names.

TEST(PoolingLayerConfig, GetConfigRoundTripsThroughMakeLayerForAllTwelve) {
  for (const LayerKind& kind : all_kinds()) {
    SCOPED_TRACE(kind.name);
    LayerArgs args;
    args.padding = "same";
    args.keepdims = true;
    for (int i = 0; i < kind.spatial_rank; ++i) {
      args.pool.push_back(2 + i);
      args.strides.push_back(1 + i);
    }
    const auto layer = kind.make(args, "channels_first");
    const nlohmann::json config = layer->get_config();
    EXPECT_EQ(layer->class_name(), kind.name);
    EXPECT_EQ(config["data_format"], "channels_first");
    if (kind.global) {
      EXPECT_EQ(config["keepdims"], true);
      EXPECT_FALSE(config.contains("pool_size"));
    } else {
      EXPECT_EQ(config["pool_size"], nlohmann::json(args.pool));
      EXPECT_EQ(config["strides"], nlohmann::json(args.strides));
      EXPECT_EQ(config["padding"], "same");
    }
    const auto rebuilt = make_layer(layer->class_name(), config);
    EXPECT_EQ(rebuilt->class_name(), kind.name);
    EXPECT_EQ(rebuilt->get_config(), config);
  }
}

TEST(PoolingLayerConfig, DefaultConfigRoundTripsAndKeepsDefaults) {
  const MaxPooling2D layer;
  const nlohmann::json config = layer.get_config();
  EXPECT_EQ(config["pool_size"], nlohmann::json({2, 2}));
  EXPECT_EQ(config["strides"], nlohmann::json({2, 2}));
  EXPECT_EQ(config["padding"], "valid");
  EXPECT_EQ(config["data_format"], "channels_last");
  EXPECT_EQ(make_layer("MaxPooling2D", config)->get_config(), config);
}

TEST(PoolingLayerConfig, DefaultNamesAreKerasSnakeCase) {
  EXPECT_EQ(MaxPooling1D().name(), "max_pooling1d");
  EXPECT_EQ(MaxPooling2D().name(), "max_pooling2d");
  EXPECT_EQ(MaxPooling3D().name(), "max_pooling3d");
  EXPECT_EQ(AveragePooling1D().name(), "average_pooling1d");
  EXPECT_EQ(AveragePooling2D().name(), "average_pooling2d");
  EXPECT_EQ(AveragePooling3D().name(), "average_pooling3d");
  EXPECT_EQ(GlobalMaxPooling1D().name(), "global_max_pooling1d");
  EXPECT_EQ(GlobalMaxPooling2D().name(), "global_max_pooling2d");
  EXPECT_EQ(GlobalMaxPooling3D().name(), "global_max_pooling3d");
  EXPECT_EQ(GlobalAveragePooling1D().name(), "global_average_pooling1d");
  EXPECT_EQ(GlobalAveragePooling2D().name(), "global_average_pooling2d");
  EXPECT_EQ(GlobalAveragePooling3D().name(), "global_average_pooling3d");
  EXPECT_EQ(GlobalAveragePooling3D().get_config()["name"], "global_average_pooling3d");
}

TEST(PoolingLayerConfig, NameSurvivesTheRoundTrip) {
  AveragePooling2D layer(3, 1, "same");
  layer.set_name("pool_a");
  const nlohmann::json config = layer.get_config();
  EXPECT_EQ(config["name"], "pool_a");
  const auto rebuilt = make_layer("AveragePooling2D", config);
  EXPECT_EQ(rebuilt->name(), "pool_a");
  EXPECT_EQ(rebuilt->get_config(), config);
}

// Training max pooling saves the argmax in forward_train and scatters from it in backward_train:
// the same outputs and gradients as forward/backward (ties, overlapping windows, padding, both
// layouts, both backends), and a backward_train for another input shape falls back to backward.
TEST(PoolingLayerTraining, MaxPoolingTrainsFromTheSavedArgmax) {
  Rng rng(1);
  std::mt19937 gen(7);
  for (const char* format : {"channels_last", "channels_first"}) {
    for (const PoolBackend backend : {PoolBackend::kAuto, PoolBackend::kReference}) {
      MaxPooling2D overlapping({3, 3}, IntOrTuple(2), "same", format);
      MaxPooling1D valid(2, std::nullopt, "valid", format);
      MaxPooling3D cube({2, 2, 2}, IntOrTuple(1), "valid", format);
      for (PoolingLayer* layer : std::initializer_list<PoolingLayer*>{&overlapping, &valid, &cube}) {
        SCOPED_TRACE(std::string(layer->class_name()) + " " + format);
        layer->set_backend(backend);
        const int n = layer->spec().spatial_rank;
        std::vector<std::int64_t> dims{2};
        if (std::string_view(format) == "channels_first") dims.push_back(5);
        for (int i = 0; i < n; ++i) dims.push_back(n == 3 ? 5 : 9);
        if (std::string_view(format) == "channels_last") dims.push_back(5);
        const Shape shape(dims);
        Tensor x(shape);
        for (float& v : x.values()) v = static_cast<float>(static_cast<int>(gen() % 7) - 3);  // many ties
        const Tensor y = layer->forward_train(x, rng);
        const Tensor expected_y = layer->forward(x);
        ASSERT_EQ(y.shape(), expected_y.shape());
        for (std::int64_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], expected_y[i]) << i;
        const Tensor w = testing::random_tensor(y.shape(), 3);
        const Tensor g = layer->backward_train(x, y, w);
        const Tensor expected_g = pool_backward(layer->plan(x.shape()), x, w, PoolBackend::kReference);
        // Overlapping windows accumulate in float (the reference in double).
        for (std::int64_t i = 0; i < g.size(); ++i)
          ASSERT_NEAR(g[i], expected_g[i], 1e-6f * std::max(1.0f, std::fabs(expected_g[i]))) << i;
      }
    }
  }
  // A backward_train for an input of another shape than the last forward_train's: backward().
  MaxPooling2D pool(2);
  const Tensor small = random_distinct_tensor(Shape{1, 4, 4, 2}, 1);
  const Tensor large = random_distinct_tensor(Shape{1, 6, 6, 2}, 2);
  (void)pool.forward_train(small, rng);
  const Tensor w = testing::random_tensor(Shape{1, 3, 3, 2}, 4);
  const Tensor g = pool.backward_train(large, pool.forward(large), w);
  const Tensor expected = pool.backward(large, w);
  for (std::int64_t i = 0; i < g.size(); ++i) ASSERT_EQ(g[i], expected[i]) << i;
}

}  // namespace
}  // namespace poolnet
