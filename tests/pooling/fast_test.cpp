// The fast kernels against the reference oracle on thousands of random configurations: all ops,
// ranks, layouts, paddings, odd channel counts (partial channel blocks), strides smaller and
// larger than the window, windowed and global, special values, thread counts 1 and 2.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::make_shape;
using testing::pool_spec;

struct RandomCase {
  PoolSpec spec;
  Shape shape;
};

RandomCase random_case(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int rank = pick(1, 3);
  const bool global = pick(0, 5) == 0;
  std::vector<std::int64_t> spatial, window, strides;
  for (int i = 0; i < rank; ++i) {
    spatial.push_back(pick(1, rank == 3 ? 7 : 12));
    window.push_back(pick(1, 4));
    strides.push_back(pick(1, 4));
  }
  const PoolOp op = pick(0, 1) ? PoolOp::kMax : PoolOp::kAverage;
  const Padding padding = pick(0, 1) ? Padding::kSame : Padding::kValid;
  const DataFormat format = pick(0, 1) ? DataFormat::kChannelsFirst : DataFormat::kChannelsLast;
  // Channel counts around the 16-float block: 1, 3, 15, 16, 17, 33.
  const std::int64_t channels_choices[] = {1, 2, 3, 15, 16, 17, 33};
  const std::int64_t channels = channels_choices[pick(0, 6)];
  return {pool_spec(op, rank, global, window, strides, padding, format),
          make_shape(pick(1, 3), spatial, channels, format)};
}

// Values with ties (small integers) half of the time, and occasional NaN / +-inf.
Tensor random_input(const Shape& shape, std::mt19937& rng) {
  Tensor t(shape);
  const bool ties = rng() % 2 == 0;
  const bool specials = rng() % 4 == 0;
  std::uniform_real_distribution<float> real(-2.0f, 2.0f);
  for (float& v : t.values()) {
    v = ties ? static_cast<float>(static_cast<int>(rng() % 5) - 2) : real(rng);
    if (specials) {
      const auto r = rng() % 40;
      if (r == 0) v = std::numeric_limits<float>::quiet_NaN();
      if (r == 1) v = std::numeric_limits<float>::infinity();
      if (r == 2) v = -std::numeric_limits<float>::infinity();
    }
  }
  return t;
}

bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool close(float a, float b) {
  if (std::isnan(a) || std::isnan(b) || std::isinf(a) || std::isinf(b)) return same_float(a, b);
  return std::fabs(a - b) <= 1e-6f * std::max(1.0f, std::fabs(b));
}

class FastKernels : public ::testing::TestWithParam<int> {};

TEST_P(FastKernels, MatchTheReferenceOnRandomConfigurations) {
  const int threads = GetParam();
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  std::mt19937 rng(1234u + static_cast<unsigned>(threads));
  int checked = 0;
  for (int iteration = 0; iteration < 2500; ++iteration) {
    const RandomCase c = random_case(rng);
    PoolPlan plan;
    try {
      plan = plan_pooling(c.spec, c.shape);
    } catch (const ShapeError&) {
      continue;  // 'valid' window larger than the input
    }
    ++checked;
    const Tensor x = random_input(c.shape, rng);
    const Tensor ref = pool_forward(plan, x, PoolBackend::kReference);
    const Tensor fast = pool_forward(plan, x, PoolBackend::kFast);
    const bool is_max = c.spec.op == PoolOp::kMax;
    for (std::int64_t i = 0; i < ref.size(); ++i) {
      ASSERT_TRUE(is_max ? same_float(fast[i], ref[i]) : close(fast[i], ref[i]))
          << "forward " << to_string(c.spec.op) << " shape " << c.shape.to_string() << " format "
          << to_string(c.spec.data_format) << " global " << c.spec.global << " output[" << i
          << "] fast " << fast[i] << " reference " << ref[i];
    }
    const Tensor upstream = testing::random_tensor(plan.output_shape, static_cast<std::uint32_t>(iteration));
    const Tensor gref = pool_backward(plan, x, upstream, PoolBackend::kReference);
    const Tensor gfast = pool_backward(plan, x, upstream, PoolBackend::kFast);
    for (std::int64_t i = 0; i < gref.size(); ++i) {
      ASSERT_TRUE(close(gfast[i], gref[i]))
          << "backward " << to_string(c.spec.op) << " shape " << c.shape.to_string() << " format "
          << to_string(c.spec.data_format) << " grad_input[" << i << "] fast " << gfast[i]
          << " reference " << gref[i];
    }
  }
  omp_set_num_threads(saved);
  EXPECT_GT(checked, 1800);
}

INSTANTIATE_TEST_SUITE_P(Threads, FastKernels, ::testing::Values(1, 2));

TEST(FastKernelsLarge, ThreadedResultsAreBitIdenticalToOneThread) {
  // Large enough to run in parallel; overlapping windows (stride < pool) exercise the
  // accumulation that threads must not race on.
  const Shape shape{4, 40, 36, 48};
  const PoolPlan plan = plan_pooling(testing::windowed_spec(PoolOp::kMax, 2, {3, 3}, {2, 2}, Padding::kSame,
                                                            DataFormat::kChannelsLast),
                                     shape);
  const Tensor x = testing::random_distinct_tensor(shape, 3);
  const Tensor w = testing::random_tensor(plan.output_shape, 4);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const Tensor y1 = pool_forward(plan, x, PoolBackend::kFast);
  const Tensor g1 = pool_backward(plan, x, w, PoolBackend::kFast);
  omp_set_num_threads(2);
  const Tensor y2 = pool_forward(plan, x, PoolBackend::kFast);
  const Tensor g2 = pool_backward(plan, x, w, PoolBackend::kFast);
  omp_set_num_threads(saved);
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), static_cast<std::size_t>(y1.size()) * 4), 0);
  EXPECT_EQ(std::memcmp(g1.data(), g2.data(), static_cast<std::size_t>(g1.size()) * 4), 0);
  const Tensor gref = pool_backward(plan, x, w, PoolBackend::kReference);
  for (std::int64_t i = 0; i < gref.size(); ++i) ASSERT_NEAR(g2[i], gref[i], 1e-5f) << i;
}

}  // namespace
}  // namespace poolnet
