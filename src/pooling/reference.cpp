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

// The argmax as a window index: the cell's offsets from the unclipped window origin, row-major
// over the full window.
namespace {

struct WindowOrigin {
  std::int64_t d, h, w;
};

WindowOrigin origin_of(const PoolPlan& plan, std::int64_t od, std::int64_t oh, std::int64_t ow) {
  const auto start = [](const AxisGeometry& a, std::int64_t j) { return j * a.stride - a.pad_before; };
  return {start(plan.axes[0], od), start(plan.axes[1], oh), start(plan.axes[2], ow)};
}

void store_index(std::uint8_t* argmax, std::size_t bytes, std::int64_t element, std::uint32_t index) {
  for (std::size_t k = 0; k < bytes; ++k)
    argmax[static_cast<std::size_t>(element) * bytes + k] = static_cast<std::uint8_t>(index >> (8 * k));
}

std::uint32_t load_index(const std::uint8_t* argmax, std::size_t bytes, std::int64_t element) {
  std::uint32_t index = 0;
  for (std::size_t k = 0; k < bytes; ++k)
    index |= static_cast<std::uint32_t>(argmax[static_cast<std::size_t>(element) * bytes + k]) << (8 * k);
  return index;
}

}  // namespace

void pool_forward_argmax(const PoolPlan& plan, const float* input, float* output, std::uint8_t* argmax) {
  const Indexer index{plan};
  const std::size_t bytes = argmax_bytes(plan);
  const AxisGeometry& D = plan.axes[0];
  const AxisGeometry& H = plan.axes[1];
  const AxisGeometry& W = plan.axes[2];
  for_each_output(plan, [&](std::int64_t b, std::int64_t c, std::int64_t od, std::int64_t oh,
                            std::int64_t ow) {
    auto visit = [&](auto&& fn) { for_each_window_cell(plan, index, b, c, od, oh, ow, fn); };
    const WindowMax m = window_max(input, visit);
    // Find the window coordinates of the selected cell.
    const WindowOrigin o = origin_of(plan, od, oh, ow);
    std::uint32_t selected = 0;
    for (std::int64_t d = D.window_begin(od); d < D.window_end(od); ++d)
      for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h)
        for (std::int64_t w = W.window_begin(ow); w < W.window_end(ow); ++w)
          if (index.input(b, c, d, h, w) == m.first)
            selected = static_cast<std::uint32_t>(((d - o.d) * H.window + (h - o.h)) * W.window + (w - o.w));
    const std::int64_t out = index.output(b, c, od, oh, ow);
    output[out] = m.value;
    store_index(argmax, bytes, out, selected);
  });
}

void pool_backward_argmax(const PoolPlan& plan, const std::uint8_t* argmax, const float* grad_output,
                          float* grad_input) {
  const Indexer index{plan};
  const std::size_t bytes = argmax_bytes(plan);
  const AxisGeometry& H = plan.axes[1];
  const AxisGeometry& W = plan.axes[2];
  std::vector<double> grad(static_cast<std::size_t>(plan.input_shape.elements()), 0.0);
  for_each_output(plan, [&](std::int64_t b, std::int64_t c, std::int64_t od, std::int64_t oh,
                            std::int64_t ow) {
    const std::int64_t out = index.output(b, c, od, oh, ow);
    const auto selected = static_cast<std::int64_t>(load_index(argmax, bytes, out));
    const WindowOrigin o = origin_of(plan, od, oh, ow);
    const std::int64_t kd = selected / (H.window * W.window);
    const std::int64_t kh = selected / W.window % H.window;
    const std::int64_t kw = selected % W.window;
    grad[static_cast<std::size_t>(index.input(b, c, o.d + kd, o.h + kh, o.w + kw))] += grad_output[out];
  });
  for (std::size_t i = 0; i < grad.size(); ++i) grad_input[i] = static_cast<float>(grad[i]);
}

}  // namespace poolnet::reference
