// Shape rules of the pooling engine (docs/SEMANTICS.md sections 3 and 8): compute_axis_geometry
// against a table and against an independent brute-force formula, and plan_pooling's output
// shapes, errors and error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"
#include "poolnet/tensor.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

// ---------------------------------------------------------------------------------------------
// compute_axis_geometry: table

struct AxisCase {
  const char* what;
  std::int64_t in;
  std::int64_t k;
  std::int64_t s;
  Padding padding;
  std::int64_t out;
  std::int64_t pad_before;
  std::int64_t pad_after;
};

constexpr AxisCase kAxisCases[] = {
    // valid: windows that would run past the end are dropped, the tail is ignored.
    {"valid, tail of 1 ignored", 7, 2, 2, Padding::kValid, 3, 0, 0},
    {"valid, tail of 3 ignored", 10, 3, 4, Padding::kValid, 2, 0, 0},
    {"valid, overlapping windows", 6, 3, 1, Padding::kValid, 4, 0, 0},
    {"valid, k=1 s=1 is identity", 5, 1, 1, Padding::kValid, 5, 0, 0},
    {"valid, in == k", 4, 4, 1, Padding::kValid, 1, 0, 0},
    {"valid, in == k, huge stride", 4, 4, 7, Padding::kValid, 1, 0, 0},
    {"valid, in == k == 1", 1, 1, 1, Padding::kValid, 1, 0, 0},
    {"valid, stride > pool", 8, 1, 3, Padding::kValid, 3, 0, 0},
    {"valid, stride > pool, k=2", 9, 2, 3, Padding::kValid, 3, 0, 0},
    {"valid, stride > input", 5, 2, 9, Padding::kValid, 1, 0, 0},
    // same: out = ceil(in / s); the odd element of padding goes at the end.
    {"same, in == k == s", 4, 4, 4, Padding::kSame, 1, 0, 0},
    {"same, in == k, stride 1", 4, 4, 1, Padding::kSame, 4, 1, 2},
    {"same, stride > pool, clamp to 0", 8, 1, 3, Padding::kSame, 3, 0, 0},
    {"same, stride > pool, clamp to 0 (k=2)", 10, 2, 5, Padding::kSame, 2, 0, 0},
    {"same, stride > pool, padding needed", 7, 2, 3, Padding::kSame, 3, 0, 1},
    {"same, pool > input, 1 before 2 after", 1, 4, 4, Padding::kSame, 1, 1, 2},
    {"same, pool > input, stride 1", 3, 5, 1, Padding::kSame, 3, 2, 2},
    {"same, pool > input, stride 3", 2, 7, 3, Padding::kSame, 1, 2, 3},
    {"same, odd padding goes at the end", 5, 4, 2, Padding::kSame, 3, 1, 2},
    {"same, in=3 k=2 s=2", 3, 2, 2, Padding::kSame, 2, 0, 1},
    {"same, in=6 k=3 s=2", 6, 3, 2, Padding::kSame, 3, 0, 1},
    {"same, in=7 k=3 s=2 even padding", 7, 3, 2, Padding::kSame, 4, 1, 1},
    {"same, k=1 s=1 is identity", 5, 1, 1, Padding::kSame, 5, 0, 0},
    {"same, in=1 k=1 s=5", 1, 1, 5, Padding::kSame, 1, 0, 0},
};

TEST(AxisGeometryTest, MatchesTableOfOutputSizesAndPadding) {
  for (const AxisCase& c : kAxisCases) {
    SCOPED_TRACE(c.what);
    const AxisGeometry g = compute_axis_geometry(c.in, c.k, c.s, c.padding);
    EXPECT_EQ(g.in, c.in);
    EXPECT_EQ(g.window, c.k);
    EXPECT_EQ(g.stride, c.s);
    EXPECT_EQ(g.out, c.out);
    EXPECT_EQ(g.pad_before, c.pad_before);
    EXPECT_EQ(g.pad_after, c.pad_after);
  }
}

