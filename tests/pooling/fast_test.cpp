// The fast kernels against the reference oracle on thousands of random configurations: all ops,
// ranks, layouts, paddings, channel counts that leave SIMD tails for 4, 8 and 16 lanes, strides
// smaller and larger than the window, short rows (gather kernels) and long rows (vectors along
// the cols), windowed and global, -0/+0, NaN and +-inf, thread counts 1 and 2, and every SIMD
// target this CPU supports (AVX-512, AVX2, SSE4, ... through Highway's dispatch).
//
// Max pooling (NaN included: the canonical quiet NaN) must be bit-identical to the reference.
// Averages (the fast kernels sum in float32 as TensorFlow does, the reference in double) and
// gradients of overlapping windows agree within 1e-6 relative; where the float sum overflows or
// meets inf/NaN the fast kernels redo it in double, so non-finite results and overflow are exact.
#include <gtest/gtest.h>
#include <hwy/targets.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <numeric>
#include <random>

#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"
#include "pooling/fast.hpp"
#include "pooling/simd_kernels.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::make_shape;
using testing::pool_spec;

struct RandomCase {
  PoolSpec spec;
  Shape shape;
};

// kSmall: spatial sizes up to 12 (short rows: channels_first takes the plane gather kernels).
// kLongRows: up to 90 cols (channels_first vectorizes along the cols, scalar edges).
enum class Sizes { kSmall, kLongRows };

RandomCase random_case(std::mt19937& rng, Sizes sizes) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int rank = pick(1, 3);
  const bool global = pick(0, 5) == 0;
  std::vector<std::int64_t> spatial, window, strides;
  for (int i = 0; i < rank; ++i) {
    const bool cols = i == rank - 1;
    const int most = sizes == Sizes::kLongRows && cols ? 90 : (rank == 3 ? 7 : 12);
    spatial.push_back(pick(sizes == Sizes::kLongRows && cols ? 20 : 1, most));
    window.push_back(pick(1, 4));
    strides.push_back(pick(1, 4));
  }
  const PoolOp op = pick(0, 1) ? PoolOp::kMax : PoolOp::kAverage;
  const Padding padding = pick(0, 1) ? Padding::kSame : Padding::kValid;
  const DataFormat format = pick(0, 1) ? DataFormat::kChannelsFirst : DataFormat::kChannelsLast;
  // Around 4, 8 and 16 lanes and the 4-vector channel blocks: partial vectors and scalar tails.
  const std::int64_t channels_choices[] = {1, 2, 3, 5, 8, 15, 16, 17, 24, 33, 64, 71};
  const std::int64_t channels = channels_choices[pick(0, 11)];
  return {pool_spec(op, rank, global, window, strides, padding, format),
          make_shape(pick(1, 3), spatial, channels, format)};
}

// Values with ties (small integers, both zeros) half of the time, and occasional NaN / +-inf.
Tensor random_input(const Shape& shape, std::mt19937& rng) {
  Tensor t(shape);
  const bool ties = rng() % 2 == 0;
  const bool specials = rng() % 4 == 0;
  std::uniform_real_distribution<float> real(-2.0f, 2.0f);
  for (float& v : t.values()) {
    v = ties ? static_cast<float>(static_cast<int>(rng() % 5) - 2) : real(rng);
    if (ties && v == 0.0f && rng() % 2 == 0) v = -0.0f;
    if (specials) {
      const auto r = rng() % 40;
      if (r == 0) v = std::numeric_limits<float>::quiet_NaN();
      if (r == 1) v = -std::numeric_limits<float>::quiet_NaN();
      if (r == 2) v = std::numeric_limits<float>::infinity();
      if (r == 3) v = -std::numeric_limits<float>::infinity();
    }
  }
  return t;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }


// Averages: within 1e-6 relative to max(1, |reference|); non-finite results exactly, except that a
// NaN may carry any sign and payload (IEEE arithmetic leaves the NaN operand order to the
// compiler; max pooling outputs the canonical NaN instead).
bool close(float a, float b) {
  if (std::isnan(a) || std::isnan(b) || std::isinf(a) || std::isinf(b))
    return (std::isnan(a) && std::isnan(b)) || a == b;
  return std::fabs(a - b) <= 1e-6f * std::max(1.0f, std::fabs(b));
}

// The fast forward against the reference on `x` (named `input` in the message): max bit for bit,
// averages within close() (zeros with their sign).
void expect_forward_matches(const PoolPlan& plan, const Tensor& x, const std::string& input) {
  const Tensor ref = pool_forward(plan, x, PoolBackend::kReference);
  const Tensor fast = pool_forward(plan, x, PoolBackend::kFast);
  const bool is_max = plan.spec.op == PoolOp::kMax;
  for (std::int64_t i = 0; i < ref.size(); ++i) {
    // Averages: within 1e-6, and a zero mean with the reference's sign (its sum starts at +0).
    const bool average_matches = close(fast[i], ref[i]) && (ref[i] != 0.0f || same_bits(fast[i], ref[i]));
    ASSERT_TRUE(is_max ? same_bits(fast[i], ref[i]) : average_matches)
        << to_string(plan.spec.op) << " " << input << " output[" << i << "] fast " << fast[i] << " reference " << ref[i];
  }
}

std::string describe(const RandomCase& c) {
  std::string s = std::string(to_string(c.spec.op)) + (c.spec.global ? " global" : "") + " shape " +
                  c.shape.to_string() + " " + std::string(to_string(c.spec.data_format)) + " " +
                  std::string(to_string(c.spec.padding));
  if (!c.spec.global) {
    s += " window";
    for (auto w : c.spec.window) s += " " + std::to_string(w);
    s += " strides";
    for (auto w : c.spec.strides) s += " " + std::to_string(w);
  }
  return s;
}

// Forward, backward, and the training pair (forward saving the argmax, backward from it) of one
// case, fast against the reference; false after the first failure.
bool check_case(const RandomCase& c, const PoolPlan& plan, std::mt19937& rng, std::uint32_t seed) {
  const Tensor x = random_input(c.shape, rng);
  const Tensor ref = pool_forward(plan, x, PoolBackend::kReference);
  const Tensor fast = pool_forward(plan, x, PoolBackend::kFast);
  const bool is_max = c.spec.op == PoolOp::kMax;
  for (std::int64_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(is_max ? same_bits(fast[i], ref[i]) : close(fast[i], ref[i]))
        << "forward " << describe(c) << " output[" << i << "] fast " << fast[i] << " reference " << ref[i];
    if (::testing::Test::HasFailure()) return false;
  }
  const Tensor upstream = testing::random_tensor(plan.output_shape, seed);
  const Tensor gref = pool_backward(plan, x, upstream, PoolBackend::kReference);
  const Tensor gfast = pool_backward(plan, x, upstream, PoolBackend::kFast);
  for (std::int64_t i = 0; i < gref.size(); ++i) {
    EXPECT_TRUE(close(gfast[i], gref[i]))
        << "backward " << describe(c) << " grad_input[" << i << "] fast " << gfast[i] << " reference " << gref[i];
    if (::testing::Test::HasFailure()) return false;
  }
  if (c.spec.op != PoolOp::kMax || c.spec.global) return true;

  const auto outputs = static_cast<std::size_t>(plan.output_shape.elements());
  std::vector<std::uint8_t> am_fast(outputs * argmax_bytes(plan)), am_ref(am_fast.size());
  Tensor y_fast(plan.output_shape), y_ref(plan.output_shape);
  pool_forward_argmax(plan, x.data(), y_fast.data(), am_fast.data(), PoolBackend::kFast);
  pool_forward_argmax(plan, x.data(), y_ref.data(), am_ref.data(), PoolBackend::kReference);
  for (std::int64_t i = 0; i < ref.size(); ++i) {
    EXPECT_TRUE(same_bits(y_fast[i], ref[i]) && same_bits(y_ref[i], ref[i]))
        << "forward_argmax " << describe(c) << " output[" << i << "] fast " << y_fast[i] << " reference " << ref[i];
    if (::testing::Test::HasFailure()) return false;
  }
  EXPECT_EQ(am_fast, am_ref) << "argmax " << describe(c);
  Tensor g_am(plan.input_shape);
  pool_backward_argmax(plan, am_fast.data(), upstream.data(), g_am.data(), PoolBackend::kFast);
  for (std::int64_t i = 0; i < gref.size(); ++i) {
    EXPECT_TRUE(close(g_am[i], gref[i]))
        << "backward_argmax " << describe(c) << " grad_input[" << i << "] fast " << g_am[i] << " reference " << gref[i];
    if (::testing::Test::HasFailure()) return false;
  }
  return !::testing::Test::HasFailure();
}

// Runs `iterations` random cases; returns how many had a valid plan.
int check_random_cases(std::uint32_t seed, int iterations, Sizes sizes) {
  std::mt19937 rng(seed);
  int checked = 0;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    const RandomCase c = random_case(rng, sizes);
    PoolPlan plan;
    try {
      plan = plan_pooling(c.spec, c.shape);
    } catch (const ShapeError&) {
      continue;  // 'valid' window larger than the input
    }
    ++checked;
    if (!check_case(c, plan, rng, static_cast<std::uint32_t>(iteration))) return checked;
  }
  return checked;
}

