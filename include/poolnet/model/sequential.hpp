// Keras's Sequential model: a stack of layers with compile / fit / evaluate / predict, a Keras-like
// summary, and Keras's JSON architecture (model.to_json()).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "poolnet/layers/layer.hpp"
#include "poolnet/random.hpp"
#include "poolnet/train/losses.hpp"
#include "poolnet/train/optimizers.hpp"

namespace poolnet {

// How fit() reports progress.
enum class Verbosity {
  kSilent,
  kAuto,     // a bar updated in place on a terminal, one line per epoch otherwise
  kBar,      // always the in-place bar
  kPerEpoch  // one plain line per epoch
};

struct EpochLogs {
  int epoch = 0;  // 1-based
  double loss = 0.0;
  double accuracy = 0.0;
  std::optional<double> val_loss;
  std::optional<double> val_accuracy;
  double seconds = 0.0;
};

struct FitOptions {
  std::int64_t batch_size = 32;
  int epochs = 1;
  // Keras: the LAST fraction of x/y (before shuffling) is held out for validation.
  double validation_split = 0.0;
  const Tensor* validation_x = nullptr;  // explicit validation data (overrides the split)
  const Tensor* validation_y = nullptr;
  bool shuffle = true;
  std::uint64_t seed = 0;  // shuffling and dropout; a fixed seed and thread count give identical weights
  Verbosity verbosity = Verbosity::kAuto;
  std::ostream* out = nullptr;  // progress stream; nullptr = std::cout
  int initial_epoch = 0;        // epochs already done (resuming)
  // Called after each epoch (e.g. to save a checkpoint); returning false stops training.
  std::function<bool(const EpochLogs&)> on_epoch_end;
  // Time every layer's training forward and backward (History::profile).
  bool profile = false;
};

// Wall-clock seconds one fit() spent in each part of its training steps (FitOptions::profile).
struct StepProfile {
  struct LayerTime {
    std::string name;
    std::string class_name;
    double forward = 0.0;   // forward_train
    double backward = 0.0;  // backward_train
  };
  std::vector<LayerTime> layers;
  double batches = 0.0;    // gathering the batch
  double loss = 0.0;       // loss value, gradient and accuracy
  double optimizer = 0.0;  // zeroing the gradients and the optimizer's update
  std::int64_t steps = 0;
};

struct History {
  std::vector<EpochLogs> epochs;
  std::optional<StepProfile> profile;  // when FitOptions::profile
};

struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
};

class Sequential {
 public:
  explicit Sequential(std::string name = "sequential");
  Sequential(Sequential&&) noexcept;
  Sequential& operator=(Sequential&&) noexcept;
  ~Sequential();

  const std::string& name() const { return name_; }

  // Input shape without the batch axis, e.g. {28, 28, 1} (Keras's input_shape).
  void set_input_shape(std::vector<std::int64_t> shape);
  const std::vector<std::int64_t>& input_shape() const { return input_shape_; }

  // Appends a layer; a default name already taken gets Keras's "_1", "_2", ... suffix.
  Layer& add(std::unique_ptr<Layer> layer);
  template <typename L, typename... Args>
  L& emplace(Args&&... args) {
    return static_cast<L&>(add(std::make_unique<L>(std::forward<Args>(args)...)));
  }

  std::size_t size() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_[i]; }
  const Layer& layer(std::size_t i) const { return *layers_[i]; }

  // Creates every layer's weights for the input shape with Keras's initialisers, from `seed`.
  // Throws the first layer's shape error, naming the layer, if the stack does not fit together.
  void build(std::uint64_t seed = 0);
  bool built() const { return built_; }

  // Output shape of each layer, with batch = -1 (printed as None).
  std::vector<Shape> output_shapes(std::int64_t batch = 1) const;
  std::int64_t count_params() const;
  std::int64_t count_trainable_params() const;

  // Keras's model.summary() table.
  std::string summary() const;

  void compile(std::unique_ptr<Optimizer> optimizer, std::unique_ptr<Loss> loss,
               std::vector<std::string> metrics = {"accuracy"});
  bool compiled() const { return optimizer_ != nullptr && loss_ != nullptr; }
  Optimizer& optimizer() { return *optimizer_; }
  const Loss& loss() const { return *loss_; }

  // x: (samples, input_shape...), y: labels (samples,) for sparse losses, else (samples, outputs).
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options);
  Evaluation evaluate(const Tensor& x, const Tensor& y, std::int64_t batch_size = 32) const;
  Tensor predict(const Tensor& x, std::int64_t batch_size = 32) const;

  // Keras's model.to_json() object: {"class_name": "Sequential", "config": {"name", "layers": [
  // InputLayer, ...]}} plus "compile_config" when compiled.
  nlohmann::json to_json() const;
  // Accepts Keras 2 and Keras 3 shapes of that object (InputLayer or batch_input_shape /
  // batch_shape on the first layer; module/registered_name/build_config wrappers). Unknown layer
  // types and keys are ArgumentErrors naming them and the layer's position.
  static Sequential from_json(const nlohmann::json& model);

  // All parameters, layer by layer in order.
  std::vector<Parameter*> parameters();

 private:
  void check_input(const Tensor& x, std::string_view what) const;
  // Inference through every layer; buffers[i] holds layer i's output (reused across batches).
  // Returns the last one.
  const Tensor& forward_all(const Tensor& x, std::vector<Tensor>& buffers) const;
  Evaluation run_epoch_eval(const Tensor& x, const Tensor& y, std::int64_t begin,
                            std::int64_t end, std::int64_t batch_size) const;

  std::string name_;
  std::vector<std::int64_t> input_shape_;
  std::vector<std::unique_ptr<Layer>> layers_;
  bool built_ = false;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Loss> loss_;
  std::vector<std::string> metrics_;
};

}  // namespace poolnet