TEST(AxisGeometryTest, ValidWithWindowLargerThanInputGivesNonPositiveOutput) {
  // in == k - 1 (TF's integer division would say 1 or 0 here) and much smaller inputs.
  EXPECT_LE(compute_axis_geometry(3, 4, 1, Padding::kValid).out, 0);
  EXPECT_LE(compute_axis_geometry(3, 4, 4, Padding::kValid).out, 0);
  EXPECT_LE(compute_axis_geometry(1, 2, 1, Padding::kValid).out, 0);
  EXPECT_LE(compute_axis_geometry(1, 7, 3, Padding::kValid).out, 0);
  EXPECT_LE(compute_axis_geometry(0, 1, 1, Padding::kValid).out, 0);
}

TEST(AxisGeometryTest, WindowsOfSemanticsExampleAreClippedToRealCells) {
  // SEMANTICS.md section 3: in=5, k=4, s=2, same -> windows [0..2], [1..4], [3..4].
  const AxisGeometry g = compute_axis_geometry(5, 4, 2, Padding::kSame);
  ASSERT_EQ(g.out, 3);
  EXPECT_EQ(g.window_begin(0), 0);
  EXPECT_EQ(g.window_end(0), 3);
  EXPECT_EQ(g.window_begin(1), 1);
  EXPECT_EQ(g.window_end(1), 5);
  EXPECT_EQ(g.window_begin(2), 3);
  EXPECT_EQ(g.window_end(2), 5);
}

TEST(AxisGeometryTest, WindowsOfPoolLargerThanInputCoverWholeInput) {
  // in=1, k=4, s=4, same: one window [-1..2] clipped to [0..0].
  const AxisGeometry a = compute_axis_geometry(1, 4, 4, Padding::kSame);
  ASSERT_EQ(a.out, 1);
  EXPECT_EQ(a.window_begin(0), 0);
  EXPECT_EQ(a.window_end(0), 1);
  // in=3, k=5, s=1, same: pad 2/2, windows [-2..2], [-1..3], [0..4] -> [0..2] each.
  const AxisGeometry b = compute_axis_geometry(3, 5, 1, Padding::kSame);
  ASSERT_EQ(b.out, 3);
  for (std::int64_t j = 0; j < 3; ++j) {
    EXPECT_EQ(b.window_begin(j), 0) << "j=" << j;
    EXPECT_EQ(b.window_end(j), 3) << "j=" << j;
  }
}

TEST(AxisGeometryTest, StrideLargerThanPoolSkipsCells) {
  // in=8, k=1, s=3, same: windows start at 0, 3, 6 and hold one cell each.
  const AxisGeometry g = compute_axis_geometry(8, 1, 3, Padding::kSame);
  ASSERT_EQ(g.out, 3);
  for (std::int64_t j = 0; j < 3; ++j) {
    EXPECT_EQ(g.window_begin(j), 3 * j) << "j=" << j;
    EXPECT_EQ(g.window_end(j), 3 * j + 1) << "j=" << j;
  }
}

TEST(AxisGeometryTest, ValidWindowsAreNeverClipped) {
  // in=10, k=3, s=4: windows [0..2], [4..6]; cells 7..9 are ignored.
  const AxisGeometry g = compute_axis_geometry(10, 3, 4, Padding::kValid);
  ASSERT_EQ(g.out, 2);
  EXPECT_EQ(g.window_begin(0), 0);
  EXPECT_EQ(g.window_end(0), 3);
  EXPECT_EQ(g.window_begin(1), 4);
  EXPECT_EQ(g.window_end(1), 7);
}

// ---------------------------------------------------------------------------------------------
// compute_axis_geometry: brute force against an independent formulation

struct ExpectedAxis {
  std::int64_t out;
  std::int64_t pad_before;
  std::int64_t pad_after;
};

// Written differently from the library: valid counts the window starts j*s with j*s + k <= in;
// same counts the window starts j*s < in (that is ceil(in / s)) and pads what the last window
// needs beyond the input, the larger half at the end.
ExpectedAxis expected_axis(std::int64_t in, std::int64_t k, std::int64_t s, Padding padding) {
  ExpectedAxis e{0, 0, 0};
  if (padding == Padding::kValid) {
    for (std::int64_t start = 0; start + k <= in; start += s) ++e.out;
    return e;
  }
  for (std::int64_t start = 0; start < in; start += s) ++e.out;
  const std::int64_t last_end = (e.out - 1) * s + k;  // one past the last window, unpadded
  const std::int64_t pad_total = last_end > in ? last_end - in : 0;
  e.pad_after = (pad_total + 1) / 2;
  e.pad_before = pad_total - e.pad_after;
  return e;
}

