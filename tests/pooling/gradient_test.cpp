// Finite-difference checks of pool_backward against pool_forward (reference kernels): for the
// loss L = sum(output * w) with random w, dL/dx from pool_backward must match central
// differences of pool_forward, for max and average pooling in 1D, 2D and 3D, both paddings, both
// data formats, overlapping windows (stride < pool), stride > pool, and global pooling.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "poolnet/pooling.hpp"
#include "poolnet/tensor.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

struct GradCase {
  PoolOp op;
  bool global;
  std::vector<std::int64_t> window;   // empty for global
  std::vector<std::int64_t> strides;  // empty for global
  Padding padding;
  DataFormat format;
  std::vector<std::int64_t> spatial;
  std::int64_t batch;
  std::int64_t channels;

  int rank() const { return static_cast<int>(spatial.size()); }
};

std::string join(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(v[i]);
  }
  return s;
}

std::string case_name(const GradCase& c) {
  std::string name = c.global ? "Global" : "";
  name += c.op == PoolOp::kMax ? "Max" : "Avg";
  name += std::to_string(c.rank()) + "D_";
  if (!c.global) {
    name += std::string(to_string(c.padding)) + "_pool" + join(c.window) + "_stride" +
            join(c.strides) + "_";
  }
  name += c.format == DataFormat::kChannelsLast ? "last" : "first";
  return name;
}

// gtest prints the case by name when a check fails.
void PrintTo(const GradCase& c, std::ostream* os) { *os << case_name(c); }

std::vector<GradCase> all_cases() {
  struct Base {
    std::vector<std::int64_t> spatial;
    std::int64_t batch;
    std::int64_t channels;
    std::vector<std::int64_t> window;
    std::vector<std::int64_t> strides;
  };
  const std::vector<Base> bases = {
      // 1D: overlapping, stride > pool, stride < pool with a ragged end.
      {{7}, 2, 3, {3}, {1}},
      {{7}, 2, 3, {2}, {3}},
      {{7}, 2, 3, {3}, {2}},
      // 2D: non-square overlapping, stride > pool, 3x3 stride 1 (heavy overlap).
      {{5, 6}, 1, 2, {2, 3}, {1, 2}},
      {{5, 6}, 1, 2, {2, 2}, {3, 3}},
      {{5, 6}, 1, 2, {3, 3}, {1, 1}},
      // 3D: overlapping, mixed per-axis, stride > pool.
      {{4, 5, 3}, 1, 2, {2, 2, 2}, {1, 1, 1}},
      {{4, 5, 3}, 1, 2, {1, 2, 3}, {2, 1, 2}},
      {{4, 5, 3}, 1, 2, {2, 2, 2}, {3, 3, 3}},
  };
  std::vector<GradCase> cases;
  for (const Base& b : bases)
    for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage})
      for (const Padding padding : {Padding::kValid, Padding::kSame})
        for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst})
          cases.push_back({op, false, b.window, b.strides, padding, format, b.spatial, b.batch,
                           b.channels});
  const std::vector<std::vector<std::int64_t>> global_spatials = {{6}, {3, 4}, {2, 3, 4}};
  for (const std::vector<std::int64_t>& spatial : global_spatials)
    for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage})
      for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst})
        cases.push_back({op, true, {}, {}, Padding::kValid, format, spatial, 2, 3});
  return cases;
}

// sum(output * w) in double.
double loss(const PoolPlan& plan, const Tensor& x, const Tensor& w) {
  const Tensor out = pool_forward(plan, x, PoolBackend::kReference);
  double sum = 0.0;
  for (std::int64_t i = 0; i < out.size(); ++i)
    sum += static_cast<double>(out[i]) * static_cast<double>(w[i]);
  return sum;
}

class PoolGradientTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(PoolGradientTest, BackwardMatchesCentralDifferencesOfForward) {
  const GradCase& c = GetParam();
  const PoolPlan plan = plan_pooling(
      testing::pool_spec(c.op, c.rank(), c.global, c.window, c.strides, c.padding, c.format),
      testing::make_shape(c.batch, c.spatial, c.channels, c.format));

  // Values 0.05 apart: a max-pooling perturbation of +-1e-3 never changes which cell is the
  // maximum, so the loss is linear in each input around the point and the difference is exact.
  // Average pooling is linear everywhere, so a large step only shrinks the effect of the float
  // rounding of the outputs.
  const Tensor x = testing::random_distinct_tensor(plan.input_shape, 1234u, 0.05f);
  const Tensor w = testing::random_tensor(plan.output_shape, 99u, -1.0f, 1.0f);
  const float eps = c.op == PoolOp::kMax ? 1e-3f : 0.25f;

