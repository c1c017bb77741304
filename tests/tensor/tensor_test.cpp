#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "poolnet/error.hpp"
#include "poolnet/random.hpp"
#include "poolnet/tensor.hpp"

namespace poolnet {
namespace {

TEST(Shape, CountsElementsAndPrintsLikePython) {
  const Shape s{2, 28, 28, 1};
  EXPECT_EQ(s.rank(), 4);
  EXPECT_EQ(s.elements(), 2 * 28 * 28);
  EXPECT_EQ(s[-1], 1);
  EXPECT_EQ(s.to_string(), "(2, 28, 28, 1)");
  EXPECT_EQ(Shape{5}.to_string(), "(5,)");
}

TEST(Shape, RejectsBadRankNegativeDimsAndOverflow) {
  EXPECT_THROW((Shape{1, 2, 3, 4, 5, 6}), ShapeError);
  EXPECT_THROW((Shape{2, -1}), ShapeError);
  const std::int64_t big = std::int64_t{1} << 40;
  EXPECT_THROW((Shape{big, big}), ShapeError);
  EXPECT_THROW((Shape{std::numeric_limits<std::int64_t>::max(), 2}), ShapeError);
  EXPECT_EQ((Shape{0, 3}).elements(), 0);
  EXPECT_THROW(Shape{3}[1], ShapeError);
}

TEST(Shape, OverflowMessageNamesTheShape) {
  const std::int64_t big = std::int64_t{1} << 40;
  try {
    Shape{big, big};
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(1099511627776, 1099511627776)"), std::string::npos)
        << e.what();
  }
}

TEST(Tensor, IsAlignedZeroFilledAndDeepCopied) {
  Tensor t(Shape{3, 5});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % Tensor::kAlignment, 0u);
  for (float v : t.values()) EXPECT_EQ(v, 0.0f);
  t.at({1, 2}) = 7.0f;
  EXPECT_EQ(t[1 * 5 + 2], 7.0f);
  Tensor copy = t;
  copy.at({1, 2}) = 1.0f;
  EXPECT_EQ(t.at({1, 2}), 7.0f);
  EXPECT_THROW(t.at({3, 0}), ShapeError);
  EXPECT_THROW(t.at({0}), ShapeError);
}

TEST(Tensor, ChecksValueCountAndReshape) {
  const float v[] = {1, 2, 3, 4, 5, 6};
  EXPECT_THROW(Tensor(Shape{2, 2}, v), ShapeError);
  const Tensor t(Shape{2, 3}, v);
  const Tensor r = t.reshaped(Shape{3, 2});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.at({2, 1}), 6.0f);
  EXPECT_THROW(t.reshaped(Shape{4}), ShapeError);
}

TEST(Tensor, EmptyTensorsAreValid) {
  Tensor t(Shape{0, 4});
  EXPECT_EQ(t.size(), 0);
  EXPECT_NE(t.data(), nullptr);
  Tensor copy = t;
  EXPECT_EQ(copy.size(), 0);
}

TEST(Tensor, ResizeKeepsStorageWhenItFits) {
  Tensor t(Shape{4, 8});
  float* storage = t.data();
  t[0] = 3.0f;
  t.resize(Shape{2, 8});  // smaller: same storage, values kept
  EXPECT_EQ(t.shape(), (Shape{2, 8}));
  EXPECT_EQ(t.data(), storage);
  EXPECT_EQ(t[0], 3.0f);
  t.resize(Shape{4, 8});  // back to the capacity: still the same storage
  EXPECT_EQ(t.data(), storage);
  t.resize(Shape{5, 8});  // larger: new, zeroed, aligned storage
  EXPECT_EQ(t.shape(), (Shape{5, 8}));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % Tensor::kAlignment, 0u);
  for (float v : t.values()) EXPECT_EQ(v, 0.0f);
  Tensor empty;
  empty.resize(Shape{3});
  EXPECT_EQ(empty.size(), 3);
  EXPECT_THROW(empty.resize(Shape()), ShapeError);
  // A moved-from tensor is empty and can be resized again.
  Tensor moved = std::move(t);
  EXPECT_EQ(moved.shape(), (Shape{5, 8}));
  EXPECT_EQ(t.rank(), 0);  // NOLINT(bugprone-use-after-move): the documented moved-from state
  t.resize(Shape{2});
  EXPECT_EQ(t.size(), 2);
}

TEST(Rng, FillDrawsTheNextU64Sequence) {
  Rng a(42), b(42);
  std::vector<std::uint64_t> bulk(37);
  a.fill(bulk);
  for (std::size_t i = 0; i < bulk.size(); ++i) EXPECT_EQ(bulk[i], b.next_u64()) << i;
  EXPECT_EQ(a.next_u64(), b.next_u64());  // and leaves the same state
}

}  // namespace
}  // namespace poolnet
