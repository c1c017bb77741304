// Shape and Tensor: float32, rank 1 to 5, row-major (C order), 64-byte aligned storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace poolnet {

inline constexpr int kMaxRank = 5;

// A tensor shape: 1 to kMaxRank non-negative dimensions. Construction checks the rank, the signs
// and that the element count (and its size in bytes) fits in int64/size_t, so code that holds a
// Shape never has to check again.
class Shape {
 public:
  Shape() = default;  // rank 0: "no shape yet"; a Tensor never has it
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims) : Shape(std::span<const std::int64_t>(dims)) {}

  int rank() const { return rank_; }
  std::int64_t operator[](int axis) const;  // negative axes count from the end, as in NumPy
  std::int64_t elements() const { return elements_; }
  std::span<const std::int64_t> dims() const { return {dims_, static_cast<std::size_t>(rank_)}; }
  std::vector<std::int64_t> to_vector() const { return {dims_, dims_ + rank_}; }

  // "(2, 28, 28, 1)", as Python prints a tuple.
  std::string to_string() const;

  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::int64_t dims_[kMaxRank] = {};
  int rank_ = 0;
  std::int64_t elements_ = 0;
};

// Product of dims, or ShapeError naming the shape when it is negative or overflows int64 / the
// address space for float32 storage.
std::int64_t checked_element_count(std::span<const std::int64_t> dims);

// "(2, 28, 28, 1)" for any list of dims (also ones that are not a valid Shape).
std::string dims_to_string(std::span<const std::int64_t> dims);

// A dense float32 tensor that owns its storage. Copying copies the data; moving is cheap.
class Tensor {
 public:
  static constexpr std::size_t kAlignment = 64;

  Tensor() = default;  // empty, rank 0; only useful as a placeholder to assign to
  explicit Tensor(const Shape& shape, float fill = 0.0f);
  Tensor(const Shape& shape, std::span<const float> values);  // values.size() must match

  Tensor(const Tensor& other);
  Tensor& operator=(const Tensor& other);
  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  std::int64_t dim(int axis) const { return shape_[axis]; }
  std::int64_t size() const { return shape_.elements(); }

  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  std::span<float> values() { return {data_.get(), static_cast<std::size_t>(size())}; }
  std::span<const float> values() const { return {data_.get(), static_cast<std::size_t>(size())}; }

  float& operator[](std::int64_t flat_index) { return data_[flat_index]; }
  float operator[](std::int64_t flat_index) const { return data_[flat_index]; }

  // Element by multi-index, bounds-checked (throws ShapeError); for tests and tools, not kernels.
  float& at(std::initializer_list<std::int64_t> index);
  float at(std::initializer_list<std::int64_t> index) const;

  // Same data, new shape with the same element count (ShapeError otherwise).
  Tensor reshaped(const Shape& new_shape) const&;
  Tensor reshaped(const Shape& new_shape) &&;

  void fill(float value);

  // Gives the tensor `shape` (rank >= 1), keeping its storage when it holds enough floats: the
  // values are then left as they were, for a caller that overwrites them all. Otherwise it
  // allocates (zeros). The training loop's buffers use it so that a steady-state step allocates
  // nothing (a smaller last batch reuses the storage too).
  void resize(const Shape& shape);

 private:
  struct AlignedFree {
    void operator()(float* p) const noexcept;
  };
  std::int64_t flat_index(std::initializer_list<std::int64_t> index) const;

  Shape shape_;
  std::unique_ptr<float[], AlignedFree> data_;
  std::int64_t capacity_ = 0;  // floats allocated at data_ (>= size())
};

}  // namespace poolnet
