// Helpers shared by the tests: random tensors and layout transposes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "poolnet/pooling.hpp"
#include "poolnet/tensor.hpp"

namespace poolnet::testing {

// Uniform values in [lo, hi), reproducible from `seed`.
inline Tensor random_tensor(const Shape& shape, std::uint32_t seed, float lo = -1.0f,
                            float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(shape);
  for (float& v : t.values()) v = dist(rng);
  return t;
}

// Distinct values (a random permutation of 0..n-1, scaled), so max pooling has no ties and
// finite differences never cross a tie.
inline Tensor random_distinct_tensor(const Shape& shape, std::uint32_t seed, float scale = 0.01f) {
  std::vector<float> values(static_cast<std::size_t>(shape.elements()));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * scale;
  std::mt19937 rng(seed);
  std::shuffle(values.begin(), values.end(), rng);
  for (float& v : values) v -= static_cast<float>(values.size()) * scale / 2;
  return Tensor(shape, values);
}

// (batch, s1..sn, channels) <-> (batch, channels, s1..sn) for a rank n+2 tensor.
inline Tensor transpose_layout(const Tensor& t, DataFormat from) {
  const int rank = t.rank();
  const std::int64_t batch = t.dim(0);
  const std::int64_t channels = from == DataFormat::kChannelsLast ? t.dim(-1) : t.dim(1);
  std::int64_t spatial = 1;
  std::vector<std::int64_t> dims{batch};
  if (from == DataFormat::kChannelsLast) {
    dims.push_back(channels);
    for (int i = 1; i < rank - 1; ++i) {
      dims.push_back(t.dim(i));
      spatial *= t.dim(i);
    }
  } else {
    for (int i = 2; i < rank; ++i) {
      dims.push_back(t.dim(i));
      spatial *= t.dim(i);
    }
    dims.push_back(channels);
  }
  Tensor out{Shape(dims)};
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t s = 0; s < spatial; ++s)
      for (std::int64_t c = 0; c < channels; ++c) {
        const std::int64_t last = (b * spatial + s) * channels + c;
        const std::int64_t first = (b * channels + c) * spatial + s;
        if (from == DataFormat::kChannelsLast) {
          out[first] = t[last];
        } else {
          out[last] = t[first];
        }
      }
  return out;
}

}  // namespace poolnet::testing
