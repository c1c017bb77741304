// Translating images by whole pixels with zero fill: the transform behind the study's
// translation-robustness sweep.
#pragma once

#include <array>
#include <string>

#include "poolnet/tensor.hpp"

namespace poolnet::study {

// A unit step: rows (+1 = down) and columns (+1 = right).
struct Direction {
  int rows = 0;
  int cols = 0;
  const char* name = "";  // "down", "up-right", ...
};

// The 4 axis directions, then the 4 diagonals. A diagonal shift by s moves s rows AND s columns.
const std::array<Direction, 8>& shift_directions();

// images (count, rows, cols, channels) moved by (dr, dc) pixels: out[r][c] = in[r - dr][c - dc]
// where that is inside the image, 0 elsewhere. ShapeError for another rank.
Tensor shift_images(const Tensor& images, int dr, int dc);

}  // namespace poolnet::study