class ThreadCount {
 public:
  explicit ThreadCount(int threads) : saved_(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ThreadCount() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

class FastKernels : public ::testing::TestWithParam<int> {};

TEST_P(FastKernels, MatchTheReferenceOnRandomConfigurations) {
  const ThreadCount threads(GetParam());
  EXPECT_GT(check_random_cases(1234u + static_cast<unsigned>(GetParam()), 2500, Sizes::kSmall), 1800);
}

TEST_P(FastKernels, MatchTheReferenceOnLongRows) {
  const ThreadCount threads(GetParam());
  EXPECT_GT(check_random_cases(777u + static_cast<unsigned>(GetParam()), 300, Sizes::kLongRows), 200);
}

INSTANTIATE_TEST_SUITE_P(Threads, FastKernels, ::testing::Values(1, 2));

// Every instruction set this CPU can run (Highway's run-time dispatch, pinned one at a time):
// 16-, 8- and 4-lane bodies, their tails, and the portable (non-x86) max where it is compiled.
TEST(FastKernelsTargets, EveryDispatchTargetMatchesTheReference) {
  const std::vector<std::int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  std::string names;
  for (const std::int64_t target : targets) names += std::string(" ") + hwy::TargetName(target);
  std::cout << "[          ] SIMD targets on this CPU:" << names << "\n";
  for (const std::int64_t target : targets) {
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    EXPECT_EQ(pool_simd_target(), std::string_view(hwy::TargetName(target)));
    check_random_cases(99u, 200, Sizes::kSmall);
    check_random_cases(98u, 60, Sizes::kLongRows);
    hwy::SetSupportedTargetsForTest(0);
    if (::testing::Test::HasFailure()) break;
  }
}

// The channels_first <-> channels_last block transposes of small planes (in registers on x86,
// scalar elsewhere; whole blocks with an overlapping last one, or lane by lane below one block),
// with planes further apart than they are long, on every target.
TEST(FastKernelsTargets, PlaneTransposesRoundTripOnEveryTarget) {
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    const std::size_t lanes = simd::lanes();
    for (const std::size_t cells : {std::size_t{1}, lanes - 1, lanes, lanes + 1, std::size_t{121}, std::size_t{676}}) {
      if (cells == 0) continue;
      SCOPED_TRACE(cells);
      const std::size_t stride = cells + 3;
      std::vector<float> planes(lanes * stride, -1.0f), image(cells * lanes, 0.0f), back(lanes * stride, -1.0f);
      for (std::size_t p = 0; p < lanes; ++p)
        for (std::size_t i = 0; i < cells; ++i) planes[p * stride + i] = static_cast<float>(p * 1000 + i);
      simd::planes_to_channels_last(planes.data(), cells, stride, image.data(), 0);
      for (std::size_t i = 0; i < cells; ++i)
        for (std::size_t p = 0; p < lanes; ++p) ASSERT_EQ(image[i * lanes + p], planes[p * stride + i]) << i << " " << p;
      simd::channels_last_to_planes(image.data(), cells, back.data(), stride);
      EXPECT_EQ(back, planes);  // the gaps between planes (-1) untouched
    }
    hwy::SetSupportedTargetsForTest(0);
  }
}

// channels_first forward goes through transposed bands of planes; with small bands every plane of
// the random cases is split into several (overlapping windows: rows shared by two bands), or,
// below one output row's input, falls back to the plane and row kernels.
TEST(FastKernelsBands, SmallTransposedBandsGiveTheSameResults) {
  for (const std::int64_t bytes : {std::int64_t{2} << 10, std::int64_t{9} << 10, std::int64_t{64}}) {
    SCOPED_TRACE(bytes);
    const std::int64_t saved = fast::set_band_bytes(bytes);
    EXPECT_GT(check_random_cases(5150u + static_cast<std::uint32_t>(bytes), 600, Sizes::kSmall), 400);
    EXPECT_GT(check_random_cases(5160u + static_cast<std::uint32_t>(bytes), 100, Sizes::kLongRows), 60);
    fast::set_band_bytes(saved);
  }
}

// channels_first 2x2/2 on planes with an odd number of cols and short rows goes through
// transposed bands, whose output rows run through the pair-windows kernel in one call (vectors
// across 16 planes): groups and leftover planes, odd and even rows (a row of no window), bands of
// whole planes and split ones, the training forward's argmax, every target, 1 and 2 threads.
// (2D rows of up to two vectors take the paired-rows kernels instead, the argmax too: the 2D
// shapes here are the bands' on targets of fewer lanes (the 21 cols on 8 and 4), the 3D ones
// (2x2x2/2) on every target.)
TEST(FastKernelsBands, PairWindowsOfTransposedPlanes) {
  const Shape shapes[] = {Shape{2, 17, 11, 11},    Shape{1, 33, 7, 13},   Shape{3, 16, 6, 5},
                          Shape{1, 17, 300, 21},   Shape{2, 17, 4, 11, 11}, Shape{1, 9, 3, 7, 13}};
  std::mt19937 rng(1234u);
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      for (const std::int64_t bytes : {std::int64_t{256} << 10, std::int64_t{4} << 10}) {
        const std::int64_t saved = fast::set_band_bytes(bytes);
        for (const Shape& shape : shapes)
          for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
            const int rank = static_cast<int>(shape.rank()) - 2;
            const std::vector<std::int64_t> pairs(static_cast<std::size_t>(rank), 2);
            const RandomCase c{pool_spec(op, rank, false, pairs, pairs, Padding::kValid, DataFormat::kChannelsFirst),
                               shape};
            SCOPED_TRACE(describe(c) + " target " + hwy::TargetName(target) + " threads " + std::to_string(threads) +
                         " band " + std::to_string(bytes));
            for (int repeat = 0; repeat < 2; ++repeat) ASSERT_TRUE(check_case(c, plan_pooling(c.spec, c.shape), rng, 7u));
          }
        fast::set_band_bytes(saved);
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Transposed bands of small channels_first planes are built from four vectors of planes at once
// where they fit in 32 KiB (one channels_last image of 4 x lanes() channels), then from one vector
// for the planes left, then the rest by the plane kernels: plane counts that leave every kind of
// leftover, 3x3/2 windows (the chain of rows) 'same' and valid, 3x3/3 and 2x2/1, max and average,
// the training forward's argmax, every target, 1 and 2 threads. (Rows of up to two vectors take
// the paired-rows kernels instead where the stride is 2 or more, or without the argmax the
// short-rows kernels: the bands here are those of the rows of two vectors and 7 cols more, of
// the 2x2/1 windows, and on 8 and 4 lanes of the 11 and 12 cols.)
TEST(FastKernelsBands, WideGroupsOfTransposedPlanes) {
  struct Config {
    std::vector<std::int64_t> window, strides;
    Padding padding;
  };
  const Config configs[] = {{{3, 3}, {2, 2}, Padding::kSame},
                            {{3, 3}, {2, 2}, Padding::kValid},
                            {{3, 3}, {3, 3}, Padding::kSame},
                            {{2, 2}, {1, 1}, Padding::kValid}};
  std::mt19937 rng(4242u);
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    const auto L = static_cast<std::int64_t>(simd::lanes());  // this target's
    const Shape shapes[] = {Shape{2, 2 * L + 9, 11, 11}, Shape{1, 4 * L, 9, 7}, Shape{1, 5 * L + 1, 10, 12},
                            Shape{1, 4 * L + 3, 9, 2 * L + 7}};
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      for (const Shape& shape : shapes)
        for (const Config& config : configs)
          for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
            const RandomCase c{pool_spec(op, 2, false, config.window, config.strides, config.padding,
                                         DataFormat::kChannelsFirst),
                               shape};
            SCOPED_TRACE(describe(c) + " target " + hwy::TargetName(target) + " threads " + std::to_string(threads));
            for (int repeat = 0; repeat < 2; ++repeat) ASSERT_TRUE(check_case(c, plan_pooling(c.spec, c.shape), rng, 9u));
          }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// channels_first planes too large for the plane kernels with rows of fewer than two vectors of
// outputs: forward and (windows that do not overlap) backward run through the channels_last
// kernels in transposed bands. Groups of 16 planes and leftover planes, window == stride, stride >
// window (cells of no window), 'same' edges, overlapping windows (not transposed backward), 2D
// and 3D, whole and split bands, 1 and 2 threads.
TEST(FastKernelsBands, LargeChannelsFirstPlanesWithShortRows) {
  struct Config {
    Shape shape;  // channels_first
    std::vector<std::int64_t> window, strides;
    Padding padding;
  };
  const Config configs[] = {
      {Shape{1, 18, 1200, 40}, {2, 2}, {2, 2}, Padding::kValid},
      {Shape{1, 17, 2400, 31}, {2, 2}, {3, 3}, Padding::kSame},
      {Shape{2, 9, 900, 45}, {3, 3}, {3, 3}, Padding::kSame},
      {Shape{1, 16, 700, 40}, {3, 3}, {2, 2}, Padding::kSame},
      {Shape{1, 17, 40, 41, 40}, {2, 2, 2}, {2, 2, 2}, Padding::kSame},
      {Shape{1, 16, 41, 40, 33}, {2, 2, 3}, {2, 3, 3}, Padding::kValid},
  };
  std::mt19937 rng(77);
  for (const int threads : {1, 2}) {
    omp_set_num_threads(threads);
    for (const std::int64_t bytes : {std::int64_t{256} << 10, std::int64_t{8} << 10}) {
      const std::int64_t saved = fast::set_band_bytes(bytes);
      for (const Config& config : configs)
        for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
          const int rank = static_cast<int>(config.window.size());
          const RandomCase c{pool_spec(op, rank, false, config.window, config.strides, config.padding,
                                       DataFormat::kChannelsFirst),
                             config.shape};
          SCOPED_TRACE(describe(c) + " threads " + std::to_string(threads) + " band " + std::to_string(bytes));
          ASSERT_TRUE(check_case(c, plan_pooling(c.spec, c.shape), rng, 5u));
        }
      fast::set_band_bytes(saved);
    }
  }
  omp_set_num_threads(omp_get_num_procs());
}

// Outputs above 16 MiB are written with non-temporal stores; with the threshold at 0 every
// aligned output vector is, and results must not change.
TEST(FastKernelsStreaming, NonTemporalStoresGiveTheSameResults) {
  const std::int64_t saved = fast::set_stream_threshold(0);
  EXPECT_GT(check_random_cases(4321u, 800, Sizes::kSmall), 500);
  EXPECT_GT(check_random_cases(4322u, 150, Sizes::kLongRows), 100);
  // channels_first rows of 56 outputs (not whole vectors) stream in groups of rows that are:
  // 9 rows make whole groups and a last, partial one on every vector width.
  std::mt19937 rng(4323u);
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
      const RandomCase c{pool_spec(op, 2, false, {2, 2}, {2, 2}, Padding::kValid, DataFormat::kChannelsFirst),
                         Shape{1, 3, 6, 112}};
      SCOPED_TRACE(describe(c) + " target " + hwy::TargetName(target));
      ASSERT_TRUE(check_case(c, plan_pooling(c.spec, c.shape), rng, 5u));
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  fast::set_stream_threshold(saved);
}

// channels_first 2x2/2 on planes with even cols and short rows takes the pair kernels (pair maxima
// or sums over the flattened plane, then row pairs): values, NaN, ties of -0/+0, the saved argmax
// and its backward against the reference, with odd row counts (a row left over), 'same' padding
// that pads nothing, pair counts that leave a scalar tail, and on every dispatch target. A window
// of four -0 averages to +0, as the reference's sum from +0 does.
TEST(FastKernelsPlanePairs, MatchTheReference) {
  std::mt19937 rng(2718u);
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage})
      for (const std::int64_t rows : {2, 3, 5, 26})
        for (const std::int64_t cols : {2, 4, 6, 26, 30, 40, 62})  // up to 32: the paired rows first, but for the argmax
          for (const Padding padding : {Padding::kValid, Padding::kSame}) {
            if (padding == Padding::kSame && rows % 2 != 0) continue;  // would pad a row: not this kernel
            const RandomCase c{pool_spec(op, 2, false, {2, 2}, {2, 2}, padding, DataFormat::kChannelsFirst),
                               Shape{2, 3, rows, cols}};
            SCOPED_TRACE(describe(c) + " target " + hwy::TargetName(target));
            const PoolPlan plan = plan_pooling(c.spec, c.shape);
            for (int repeat = 0; repeat < 4; ++repeat) ASSERT_TRUE(check_case(c, plan, rng, 3u));
            Tensor zeros(c.shape);
            for (float& v : zeros.values()) v = -0.0f;
            const Tensor ref = pool_forward(plan, zeros, PoolBackend::kReference);
            const Tensor fast = pool_forward(plan, zeros, PoolBackend::kFast);
            for (std::int64_t i = 0; i < ref.size(); ++i) ASSERT_TRUE(same_bits(fast[i], ref[i])) << "-0 window, output " << i;
          }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// channels_first max pooled with stride 2 along an even number of cols takes the separable kernels
