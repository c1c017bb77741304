// pool_forward / pool_backward (reference and kAuto kernels) against an independent naive oracle
// on a few hundred random configurations. The oracle is written differently from the library:
// its own geometry, logical (batch, channel, position) indexing with an explicit layout map,
// windows enumerated as padded offsets, double arithmetic, and a gather-form gradient (for each
// input cell, the sum over the outputs whose window holds it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "poolnet/error.hpp"
#include "poolnet/pooling.hpp"
#include "poolnet/tensor.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using Dims = std::vector<std::int64_t>;

struct Config {
  PoolOp op = PoolOp::kMax;
  bool global = false;
  Dims window;
  Dims strides;
  Padding padding = Padding::kValid;
  DataFormat format = DataFormat::kChannelsLast;
  Dims spatial;
  std::int64_t batch = 1;
  std::int64_t channels = 1;
  bool small_integers = false;  // values from {-3..3}: many ties

  int rank() const { return static_cast<int>(spatial.size()); }
};

std::string dims_text(const Dims& d) { return dims_to_string(std::span<const std::int64_t>(d)); }

std::string describe(const Config& c) {
  std::string s = std::string(c.global ? "global " : "") + std::string(to_string(c.op)) + " " +
                  std::to_string(c.rank()) + "D " + std::string(to_string(c.format)) +
                  " spatial " + dims_text(c.spatial) + " batch " + std::to_string(c.batch) +
                  " channels " + std::to_string(c.channels);
  if (!c.global) {
    s += " pool " + dims_text(c.window) + " strides " + dims_text(c.strides) + " " +
         std::string(to_string(c.padding));
  }
  if (c.small_integers) s += " (small integers)";
  return s;
}

Shape shape_of(const Config& c) {
  return testing::make_shape(c.batch, c.spatial, c.channels, c.format);
}

PoolSpec spec_of(const Config& c) {
  return testing::pool_spec(c.op, c.rank(), c.global, c.window, c.strides, c.padding, c.format);
}

// ---------------------------------------------------------------------------------------------
// The oracle

struct OracleAxis {
  std::int64_t k, s, out, pad_before;
};

// Geometry per axis. Valid uses the ceil((in - k + 1) / s) form of SEMANTICS.md; an output count
// of 0 means the configuration must be rejected.
std::vector<OracleAxis> oracle_axes(const Config& c) {
  std::vector<OracleAxis> axes;
  for (int i = 0; i < c.rank(); ++i) {
    const std::int64_t in = c.spatial[static_cast<std::size_t>(i)];
    if (c.global) {
      axes.push_back({in, 1, 1, 0});
      continue;
    }
    const std::int64_t k = c.window[static_cast<std::size_t>(i)];
    const std::int64_t s = c.strides[static_cast<std::size_t>(i)];
    if (c.padding == Padding::kValid) {
      const std::int64_t span = in - k + 1;
      axes.push_back({k, s, span > 0 ? (span + s - 1) / s : 0, 0});
    } else {
      const std::int64_t out = (in + s - 1) / s;
      const std::int64_t pad_total = std::max<std::int64_t>((out - 1) * s + k - in, 0);
      axes.push_back({k, s, out, pad_total / 2});
    }
  }
  return axes;
}

// Row-major multi-index iteration over `dims` (all > 0).
bool next_index(Dims& index, const Dims& dims) {
  for (std::size_t a = dims.size(); a-- > 0;) {
    if (++index[a] < dims[a]) return true;
    index[a] = 0;
  }
  return false;
}

std::int64_t spatial_flat(const Dims& pos, const Dims& dims) {
  std::int64_t f = 0;
  for (std::size_t a = 0; a < dims.size(); ++a) f = f * dims[a] + pos[a];
  return f;
}

std::int64_t product(const Dims& dims) {
  std::int64_t p = 1;
  for (const std::int64_t d : dims) p *= d;
  return p;
}

std::int64_t layout_offset(DataFormat format, std::int64_t b, std::int64_t c,
                           std::int64_t spatial_index, std::int64_t spatial_size,
                           std::int64_t channels) {
  if (format == DataFormat::kChannelsLast) return (b * spatial_size + spatial_index) * channels + c;
  return (b * channels + c) * spatial_size + spatial_index;
}