TEST(AxisGeometryTest, AgreesWithBruteForceForAllSmallArguments) {
  int checked = 0;
  for (const Padding padding : {Padding::kValid, Padding::kSame}) {
    for (std::int64_t in = 1; in <= 12; ++in) {
      for (std::int64_t k = 1; k <= 7; ++k) {
        for (std::int64_t s = 1; s <= 7; ++s) {
          SCOPED_TRACE(std::string(to_string(padding)) + " in=" + std::to_string(in) +
                       " k=" + std::to_string(k) + " s=" + std::to_string(s));
          const AxisGeometry g = compute_axis_geometry(in, k, s, padding);
          const ExpectedAxis e = expected_axis(in, k, s, padding);
          if (padding == Padding::kValid && in < k) {
            EXPECT_LE(g.out, 0);
            ++checked;
            continue;
          }
          ASSERT_EQ(g.out, e.out);
          ASSERT_EQ(g.pad_before, e.pad_before);
          ASSERT_EQ(g.pad_after, e.pad_after);
          ASSERT_GE(g.out, 1);
          if (padding == Padding::kSame) {
            EXPECT_LE(g.pad_before + g.pad_after, k - 1) << "padding beyond k - 1";
          } else {
            EXPECT_EQ(g.pad_before, 0);
            EXPECT_EQ(g.pad_after, 0);
          }

          std::vector<int> covered(static_cast<std::size_t>(in), 0);
          for (std::int64_t j = 0; j < g.out; ++j) {
            const std::int64_t lo = j * s - e.pad_before;  // unclipped window [lo, lo + k)
            const std::int64_t begin = std::max<std::int64_t>(lo, 0);
            const std::int64_t end = std::min<std::int64_t>(lo + k, in);
            ASSERT_EQ(g.window_begin(j), begin) << "j=" << j;
            ASSERT_EQ(g.window_end(j), end) << "j=" << j;
            // Every window has at least one real cell.
            ASSERT_LT(g.window_begin(j), g.window_end(j)) << "empty window j=" << j;
            if (padding == Padding::kValid) {
              // Valid windows are whole: never clipped.
              EXPECT_EQ(g.window_end(j) - g.window_begin(j), k) << "j=" << j;
            }
            for (std::int64_t p = begin; p < end; ++p) covered[static_cast<std::size_t>(p)] = 1;
          }
          // With s <= k and 'same' padding, every input cell is in some window.
          if (padding == Padding::kSame && s <= k) {
            for (std::int64_t p = 0; p < in; ++p)
              EXPECT_EQ(covered[static_cast<std::size_t>(p)], 1) << "cell " << p << " unused";
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 2 * 12 * 7 * 7);
}

// ---------------------------------------------------------------------------------------------
// plan_pooling: output shapes

using testing::global_spec;
using testing::make_shape;
using testing::windowed_spec;

struct PlanCase {
  const char* what;
  int rank;
  std::vector<std::int64_t> window;
  std::vector<std::int64_t> strides;
  Padding padding;
  std::vector<std::int64_t> in;
  std::vector<std::int64_t> out;
};

TEST(PlanPoolingGeometryTest, OutputShapesFor1D2D3DInBothDataFormats) {
  const std::vector<PlanCase> cases = {
      {"1D valid", 1, {3}, {2}, Padding::kValid, {10}, {4}},
      {"1D same", 1, {3}, {2}, Padding::kSame, {10}, {5}},
      {"1D stride > pool", 1, {1}, {3}, Padding::kSame, {8}, {3}},
      {"2D square valid", 2, {2, 2}, {2, 2}, Padding::kValid, {5, 5}, {2, 2}},
      {"2D square same", 2, {2, 2}, {2, 2}, Padding::kSame, {5, 5}, {3, 3}},
      {"2D non-square, per-axis strides, valid", 2, {2, 3}, {1, 4}, Padding::kValid, {7, 10},
       {6, 2}},
      {"2D non-square, per-axis strides, same", 2, {2, 3}, {1, 4}, Padding::kSame, {7, 10},
       {7, 3}},
      {"2D pool > input, same", 2, {4, 5}, {4, 1}, Padding::kSame, {1, 3}, {1, 3}},
      {"3D valid", 3, {2, 3, 4}, {3, 2, 1}, Padding::kValid, {5, 6, 7}, {2, 2, 4}},
      {"3D same", 3, {2, 3, 4}, {3, 2, 1}, Padding::kSame, {5, 6, 7}, {2, 3, 7}},
      {"3D in == k", 3, {2, 3, 4}, {1, 1, 1}, Padding::kValid, {2, 3, 4}, {1, 1, 1}},
  };
  for (const PlanCase& c : cases) {
    for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
      SCOPED_TRACE(std::string(c.what) + " " + std::string(to_string(format)));
      const PoolSpec spec =
          windowed_spec(PoolOp::kMax, c.rank, c.window, c.strides, c.padding, format);
      const Shape input = make_shape(2, c.in, 3, format);
      const PoolPlan plan = plan_pooling(spec, input);
      EXPECT_EQ(plan.input_shape, input);
      EXPECT_EQ(plan.output_shape, make_shape(2, c.out, 3, format))
          << plan.output_shape.to_string();
      EXPECT_EQ(plan.batch, 2);
      EXPECT_EQ(plan.channels, 3);

      // Spatial axes are right-aligned; the unused leading ones are the identity.
      const int offset = kMaxSpatialRank - c.rank;
      std::int64_t spatial_in = 1;
      std::int64_t spatial_out = 1;
      for (int a = 0; a < kMaxSpatialRank; ++a) {
        const AxisGeometry& g = plan.axes[static_cast<std::size_t>(a)];
        if (a < offset) {
          EXPECT_EQ(g.in, 1) << "axis " << a;
          EXPECT_EQ(g.window, 1) << "axis " << a;
          EXPECT_EQ(g.stride, 1) << "axis " << a;
          EXPECT_EQ(g.out, 1) << "axis " << a;
          EXPECT_EQ(g.pad_before, 0) << "axis " << a;
          EXPECT_EQ(g.pad_after, 0) << "axis " << a;
        } else {
          const std::size_t i = static_cast<std::size_t>(a - offset);
          EXPECT_EQ(g.in, c.in[i]) << "axis " << a;
          EXPECT_EQ(g.window, c.window[i]) << "axis " << a;
          EXPECT_EQ(g.stride, c.strides[i]) << "axis " << a;
          EXPECT_EQ(g.out, c.out[i]) << "axis " << a;
          spatial_in *= c.in[i];
          spatial_out *= c.out[i];
        }
      }
      EXPECT_EQ(plan.spatial_in(), spatial_in);
      EXPECT_EQ(plan.spatial_out(), spatial_out);
    }
  }
}

TEST(PlanPoolingGeometryTest, PerAxisPaddingIsComputedIndependently) {
  // rows: in=5, k=4, s=2 -> pad 1/2; cols: in=3, k=2, s=2 -> pad 0/1.
  const PoolSpec spec = windowed_spec(PoolOp::kAverage, 2, {4, 2}, {2, 2}, Padding::kSame,
                                      DataFormat::kChannelsFirst);
  const PoolPlan plan = plan_pooling(spec, Shape{1, 2, 5, 3});
  EXPECT_EQ(plan.output_shape, (Shape{1, 2, 3, 2}));
  EXPECT_EQ(plan.axes[1].pad_before, 1);
  EXPECT_EQ(plan.axes[1].pad_after, 2);
  EXPECT_EQ(plan.axes[2].pad_before, 0);
  EXPECT_EQ(plan.axes[2].pad_after, 1);
}

TEST(PlanPoolingGeometryTest, GlobalSpecsReduceEverySpatialDimToOne) {
  const std::vector<std::vector<std::int64_t>> spatials = {{7}, {3, 5}, {2, 4, 3}};
  for (const std::vector<std::int64_t>& spatial : spatials) {
    for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
      for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
        const int rank = static_cast<int>(spatial.size());
        SCOPED_TRACE("rank " + std::to_string(rank) + " " + std::string(to_string(format)) +
                     " " + std::string(to_string(op)));
        const PoolSpec spec = global_spec(op, rank, format);
        const PoolPlan plan = plan_pooling(spec, make_shape(2, spatial, 3, format));
        EXPECT_EQ(plan.output_shape,
                  make_shape(2, std::vector<std::int64_t>(spatial.size(), 1), 3, format));
        const int offset = kMaxSpatialRank - rank;
        for (int i = 0; i < rank; ++i) {
          const AxisGeometry& g = plan.axes[static_cast<std::size_t>(offset + i)];
          const std::int64_t in = spatial[static_cast<std::size_t>(i)];
          EXPECT_EQ(g.in, in);
          EXPECT_EQ(g.out, 1);
          EXPECT_EQ(g.window_begin(0), 0);
          EXPECT_EQ(g.window_end(0), in);
        }
        EXPECT_EQ(plan.spatial_out(), 1);
      }
    }
  }
}

TEST(PlanPoolingGeometryTest, GlobalSpecsIgnoreWindowStridesAndPadding) {
  PoolSpec spec = global_spec(PoolOp::kMax, 2, DataFormat::kChannelsLast);
  spec.window = {0};          // would be invalid for a windowed spec
  spec.strides = {-1, 9, 9};  // likewise
  spec.padding = Padding::kSame;
  const PoolPlan plan = plan_pooling(spec, Shape{1, 4, 6, 2});
  EXPECT_EQ(plan.output_shape, (Shape{1, 1, 1, 2}));
}

TEST(PlanPoolingGeometryTest, LargestPoolArgumentIsAcceptedWithSamePadding) {
  const PoolSpec spec = windowed_spec(PoolOp::kMax, 1, {kMaxPoolArgument}, {kMaxPoolArgument},
                                      Padding::kSame, DataFormat::kChannelsLast);
  const PoolPlan plan = plan_pooling(spec, Shape{1, 3, 1});
  EXPECT_EQ(plan.output_shape, (Shape{1, 1, 1}));
  EXPECT_EQ(plan.axes[2].window_begin(0), 0);
  EXPECT_EQ(plan.axes[2].window_end(0), 3);
}

// ---------------------------------------------------------------------------------------------
// plan_pooling: errors

PoolSpec max2d(std::vector<std::int64_t> window, std::vector<std::int64_t> strides,
               Padding padding = Padding::kValid,
               DataFormat format = DataFormat::kChannelsLast) {
  return windowed_spec(PoolOp::kMax, 2, std::move(window), std::move(strides), padding, format);
}

TEST(PlanPoolingGeometryTest, NonPositivePoolSizeOrStridesIsArgumentError) {
  const Shape input{1, 6, 6, 1};
  EXPECT_THROW(plan_pooling(max2d({0, 2}, {1, 1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 0}, {1, 1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({-1, 2}, {1, 1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {0, 1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {1, 0}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {1, -3}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({0, 2}, {1, 1}, Padding::kSame), input), ArgumentError);
  EXPECT_THROW(validate_pool_spec(max2d({2, 2}, {0, 0})), ArgumentError);
  EXPECT_NO_THROW(validate_pool_spec(max2d({2, 2}, {1, 1})));
}

TEST(PlanPoolingGeometryTest, WrongTupleLengthIsArgumentError) {
  const Shape input{1, 6, 6, 1};
  EXPECT_THROW(plan_pooling(max2d({2}, {1, 1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 2, 2}, {1, 1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({}, {1, 1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {1, 1, 1}), input), ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {}), input), ArgumentError);
  const PoolSpec one_d =
      windowed_spec(PoolOp::kAverage, 1, {2, 2}, {2}, Padding::kValid, DataFormat::kChannelsLast);
  EXPECT_THROW(plan_pooling(one_d, Shape{1, 6, 1}), ArgumentError);
}

TEST(PlanPoolingGeometryTest, SpatialRankOutside1To3IsArgumentError) {
  PoolSpec zero = max2d({}, {});
  zero.spatial_rank = 0;
  EXPECT_THROW(plan_pooling(zero, Shape{1, 1}), ArgumentError);
  PoolSpec four = max2d({2, 2, 2, 2}, {1, 1, 1, 1});
  four.spatial_rank = 4;
  EXPECT_THROW(plan_pooling(four, Shape{1, 4, 4, 4, 1}), ArgumentError);
  PoolSpec negative = max2d({2}, {2});
  negative.spatial_rank = -1;
  EXPECT_THROW(plan_pooling(negative, Shape{1, 4, 1}), ArgumentError);
  // Also for global specs, which otherwise ignore their arguments.
  EXPECT_THROW(plan_pooling(global_spec(PoolOp::kMax, 0, DataFormat::kChannelsLast), Shape{1, 1}),
               ArgumentError);
  EXPECT_THROW(plan_pooling(global_spec(PoolOp::kAverage, 4, DataFormat::kChannelsLast),
                            Shape{1, 2, 2, 2, 1}),
               ArgumentError);
}

TEST(PlanPoolingGeometryTest, ArgumentsAboveMaxPoolArgumentAreArgumentError) {
  const Shape input{1, 6, 6, 1};
  EXPECT_THROW(plan_pooling(max2d({kMaxPoolArgument + 1, 2}, {1, 1}, Padding::kSame), input),
               ArgumentError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {1, kMaxPoolArgument + 1}, Padding::kSame), input),
               ArgumentError);
  const std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {int64_max, 1}, Padding::kSame), input), ArgumentError);
  EXPECT_NO_THROW(plan_pooling(max2d({2, 2}, {kMaxPoolArgument, 1}, Padding::kSame), input));
}

TEST(PlanPoolingGeometryTest, WrongInputRankIsShapeError) {
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {2, 2}), Shape{1, 6, 6}), ShapeError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {2, 2}), Shape{1, 6, 6, 1, 1}), ShapeError);
  EXPECT_THROW(plan_pooling(max2d({2, 2}, {2, 2}), Shape{6}), ShapeError);
  const PoolSpec one_d =
      windowed_spec(PoolOp::kMax, 1, {2}, {2}, Padding::kSame, DataFormat::kChannelsFirst);
  EXPECT_THROW(plan_pooling(one_d, Shape{1, 2, 6, 6}), ShapeError);
  EXPECT_THROW(plan_pooling(global_spec(PoolOp::kAverage, 3, DataFormat::kChannelsLast),
                            Shape{1, 4, 4, 1}),
               ShapeError);
}