// (column maxima over deinterleaved rows, then maxima of rows) when no argmax is asked (2D rows
// of up to two vectors take the paired rows first: on 16 lanes the 26 cols here): forward
// only, so the forward is compared here directly, bit for bit, on every dispatch target. Windows
// along the cols of 1 to 7 (terms before the row with 'same', after it in both paddings), rows
// shorter and longer than a vector, pass-1 bands of one and several rows (112 cols: 9 rows per
// band), 2D and 3D, values with ties of both zeros, and the special planes each path must handle.
// Outputs stream (threshold 0): planes of whole vectors (12x112 'same': 6x56) go out through the
// non-temporal copy, the others through plain stores.
TEST(FastKernelsSeparable, MatchTheReference) {
  std::mt19937 rng(31415u);
  struct Geometry {
    std::vector<std::int64_t> spatial, window, strides;
  };
  const Geometry geometries[] = {
      {{5, 26}, {3, 3}, {2, 2}},    {{26, 26}, {3, 3}, {2, 2}},  {{7, 34}, {2, 5}, {1, 2}},
      {{4, 2}, {1, 1}, {1, 2}},     {{3, 4}, {3, 4}, {3, 2}},    {{1, 40}, {1, 7}, {1, 2}},
      {{12, 112}, {3, 3}, {2, 2}},  {{20, 112}, {2, 6}, {3, 2}}, {{3, 5, 26}, {2, 3, 3}, {2, 2, 2}},
      {{4, 6, 28}, {3, 3, 3}, {1, 1, 2}},                        {{3, 4, 10}, {2, 2, 2}, {2, 2, 2}},
  };
  auto forward_matches = [](const PoolPlan& plan, const Tensor& x, const std::string& what) {
    const Tensor ref = pool_forward(plan, x, PoolBackend::kReference);
    const Tensor fast = pool_forward(plan, x, PoolBackend::kFast);
    for (std::int64_t i = 0; i < ref.size(); ++i) {
      EXPECT_TRUE(same_bits(fast[i], ref[i])) << what << " output[" << i << "] fast " << fast[i] << " reference " << ref[i];
      if (::testing::Test::HasFailure()) return false;
    }
    return true;
  };
  const std::int64_t saved = fast::set_stream_threshold(0);  // planes of whole vectors stream out
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const Geometry& g : geometries)
      for (const Padding padding : {Padding::kValid, Padding::kSame}) {
        const int rank = static_cast<int>(g.spatial.size());
        const RandomCase c{pool_spec(PoolOp::kMax, rank, false, g.window, g.strides, padding, DataFormat::kChannelsFirst),
                           make_shape(2, g.spatial, 3, DataFormat::kChannelsFirst)};
        const std::string what = describe(c) + " target " + hwy::TargetName(target);
        SCOPED_TRACE(what);
        PoolPlan plan;
        try {
          plan = plan_pooling(c.spec, c.shape);
        } catch (const ShapeError&) {
          continue;  // a 'valid' window larger than the input
        }
        for (int repeat = 0; repeat < 3; ++repeat) ASSERT_TRUE(forward_matches(plan, random_input(c.shape, rng), what));
        Tensor x(c.shape);
        for (float& v : x.values()) v = -0.0f;  // the first -0 of each window, not a later +0
        x[x.size() / 2] = 0.0f;
        ASSERT_TRUE(forward_matches(plan, x, what + " zeros"));
        for (float& v : x.values()) v = -std::numeric_limits<float>::infinity();
        ASSERT_TRUE(forward_matches(plan, x, what + " -inf"));
        x[1] = std::numeric_limits<float>::infinity();  // inf + -inf: NaN in the sum, none in the data
        ASSERT_TRUE(forward_matches(plan, x, what + " inf and -inf"));
        for (const std::int64_t at : {std::int64_t{0}, x.size() / 3, x.size() - 1}) {
          Tensor y = random_input(c.shape, rng);
          for (float& v : y.values()) v = std::isnan(v) ? 1.0f : v;
          y[at] = -std::numeric_limits<float>::quiet_NaN();
          ASSERT_TRUE(forward_matches(plan, y, what + " NaN at " + std::to_string(at)));
        }
      }
  }
  hwy::SetSupportedTargetsForTest(0);
  fast::set_stream_threshold(saved);
}

