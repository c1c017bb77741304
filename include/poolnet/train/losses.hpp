// Keras losses, reduced as Keras's default "sum_over_batch_size" (the mean over the batch).
#pragma once

#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "poolnet/tensor.hpp"

namespace poolnet {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string_view name() const = 0;  // Keras name, e.g. "sparse_categorical_crossentropy"

  // Mean loss over the batch. y_pred: (batch, ...); y_true: labels as floats, shape (batch,) for
  // sparse losses (class indices), else y_pred's shape. ShapeError for mismatched shapes,
  // ArgumentError for a label outside [0, classes).
  virtual double value(const Tensor& y_pred, const Tensor& y_true) const = 0;
  // d value / d y_pred (same shape as y_pred).
  Tensor gradient(const Tensor& y_pred, const Tensor& y_true) const {
    Tensor grad;
    gradient_into(y_pred, y_true, grad);
    return grad;
  }
  // The same into `grad`, resized with Tensor::resize (the training loop reuses it every step).
  virtual void gradient_into(const Tensor& y_pred, const Tensor& y_true, Tensor& grad) const = 0;

  // Whether labels are class indices (sparse) or one per output (dense).
  virtual bool sparse_labels() const = 0;
  virtual nlohmann::json get_config() const = 0;
};

// "sparse_categorical_crossentropy", "categorical_crossentropy" (from_logits as in Keras:
// false means y_pred are probabilities, clipped to [1e-7, 1 - 1e-7] like Keras's backend),
// "mean_squared_error" / "mse". ArgumentError for an unknown name (listing the known ones).
std::unique_ptr<Loss> make_loss(std::string_view name, bool from_logits = false);

// Fraction of rows whose argmax (first on ties) equals the label (sparse) or the argmax of
// y_true (dense). Returns the count of correct rows; divide by batch for accuracy.
std::int64_t count_correct(const Tensor& y_pred, const Tensor& y_true, bool sparse_labels);

}  // namespace poolnet