struct OracleResult {
  bool rejected = false;
  Dims out_spatial;
  std::vector<float> output;
  std::vector<double> grad_input;
};

OracleResult run_oracle(const Config& c, const std::vector<float>& x, const std::vector<float>& w) {
  OracleResult r;
  const std::vector<OracleAxis> axes = oracle_axes(c);
  for (const OracleAxis& a : axes) {
    if (a.out <= 0) {
      r.rejected = true;
      return r;
    }
    r.out_spatial.push_back(a.out);
  }
  const std::size_t n = axes.size();
  const std::int64_t in_size = product(c.spatial);
  const std::int64_t out_size = product(r.out_spatial);
  r.output.assign(static_cast<std::size_t>(c.batch * c.channels * out_size), 0.0f);
  r.grad_input.assign(x.size(), 0.0);

  // Per output: the real input cells of its window in row-major window order, and each cell's
  // share of the output's upstream value.
  struct Window {
    std::vector<std::int64_t> cells;   // flat input offsets
    std::vector<double> share;         // fraction of w that goes to each cell
  };
  std::vector<Window> windows(r.output.size());

  for (std::int64_t b = 0; b < c.batch; ++b) {
    for (std::int64_t ch = 0; ch < c.channels; ++ch) {
      Dims o(n, 0);
      do {
        const std::int64_t out_flat =
            layout_offset(c.format, b, ch, spatial_flat(o, r.out_spatial), out_size, c.channels);
        Window& win = windows[static_cast<std::size_t>(out_flat)];
        Dims window_dims(n);
        for (std::size_t a = 0; a < n; ++a) window_dims[a] = axes[a].k;
        Dims t(n, 0);
        do {
          Dims p(n);
          bool real = true;
          for (std::size_t a = 0; a < n; ++a) {
            p[a] = o[a] * axes[a].s - axes[a].pad_before + t[a];
            real = real && p[a] >= 0 && p[a] < c.spatial[a];
          }
          if (real) {
            win.cells.push_back(
                layout_offset(c.format, b, ch, spatial_flat(p, c.spatial), in_size, c.channels));
          }
        } while (next_index(t, window_dims));

        const std::size_t count = win.cells.size();
        win.share.assign(count, 0.0);
        float result = 0.0f;
        if (c.op == PoolOp::kAverage) {
          double sum = 0.0;
          for (const std::int64_t cell : win.cells) sum += x[static_cast<std::size_t>(cell)];
          result = static_cast<float>(sum / static_cast<double>(count));
          for (double& s : win.share) s = 1.0 / static_cast<double>(count);
        } else {
          double best = -std::numeric_limits<double>::infinity();
          for (const std::int64_t cell : win.cells)
            best = std::max(best, static_cast<double>(x[static_cast<std::size_t>(cell)]));
          result = static_cast<float>(best);
          std::size_t ties = 0;
          for (const std::int64_t cell : win.cells)
            ties += static_cast<double>(x[static_cast<std::size_t>(cell)]) == best ? 1 : 0;
          bool first = true;
          for (std::size_t i = 0; i < count; ++i) {
            if (static_cast<double>(x[static_cast<std::size_t>(win.cells[i])]) != best) continue;
            if (c.global) {
              win.share[i] = 1.0 / static_cast<double>(ties);  // split evenly
            } else if (first) {
              win.share[i] = 1.0;  // first maximum in row-major window order
            }
            first = false;
          }
        }
        r.output[static_cast<std::size_t>(out_flat)] = result;
      } while (next_index(o, r.out_spatial));
    }
  }

  if (w.size() != r.output.size()) return r;  // forward only

  // Gather: each input cell sums, over the outputs (of its batch item and channel) whose padded
  // window [o*s - pad_before, o*s - pad_before + k) holds it on every axis, its share of w.
  for (std::int64_t b = 0; b < c.batch; ++b) {
    for (std::int64_t ch = 0; ch < c.channels; ++ch) {
      Dims p(n, 0);
      do {
        const std::int64_t in_flat =
            layout_offset(c.format, b, ch, spatial_flat(p, c.spatial), in_size, c.channels);
        double g = 0.0;
        Dims o(n, 0);
        do {
          bool inside = true;
          for (std::size_t a = 0; a < n; ++a) {
            const std::int64_t lo = o[a] * axes[a].s - axes[a].pad_before;
            inside = inside && p[a] >= lo && p[a] < lo + axes[a].k;
          }
          if (!inside) continue;
          const std::int64_t out_flat =
              layout_offset(c.format, b, ch, spatial_flat(o, r.out_spatial), out_size, c.channels);
          const Window& win = windows[static_cast<std::size_t>(out_flat)];
          const auto it = std::find(win.cells.begin(), win.cells.end(), in_flat);
          if (it == win.cells.end()) {
            ADD_FAILURE() << "oracle bug: cell " << in_flat << " missing from window " << out_flat;
            continue;
          }
          g += win.share[static_cast<std::size_t>(it - win.cells.begin())] *
               static_cast<double>(w[static_cast<std::size_t>(out_flat)]);
        } while (next_index(o, r.out_spatial));
        r.grad_input[static_cast<std::size_t>(in_flat)] = g;
      } while (next_index(p, c.spatial));
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Random configurations

Config random_config(std::mt19937& rng) {
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  Config c;
  const int rank = static_cast<int>(pick(1, 3));
  c.op = pick(0, 1) == 0 ? PoolOp::kMax : PoolOp::kAverage;
  c.global = pick(0, 4) == 0;
  c.padding = pick(0, 1) == 0 ? Padding::kValid : Padding::kSame;
  c.format = pick(0, 1) == 0 ? DataFormat::kChannelsLast : DataFormat::kChannelsFirst;
  c.batch = pick(1, 2);
  c.channels = pick(1, 5);
  c.small_integers = c.op == PoolOp::kMax && pick(0, 2) == 0;
  for (int i = 0; i < rank; ++i) {
    // Rank 3 stays a little smaller to keep the naive gather oracle fast.
    c.spatial.push_back(pick(1, rank == 3 ? 5 : 7));
    if (!c.global) {
      c.window.push_back(pick(1, 4));
      c.strides.push_back(pick(1, 4));
    }
  }
  return c;
}

std::vector<float> random_values(const Config& c, std::int64_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(static_cast<std::size_t>(size));
  if (c.small_integers) {
    std::uniform_int_distribution<int> dist(-3, 3);
    for (float& e : v) e = static_cast<float>(dist(rng));
  } else {
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    for (float& e : v) e = dist(rng);
  }
  return v;
}

bool close(double actual, double expected) {
  return std::fabs(actual - expected) <= 1e-5 * std::max(1.0, std::fabs(expected));
}

TEST(PoolReferenceOracleTest, ForwardAndBackwardMatchNaiveOracleOnRandomConfigs) {
  std::mt19937 rng(20240917u);
  constexpr int kConfigs = 400;
  int computed = 0;
  int rejected = 0;
  int by_kind[2][2] = {};  // [global][op]
  for (int n = 0; n < kConfigs; ++n) {
    const Config c = random_config(rng);
    SCOPED_TRACE("config " + std::to_string(n) + ": " + describe(c));
    const Shape shape = shape_of(c);
    const std::vector<float> x =
        random_values(c, shape.elements(), 1000u + static_cast<std::uint32_t>(n));

    // Upstream values with the oracle's output shape (known before planning).
    const OracleResult probe = run_oracle(c, x, {});
    if (probe.rejected) {
      EXPECT_THROW(plan_pooling(spec_of(c), shape), ShapeError);
      ++rejected;
      continue;
    }
    Config out_config = c;
    out_config.spatial = probe.out_spatial;
    const Shape out_shape = shape_of(out_config);
    std::mt19937 wrng(5000u + static_cast<std::uint32_t>(n));
    std::uniform_real_distribution<float> wdist(-1.0f, 1.0f);
    std::vector<float> w(static_cast<std::size_t>(out_shape.elements()));
    for (float& e : w) e = wdist(wrng);
    const OracleResult expected = run_oracle(c, x, w);

    const PoolPlan plan = plan_pooling(spec_of(c), shape);
    ASSERT_EQ(plan.output_shape, out_shape)
        << plan.output_shape.to_string() << " vs " << out_shape.to_string();
    ++computed;
    ++by_kind[c.global ? 1 : 0][c.op == PoolOp::kMax ? 1 : 0];

    for (const PoolBackend backend : {PoolBackend::kReference, PoolBackend::kAuto}) {
      SCOPED_TRACE(backend == PoolBackend::kReference ? "reference" : "auto");
      std::vector<float> out(w.size(), std::nanf(""));
      pool_forward(plan, x.data(), out.data(), backend);
      int failures = 0;
      for (std::size_t i = 0; i < out.size() && failures < 3; ++i) {
        const bool ok = c.op == PoolOp::kMax ? out[i] == expected.output[i]
                                             : close(out[i], expected.output[i]);
        if (!ok) {
          ADD_FAILURE() << "output[" << i << "] = " << out[i] << ", oracle "
                        << expected.output[i];
          ++failures;
        }
      }

      std::vector<float> grad(x.size(), std::nanf(""));
      pool_backward(plan, x.data(), w.data(), grad.data(), backend);
      for (std::size_t i = 0; i < grad.size() && failures < 6; ++i) {
        if (!close(grad[i], expected.grad_input[i])) {
          ADD_FAILURE() << "grad_input[" << i << "] = " << grad[i] << ", oracle "
                        << expected.grad_input[i] << " (input " << x[i] << ")";
          ++failures;
        }
      }
    }
    if (::testing::Test::HasFailure()) break;  // one failing configuration is enough to read
  }
  // The random draw must cover what it claims to.
  EXPECT_GE(computed, 300);
  EXPECT_GE(rejected, 5);
  for (int g = 0; g < 2; ++g)
    for (int op = 0; op < 2; ++op) EXPECT_GE(by_kind[g][op], 20) << "global " << g << " op " << op;
}

TEST(PoolReferenceOracleTest, OracleAgreesWithHandComputedExample) {
  // Guards the oracle itself: SEMANTICS.md's 3x3 1..9 average example, and a max tie.
  Config c;
  c.op = PoolOp::kAverage;
  c.window = {2, 2};
  c.strides = {2, 2};
  c.padding = Padding::kSame;
  c.spatial = {3, 3};
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const OracleResult r = run_oracle(c, x, {4, 8, 16, 32});
  EXPECT_EQ(r.output, (std::vector<float>{3, 4.5f, 7.5f, 9}));
  EXPECT_EQ(r.grad_input, (std::vector<double>{1, 1, 4, 1, 1, 4, 8, 8, 32}));

  c.op = PoolOp::kMax;
  c.padding = Padding::kValid;
  c.spatial = {2, 2};
  const OracleResult m = run_oracle(c, {3, 7, 7, 7}, {2});
  EXPECT_EQ(m.output, (std::vector<float>{7}));
  EXPECT_EQ(m.grad_input, (std::vector<double>{0, 2, 0, 0}));
  c.global = true;
  const OracleResult gm = run_oracle(c, {3, 7, 7, 7}, {3});
  EXPECT_EQ(gm.grad_input, (std::vector<double>{0, 1, 1, 1}));
}

TEST(PoolReferenceOracleTest, ChannelsFirstResultsAreTransposedChannelsLastResults) {
  std::mt19937 rng(77u);
  for (int n = 0; n < 60; ++n) {
    Config c = random_config(rng);
    c.format = DataFormat::kChannelsLast;
    if (run_oracle(c, std::vector<float>(static_cast<std::size_t>(shape_of(c).elements())), {})
            .rejected)
      continue;
    SCOPED_TRACE(describe(c));
    const PoolPlan last = plan_pooling(spec_of(c), shape_of(c));
    Config cf = c;
    cf.format = DataFormat::kChannelsFirst;
    const PoolPlan first = plan_pooling(spec_of(cf), shape_of(cf));

    const Tensor x = testing::random_tensor(last.input_shape, static_cast<std::uint32_t>(n));
    const Tensor w = testing::random_tensor(last.output_shape, static_cast<std::uint32_t>(n + 100));
    const Tensor x_first = testing::transpose_layout(x, DataFormat::kChannelsLast);
    const Tensor w_first = testing::transpose_layout(w, DataFormat::kChannelsLast);

    const Tensor out_last = pool_forward(last, x);
    const Tensor out_first = pool_forward(first, x_first);
    const Tensor out_back = testing::transpose_layout(out_first, DataFormat::kChannelsFirst);
    ASSERT_EQ(out_back.shape(), out_last.shape());
    for (std::int64_t i = 0; i < out_last.size(); ++i)
      ASSERT_EQ(out_back[i], out_last[i]) << "output " << i;

    const Tensor g_last = pool_backward(last, x, w);
    const Tensor g_first = pool_backward(first, x_first, w_first);
    const Tensor g_back = testing::transpose_layout(g_first, DataFormat::kChannelsFirst);
    for (std::int64_t i = 0; i < g_last.size(); ++i)
      ASSERT_EQ(g_back[i], g_last[i]) << "grad_input " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor conveniences check shapes

using testing::contains;

TEST(PoolReferenceOracleTest, TensorForwardRejectsInputThatDoesNotMatchPlan) {
  const PoolPlan plan =
      plan_pooling(testing::windowed_spec(PoolOp::kMax, 2, {2, 2}, {2, 2}), Shape{1, 4, 4, 1});
  for (const PoolBackend backend : {PoolBackend::kReference, PoolBackend::kAuto}) {
    EXPECT_THROW(pool_forward(plan, Tensor(Shape{1, 4, 5, 1}), backend), ShapeError);
    EXPECT_THROW(pool_forward(plan, Tensor(Shape{1, 4, 4, 2}), backend), ShapeError);
    EXPECT_THROW(pool_forward(plan, Tensor(Shape{2, 4, 4, 1}), backend), ShapeError);
    EXPECT_THROW(pool_forward(plan, Tensor(Shape{1, 4, 4}), backend), ShapeError);
    EXPECT_THROW(pool_forward(plan, Tensor(Shape{1, 1, 4, 4}), backend), ShapeError);
    // Same element count, different shape.
    EXPECT_THROW(pool_forward(plan, Tensor(Shape{1, 2, 8, 1}), backend), ShapeError);
    EXPECT_NO_THROW(pool_forward(plan, Tensor(Shape{1, 4, 4, 1}), backend));
  }
  try {
    pool_forward(plan, Tensor(Shape{1, 4, 5, 1}));
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_TRUE(contains(e.what(), "(1, 4, 5, 1)")) << e.what();
    EXPECT_TRUE(contains(e.what(), "(1, 4, 4, 1)")) << e.what();
  }
}

TEST(PoolReferenceOracleTest, TensorBackwardRejectsInputOrGradientThatDoesNotMatchPlan) {
  const PoolSpec spec = testing::windowed_spec(PoolOp::kAverage, 1, {2}, {2}, Padding::kValid,
                                               DataFormat::kChannelsFirst);
  const PoolPlan plan = plan_pooling(spec, Shape{2, 3, 6});
  const Tensor x(Shape{2, 3, 6});
  const Tensor w(Shape{2, 3, 3});
  EXPECT_THROW(pool_backward(plan, Tensor(Shape{2, 3, 7}), w), ShapeError);
  EXPECT_THROW(pool_backward(plan, x, Tensor(Shape{2, 3, 6})), ShapeError);
  EXPECT_THROW(pool_backward(plan, x, Tensor(Shape{2, 3, 4})), ShapeError);
  EXPECT_THROW(pool_backward(plan, x, Tensor(Shape{2, 3, 3, 1})), ShapeError);
  EXPECT_THROW(pool_backward(plan, x, Tensor(Shape{2, 9})), ShapeError);
  const Tensor g = pool_backward(plan, x, w);
  EXPECT_EQ(g.shape(), plan.input_shape);
}

}  // namespace
}  // namespace poolnet