// 2x2/2 and 2x2x2/2 without padding (simd::forward_pair_windows_*, backward_pair_windows_*):
// channels_first rows of at least a vector of outputs and channels_last with whole vectors of
// channels; odd rows, cols and depths (the last one unused), a last partial vector at the end of
// the input (loaded through a copy), streamed and plain outputs (rows of 35 outputs stream in
// groups through L1), with and without argmax, forward and backward, every target.
TEST(FastKernelsPairWindows, MatchTheReference) {
  std::mt19937 rng(2718u);
  // {4, 63}: the last vector's loads would end one float past the input (31 outputs: 15 in the
  // last vector of 16, 7 of 8 and 3 of 4 lanes; the unused 63rd col is the input's last float).
  // {16, 112}, {19, 70}, {18, 40}: runs of 8 rows or more, two rows per loop (staged groups in
  // pairs, an odd last row or group alone).
  // {70}, {63}, {1, 40}: 1D rows, and 2D rows of one input row (a 1x2 window along it).
  const std::vector<std::vector<std::int64_t>> planes = {{6, 32},    {5, 70},    {4, 113},   {2, 40},    {4, 63},
                                                         {16, 112},  {19, 70},   {18, 40},   {4, 5, 56}, {5, 4, 41},
                                                         {5, 3, 70}, {2, 2, 64}, {70},       {63},       {1, 40}};
  // channels_last with whole vectors of channels for every target: one or more per cell.
  const std::pair<DataFormat, std::int64_t> layouts[] = {
      {DataFormat::kChannelsFirst, 3}, {DataFormat::kChannelsLast, 16}, {DataFormat::kChannelsLast, 32}};
  const float big = 3.0e38f;  // four of them overflow a float sum, not the reference's double one
  const std::int64_t saved = fast::set_stream_threshold(0);
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const bool stream : {true, false}) {
      fast::set_stream_threshold(stream ? 0 : saved);
      for (const auto& [format, channels] : layouts)
      for (const auto& spatial : planes)
        for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage})
          for (const Padding padding : {Padding::kValid, Padding::kSame}) {
            const int rank = static_cast<int>(spatial.size());
            std::vector<std::int64_t> window(spatial.size(), 2);
            if (spatial.front() == 1) window.front() = 1;
            const RandomCase c{pool_spec(op, rank, false, window, window, padding, format),
                               make_shape(2, spatial, channels, format)};
            const std::string what = describe(c) + " target " + hwy::TargetName(target) + (stream ? " streamed" : "");
            SCOPED_TRACE(what);
            const PoolPlan plan = plan_pooling(c.spec, c.shape);
            for (std::uint32_t repeat = 0; repeat < 3; ++repeat) ASSERT_TRUE(check_case(c, plan, rng, 50u + repeat));
            auto forward_matches = [&](const Tensor& x, const std::string& input) { expect_forward_matches(plan, x, input); };
            Tensor x(c.shape);
            for (float& v : x.values()) v = -0.0f;  // max: the first -0 of each window, not a later +0
            x[x.size() / 2] = 0.0f;
            forward_matches(x, "zeros");
            for (float& v : x.values()) v = -std::numeric_limits<float>::infinity();
            x[1] = std::numeric_limits<float>::infinity();
            forward_matches(x, "inf and -inf");
            for (float& v : x.values()) v = big;
            x[x.size() - 1] = -big;
            forward_matches(x, "overflowing sums");
            // Finite means (a float sum of up to four cells holds) whose sum along a row overflows.
            for (float& v : x.values()) v = big / 4;
            x[x.size() - 1] = -big / 4;
            forward_matches(x, "large finite means");
            for (const std::int64_t at : {std::int64_t{0}, x.size() / 3, x.size() - 1}) {
              Tensor y = random_input(c.shape, rng);
              for (float& v : y.values()) v = std::isnan(v) ? 1.0f : v;
              y[at] = -std::numeric_limits<float>::quiet_NaN();
              forward_matches(y, "NaN at " + std::to_string(at));
            }
            // Backward: windows that do not overlap give the reference's bits (-0 upstream: +0;
            // 4 or 8 cells: an exact division), and every input cell is written (grad_input
            // starts as NaN; cells in no window get 0).
            Tensor upstream = testing::random_tensor(plan.output_shape, 9u);
            for (std::int64_t i = 0; i < upstream.size(); i += 3) upstream[i] = -0.0f;
            upstream[upstream.size() - 1] = 1e-45f;
            const Tensor y = random_input(c.shape, rng);
            const Tensor ref = pool_backward(plan, y, upstream, PoolBackend::kReference);
            Tensor grad(plan.input_shape), grad_argmax(plan.input_shape);
            for (float& v : grad.values()) v = std::numeric_limits<float>::quiet_NaN();
            for (float& v : grad_argmax.values()) v = std::numeric_limits<float>::quiet_NaN();
            pool_backward(plan, y.data(), upstream.data(), grad.data(), PoolBackend::kFast);
            if (op == PoolOp::kMax) {
              std::vector<std::uint8_t> argmax(static_cast<std::size_t>(plan.output_shape.elements()));
              Tensor out(plan.output_shape);
              pool_forward_argmax(plan, y.data(), out.data(), argmax.data(), PoolBackend::kFast);
              pool_backward_argmax(plan, argmax.data(), upstream.data(), grad_argmax.data(), PoolBackend::kFast);
            } else {
              grad_argmax = grad;
            }
            for (std::int64_t i = 0; i < ref.size(); ++i) {
              ASSERT_TRUE(same_bits(grad[i], ref[i]) && same_bits(grad_argmax[i], ref[i]))
                  << "grad_input[" << i << "] fast " << grad[i] << " (from the argmax " << grad_argmax[i]
                  << ") reference " << ref[i];
            }
            if (::testing::Test::HasFatalFailure()) return;
          }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  fast::set_stream_threshold(saved);
}