TEST(PlanPoolingGeometryTest, ValidWindowLargerThanInputIsShapeError) {
  // in == k - 1 in either axis (Keras 3 rejects it; raw TF would return an empty tensor).
  EXPECT_THROW(plan_pooling(max2d({4, 4}, {1, 1}), Shape{1, 3, 3, 1}), ShapeError);
  EXPECT_THROW(plan_pooling(max2d({4, 2}, {1, 1}), Shape{1, 3, 9, 1}), ShapeError);
  EXPECT_THROW(plan_pooling(max2d({2, 4}, {1, 1}), Shape{1, 9, 3, 1}), ShapeError);
  // Much smaller, with a stride large enough that TF's integer division would give 1.
  EXPECT_THROW(plan_pooling(max2d({5, 5}, {9, 9}), Shape{1, 1, 1, 1}), ShapeError);
  const PoolSpec three_d = windowed_spec(PoolOp::kAverage, 3, {2, 2, 3}, {1, 1, 1}, Padding::kValid,
                                         DataFormat::kChannelsFirst);
  EXPECT_THROW(plan_pooling(three_d, Shape{1, 1, 2, 2, 2}), ShapeError);
  // The same windows with 'same' padding are fine.
  EXPECT_NO_THROW(plan_pooling(max2d({4, 4}, {1, 1}, Padding::kSame), Shape{1, 3, 3, 1}));
  // And in == k is fine with 'valid'.
  EXPECT_NO_THROW(plan_pooling(max2d({3, 3}, {1, 1}), Shape{1, 3, 3, 1}));
}

