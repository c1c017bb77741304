#include "study/shift.hpp"

#include <algorithm>
#include <cstring>

#include "poolnet/error.hpp"

namespace poolnet::study {

const std::array<Direction, 8>& shift_directions() {
  static const std::array<Direction, 8> kDirections = {{{1, 0, "down"},
                                                        {-1, 0, "up"},
                                                        {0, 1, "right"},
                                                        {0, -1, "left"},
                                                        {1, 1, "down-right"},
                                                        {1, -1, "down-left"},
                                                        {-1, 1, "up-right"},
                                                        {-1, -1, "up-left"}}};
  return kDirections;
}

Tensor shift_images(const Tensor& images, int dr, int dc) {
  if (images.rank() != 4) {
    throw ShapeError("shift_images: expected images of shape (count, rows, cols, channels), got " +
                     images.shape().to_string());
  }
  const std::int64_t count = images.dim(0), rows = images.dim(1), cols = images.dim(2),
                     channels = images.dim(3);
  Tensor out(images.shape(), 0.0f);
  // The source columns that land inside the image, as one contiguous run per row.
  const std::int64_t col_begin = std::max<std::int64_t>(0, -dc);
  const std::int64_t col_end = std::min<std::int64_t>(cols, cols - dc);
  if (col_end <= col_begin) return out;
  const std::size_t run = static_cast<std::size_t>((col_end - col_begin) * channels) * sizeof(float);
  for (std::int64_t n = 0; n < count; ++n) {
    const float* src = images.data() + n * rows * cols * channels;
    float* dst = out.data() + n * rows * cols * channels;
    for (std::int64_t r = std::max<std::int64_t>(0, -dr); r < std::min<std::int64_t>(rows, rows - dr); ++r) {
      std::memcpy(dst + ((r + dr) * cols + col_begin + dc) * channels,
                  src + (r * cols + col_begin) * channels, run);
    }
  }
  return out;
}

}  // namespace poolnet::study