// channels_last max with windows of 3 cols and stride 2 (3x3/2 and friends) takes a loop of
// MAXPS alone over the windows inside the row, NaN only detected by a sum of the cells and the
// row redone when one may be there: a NaN at every cell of an image (the first col of the first
// inner window is the cell only the probe's first load sees), +-inf whose sum is NaN (redone),
// -0/+0 ties across window rows, windows clipped at both edges ('same' on odd and even cols),
// one to nine window rows, channels of one to four vectors for every target, 1 and 2 threads;
// three images, so that the driver's pairs of rows (1D) leave an odd row alone, and 2D 3x3/2
// chains of rows (the shared row's window maxima passed on) start in the middle of an image
// (the second thread's share) and end at each image's end; random -0/+0 zeros, whose first
// maximum the chain's order of evaluation must keep. 3D 3x3x3/2 (simd::Window3Volume: rows'
// and depths' maxima passed on, an image with a NaN redone) on depths and rows odd and even, so
// that the last window of each is clipped or not and the second thread starts mid-plane.
TEST(FastKernelsWindow3Stride2, MatchTheReference) {
  std::mt19937 rng(31415u);
  struct Layout {
    std::vector<std::int64_t> spatial, window, strides;
  };
  const std::vector<Layout> layouts = {{{9}, {3}, {2}},
                                       {{7, 9}, {3, 3}, {2, 2}},
                                       {{6, 12}, {3, 3}, {2, 2}},
                                       {{13, 10}, {3, 3}, {2, 2}},
                                       {{5, 11}, {1, 3}, {1, 2}},
                                       {{4, 10}, {2, 3}, {1, 2}},
                                       {{3, 5, 9}, {3, 3, 3}, {2, 2, 2}},
                                       {{6, 5, 9}, {3, 3, 3}, {2, 2, 2}},
                                       {{7, 6, 10}, {3, 3, 3}, {2, 2, 2}}};
  const std::int64_t channels_choices[] = {4, 8, 16, 48, 64};
  const float inf = std::numeric_limits<float>::infinity();
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      for (const auto& layout : layouts)
        for (const std::int64_t channels : channels_choices)
          for (const Padding padding : {Padding::kValid, Padding::kSame}) {
            const int rank = static_cast<int>(layout.spatial.size());
            const std::int64_t cells = std::accumulate(layout.spatial.begin(), layout.spatial.end(), std::int64_t{1},
                                                       std::multiplies<>());
            // The larger 3D images with channels of several vectors only (blocks of 4, 2 and 1 vectors
            // on every target); fewer channels are the smaller images' cases.
            if (cells > 150 && channels < 48) continue;
            const RandomCase c{pool_spec(PoolOp::kMax, rank, false, layout.window, layout.strides, padding,
                                         DataFormat::kChannelsLast),
                               make_shape(3, layout.spatial, channels, DataFormat::kChannelsLast)};
            SCOPED_TRACE(describe(c) + " target " + hwy::TargetName(target) + " threads " + std::to_string(threads));
            const PoolPlan plan = plan_pooling(c.spec, c.shape);
            ASSERT_TRUE(check_case(c, plan, rng, 70u));
            auto forward_matches = [&](const Tensor& x, const std::string& input) { expect_forward_matches(plan, x, input); };
            Tensor x(c.shape);
            // Zeros: -0 first in every window, a +0 later in it (another row) must not replace it.
            for (std::int64_t i = 0; i < x.size(); ++i) x[i] = (i / channels) % 3 == 0 ? -0.0f : 0.0f;
            forward_matches(x, "zeros");
            for (std::int64_t i = 0; i < x.size(); ++i) x[i] = i % 5 == 0 ? inf : -inf;
            forward_matches(x, "inf and -inf");
            for (std::int64_t i = 0; i < x.size(); ++i) x[i] = rng() % 2 ? -0.0f : 0.0f;
            forward_matches(x, "random zeros");
            const Tensor base = random_input(c.shape, rng);
            // In the first image and in the last (rows of both halves of a pair of rows).
            // Every cell; on the larger 3D images every third for one channel count and 2 threads
            // (a step prime to the rows' and cols' parities), else every eleventh.
            const std::int64_t step = cells <= 150 ? 1 : channels == 48 && threads == 2 ? 3 : 11;
            for (const std::int64_t image : {0, 2})
              for (std::int64_t cell = 0; cell < cells; cell += step) {
                Tensor y = base;
                for (float& v : y.values()) v = std::isnan(v) ? 1.0f : v;
                // Negative: a NaN the probes missed would reach the output with its sign (the
                // chain's saved row once did: the first cell of its inner windows).
                y[(image * cells + cell) * channels + (cell * 7) % channels] = -std::numeric_limits<float>::quiet_NaN();
                forward_matches(y, "NaN in image " + std::to_string(image) + " cell " + std::to_string(cell));
                if (::testing::Test::HasFatalFailure()) return;
              }
          }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// channels_first 3x3/2 windows with no padding before, on rows of at least a vector of outputs,
// go through simd::forward_plane_max_window3_stride2: each input row reduced along the cols once
// (the third term a lane shift of the next vector's even cells), the shared row kept for the next
// output row, NaN only probed and its output rows redone. Cols around whole vectors of outputs for
// every target (the last vector partial, the next row's cells in it), rows even and odd (the
// last 'same' row has two input rows), three planes (the last rows read up to the input's end),
// 1 and 2 threads: random values, random -0/+0 zeros, +-inf meeting in a row (NaN probe), and a
// NaN at every cell of the first and last plane of some shapes and every tenth cell of the rest.
TEST(FastKernelsWindow3Planes, MatchTheReference) {
  std::mt19937 rng(27182u);
  const float inf = std::numeric_limits<float>::infinity();
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      for (const std::int64_t rows : {2, 3, 4, 7, 10})
        for (const std::int64_t cols : {8, 10, 16, 30, 32, 34, 64, 66, 112})
          for (const Padding padding : {Padding::kValid, Padding::kSame}) {
            const RandomCase c{pool_spec(PoolOp::kMax, 2, false, {3, 3}, {2, 2}, padding, DataFormat::kChannelsFirst),
                               make_shape(1, {rows, cols}, 3, DataFormat::kChannelsFirst)};
            if (padding == Padding::kValid && rows < 3) continue;
            SCOPED_TRACE(describe(c) + " target " + hwy::TargetName(target) + " threads " + std::to_string(threads));
            const PoolPlan plan = plan_pooling(c.spec, c.shape);
            ASSERT_TRUE(check_case(c, plan, rng, 90u));
            auto forward_matches = [&](const Tensor& x, const std::string& input) { expect_forward_matches(plan, x, input); };
            Tensor x(c.shape);
            for (int repeat = 0; repeat < 3; ++repeat) {
              for (float& v : x.values()) v = rng() % 2 ? -0.0f : 0.0f;
              forward_matches(x, "zeros of random signs");
            }
            for (std::int64_t i = 0; i < x.size(); ++i) x[i] = i % 7 == 3 ? inf : (i % 7 == 5 ? -inf : 1.0f);
            forward_matches(x, "inf and -inf");
            const Tensor base = random_input(c.shape, rng);
            const std::int64_t cells = rows * cols;
            const bool every_cell = (rows == 7 || rows == 4) && (cols == 34 || cols == 112);
            for (const std::int64_t plane : {0, 2})
              for (std::int64_t cell = 0; cell < cells; cell += every_cell ? 1 : 10) {
                Tensor y = base;
                for (float& v : y.values()) v = std::isnan(v) ? 1.0f : v;
                y[plane * cells + cell] = -std::numeric_limits<float>::quiet_NaN();  // negative: a lost NaN would keep its sign
                forward_matches(y, "NaN in plane " + std::to_string(plane) + " cell " + std::to_string(cell));
                if (::testing::Test::HasFatalFailure()) return;
              }
          }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// channels_first planes of rows x cols (2 images of 19 planes), pooled with a 2D window and strides
// (rows, cols); one row is 1D, with the cols' window and stride alone.
RandomCase plane_case(PoolOp op, std::int64_t rows, std::int64_t cols, const std::vector<std::int64_t>& window,
                      const std::vector<std::int64_t>& strides, Padding padding) {
  const bool flat = rows == 1;
  const std::vector<std::int64_t> spatial = flat ? std::vector<std::int64_t>{cols} : std::vector<std::int64_t>{rows, cols};
  return RandomCase{pool_spec(op, flat ? 1 : 2, false, flat ? std::vector<std::int64_t>{window[1]} : window,
                              flat ? std::vector<std::int64_t>{strides[1]} : strides, padding, DataFormat::kChannelsFirst),
                    make_shape(2, spatial, 19, DataFormat::kChannelsFirst)};
}

// The forward of `plan` (channels_first planes of plane_floats cells) against the reference on
// special inputs: zeros of random signs (the first maximum in window order), -0 only (a mean of
// +0), +-inf, float sums that overflow (and means that do not), small integers (exact sums: the
// reference's bits, so a multiply by 1/3 for a divide fails), and a negative NaN at single cells
// (where a kernel lost track of it, the output would keep its sign), the first and last included.
void expect_special_planes_match(const PoolPlan& plan, const Shape& shape, std::int64_t plane_floats, std::mt19937& rng) {
  const float inf = std::numeric_limits<float>::infinity(), big = 3.0e38f;
  auto forward_matches = [&](const Tensor& x, const std::string& input) { expect_forward_matches(plan, x, input); };
  Tensor x(shape);
  for (float& v : x.values()) v = rng() % 2 ? -0.0f : 0.0f;
  forward_matches(x, "zeros of random signs");
  for (float& v : x.values()) v = -0.0f;
  forward_matches(x, "-0 only");
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = i % 7 == 3 ? inf : (i % 7 == 5 ? -inf : 1.0f);
  forward_matches(x, "inf and -inf");
  for (float& v : x.values()) v = big;
  forward_matches(x, "overflowing sums");
  for (float& v : x.values()) v = static_cast<float>(static_cast<int>(rng() % 201) - 100);
  const Tensor exact = pool_forward(plan, x, PoolBackend::kReference), fast = pool_forward(plan, x, PoolBackend::kFast);
  for (std::int64_t i = 0; i < exact.size(); ++i)
    ASSERT_TRUE(same_bits(fast[i], exact[i])) << "integers: output[" << i << "] fast " << fast[i] << " reference " << exact[i];
  const Tensor base = random_input(shape, rng);
  for (const std::int64_t at : {std::int64_t{0}, plane_floats + plane_floats / 2, x.size() / 2 + 1, x.size() - 1}) {
    Tensor y = base;
    for (float& v : y.values()) v = std::isnan(v) ? 1.0f : v;
    y[at] = -std::numeric_limits<float>::quiet_NaN();
    forward_matches(y, "NaN at " + std::to_string(at));
  }
}

// channels_first 1D/2D planes pooled with stride 1 along the cols take the short-rows kernels
// (rows that fit in one vector: the window's cols picked from each row by table lookups) or the
// stride-1 plane kernels (longer rows, copied between margins of padding); max is probed for NaN,
// averages redone where a mean is not finite. Cols around 4, 8 and 16 lanes and past them for
// every target, one to 32 rows (rows in fours, then the rest, for the short rows' probe), windows
// of 1 to 5 cols ('same' pads one or both sides), 38 planes (calls of 16 planes and a remainder;
// staged and streamed out, or written in place), 1 and 2 threads: random values, zeros of random
// signs, windows of -0 only (a mean of +0), +-inf, float sums that overflow (and means that do
// not), small integers (exact sums: the reference's bits, so a multiply by 1/3 for a divide
// fails), and a NaN at single cells.
TEST(FastKernelsStrideOneCols, MatchTheReference) {
  std::mt19937 rng(14142u);
  struct Window {
    std::vector<std::int64_t> window, strides;
  };
  const Window windows[] = {{{2, 2}, {1, 1}}, {{3, 3}, {1, 1}}, {{1, 3}, {1, 1}}, {{3, 2}, {2, 1}}, {{2, 5}, {1, 1}}};
  const std::int64_t saved = fast::set_stream_threshold(0);
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      fast::set_stream_threshold(threads == 1 ? 0 : saved);
      for (const std::int64_t rows : {1, 5, 32})
        for (const std::int64_t cols : {3, 7, 8, 11, 16, 17, 33, 40})
          for (const Window& w : windows)
            for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage})
              for (const Padding padding : {Padding::kValid, Padding::kSame}) {
                const RandomCase c = plane_case(op, rows, cols, w.window, w.strides, padding);
                PoolPlan plan;
                try {
                  plan = plan_pooling(c.spec, c.shape);
                } catch (const ShapeError&) {
                  continue;  // 'valid' window larger than the plane
                }
                SCOPED_TRACE(describe(c) + " target " + hwy::TargetName(target) + " threads " + std::to_string(threads));
                ASSERT_TRUE(check_case(c, plan, rng, 70u));
                expect_special_planes_match(plan, c.shape, rows * cols, rng);
                if (::testing::Test::HasFatalFailure()) return;
              }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  fast::set_stream_threshold(saved);
}

// Sets fast::set_memory_streams for a scope.
struct MemoryStreams {
  explicit MemoryStreams(std::int64_t n) : saved(fast::set_memory_streams(n)) {}
  ~MemoryStreams() { fast::set_memory_streams(saved); }
  MemoryStreams(const MemoryStreams&) = delete;
  MemoryStreams& operator=(const MemoryStreams&) = delete;
  std::int64_t saved;
};

// channels_first 1D/2D planes pooled with a stride of 2 or more along rows of up to two vectors
// take the paired-rows kernels (a vector of outputs at a time: two output rows of rows that fit
// in one vector, else one; window cols picked from a pair of input vectors by two-vector
// permutes, other targets' lookups and blends); max is probed for NaN, averages redone where a
// mean is not finite. Cols from 3 to 32 (both kinds of pairs on 16 lanes, and on 8 and 4 the
// kernels they fall to past two vectors) and windows of 1 to 8 cols (the kernels' specialized 2
// and 3, and the general loop), strides 2 and 3 along the cols and 1 to 3 along the rows, 'valid' and 'same'
// (padding rows and cols at both ends), odd and even output rows (an odd last pair), 38 planes
// (calls of 16 and a remainder) from two and four parts of a thread's run, 1 and 2 threads, every
// target: random values, zeros of random signs (the first maximum in row-major window order),
// -0 only, +-inf, float sums that overflow, small integers (exact sums: the reference's bits),
// and a NaN at single cells, the input's last cell included.
TEST(FastKernelsPairedRows, MatchTheReference) {
  std::mt19937 rng(16180u);
  struct Window {
    std::vector<std::int64_t> window, strides;
  };
  const Window windows[] = {{{2, 2}, {2, 2}}, {{3, 3}, {2, 2}}, {{3, 2}, {1, 3}}, {{2, 5}, {3, 2}}, {{1, 8}, {2, 3}}};
  for (const std::int64_t memory_streams : {2, 4})
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const MemoryStreams streams(memory_streams);
    hwy::SetSupportedTargetsForTest(target);
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      for (const std::int64_t rows : {1, 5, 12})
        for (const std::int64_t cols : {3, 7, 8, 11, 16, 17, 26, 32})
          for (const Window& w : windows)
            for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage})
              for (const Padding padding : {Padding::kValid, Padding::kSame}) {
                const RandomCase c = plane_case(op, rows, cols, w.window, w.strides, padding);
                PoolPlan plan;
                try {
                  plan = plan_pooling(c.spec, c.shape);
                } catch (const ShapeError&) {
                  continue;  // 'valid' window larger than the plane
                }
                SCOPED_TRACE(describe(c) + " target " + hwy::TargetName(target) + " threads " +
                             std::to_string(threads) + " memory streams " + std::to_string(memory_streams));
                ASSERT_TRUE(check_case(c, plan, rng, 70u));
                expect_special_planes_match(plan, c.shape, rows * cols, rng);
                if (::testing::Test::HasFatalFailure()) return;
              }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// The max backward of small channels_first planes with windows that do not overlap goes straight