TEST(PlanPoolingGeometryTest, ZeroSpatialDimIsShapeError) {
  EXPECT_THROW(plan_pooling(max2d({1, 1}, {1, 1}), Shape{1, 0, 3, 1}), ShapeError);
  EXPECT_THROW(plan_pooling(max2d({1, 1}, {1, 1}, Padding::kSame), Shape{1, 3, 0, 1}),
               ShapeError);
  EXPECT_THROW(
      plan_pooling(max2d({1, 1}, {1, 1}, Padding::kSame, DataFormat::kChannelsFirst),
                   Shape{1, 1, 0, 3}),
      ShapeError);
  EXPECT_THROW(plan_pooling(global_spec(PoolOp::kAverage, 1, DataFormat::kChannelsLast),
                            Shape{2, 0, 3}),
               ShapeError);
}

// ---------------------------------------------------------------------------------------------
// plan_pooling: messages

template <typename E>
std::string message_of(const PoolSpec& spec, const Shape& input, std::string_view context) {
  try {
    plan_pooling(spec, input, context);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception for input " << input.to_string();
  return {};
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}
using testing::contains;

TEST(PlanPoolingGeometryTest, ValidWindowMessageNamesContextArgumentValueShapeAndFormat) {
  const std::string m = message_of<ShapeError>(max2d({4, 4}, {1, 1}), Shape{1, 3, 3, 1},
                                               "MaxPooling2D");
  EXPECT_TRUE(starts_with(m, "MaxPooling2D")) << m;
  EXPECT_TRUE(contains(m, "pool_size")) << m;
  EXPECT_TRUE(contains(m, "(4, 4)")) << m;
  EXPECT_TRUE(contains(m, "(1, 3, 3, 1)")) << m;
  EXPECT_TRUE(contains(m, "channels_last")) << m;
  // Neither layout fits a 4x4 window, so no hint about the other one.
  EXPECT_FALSE(contains(m, "channels_first")) << m;
}

TEST(PlanPoolingGeometryTest, ValidWindowMessageNamesChannelsFirst) {
  const std::string m =
      message_of<ShapeError>(windowed_spec(PoolOp::kAverage, 2, {4, 4}, {1, 1}, Padding::kValid,
                                           DataFormat::kChannelsFirst),
                             Shape{1, 1, 3, 3}, "AveragePooling2D");
  EXPECT_TRUE(starts_with(m, "AveragePooling2D")) << m;
  EXPECT_TRUE(contains(m, "(1, 1, 3, 3)")) << m;
  EXPECT_TRUE(contains(m, "channels_first")) << m;
  EXPECT_FALSE(contains(m, "channels_last")) << m;
}

TEST(PlanPoolingGeometryTest, ValidWindowMessageHintsAtOtherDataFormatWhenItWouldFit) {
  // channels_last (1, 1, 3, 3): rows=1 < 2; read as channels_first the spatial dims are 3x3.
  const std::string last = message_of<ShapeError>(max2d({2, 2}, {1, 1}), Shape{1, 1, 3, 3},
                                                  "MaxPooling2D");
  EXPECT_TRUE(contains(last, "channels_last")) << last;
  EXPECT_TRUE(contains(last, "channels_first")) << last;
  // channels_first (1, 3, 3, 1): cols=1 < 2; read as channels_last the spatial dims are 3x3.
  const std::string first = message_of<ShapeError>(
      max2d({2, 2}, {1, 1}, Padding::kValid, DataFormat::kChannelsFirst), Shape{1, 3, 3, 1},
      "MaxPooling2D");
  EXPECT_TRUE(contains(first, "channels_first")) << first;
  EXPECT_TRUE(contains(first, "channels_last")) << first;
  // (1, 1, 1, 1): no layout fits, no hint.
  const std::string none = message_of<ShapeError>(max2d({2, 2}, {1, 1}), Shape{1, 1, 1, 1},
                                                  "MaxPooling2D");
  EXPECT_FALSE(contains(none, "channels_first")) << none;
  // 1D: channels_last (1, 1, 5) has steps=1; channels_first would give steps=5.
  const std::string one_d = message_of<ShapeError>(
      windowed_spec(PoolOp::kMax, 1, {3}, {1}, Padding::kValid, DataFormat::kChannelsLast),
      Shape{1, 1, 5}, "MaxPooling1D");
  EXPECT_TRUE(starts_with(one_d, "MaxPooling1D")) << one_d;
  EXPECT_TRUE(contains(one_d, "channels_first")) << one_d;
}

TEST(PlanPoolingGeometryTest, RankMessageNamesContextShapeAndFormat) {
  const std::string m = message_of<ShapeError>(max2d({2, 2}, {2, 2}), Shape{1, 3, 3},
                                               "MaxPooling2D");
  EXPECT_TRUE(starts_with(m, "MaxPooling2D")) << m;
  EXPECT_TRUE(contains(m, "rank")) << m;
  EXPECT_TRUE(contains(m, "4")) << m;
  EXPECT_TRUE(contains(m, "(1, 3, 3)")) << m;
  EXPECT_TRUE(contains(m, "channels_last")) << m;
}

TEST(PlanPoolingGeometryTest, ZeroDimMessageNamesContextShapeAndFormat) {
  const std::string m = message_of<ShapeError>(
      max2d({1, 1}, {1, 1}, Padding::kSame, DataFormat::kChannelsFirst), Shape{1, 3, 0, 1},
      "MaxPooling2D");
  EXPECT_TRUE(starts_with(m, "MaxPooling2D")) << m;
  EXPECT_TRUE(contains(m, "(1, 3, 0, 1)")) << m;
  EXPECT_TRUE(contains(m, "channels_first")) << m;
}

TEST(PlanPoolingGeometryTest, ArgumentMessagesNameContextArgumentAndValue) {
  const Shape input{1, 3, 3, 1};
  const std::string pool = message_of<ArgumentError>(max2d({2, 0}, {1, 1}), input,
                                                     "MaxPooling2D");
  EXPECT_TRUE(starts_with(pool, "MaxPooling2D")) << pool;
  EXPECT_TRUE(contains(pool, "pool_size")) << pool;
  EXPECT_TRUE(contains(pool, "(2, 0)")) << pool;

  const std::string strides = message_of<ArgumentError>(max2d({2, 2}, {1, -2}), input,
                                                        "AveragePooling2D");
  EXPECT_TRUE(starts_with(strides, "AveragePooling2D")) << strides;
  EXPECT_TRUE(contains(strides, "strides")) << strides;
  EXPECT_TRUE(contains(strides, "(1, -2)")) << strides;

  const std::string length = message_of<ArgumentError>(max2d({2, 2, 2}, {1, 1}), input,
                                                       "MaxPooling2D");
  EXPECT_TRUE(contains(length, "pool_size")) << length;
  EXPECT_TRUE(contains(length, "(2, 2, 2)")) << length;

  const std::string big = message_of<ArgumentError>(
      max2d({2, 2}, {kMaxPoolArgument + 1, 1}), input, "MaxPooling2D");
  EXPECT_TRUE(contains(big, "strides")) << big;
  EXPECT_TRUE(contains(big, std::to_string(kMaxPoolArgument + 1))) << big;

  PoolSpec rank4 = max2d({2, 2, 2, 2}, {1, 1, 1, 1});
  rank4.spatial_rank = 4;
  const std::string rank = message_of<ArgumentError>(rank4, input, "Pool4D");
  EXPECT_TRUE(starts_with(rank, "Pool4D")) << rank;
  EXPECT_TRUE(contains(rank, "4")) << rank;
}

TEST(PlanPoolingGeometryTest, DefaultContextIsPooling) {
  const std::string m = message_of<ShapeError>(max2d({4, 4}, {1, 1}), Shape{1, 3, 3, 1},
                                               "pooling");
  EXPECT_TRUE(starts_with(m, "pooling")) << m;
  try {
    plan_pooling(max2d({4, 4}, {1, 1}), Shape{1, 3, 3, 1});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_TRUE(starts_with(e.what(), "pooling")) << e.what();
  }
}

}  // namespace
}  // namespace poolnet
