#include "pooling/reference.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace poolnet::reference {
namespace {

// Flat offsets of (batch, channel, depth, row, col) in either layout; 1D and 2D plans have
// leading spatial axes of size 1, so the same arithmetic serves every rank.
struct Indexer {
  const PoolPlan& plan;

  std::int64_t input(std::int64_t b, std::int64_t c, std::int64_t d, std::int64_t h,
                     std::int64_t w) const {
    return offset(b, c, d, h, w, plan.axes[0].in, plan.axes[1].in, plan.axes[2].in);
  }
  std::int64_t output(std::int64_t b, std::int64_t c, std::int64_t d, std::int64_t h,
                      std::int64_t w) const {
    return offset(b, c, d, h, w, plan.axes[0].out, plan.axes[1].out, plan.axes[2].out);
  }

 private:
  std::int64_t offset(std::int64_t b, std::int64_t c, std::int64_t d, std::int64_t h,
                      std::int64_t w, std::int64_t depth, std::int64_t rows,
                      std::int64_t cols) const {
    const std::int64_t channels = plan.channels;
    if (plan.spec.data_format == DataFormat::kChannelsLast) {
      return (((b * depth + d) * rows + h) * cols + w) * channels + c;
    }
    return (((b * channels + c) * depth + d) * rows + h) * cols + w;
  }
};

// Calls fn(b, c, od, oh, ow) for every output position, in output order of the layout-free
// (batch, channel, depth, row, col) nest.
template <typename Fn>
void for_each_output(const PoolPlan& plan, Fn&& fn) {
  for (std::int64_t b = 0; b < plan.batch; ++b)
    for (std::int64_t c = 0; c < plan.channels; ++c)
      for (std::int64_t od = 0; od < plan.axes[0].out; ++od)
        for (std::int64_t oh = 0; oh < plan.axes[1].out; ++oh)
          for (std::int64_t ow = 0; ow < plan.axes[2].out; ++ow) fn(b, c, od, oh, ow);
}

// Calls fn(input offset) for the real cells of one window, in row-major window order
// (increasing depth, then row, then col). Padding cells are never visited.
template <typename Fn>
void for_each_window_cell(const PoolPlan& plan, const Indexer& index, std::int64_t b,
                          std::int64_t c, std::int64_t od, std::int64_t oh, std::int64_t ow,
                          Fn&& fn) {
  const AxisGeometry& D = plan.axes[0];
  const AxisGeometry& H = plan.axes[1];
  const AxisGeometry& W = plan.axes[2];
  for (std::int64_t d = D.window_begin(od); d < D.window_end(od); ++d)
    for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h)
      for (std::int64_t w = W.window_begin(ow); w < W.window_end(ow); ++w)
        fn(index.input(b, c, d, h, w));
}

// The maximum of a window under poolnet's rules: NaN if any cell is NaN, else the largest value
// (-inf ordering as IEEE). `first` is the first cell holding it in row-major window order: the
// first NaN when there is one, otherwise the first maximum (the first cell for all -inf).
struct WindowMax {
  float value = -std::numeric_limits<float>::infinity();
  std::int64_t first = -1;
  bool has_nan = false;
};

template <typename VisitWindow>
WindowMax window_max(const float* input, VisitWindow&& visit) {
  WindowMax m;
  std::int64_t first_max = -1;
  std::int64_t first_nan = -1;
  visit([&](std::int64_t i) {
    const float v = input[i];
    if (std::isnan(v)) {
      if (first_nan < 0) first_nan = i;
    } else if (first_max < 0 || v > m.value) {
      m.value = v;
      first_max = i;
    }
  });
  m.has_nan = first_nan >= 0;
  if (m.has_nan) m.value = std::numeric_limits<float>::quiet_NaN();
  m.first = m.has_nan ? first_nan : first_max;
  return m;
}

}  // namespace

void pool_forward(const PoolPlan& plan, const float* input, float* output) {
  const Indexer index{plan};
  for_each_output(plan, [&](std::int64_t b, std::int64_t c, std::int64_t od, std::int64_t oh,
                            std::int64_t ow) {
    auto visit = [&](auto&& fn) { for_each_window_cell(plan, index, b, c, od, oh, ow, fn); };
    float result;
    if (plan.spec.op == PoolOp::kMax) {
      result = window_max(input, visit).value;
    } else {
      // Average of the real cells only: padding is neither summed nor counted.
      double sum = 0.0;
      std::int64_t count = 0;
      visit([&](std::int64_t i) {
        sum += input[i];
        ++count;
      });
      result = static_cast<float>(sum / static_cast<double>(count));
    }
    output[index.output(b, c, od, oh, ow)] = result;
  });
}

void pool_backward(const PoolPlan& plan, const float* input, const float* grad_output,
                   float* grad_input) {
  const Indexer index{plan};
  // Accumulate in double so overlapping windows sum exactly enough to be an oracle.
  std::vector<double> grad(static_cast<std::size_t>(plan.input_shape.elements()), 0.0);

  for_each_output(plan, [&](std::int64_t b, std::int64_t c, std::int64_t od, std::int64_t oh,
                            std::int64_t ow) {
    auto visit = [&](auto&& fn) { for_each_window_cell(plan, index, b, c, od, oh, ow, fn); };
    const double w = grad_output[index.output(b, c, od, oh, ow)];

    if (plan.spec.op == PoolOp::kAverage) {
      std::int64_t count = 0;
      visit([&](std::int64_t) { ++count; });
      const double share = w / static_cast<double>(count);
      visit([&](std::int64_t i) { grad[i] += share; });
    } else if (!plan.spec.global) {
      // Windowed max: the whole upstream value goes to the first maximum (SEMANTICS.md 4).
      grad[window_max(input, visit).first] += w;
    } else {
      // Global max: split evenly among all cells equal to the maximum (SEMANTICS.md 6), or
      // among the NaN cells when the slice holds NaN (the NaN is what propagated).
      const WindowMax m = window_max(input, visit);
      auto is_winner = [&](std::int64_t i) {
        return m.has_nan ? std::isnan(input[i]) : input[i] == m.value;
      };
      std::int64_t winners = 0;
      visit([&](std::int64_t i) { winners += is_winner(i) ? 1 : 0; });
      const double share = w / static_cast<double>(winners);
      visit([&](std::int64_t i) {
        if (is_winner(i)) grad[i] += share;
      });
    }
  });

  for (std::size_t i = 0; i < grad.size(); ++i) grad_input[i] = static_cast<float>(grad[i]);
}

}  // namespace poolnet::reference