// from the upstream gradient and argmax (simd::backward_planes_max_direct) for all planes but the
// last one or two of the tensor, whose permutes would read past its end (the per-plane pass).
// Bit for bit against the reference (each input cell takes 0 + g from at most one output): 1D,
// 2D and 3D planes of less than one to 43 vectors, 'same' edges, gaps between windows, windows
// taller than wide (a vector of inputs takes from outputs up to two vectors apart), plane
// counts that leave one or two to the per-plane pass and split unevenly between threads (1 and
// 3 planes: none direct); upstream -0 (gives +0), negative NaN, +-inf; ties and NaN in the input
// (the first maximum); from the training forward's argmax and from the input; 1 and 2 threads,
// every target.
TEST(FastKernelsSmallPlanes, MaxBackwardFromTheArgmaxHasTheReferenceBits) {
  std::mt19937 rng(27182u);
  struct Case {
    std::vector<std::int64_t> spatial, window, strides;
    Padding padding;
  };
  const Case cases[] = {{{11, 11}, {2, 2}, {2, 2}, Padding::kValid},  {{26, 26}, {2, 2}, {2, 2}, Padding::kValid},
                        {{7, 7}, {3, 3}, {3, 3}, Padding::kSame},     {{5, 9}, {2, 3}, {2, 3}, Padding::kSame},
                        {{13, 13}, {1, 2}, {3, 2}, Padding::kValid},  {{4, 4}, {2, 2}, {2, 2}, Padding::kValid},
                        {{3, 5}, {2, 2}, {2, 2}, Padding::kSame},     {{4, 5, 6}, {2, 2, 2}, {2, 2, 2}, Padding::kSame},
                        {{9, 3, 4}, {1, 3, 2}, {2, 3, 2}, Padding::kValid}, {{30}, {2}, {2}, Padding::kValid},
                        {{11}, {3}, {3}, Padding::kSame},
                        // Windows taller than wide: a vector's outputs up to 2 vectors apart.
                        {{6, 20}, {2, 1}, {2, 1}, Padding::kValid},   {{5, 28}, {3, 2}, {3, 2}, Padding::kSame}};
  const float specials[] = {-0.0f, -std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), 1e-45f};
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      for (const Case& k : cases)
        for (const std::int64_t planes : {1, 3, 4, 37}) {
          const auto rank = static_cast<int>(k.spatial.size());
          const Shape shape = make_shape(1, k.spatial, planes, DataFormat::kChannelsFirst);
          const PoolPlan plan = plan_pooling(
              pool_spec(PoolOp::kMax, rank, false, k.window, k.strides, k.padding, DataFormat::kChannelsFirst), shape);
          SCOPED_TRACE(shape.to_string() + " target " + hwy::TargetName(target) + " threads " + std::to_string(threads));
          const Tensor x = random_input(shape, rng);
          Tensor upstream = testing::random_tensor(plan.output_shape, static_cast<std::uint32_t>(rng()));
          for (float& v : upstream.values())
            if (rng() % 4 == 0) v = specials[rng() % std::size(specials)];
          const Tensor ref = pool_backward(plan, x, upstream, PoolBackend::kReference);
          std::vector<std::uint8_t> argmax(static_cast<std::size_t>(plan.output_shape.elements()));
          Tensor y(plan.output_shape), from_argmax(shape);
          pool_forward_argmax(plan, x.data(), y.data(), argmax.data(), PoolBackend::kFast);
          pool_backward_argmax(plan, argmax.data(), upstream.data(), from_argmax.data(), PoolBackend::kFast);
          const Tensor from_input = pool_backward(plan, x, upstream, PoolBackend::kFast);
          for (std::int64_t i = 0; i < ref.size(); ++i) {
            ASSERT_TRUE(same_bits(from_argmax[i], ref[i]))
                << "from the argmax: grad_input[" << i << "] fast " << from_argmax[i] << " reference " << ref[i];
            ASSERT_TRUE(same_bits(from_input[i], ref[i]))
                << "from the input: grad_input[" << i << "] fast " << from_input[i] << " reference " << ref[i];
          }
        }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// channels_first global pooling reduces a thread's run of slices in one call: with four memory
// streams small slices four at a time from the quarters of the run, with two every slice (one
// stream each) two at a time from its halves; slices of one to eight vectors go in groups of a
// vector of slices, two or four groups at a time, reduced across their lanes together, a group
// with a NaN (or a sum that is not finite) redone slice by slice. Every output must be its own
// slice's, for runs with and without a remainder of slices and of groups, slices of fewer than
// one, eight and 64 vectors and more (the partial last vector of the input's last slice read
// without passing its end), 1 and 2 threads: random values, and in one slice at a time a NaN
// (its output alone is NaN), -0 first then +0 (the max is -0), values whose float sum
// overflows (the average redone in double), and +inf with -inf (the average is NaN).

TEST(FastKernelsGlobal, ChannelsFirstRunsOfSlicesKeepTheirOrder) {
  std::mt19937 rng(5150u);
  for (const std::int64_t memory_streams : {2, 4})  // the two orders of reading (AMD, others)
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const MemoryStreams streams(memory_streams);
    hwy::SetSupportedTargetsForTest(target);
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      for (const std::vector<std::int64_t>& spatial :
           {std::vector<std::int64_t>{3, 3}, {5, 7}, {11, 11}, {26, 26}, {33, 37}})
        for (const std::int64_t channels : {1, 5, 13, 100}) {  // 100: enough work for 2 threads
          const Shape shape = make_shape(3, spatial, channels, DataFormat::kChannelsFirst);
          SCOPED_TRACE(shape.to_string() + " target " + hwy::TargetName(target) + " threads " + std::to_string(threads));
          const std::int64_t cells = spatial[0] * spatial[1], slices = 3 * channels;
          for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
            const PoolPlan plan = plan_pooling(testing::global_spec(op, 2, DataFormat::kChannelsFirst), shape);
            auto expect_reference = [&](const Tensor& x, const std::string& input) { expect_forward_matches(plan, x, input); };
            Tensor x(shape);
            std::uniform_real_distribution<float> real(-2.0f, 2.0f);
            for (std::int64_t k = 0; k < slices; ++k)  // each slice around its own level
              for (std::int64_t s = 0; s < cells; ++s) x[k * cells + s] = static_cast<float>(k) * 10.0f + real(rng);
            expect_reference(x, "slices at their own levels");
            // Every slice of short runs, every 7th of long ones (coprime to the group sizes); the
            // zero signs and the infinities go to the slice half a run on (another group).
            for (std::int64_t k = 0; k < slices; k += slices > 40 ? 7 : 1) {
              const std::int64_t other = (k + slices / 2) % slices;
              Tensor y = x;
              // A negative NaN: where the kernel lost track of it, the output would keep its sign.
              y[k * cells + (k * 7) % cells] = -std::numeric_limits<float>::quiet_NaN();
              for (std::int64_t s = 0; s < cells && other != k; ++s) y[other * cells + s] = s < cells / 2 ? -0.0f : 0.0f;
              expect_reference(y, "NaN in slice " + std::to_string(k) + ", -0 then +0 in slice " + std::to_string(other));
              Tensor w = x;
              for (std::int64_t s = 0; s < cells; ++s) w[k * cells + s] = 3.0e38f;
              w[other * cells] = std::numeric_limits<float>::infinity();
              w[other * cells + cells - 1] = -std::numeric_limits<float>::infinity();
              expect_reference(w, "an overflowing sum in slice " + std::to_string(k) + ", +inf and -inf in slice " +
                                      std::to_string(other));
              if (::testing::Test::HasFatalFailure()) return;
            }
          }
        }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// channels_last global pooling of small images on two memory streams takes a thread's run of
