// The shift transform of the study's robustness sweep: every pixel moves exactly, vacated pixels
// are zero, nothing else changes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "study/shift.hpp"
#include "test_util.hpp"

namespace poolnet::study {
namespace {

TEST(ShiftImages, EveryPixelMovesExactlyAndVacatedPixelsAreZero) {
  // Distinct non-zero values (1, 2, 3, ...) in 2 images of 7x5 with 2 channels, so any misplaced
  // or lost value shows.
  const Shape shape{2, 7, 5, 2};
  Tensor images(shape);
  for (std::int64_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>(i + 1);
  for (int dr = -8; dr <= 8; ++dr) {
    for (int dc = -6; dc <= 6; ++dc) {
      SCOPED_TRACE("dr " + std::to_string(dr) + ", dc " + std::to_string(dc));
      const Tensor shifted = shift_images(images, dr, dc);
      ASSERT_EQ(shifted.shape(), shape);
      for (std::int64_t n = 0; n < 2; ++n)
        for (std::int64_t r = 0; r < 7; ++r)
          for (std::int64_t c = 0; c < 5; ++c)
            for (std::int64_t ch = 0; ch < 2; ++ch) {
              const std::int64_t sr = r - dr, sc = c - dc;
              const bool inside = sr >= 0 && sr < 7 && sc >= 0 && sc < 5;
              const float expected = inside ? images.at({n, sr, sc, ch}) : 0.0f;
              ASSERT_EQ(shifted.at({n, r, c, ch}), expected) << "at " << n << "," << r << "," << c << "," << ch;
            }
    }
  }
}

TEST(ShiftImages, ABrightPixelLandsWhereTheDirectionSays) {
  Tensor image(Shape{1, 28, 28, 1});
  image.at({0, 10, 12, 0}) = 1.0f;
  for (const Direction& d : shift_directions()) {
    for (int s = 1; s <= 6; ++s) {
      const Tensor shifted = shift_images(image, s * d.rows, s * d.cols);
      EXPECT_EQ(shifted.at({0, 10 + s * d.rows, 12 + s * d.cols, 0}), 1.0f) << d.name << " " << s;
      double sum = 0.0;
      for (float v : shifted.values()) sum += v;
      EXPECT_EQ(sum, 1.0) << d.name << " " << s;
    }
  }
}

TEST(ShiftImages, DirectionsAreTheFourAxesAndTheFourDiagonals) {
  std::set<std::pair<int, int>> seen;
  int diagonals = 0;
  for (const Direction& d : shift_directions()) {
    EXPECT_TRUE(std::abs(d.rows) <= 1 && std::abs(d.cols) <= 1 && (d.rows != 0 || d.cols != 0)) << d.name;
    seen.insert({d.rows, d.cols});
    diagonals += d.rows != 0 && d.cols != 0;
  }
  EXPECT_EQ(seen.size(), 8u);
  EXPECT_EQ(diagonals, 4);
}

TEST(ShiftImages, ZeroShiftIsACopyAndAWrongRankIsAShapeError) {
  const Tensor images = testing::random_tensor(Shape{3, 4, 4, 1}, 7);
  const Tensor same = shift_images(images, 0, 0);
  for (std::int64_t i = 0; i < images.size(); ++i) EXPECT_EQ(same[i], images[i]);
  testing::expect_throws<ShapeError>([] { (void)shift_images(Tensor(Shape{4, 4}), 1, 0); },
                                     {"shift_images", "(4, 4)"});
}

}  // namespace
}  // namespace poolnet::study
