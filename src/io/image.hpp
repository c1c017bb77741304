// Grayscale images for `poolnet predict`: PNG (libpng, any color type/bit depth, converted to
// 8-bit gray) and PGM (P2 ASCII and P5 binary, maxval 1-65535).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "poolnet/tensor.hpp"

namespace poolnet::io {

inline constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 26;

// (rows, cols) gray values in [0, 1]. FormatError naming the file for anything malformed,
// truncated, or larger than kMaxImagePixels. The format is detected from the content.
Tensor read_gray_image(const std::string& path);
// The same on bytes in memory (fuzzing, tests); `source` names them in errors.
Tensor read_gray_image_bytes(std::string_view bytes, const std::string& source);

// Area-average (box) resize of a (rows, cols) image to (out_rows, out_cols); bilinear when
// enlarging.
Tensor resize_gray(const Tensor& image, std::int64_t out_rows, std::int64_t out_cols);

// Writes an 8-bit gray PNG atomically (temporary file, then rename); values clamped to [0, 1].
void write_gray_png(const std::string& path, const Tensor& image);

}  // namespace poolnet::io