// images two at a time (image k with image k + half the run), each one stream; a NaN in either
// image of a pair has both redone alone. Every output must be its own image's: runs of even and
// odd length (the last image alone), 1 and 2 threads, channels of one to four vectors, images at
// their own levels, a NaN in one image at a time, -0 first then +0 in one image, and finite
// values whose float sum overflows (the average redone in double); four memory streams too.
TEST(FastKernelsGlobal, ChannelsLastRunsOfImagesKeepTheirOrder) {
  std::mt19937 rng(2718u);
  for (const std::int64_t memory_streams : {2, 4})
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const MemoryStreams streams(memory_streams);
    hwy::SetSupportedTargetsForTest(target);
    const auto L = static_cast<std::int64_t>(simd::lanes());
    for (const int threads : {1, 2}) {
      ThreadCount thread_count(threads);
      for (const std::int64_t batch : {2, 7, 40})
        for (const std::vector<std::int64_t>& spatial : {std::vector<std::int64_t>{3, 3}, {11, 11}})
          for (const std::int64_t channels : {L, 4 * L}) {
            const Shape shape = make_shape(batch, spatial, channels, DataFormat::kChannelsLast);
            SCOPED_TRACE(shape.to_string() + " target " + hwy::TargetName(target) + " threads " +
                         std::to_string(threads) + " memory streams " + std::to_string(memory_streams));
            const std::int64_t cells = spatial[0] * spatial[1], image = cells * channels;
            for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
              const PoolPlan plan = plan_pooling(testing::global_spec(op, 2, DataFormat::kChannelsLast), shape);
              auto expect_reference = [&](const Tensor& x, const std::string& input) { expect_forward_matches(plan, x, input); };
              Tensor x(shape);
              std::uniform_real_distribution<float> real(-2.0f, 2.0f);
              for (std::int64_t b = 0; b < batch; ++b)  // each image around its own level
                for (std::int64_t i = 0; i < image; ++i) x[b * image + i] = static_cast<float>(b) * 10.0f + real(rng);
              expect_reference(x, "images at their own levels");
              for (std::int64_t b = 0; b < batch; ++b) {
                Tensor y = x;
                // A negative NaN: where the kernel lost track of it, the output would keep its sign.
                y[b * image + (b * 7) % image] = -std::numeric_limits<float>::quiet_NaN();
                expect_reference(y, "NaN in image " + std::to_string(b));
                Tensor z = x;
                for (std::int64_t i = 0; i < image; ++i) z[b * image + i] = i < channels ? -0.0f : 0.0f;
                expect_reference(z, "-0 then +0 in image " + std::to_string(b));
                Tensor w = x;
                for (std::int64_t i = 0; i < image; ++i) w[b * image + i] = 3.0e38f;
                expect_reference(w, "an overflowing sum in image " + std::to_string(b));
                if (::testing::Test::HasFatalFailure()) return;
              }
            }
          }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Global pooling reads each image (or channels_first slice) as several streams side by side
// (channels_last: quarters, and the cells after the last whole quarter; channels_first: halves of
// whole vectors and a tail). The first maximum of the whole image is kept across them: for cells
// at and around every stream boundary and a stride of the rest, the only maximum there, the only
// NaN there, and a -0 there with +0 in every later cell (-0 wins) give the reference's bits;
// averages and the max backward agree with the reference, for cell counts with every remainder,
// fewer cells than streams, one cell, channel tails, every target.
TEST(FastKernelsGlobal, StreamsKeepTheFirstMaximumNaNAndTheAverage) {
  std::mt19937 rng(4242u);
  const std::vector<std::vector<std::int64_t>> spatials = {{1, 1}, {1, 2}, {1, 3}, {2, 3}, {3, 5}, {5, 5},
                                                            {6, 6}, {7, 9}, {9, 11}, {40, 41}};
  for (const std::int64_t memory_streams : {2, 4})  // the two orders of reading (AMD, others)
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const MemoryStreams streams(memory_streams);
    hwy::SetSupportedTargetsForTest(target);
    for (const auto& spatial : spatials)
      for (const auto& layout : {std::pair{DataFormat::kChannelsLast, std::int64_t{3}},
                                 std::pair{DataFormat::kChannelsLast, std::int64_t{17}},
                                 std::pair{DataFormat::kChannelsLast, std::int64_t{64}},
                                 std::pair{DataFormat::kChannelsFirst, std::int64_t{2}}}) {
        // Named copies, not structured bindings: clang 14 cannot capture those in the lambdas.
        const DataFormat format = layout.first;
        const std::int64_t channels = layout.second;
        const Shape shape = make_shape(2, spatial, channels, format);
        const std::int64_t cells = spatial[0] * spatial[1];
        const std::string what =
            shape.to_string() + " " + std::string(to_string(format)) + " target " + hwy::TargetName(target);
        SCOPED_TRACE(what);
        // Cell s of channel c of image b.
        auto at = [&](std::int64_t b, std::int64_t s, std::int64_t c) {
          return format == DataFormat::kChannelsLast ? (b * cells + s) * channels + c : (b * channels + c) * cells + s;
        };
        const PoolPlan max_plan = plan_pooling(testing::global_spec(PoolOp::kMax, 2, format), shape);
        const PoolPlan avg_plan = plan_pooling(testing::global_spec(PoolOp::kAverage, 2, format), shape);
        auto expect_reference = [&](const PoolPlan& plan, const Tensor& x, const std::string& input) {
          expect_forward_matches(plan, x, input);
          const Tensor upstream = testing::random_tensor(plan.output_shape, 3u);
          const Tensor gref = pool_backward(plan, x, upstream, PoolBackend::kReference);
          const Tensor gfast = pool_backward(plan, x, upstream, PoolBackend::kFast);
          for (std::int64_t i = 0; i < gref.size(); ++i) {
            ASSERT_TRUE(close(gfast[i], gref[i]))
                << input << " grad_input[" << i << "] fast " << gfast[i] << " reference " << gref[i];
          }
        };
        // Every cell of small images; around the boundaries of quarters, halves and vectors and
        // every 29th cell of larger ones.
        std::vector<std::int64_t> cells_to_try;
        for (std::int64_t s = 0; s < cells; ++s) {
          bool near_boundary = s < 2 || s >= cells - 2 || cells <= 64 || s % 29 == 0;
          for (std::int64_t parts : {2, 4})
            for (std::int64_t k = 1; k < parts; ++k) near_boundary = near_boundary || std::abs(s - k * cells / parts) <= 1;
          near_boundary = near_boundary || s % 16 == 0 || s % 16 == 15;
          if (near_boundary) cells_to_try.push_back(s);
        }
        Tensor x(shape);
        for (const std::int64_t s : cells_to_try) {
          const std::string cell = " at cell " + std::to_string(s);
          for (float& v : x.values()) v = -1.0f;
          for (std::int64_t c = 0; c < channels; ++c) x[at(0, s, c)] = 5.0f;
          for (std::int64_t c = 0; c < channels; c += 2) x[at(1, s, c)] = -std::numeric_limits<float>::quiet_NaN();
          expect_forward_matches(max_plan, x, "the only maximum or NaN" + cell);
          for (std::int64_t b = 0; b < 2; ++b)
            for (std::int64_t c = 0; c < channels; ++c)
              for (std::int64_t later = s; later < cells; ++later) x[at(b, later, c)] = later == s ? -0.0f : 0.0f;
          expect_forward_matches(max_plan, x, "-0 then +0" + cell);
          if (::testing::Test::HasFatalFailure()) return;
        }
        for (int repeat = 0; repeat < 2; ++repeat) {
          const Tensor y = random_input(shape, rng);
          expect_reference(max_plan, y, "random");
          expect_reference(avg_plan, y, "random");
        }
        if (::testing::Test::HasFatalFailure()) return;
      }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// Backward without overlapping windows writes each gradient once, so it must have the
// reference's bits: an upstream -0 gives +0 (the reference adds into zeros, as TensorFlow does),
// and the average divides by power-of-two counts with an exact multiplication by the reciprocal
// (2x2 windows: 4 cells, 2 at a 'same' edge), subnormal and huge gradients included. Every
// backward path: channels_first rows (70 cols), short rows (26: transposed), small planes (4x4:
// plane kernels), channels_last, global pooling; every dispatch target.
TEST(FastKernelsBackward, NegativeZeroAndPowerOfTwoCountsGiveTheReferenceBits) {
  const float specials[] = {1e-45f, -3e-39f, 1.17549435e-38f, 3.4028235e38f, -2.5e38f, 0.1f, -0.0f, -0.0f};
  std::mt19937 rng(777u);
  const struct {
    std::vector<std::int64_t> spatial;
    std::int64_t channels;
    DataFormat format;
  } layouts[] = {{{6, 70}, 32, DataFormat::kChannelsFirst},
                 {{7, 70}, 32, DataFormat::kChannelsFirst},
                 {{6, 26}, 32, DataFormat::kChannelsFirst},
                 {{4, 4}, 32, DataFormat::kChannelsFirst},
                 {{7, 10}, 32, DataFormat::kChannelsLast},
                 {{5, 9}, 37, DataFormat::kChannelsLast}};  // scalar tails and clipped edges
  for (const std::int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (const auto& layout : layouts)
      for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage})
        for (const bool global : {false, true}) {
          const Shape shape = make_shape(2, layout.spatial, layout.channels, layout.format);
          const PoolSpec spec = global ? testing::global_spec(op, 2, layout.format)
                                       : pool_spec(op, 2, false, {2, 2}, {2, 2}, Padding::kSame, layout.format);
          const PoolPlan plan = plan_pooling(spec, shape);
          Tensor upstream(plan.output_shape);
          for (float& v : upstream.values()) v = specials[rng() % std::size(specials)] * static_cast<float>(1 + rng() % 2);
          const Tensor x = testing::random_distinct_tensor(shape, 5);
          const Tensor ref = pool_backward(plan, x, upstream, PoolBackend::kReference);
          const Tensor fast = pool_backward(plan, x, upstream, PoolBackend::kFast);
          std::vector<Tensor> results{fast};
          if (op == PoolOp::kMax && !global) {  // the training pair too
            std::vector<std::uint8_t> argmax(static_cast<std::size_t>(plan.output_shape.elements()) * argmax_bytes(plan));
            Tensor y(plan.output_shape), g(shape);
            pool_forward_argmax(plan, x.data(), y.data(), argmax.data(), PoolBackend::kFast);
            pool_backward_argmax(plan, argmax.data(), upstream.data(), g.data(), PoolBackend::kFast);
            results.push_back(g);
          }
          for (const Tensor& r : results)
            for (std::int64_t i = 0; i < ref.size(); ++i)
              ASSERT_TRUE(same_bits(r[i], ref[i]))
                  << to_string(op) << (global ? " global " : " ") << shape.to_string() << " "
                  << to_string(layout.format) << " target " << hwy::TargetName(target) << " grad_input[" << i
                  << "] fast " << r[i] << " reference " << ref[i];
        }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// channels_first backward of 2-wide tiling windows streams every whole line of a grad_input row,
// the row's partial last vector too when its grad_input fills whole vectors: 112 cols leave 8
// outputs past the last whole vector of 16 (AVX-512), 24 and 48 cols leave 4 past 8 (AVX2). (A
// stream one float off in that partial vector fails this test.)
TEST(FastKernelsStreaming, ChannelsFirstTilingBackwardStreamsWholeRows) {
  const std::int64_t saved = fast::set_stream_threshold(0);
  std::mt19937 rng(99u);
  for (const std::int64_t cols : {24, 48, 112})
    for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
      const RandomCase c{pool_spec(op, 2, false, {2, 2}, {2, 2}, Padding::kValid, DataFormat::kChannelsFirst),
                         Shape{2, 3, 4, cols}};
      SCOPED_TRACE(describe(c));
      ASSERT_TRUE(check_case(c, plan_pooling(c.spec, c.shape), rng, 7u));
    }
  fast::set_stream_threshold(saved);
}

TEST(FastKernelsLarge, ThreadedResultsAreBitIdenticalToOneThread) {
  // Large enough to run in parallel; overlapping windows (stride < pool) exercise the
  // accumulation that threads must not race on; both layouts, both ops, and the argmax path.
  for (const DataFormat format : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
    for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
      const Shape shape = make_shape(4, {40, 36}, 48, format);
      const PoolPlan plan = plan_pooling(testing::windowed_spec(op, 2, {3, 3}, {2, 2}, Padding::kSame, format), shape);
      const Tensor x = testing::random_distinct_tensor(shape, 3);
      const Tensor w = testing::random_tensor(plan.output_shape, 4);
      Tensor y[2], g[2];
      for (int t = 0; t < 2; ++t) {
        const ThreadCount threads(t + 1);
        y[t] = pool_forward(plan, x, PoolBackend::kFast);
        g[t] = pool_backward(plan, x, w, PoolBackend::kFast);
      }
      EXPECT_EQ(std::memcmp(y[0].data(), y[1].data(), static_cast<std::size_t>(y[0].size()) * 4), 0);
      EXPECT_EQ(std::memcmp(g[0].data(), g[1].data(), static_cast<std::size_t>(g[0].size()) * 4), 0);
      const Tensor gref = pool_backward(plan, x, w, PoolBackend::kReference);
      for (std::int64_t i = 0; i < gref.size(); ++i) ASSERT_NEAR(g[1][i], gref[i], 1e-5f) << i;
    }
  }
}

