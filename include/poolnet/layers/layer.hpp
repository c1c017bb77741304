// The layer interface shared by every Keras layer poolnet implements.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "poolnet/random.hpp"
#include "poolnet/tensor.hpp"

namespace poolnet {

// A weight of a layer and its gradient. backward_train() ADDS into `grad`; the model zeroes it
// before each step.
struct Parameter {
  std::string name;  // Keras's weight name: "kernel", "bias"
  Tensor value;
  Tensor grad;       // same shape as value
  bool trainable = true;
};

// A layer computes forward (inference) and backward (input gradient) as const, thread-safe
// functions. Layers with weights or training-only behaviour (Dropout) also implement
// build() and the *_train() pair that a model's training loop uses.
class Layer {
 public:
  virtual ~Layer() = default;

  // Keras class name, e.g. "MaxPooling2D".
  virtual std::string_view class_name() const = 0;

  // Layer name as in Keras ("max_pooling2d" unless set).
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

  // Output shape (batch included) for an input shape, or the exception forward() would throw.
  virtual Shape compute_output_shape(const Shape& input_shape) const = 0;

  // Stateless layers are safe to call from several threads at once.
  virtual Tensor forward(const Tensor& input) const = 0;

  // forward() into a caller-owned tensor (resized with Tensor::resize, so that predict and
  // evaluate reuse one buffer per layer across batches). Const and thread-safe like forward();
  // `output` must not alias `input`. The default calls forward().
  virtual void forward_into(const Tensor& input, Tensor& output) const { output = forward(input); }

  // Gradient of sum(forward(input) * grad_output) with respect to input.
  virtual Tensor backward(const Tensor& input, const Tensor& grad_output) const = 0;

  // The Keras config (the object under "config" in model.to_json()).
  virtual nlohmann::json get_config() const = 0;

  // Creates the weights for an input shape (batch included; its value does not matter) with
  // Keras's default initialisers, drawing from `rng`. Layers without weights only check the
  // shape. Calling it again with the same shape keeps the weights.
  virtual void build(const Shape& input_shape, Rng& rng) { (void)compute_output_shape(input_shape); (void)rng; }

  // ---- Training ----------------------------------------------------------------------------
  // The training loop keeps one output and one input-gradient tensor per layer and passes them
  // back at every step; a layer writes into them with Tensor::resize(), which allocates only
  // when a tensor has to grow. Layers keep their own scratch between steps the same way, so a
  // steady-state training step performs no heap allocation (tests/model check this).

  // Training forward: like forward(), but may behave differently in training (Dropout) and
  // remember what backward_train() needs. Writes the whole of `output` (resized to
  // compute_output_shape(input.shape())). `output` must not alias `input`.
  void forward_train(const Tensor& input, Tensor& output, Rng& rng) {
    forward_train_into(input, output, rng);
  }

  // Training backward for the last forward_train(input) -> output: adds the parameter gradients
  // to parameters()[i]->grad and, when grad_input is not null, writes the input gradient into
  // it (resized to input.shape()). The model passes null for its first layer, whose input
  // gradient nobody reads (a convolution then skips its whole col2im pass).
  void backward_train(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                      Tensor* grad_input) {
    backward_train_into(input, output, grad_output, grad_input);
  }

  // Allocating conveniences for tests and tools: the same calls with fresh result tensors.
  Tensor forward_train(const Tensor& input, Rng& rng);
  Tensor backward_train(const Tensor& input, const Tensor& output, const Tensor& grad_output);

  // The weights, in Keras's order (kernel, then bias). Empty for layers without weights.
  virtual std::vector<Parameter*> parameters() { return {}; }
  std::vector<const Parameter*> parameters() const;
  std::int64_t count_params() const;            // all weights
  std::int64_t count_trainable_params() const;  // weights with trainable = true

 protected:
  explicit Layer(std::string name) : name_(std::move(name)) {}

  // What forward_train/backward_train run. The defaults serve layers that behave the same in
  // training and have no weights; they allocate (forward()/backward() return new tensors), so
  // every layer in the tree overrides them.
  virtual void forward_train_into(const Tensor& input, Tensor& output, Rng& rng) {
    (void)rng;
    output = forward(input);
  }
  virtual void backward_train_into(const Tensor& input, const Tensor& output,
                                   const Tensor& grad_output, Tensor* grad_input) {
    (void)output;
    if (grad_input != nullptr) *grad_input = backward(input, grad_output);
  }

 private:
  std::string name_;
};

// "MaxPooling2D" -> "max_pooling2d", Keras's default layer name.
std::string keras_default_name(std::string_view class_name);

// Limits that keep a model file or Keras JSON from asking for an absurd allocation: one weight
// tensor (VGG16's largest, 25088 x 4096, has 1.0e8 elements) and a whole model.
inline constexpr std::int64_t kMaxWeightElements = std::int64_t{1} << 27;
inline constexpr std::int64_t kMaxModelParameters = std::int64_t{1} << 28;
// One layer's output for one sample (ImageNet's 224 x 224 x 64 is 3.2e6 elements).
inline constexpr std::int64_t kMaxSampleActivationElements = std::int64_t{1} << 26;

// ShapeError "<layer>: <weight> of shape S would have N elements, more than the limit of M"; call
// before allocating the weight.
void check_weight_shape(std::string_view layer, std::string_view weight, const Shape& shape);

}  // namespace poolnet
