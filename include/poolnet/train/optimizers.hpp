// Keras optimizers with Keras 3's defaults and update rules.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "poolnet/layers/layer.hpp"

namespace poolnet {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string_view name() const = 0;  // "adam", "sgd", "rmsprop"

  // One update of every trainable parameter from its grad. The list must be the same (same
  // order and shapes) at every call; slots are created on the first call.
  virtual void apply(std::span<Parameter* const> params) = 0;

  std::int64_t iterations() const { return iterations_; }
  double learning_rate() const { return learning_rate_; }

  // Keras's optimizer config ({"name": "adam", "learning_rate": 0.001, ...}).
  virtual nlohmann::json get_config() const = 0;

  // Slot tensors (momentums, ...) in a fixed order, and the iteration count: what a checkpoint
  // must save to resume bit-identically.
  // Order: SGD: the momentums (when momentum > 0); Adam: momentum and velocity of each trainable
  // parameter in turn (m0, v0, m1, v1, ...); RMSprop: the velocities, then the momentums (when
  // momentum > 0), then the average gradients (when centered). Empty before build()/apply().
  virtual std::vector<Tensor*> slots() = 0;
  // Creates the slots (zeros) for `params` without changing them, so that a checkpoint can
  // restore slots before the first apply(). apply() calls it; once built, the list is checked.
  virtual void build(std::span<Parameter* const> params) = 0;
  void set_iterations(std::int64_t iterations) { iterations_ = iterations; }

 protected:
  explicit Optimizer(double learning_rate) : learning_rate_(learning_rate) {}
  std::int64_t iterations_ = 0;
  double learning_rate_;
};

// SGD: learning_rate 0.01, momentum 0, nesterov false.
//   velocity = momentum * velocity - lr * g;  p += velocity  (nesterov: p += momentum * velocity - lr * g)
std::unique_ptr<Optimizer> make_sgd(double learning_rate = 0.01, double momentum = 0.0,
                                    bool nesterov = false);
// Adam: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7.
std::unique_ptr<Optimizer> make_adam(double learning_rate = 0.001, double beta_1 = 0.9,
                                     double beta_2 = 0.999, double epsilon = 1e-7);
// RMSprop: learning_rate 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered false.
std::unique_ptr<Optimizer> make_rmsprop(double learning_rate = 0.001, double rho = 0.9,
                                        double momentum = 0.0, double epsilon = 1e-7,
                                        bool centered = false);

// By Keras name ("adam", "sgd", "rmsprop", any case) with Keras's defaults, or a config object
// as produced by get_config(). ArgumentError for unknown names/keys and bad values.
std::unique_ptr<Optimizer> make_optimizer(std::string_view name,
                                          std::optional<double> learning_rate = std::nullopt);
std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& config);
// A name given as a literal or std::string: without these, make_optimizer("adam") would be
// ambiguous (a json converts from const char* as readily as a string_view does).
inline std::unique_ptr<Optimizer> make_optimizer(const char* name,
                                                 std::optional<double> learning_rate = std::nullopt) {
  return make_optimizer(std::string_view(name), learning_rate);
}
inline std::unique_ptr<Optimizer> make_optimizer(const std::string& name,
                                                 std::optional<double> learning_rate = std::nullopt) {
  return make_optimizer(std::string_view(name), learning_rate);
}

}  // namespace poolnet