// NaN propagates from every lane of a vector body and every scalar tail: one NaN (either sign) at
// each position of a window, in turn, for channels_last (37 channels: 2 vectors of 16 + a tail of 5
// on AVX-512; other splits on AVX2/SSE4) and channels_first (70 cols: full vectors, a partial one,
// edges), max and average, global and windowed; the NaN output must be the reference's (canonical).
TEST(FastKernelsSpecialValues, NaNPropagatesFromEveryLaneAndTail) {
  const float nans[] = {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN()};
  const struct {
    Shape shape;
    DataFormat format;
  } layouts[] = {{Shape{1, 4, 4, 37}, DataFormat::kChannelsLast}, {Shape{1, 2, 2, 70}, DataFormat::kChannelsFirst}};
  for (const auto& layout : layouts) {
    for (const PoolOp op : {PoolOp::kMax, PoolOp::kAverage}) {
      for (const bool global : {false, true}) {
        const PoolSpec spec = global ? testing::global_spec(op, 2, layout.format)
                                     : testing::windowed_spec(op, 2, {2, 2}, {2, 2}, Padding::kValid, layout.format);
        const PoolPlan plan = plan_pooling(spec, layout.shape);
        const Tensor base = testing::random_tensor(layout.shape, 11);
        for (std::int64_t i = 0; i < base.size(); ++i) {
          Tensor x = base;
          x[i] = nans[i % 2];
          const Tensor ref = pool_forward(plan, x, PoolBackend::kReference);
          const Tensor fast = pool_forward(plan, x, PoolBackend::kFast);
          int nan_outputs = 0;
          for (std::int64_t o = 0; o < ref.size(); ++o) {
            nan_outputs += std::isnan(fast[o]) ? 1 : 0;
            ASSERT_TRUE(op == PoolOp::kMax ? same_bits(fast[o], ref[o]) : close(fast[o], ref[o]))
                << to_string(op) << " global " << global << " " << to_string(layout.format) << " NaN at " << i
                << ": output " << o << " fast " << fast[o] << " reference " << ref[o];
          }
          ASSERT_EQ(nan_outputs, 1) << to_string(op) << " global " << global << " NaN at " << i;
        }
      }
    }
  }
}

// Float sums that overflow (two values near the float maximum) or meet inf and -inf: the fast
// kernels redo them in double, so the means are the reference's exact bits (finite where the
// reference's double sum is), in every kernel family: channels_last rows (vector blocks and the
// scalar tail: 37 channels), channels_first rows (70 cols) and planes (6x6), global pooling.
TEST(FastKernelsSpecialValues, FloatSumOverflowFallsBackToTheReferenceSum) {
  const float big = 3.0e38f, inf = std::numeric_limits<float>::infinity();
  const struct {
    Shape shape;
    DataFormat format;
  } layouts[] = {{Shape{1, 4, 4, 37}, DataFormat::kChannelsLast},
                 {Shape{1, 2, 2, 70}, DataFormat::kChannelsFirst},
                 {Shape{1, 3, 6, 6}, DataFormat::kChannelsFirst}};
  for (const auto& layout : layouts) {
    for (const bool global : {false, true}) {
      const PoolSpec spec =
          global ? testing::global_spec(PoolOp::kAverage, 2, layout.format)
                 : testing::windowed_spec(PoolOp::kAverage, 2, {2, 2}, {2, 2}, Padding::kValid, layout.format);
      const PoolPlan plan = plan_pooling(spec, layout.shape);
      for (const bool with_infinities : {false, true}) {
        Tensor x = testing::random_tensor(layout.shape, 5);
        for (std::int64_t i = 0; i < x.size(); ++i) {
          if (i % 3 != 0) x[i] = i % 11 == 0 ? -big : big;
          if (with_infinities && i % 7 == 0) x[i] = i % 2 ? inf : -inf;
        }
        const Tensor ref = pool_forward(plan, x, PoolBackend::kReference);
        const Tensor fast = pool_forward(plan, x, PoolBackend::kFast);
        int overflowed = 0;  // finite means whose 4-cell float sum overflows
        for (std::int64_t o = 0; o < ref.size(); ++o) {
          overflowed += std::isfinite(ref[o]) && std::fabs(ref[o]) > std::numeric_limits<float>::max() / 4 ? 1 : 0;
          ASSERT_TRUE((std::isnan(fast[o]) && std::isnan(ref[o])) || same_bits(fast[o], ref[o]))
              << to_string(layout.format) << " " << layout.shape.to_string() << " global " << global
              << " infinities " << with_infinities << ": output " << o << " fast " << fast[o] << " reference "
              << ref[o];
        }
        if (!with_infinities && !global) {
          EXPECT_GT(overflowed, 0) << "no window overflowed in float";
        }
      }
    }
  }
}

TEST(FastKernelsArgmax, WindowsOfMoreThan255CellsUseWiderIndices) {
  // 16x17 = 272 cells: two bytes per output (indices up to 271); served by the reference.
  const Shape shape{2, 32, 34, 3};
  const PoolPlan plan = plan_pooling(testing::windowed_spec(PoolOp::kMax, 2, {16, 17}, {16, 17}, Padding::kValid,
                                                            DataFormat::kChannelsLast),
                                     shape);
  ASSERT_EQ(argmax_bytes(plan), 2u);
  const Tensor x = testing::random_distinct_tensor(shape, 5);
  const Tensor w = testing::random_tensor(plan.output_shape, 6);
  std::vector<std::uint8_t> argmax(static_cast<std::size_t>(plan.output_shape.elements()) * 2);
  Tensor y(plan.output_shape), g(plan.input_shape);
  pool_forward_argmax(plan, x.data(), y.data(), argmax.data());
  pool_backward_argmax(plan, argmax.data(), w.data(), g.data());
  const Tensor gref = pool_backward(plan, x, w, PoolBackend::kReference);
  for (std::int64_t i = 0; i < gref.size(); ++i) ASSERT_EQ(g[i], gref[i]) << i;
  const Tensor gfast = pool_backward(plan, x, w, PoolBackend::kFast);
  for (std::int64_t i = 0; i < gref.size(); ++i) ASSERT_EQ(gfast[i], gref[i]) << i;
}

TEST(FastKernelsArgmax, RejectsPlansThatAreNotWindowedMax) {
  const Shape shape{1, 4, 4, 2};
  const PoolPlan avg = plan_pooling(testing::windowed_spec(PoolOp::kAverage, 2, {2, 2}, {2, 2}, Padding::kValid,
                                                           DataFormat::kChannelsLast),
                                    shape);
  const PoolPlan global = plan_pooling(testing::global_spec(PoolOp::kMax, 2), shape);
  std::vector<float> y(64), g(64);
  std::vector<std::uint8_t> argmax(64);
  const Tensor x(shape);
  testing::expect_throws<ArgumentError>([&] { pool_forward_argmax(avg, x.data(), y.data(), argmax.data()); },
                         {"pool_forward_argmax", "windowed max", "windowed average"});
  testing::expect_throws<ArgumentError>([&] { pool_backward_argmax(global, argmax.data(), y.data(), g.data()); },
                         {"pool_backward_argmax", "windowed max", "global max"});
}

}  // namespace
}  // namespace poolnet
