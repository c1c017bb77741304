#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "poolnet/error.hpp"
#include "poolnet/tensor.hpp"

namespace poolnet {
namespace {

// Through the aligned operator new (not aligned_alloc) so that every allocation in poolnet,
// tensors included, goes through one replaceable function: tests count them there.
float* allocate_aligned(std::int64_t elements) {
  // Never allocate 0 bytes, so that an empty tensor still has a valid, unique pointer.
  const std::size_t bytes = static_cast<std::size_t>(std::max<std::int64_t>(elements, 1)) * sizeof(float);
  return static_cast<float*>(::operator new(bytes, std::align_val_t{Tensor::kAlignment}));
}

}  // namespace

void Tensor::AlignedFree::operator()(float* p) const noexcept {
  ::operator delete(p, std::align_val_t{Tensor::kAlignment});
}

Tensor::Tensor(Tensor&& other) noexcept
    : shape_(other.shape_), data_(std::move(other.data_)), capacity_(other.capacity_) {
  other.shape_ = Shape();
  other.capacity_ = 0;
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this != &other) {
    shape_ = other.shape_;
    data_ = std::move(other.data_);
    capacity_ = other.capacity_;
    other.shape_ = Shape();
    other.capacity_ = 0;
  }
  return *this;
}

void Tensor::resize(const Shape& shape) {
  if (shape.rank() == 0) throw ShapeError("a tensor needs a shape of rank 1 to 5, got ()");
  if (data_ && shape.elements() <= capacity_) {
    shape_ = shape;
    return;
  }
  *this = Tensor(shape);
}

Tensor::Tensor(const Shape& shape, float fill_value) : shape_(shape) {
  if (shape.rank() == 0) throw ShapeError("a tensor needs a shape of rank 1 to 5, got ()");
  data_.reset(allocate_aligned(shape.elements()));
  capacity_ = shape.elements();
  fill(fill_value);
}

Tensor::Tensor(const Shape& shape, std::span<const float> values) : shape_(shape) {
  if (shape.rank() == 0) throw ShapeError("a tensor needs a shape of rank 1 to 5, got ()");
  if (static_cast<std::int64_t>(values.size()) != shape.elements()) {
    throw ShapeError("tensor of shape " + shape.to_string() + " needs " +
                     std::to_string(shape.elements()) + " values, got " +
                     std::to_string(values.size()));
  }
  data_.reset(allocate_aligned(shape.elements()));
  capacity_ = shape.elements();
  std::copy(values.begin(), values.end(), data_.get());
}

Tensor::Tensor(const Tensor& other) : shape_(other.shape_) {
  if (other.data_) {
    data_.reset(allocate_aligned(other.size()));
    capacity_ = other.size();
    std::copy_n(other.data_.get(), other.size(), data_.get());
  }
}

Tensor& Tensor::operator=(const Tensor& other) {
  if (this != &other) {
    Tensor copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void Tensor::fill(float value) {
  if (data_) std::fill_n(data_.get(), size(), value);
}

std::int64_t Tensor::flat_index(std::initializer_list<std::int64_t> index) const {
  if (static_cast<int>(index.size()) != rank()) {
    throw ShapeError("index " + dims_to_string(std::span<const std::int64_t>(index.begin(), index.size())) +
                     " has " + std::to_string(index.size()) + " entries for a tensor of shape " +
                     shape_.to_string());
  }
  std::int64_t flat = 0;
  int axis = 0;
  for (std::int64_t i : index) {
    if (i < 0 || i >= shape_[axis]) {
      throw ShapeError("index " + dims_to_string(std::span<const std::int64_t>(index.begin(), index.size())) +
                       " is out of bounds for a tensor of shape " + shape_.to_string());
    }
    flat = flat * shape_[axis] + i;
    ++axis;
  }
  return flat;
}

float& Tensor::at(std::initializer_list<std::int64_t> index) { return data_[flat_index(index)]; }
float Tensor::at(std::initializer_list<std::int64_t> index) const { return data_[flat_index(index)]; }

Tensor Tensor::reshaped(const Shape& new_shape) const& {
  Tensor copy(*this);
  return std::move(copy).reshaped(new_shape);
}

Tensor Tensor::reshaped(const Shape& new_shape) && {
  if (new_shape.elements() != size() || new_shape.rank() == 0) {
    throw ShapeError("cannot reshape a tensor of shape " + shape_.to_string() + " (" +
                     std::to_string(size()) + " elements) to " + new_shape.to_string());
  }
  shape_ = new_shape;
  return std::move(*this);
}

}  // namespace poolnet
