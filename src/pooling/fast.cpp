// One kernel for both layouts: a channels_first tensor (B, C, D, H, W) is a channels_last tensor
// (B * C, D, H, W) with one channel, so both run the channels_last loops below, in which the
// innermost loop runs across channels (contiguous, vectorizable) and the window is clipped per
// output instead of padding copies.
#include "pooling/fast.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace poolnet::fast {
namespace {

// The channels_last view of a plan.
struct View {
  std::int64_t batch;     // independent images
  std::int64_t channels;  // contiguous innermost run
  std::array<AxisGeometry, kMaxSpatialRank> axes;
  std::int64_t in_image, out_image;  // floats per image
};

View view_of(const PoolPlan& plan) {
  View v;
  if (plan.spec.data_format == DataFormat::kChannelsLast) {
    v.batch = plan.batch;
    v.channels = plan.channels;
  } else {
    v.batch = plan.batch * plan.channels;
    v.channels = 1;
  }
  v.axes = plan.axes;
  v.in_image = plan.spatial_in() * v.channels;
  v.out_image = plan.spatial_out() * v.channels;
  return v;
}

// Channel blocks owned by one thread in backward: 16 floats = one cache line, so threads never
// share a line of grad_input.
constexpr std::int64_t kChannelBlock = 16;

// Below this many input floats a parallel region costs more than it saves.
constexpr std::int64_t kMinParallelWork = std::int64_t{1} << 15;

// NaN-propagating max step, identical to the reference: a NaN accumulator stays NaN, a NaN
// input replaces it, otherwise the larger value.
inline float max_step(float acc, float v) { return (acc != acc) ? acc : ((v > acc || v != v) ? v : acc); }

template <typename Fn>
void for_each_window_cell(const View& v, std::int64_t od, std::int64_t oh, std::int64_t ow, Fn&& fn) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const std::int64_t d1 = D.window_end(od), h1 = H.window_end(oh), w1 = W.window_end(ow);
  for (std::int64_t d = D.window_begin(od); d < d1; ++d)
    for (std::int64_t h = H.window_begin(oh); h < h1; ++h)
      for (std::int64_t w = W.window_begin(ow); w < w1; ++w)
        fn(((d * H.in + h) * W.in + w) * v.channels);
}

std::int64_t window_count(const View& v, std::int64_t od, std::int64_t oh, std::int64_t ow) {
  return (v.axes[0].window_end(od) - v.axes[0].window_begin(od)) *
         (v.axes[1].window_end(oh) - v.axes[1].window_begin(oh)) *
         (v.axes[2].window_end(ow) - v.axes[2].window_begin(ow));
}

}  // namespace

void pool_forward(const PoolPlan& plan, const float* input, float* output) {
  const View v = view_of(plan);
  const std::int64_t C = v.channels;
  const std::int64_t OD = v.axes[0].out, OH = v.axes[1].out, OW = v.axes[2].out;
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const std::int64_t rows = v.batch * OD * OH;
#pragma omp parallel if (v.batch * v.in_image >= kMinParallelWork)
  {
    std::vector<double> sums(static_cast<std::size_t>(is_max ? 0 : C));
#pragma omp for schedule(static)
    for (std::int64_t row = 0; row < rows; ++row) {
      const std::int64_t b = row / (OD * OH);
      const std::int64_t od = (row / OH) % OD;
      const std::int64_t oh = row % OH;
      const float* image = input + b * v.in_image;
      float* out_row = output + b * v.out_image + (od * OH + oh) * OW * C;
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        float* out = out_row + ow * C;
        if (is_max) {
          std::fill_n(out, C, -std::numeric_limits<float>::infinity());
          for_each_window_cell(v, od, oh, ow, [&](std::int64_t offset) {
            const float* cell = image + offset;
            for (std::int64_t c = 0; c < C; ++c) out[c] = max_step(out[c], cell[c]);
          });
        } else {
          // Sums in double like the reference, so long (global) windows stay exact.
          std::fill(sums.begin(), sums.end(), 0.0);
          double* s = sums.data();
          for_each_window_cell(v, od, oh, ow, [&](std::int64_t offset) {
            const float* cell = image + offset;
            for (std::int64_t c = 0; c < C; ++c) s[c] += static_cast<double>(cell[c]);
          });
          const double count = static_cast<double>(window_count(v, od, oh, ow));
          for (std::int64_t c = 0; c < C; ++c) out[c] = static_cast<float>(s[c] / count);
        }
      }
    }
  }
}

bool supports_backward(const PoolPlan& plan) {
  return !(plan.spec.global && plan.spec.op == PoolOp::kMax);
}

void pool_backward(const PoolPlan& plan, const float* input, const float* grad_output,
                   float* grad_input) {
  const View v = view_of(plan);
  const std::int64_t C = v.channels;
  const std::int64_t OD = v.axes[0].out, OH = v.axes[1].out, OW = v.axes[2].out;
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const std::int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
  // Each task owns one image and one channel block of grad_input: overlapping windows
  // (stride < pool) accumulate without races or atomics, in a fixed order (deterministic).
#pragma omp parallel for schedule(static) if (v.batch * v.in_image >= kMinParallelWork)
  for (std::int64_t task = 0; task < v.batch * blocks; ++task) {
    const std::int64_t b = task / blocks;
    const std::int64_t c0 = (task % blocks) * kChannelBlock;
    const std::int64_t cn = std::min(kChannelBlock, C - c0);
    const float* image = input + b * v.in_image + c0;
    float* grad_image = grad_input + b * v.in_image + c0;
    const float* grad_out = grad_output + b * v.out_image + c0;
    for (std::int64_t s = 0; s < v.in_image / C; ++s) std::fill_n(grad_image + s * C, cn, 0.0f);

    for (std::int64_t od = 0; od < OD; ++od)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          const float* g = grad_out + ((od * OH + oh) * OW + ow) * C;
          if (is_max) {
            // The first maximum in row-major window order (the first NaN when there is one),
            // found exactly as the reference does.
            float best[kChannelBlock];
            std::int64_t where[kChannelBlock];
            bool first = true;
            for_each_window_cell(v, od, oh, ow, [&](std::int64_t offset) {
              const float* cell = image + offset;
              if (first) {
                for (std::int64_t c = 0; c < cn; ++c) {
                  best[c] = cell[c];
                  where[c] = offset;
                }
                first = false;
                return;
              }
              for (std::int64_t c = 0; c < cn; ++c) {
                const float x = cell[c];
                const bool take = best[c] == best[c] && (x != x || x > best[c]);
                best[c] = take ? x : best[c];
                where[c] = take ? offset : where[c];
              }
            });
            for (std::int64_t c = 0; c < cn; ++c) grad_image[where[c] + c] += g[c];
          } else {
            const float inv = 1.0f / static_cast<float>(window_count(v, od, oh, ow));
            float share[kChannelBlock];
            for (std::int64_t c = 0; c < cn; ++c) share[c] = g[c] * inv;
            for_each_window_cell(v, od, oh, ow, [&](std::int64_t offset) {
              float* cell = grad_image + offset;
              for (std::int64_t c = 0; c < cn; ++c) cell[c] += share[c];
            });
          }
        }
  }
}

}  // namespace poolnet::fast
