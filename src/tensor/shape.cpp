#include <limits>
#include <sstream>

#include "poolnet/error.hpp"
#include "poolnet/tensor.hpp"

namespace poolnet {

std::string dims_to_string(std::span<const std::int64_t> dims) {
  std::ostringstream out;
  out << '(';
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) out << ", ";
    out << dims[i];
  }
  if (dims.size() == 1) out << ',';  // Python's one-element tuple
  out << ')';
  return out.str();
}

std::int64_t checked_element_count(std::span<const std::int64_t> dims) {
  // Storage is float32 addressed with size_t bytes, and flat indices are int64.
  constexpr std::int64_t kMaxElements =
      std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(sizeof(float));
  std::int64_t count = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) {
      throw ShapeError("shape " + dims_to_string(dims) + ": dimension " + std::to_string(i) +
                       " is negative (" + std::to_string(dims[i]) + ")");
    }
    if (dims[i] != 0 && count > kMaxElements / dims[i]) {
      throw ShapeError("shape " + dims_to_string(dims) +
                       ": element count overflows (more than " + std::to_string(kMaxElements) +
                       " float32 elements)");
    }
    count *= dims[i];
  }
  return count;
}

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.empty() || dims.size() > static_cast<std::size_t>(kMaxRank)) {
    throw ShapeError("shape " + dims_to_string(dims) + ": rank " + std::to_string(dims.size()) +
                     " is not supported (tensors have rank 1 to " + std::to_string(kMaxRank) +
                     ")");
  }
  elements_ = checked_element_count(dims);
  rank_ = static_cast<int>(dims.size());
  for (int i = 0; i < rank_; ++i) dims_[i] = dims[i];
}

std::int64_t Shape::operator[](int axis) const {
  const int resolved = axis < 0 ? axis + rank_ : axis;
  if (resolved < 0 || resolved >= rank_) {
    throw ShapeError("axis " + std::to_string(axis) + " is out of range for shape " + to_string());
  }
  return dims_[resolved];
}

std::string Shape::to_string() const { return dims_to_string(dims()); }

bool operator==(const Shape& a, const Shape& b) {
  if (a.rank_ != b.rank_) return false;
  for (int i = 0; i < a.rank_; ++i)
    if (a.dims_[i] != b.dims_[i]) return false;
  return true;
}

}  // namespace poolnet