  const Tensor analytic = pool_backward(plan, x, w, PoolBackend::kReference);
  ASSERT_EQ(analytic.shape(), plan.input_shape);

  int nonzero = 0;
  Tensor probe = x;
  for (std::int64_t i = 0; i < x.size(); ++i) {
    probe[i] = x[i] + eps;
    const double up_value = static_cast<double>(probe[i]);
    const double up = loss(plan, probe, w);
    probe[i] = x[i] - eps;
    const double down_value = static_cast<double>(probe[i]);
    const double down = loss(plan, probe, w);
    probe[i] = x[i];
    // Divide by the step the float inputs actually took.
    const double numeric = (up - down) / (up_value - down_value);
    const double expected = static_cast<double>(analytic[i]);
    EXPECT_NEAR(expected, numeric, 1e-4 + 1e-3 * std::fabs(numeric))
        << "d loss / d input[" << i << "], input value " << x[i];
    if (analytic[i] != 0.0f) ++nonzero;
  }
  // Not a vacuous check: some inputs do receive gradient.
  EXPECT_GT(nonzero, 0);

  // Every output hands on exactly its upstream value (max: to one cell or split among ties;
  // average: w / count to each of count cells), so the totals agree.
  double total_in = 0.0;
  double total_out = 0.0;
  for (const float g : analytic.values()) total_in += static_cast<double>(g);
  for (const float v : w.values()) total_out += static_cast<double>(v);
  EXPECT_NEAR(total_in, total_out, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(AllRanksOpsPaddingsLayouts, PoolGradientTest,
                         ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<GradCase>& param_info) {
                           return case_name(param_info.param);
                         });

TEST(PoolGradientExplicitTest, MaxGradientFromOverlappingWindowsAccumulates) {
  // 1D [1, 5, 2, 0], pool 2, stride 1, valid: windows [1,5], [5,2], [2,0] -> 5, 5, 2.
  const PoolPlan plan =
      plan_pooling(testing::windowed_spec(PoolOp::kMax, 1, {2}, {1}), Shape{1, 4, 1});
  const float in[] = {1, 5, 2, 0};
  const float w[] = {0.5f, 0.25f, 2.0f};
  const Tensor g = pool_backward(plan, Tensor(Shape{1, 4, 1}, in), Tensor(Shape{1, 3, 1}, w),
                                 PoolBackend::kReference);
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_EQ(g[1], 0.75f);
  EXPECT_EQ(g[2], 2.0f);
  EXPECT_EQ(g[3], 0.0f);
}

TEST(PoolGradientExplicitTest, AverageGradientFromOverlappingWindowsAccumulates) {
  // 1D length 3, pool 2, stride 1, valid: cell 1 is in both windows, each of count 2.
  const PoolSpec spec = testing::windowed_spec(PoolOp::kAverage, 1, {2}, {1}, Padding::kValid,
                                               DataFormat::kChannelsFirst);
  const PoolPlan plan = plan_pooling(spec, Shape{1, 1, 3});
  const float in[] = {4, -1, 7};
  const float w[] = {1.0f, 3.0f};
  const Tensor g = pool_backward(plan, Tensor(Shape{1, 1, 3}, in), Tensor(Shape{1, 1, 2}, w),
                                 PoolBackend::kReference);
  EXPECT_EQ(g[0], 0.5f);
  EXPECT_EQ(g[1], 2.0f);
  EXPECT_EQ(g[2], 1.5f);
}

TEST(PoolGradientExplicitTest, CellsSkippedByStrideGetZeroGradient) {
  // 1D length 7, pool 2, stride 3, valid: windows [0,1], [3,4]; cells 2, 5, 6 are never read.
  for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
    const PoolPlan plan = plan_pooling(testing::windowed_spec(op, 1, {2}, {3}), Shape{1, 7, 1});
    const Tensor x = testing::random_distinct_tensor(plan.input_shape, 5u, 0.05f);
    const Tensor w(plan.output_shape, 1.0f);
    const Tensor g = pool_backward(plan, x, w, PoolBackend::kReference);
    EXPECT_EQ(g[2], 0.0f) << to_string(op);
    EXPECT_EQ(g[5], 0.0f) << to_string(op);
    EXPECT_EQ(g[6], 0.0f) << to_string(op);
  }
}

}  // namespace
}  // namespace poolnet
