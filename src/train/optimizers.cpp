// Keras 3 optimizers: SGD, Adam, RMSprop, with Keras 3's update rules, defaults and configs.
// Updates run in float32 like Keras's (hyperparameters cast to the variable's dtype); slots are
// created on the first apply() for the trainable parameters only.
#include "poolnet/train/optimizers.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "poolnet/error.hpp"
#include "train/number_text.hpp"

namespace poolnet {
namespace {

using Json = nlohmann::json;

// ArgumentError unless lo <= value < hi (or <= hi when hi_inclusive), finite.
void check_range(std::string_view optimizer, std::string_view key, double value, double lo,
                 double hi, bool hi_inclusive) {
  const bool ok = std::isfinite(value) && value >= lo && (hi_inclusive ? value <= hi : value < hi);
  if (ok) return;
  std::string message(optimizer);
  message += ": ";
  message += key;
  message += " must be in [";
  message += number_text(lo);
  message += ", ";
  message += number_text(hi);
  message += hi_inclusive ? "]" : ")";
  message += ", got ";
  message += number_text(value);
  throw ArgumentError(message);
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// Keras 3's optimizer config keys shared by every optimizer, with their defaults.
Json common_config(std::string_view name, double learning_rate) {
  return {{"name", name},
          {"learning_rate", learning_rate},
          {"weight_decay", nullptr},
          {"clipnorm", nullptr},
          {"global_clipnorm", nullptr},
          {"clipvalue", nullptr},
          {"use_ema", false},
          {"ema_momentum", 0.99},
          {"ema_overwrite_frequency", nullptr},
          {"loss_scale_factor", nullptr},
          {"gradient_accumulation_steps", nullptr}};
}

// Shared bookkeeping: the parameter list's signature and one slot tensor per (kind, trainable
// parameter).
class OptimizerImpl : public Optimizer {
 public:
  void build(std::span<Parameter* const> params) override {
    if (built_) {
      check_signature(params);
      return;
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (params[i] == nullptr) throw ArgumentError(std::string(class_name()) + ": null parameter");
      check_grad(*params[i], i);
    }
    for (const Parameter* p : params) signature_.push_back({p->value.shape(), p->trainable});
    slots_.assign(static_cast<std::size_t>(slot_kinds()), {});
    for (std::vector<Tensor>& kind : slots_) {
      for (const Parameter* p : params) {
        if (p->trainable) kind.emplace_back(p->value.shape());
      }
    }
    built_ = true;
  }

  void apply(std::span<Parameter* const> params) final {
    build(params);
    std::size_t t = 0;  // index among trainable parameters
    for (std::size_t i = 0; i < params.size(); ++i) {
      Parameter& p = *params[i];
      check_grad(p, i);
      if (!p.trainable) continue;
      update(p, t);
      ++t;
    }
    ++iterations_;
  }

 protected:
  // class_name ("SGD", "Adam", "RMSprop", a string literal) starts the optimizer's messages.
  OptimizerImpl(std::string_view class_name, double learning_rate)
      : Optimizer(learning_rate), class_name_(class_name) {
    check_range(class_name, "learning_rate", learning_rate, 0.0, kInf, false);
  }
  std::string_view class_name() const { return class_name_; }
  virtual int slot_kinds() const = 0;
  virtual void update(Parameter& p, std::size_t index) = 0;

  Tensor& slot(int kind, std::size_t index) {
    return slots_[static_cast<std::size_t>(kind)][index];
  }
  // All slots of some kinds, grouped by kind.
  std::vector<Tensor*> grouped_slots() {
    std::vector<Tensor*> out;
    for (std::vector<Tensor>& kind : slots_)
      for (Tensor& t : kind) out.push_back(&t);
    return out;
  }
  // Interleaved: the slots of parameter 0, then of parameter 1, ...
  std::vector<Tensor*> interleaved_slots() {
    std::vector<Tensor*> out;
    if (slots_.empty()) return out;
    for (std::size_t i = 0; i < slots_[0].size(); ++i)
      for (std::vector<Tensor>& kind : slots_) out.push_back(&kind[i]);
    return out;
  }

 private:
  struct Signature {
    Shape shape;
    bool trainable;
  };

  void check_grad(const Parameter& p, std::size_t i) const {
    if (p.grad.shape() == p.value.shape()) return;
    std::string message(class_name());
    message += ": parameter ";
    message += std::to_string(i);
    message += " ('";
    message += p.name;
    message += "') has value shape ";
    message += p.value.rank() == 0 ? std::string("()") : p.value.shape().to_string();
    message += " but grad shape ";
    message += p.grad.rank() == 0 ? std::string("()") : p.grad.shape().to_string();
    throw ShapeError(message);
  }

  void check_signature(std::span<Parameter* const> params) const {
    bool same = params.size() == signature_.size();
    for (std::size_t i = 0; same && i < params.size(); ++i) {
      same = params[i] != nullptr && params[i]->value.shape() == signature_[i].shape &&
             params[i]->trainable == signature_[i].trainable;
    }
    if (same) return;
    std::string message(class_name());
    message += ": apply() got a different parameter list than at its first call (";
    message += std::to_string(params.size());
    message += " parameters, was ";
    message += std::to_string(signature_.size());
    message += "; shapes and trainable flags must match too). Create a new optimizer for a new "
               "list.";
    throw ArgumentError(message);
  }

  std::string_view class_name_;
  bool built_ = false;
  std::vector<Signature> signature_;
  std::vector<std::vector<Tensor>> slots_;
};

// ---- SGD --------------------------------------------------------------------------------------

class Sgd final : public OptimizerImpl {
 public:
  Sgd(double learning_rate, double momentum, bool nesterov)
      : OptimizerImpl("SGD", learning_rate), momentum_(momentum), nesterov_(nesterov) {
    check_range(class_name(), "momentum", momentum, 0.0, 1.0, true);
  }
  std::string_view name() const override { return "sgd"; }
  Json get_config() const override {
    Json c = common_config("SGD", learning_rate_);
    c["momentum"] = momentum_;
    c["nesterov"] = nesterov_;
    return c;
  }
  std::vector<Tensor*> slots() override { return grouped_slots(); }

 protected:
  int slot_kinds() const override { return momentum_ != 0.0 ? 1 : 0; }
  void update(Parameter& p, std::size_t index) override {
    const float lr = static_cast<float>(learning_rate_);
    const float mu = static_cast<float>(momentum_);
    float* w = p.value.data();
    const float* g = p.grad.data();
    const std::int64_t n = p.value.size();
    if (momentum_ == 0.0) {
      for (std::int64_t i = 0; i < n; ++i) w[i] -= g[i] * lr;
      return;
    }
    float* v = slot(0, index).data();
    for (std::int64_t i = 0; i < n; ++i) {
      v[i] = v[i] * mu - g[i] * lr;
      w[i] += nesterov_ ? v[i] * mu - g[i] * lr : v[i];
    }
  }

 private:
  double momentum_;
  bool nesterov_;
};

// ---- Adam -------------------------------------------------------------------------------------

class Adam final : public OptimizerImpl {
 public:
  Adam(double learning_rate, double beta_1, double beta_2, double epsilon)
      : OptimizerImpl("Adam", learning_rate), beta_1_(beta_1), beta_2_(beta_2), epsilon_(epsilon) {
    check_range(class_name(), "beta_1", beta_1, 0.0, 1.0, false);
    check_range(class_name(), "beta_2", beta_2, 0.0, 1.0, false);
    check_range(class_name(), "epsilon", epsilon, 0.0, kInf, false);
  }
  std::string_view name() const override { return "adam"; }
  Json get_config() const override {
    Json c = common_config("adam", learning_rate_);
    c["beta_1"] = beta_1_;
    c["beta_2"] = beta_2_;
    c["epsilon"] = epsilon_;
    c["amsgrad"] = false;
    return c;
  }
  std::vector<Tensor*> slots() override { return interleaved_slots(); }

 protected:
  int slot_kinds() const override { return 2; }
  void update(Parameter& p, std::size_t index) override {
    const double t = static_cast<double>(iterations_ + 1);
    const float alpha = static_cast<float>(learning_rate_ * std::sqrt(1.0 - std::pow(beta_2_, t)) /
                                           (1.0 - std::pow(beta_1_, t)));
    const float one_minus_b1 = static_cast<float>(1.0 - beta_1_);
    const float one_minus_b2 = static_cast<float>(1.0 - beta_2_);
    const float eps = static_cast<float>(epsilon_);
    float* w = p.value.data();
    const float* g = p.grad.data();
    float* m = slot(0, index).data();
    float* v = slot(1, index).data();
    const std::int64_t n = p.value.size();
    for (std::int64_t i = 0; i < n; ++i) {
      m[i] += (g[i] - m[i]) * one_minus_b1;
      v[i] += (g[i] * g[i] - v[i]) * one_minus_b2;
      w[i] -= (m[i] * alpha) / (std::sqrt(v[i]) + eps);
    }
  }

 private:
  double beta_1_, beta_2_, epsilon_;
};

// ---- RMSprop ----------------------------------------------------------------------------------

class RmsProp final : public OptimizerImpl {
 public:
  RmsProp(double learning_rate, double rho, double momentum, double epsilon, bool centered)
      : OptimizerImpl("RMSprop", learning_rate),
        rho_(rho),
        momentum_(momentum),
        epsilon_(epsilon),
        centered_(centered) {
    check_range(class_name(), "rho", rho, 0.0, 1.0, false);
    check_range(class_name(), "momentum", momentum, 0.0, 1.0, false);
    check_range(class_name(), "epsilon", epsilon, 0.0, kInf, false);
  }
  std::string_view name() const override { return "rmsprop"; }
  Json get_config() const override {
    Json c = common_config("rmsprop", learning_rate_);
    c["rho"] = rho_;
    c["momentum"] = momentum_;
    c["epsilon"] = epsilon_;
    c["centered"] = centered_;
    return c;
  }
  std::vector<Tensor*> slots() override { return grouped_slots(); }

 protected:
  // velocity, [momentum], [average_gradient]
  int slot_kinds() const override { return 1 + (momentum_ > 0.0 ? 1 : 0) + (centered_ ? 1 : 0); }
  void update(Parameter& p, std::size_t index) override {
    const float lr = static_cast<float>(learning_rate_);
    const float rho = static_cast<float>(rho_);
    const float one_minus_rho = static_cast<float>(1.0 - rho_);
    const float mu = static_cast<float>(momentum_);
    const float eps = static_cast<float>(epsilon_);
    const bool use_momentum = momentum_ > 0.0;
    float* w = p.value.data();
    const float* g = p.grad.data();
    float* vel = slot(0, index).data();
    float* mom = use_momentum ? slot(1, index).data() : nullptr;
    float* avg = centered_ ? slot(use_momentum ? 2 : 1, index).data() : nullptr;
    const std::int64_t n = p.value.size();
    for (std::int64_t i = 0; i < n; ++i) {
      vel[i] = rho * vel[i] + one_minus_rho * (g[i] * g[i]);
      float denominator;
      if (centered_) {
        avg[i] = rho * avg[i] + one_minus_rho * g[i];
        denominator = vel[i] - avg[i] * avg[i] + eps;
      } else {
        denominator = vel[i] + eps;
      }
      const float increment = (lr * g[i]) / std::sqrt(denominator);
      if (use_momentum) {
        mom[i] = mu * mom[i] + increment;
        w[i] -= mom[i];
      } else {
        w[i] -= increment;
      }
    }
  }

 private:
  double rho_, momentum_, epsilon_;
  bool centered_;
};

// ---- Configs ----------------------------------------------------------------------------------

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

[[noreturn]] void unknown_optimizer(std::string_view name) {
  std::string message = "unknown optimizer '";
  message += name;
  message += "' (known: adam, rmsprop, sgd)";
  throw ArgumentError(message);
}

// Typed access to a flat optimizer config; every key must be known.
class OptimizerConfig {
 public:
  OptimizerConfig(std::string_view optimizer, const Json& config,
                  const std::set<std::string>& specific)
      : optimizer_(optimizer), config_(config) {
    static const std::set<std::string> kCommon = {
        "name",      "learning_rate", "weight_decay", "clipnorm",
        "global_clipnorm", "clipvalue", "use_ema", "ema_momentum",
        "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps"};
    for (const auto& [key, value] : config.items()) {
      if (kCommon.contains(key) || specific.contains(key)) continue;
      std::string known;
      for (const std::string& k : specific) {
        known += known.empty() ? "" : ", ";
        known += k;
      }
      fail("unknown config key '" + key + "' (this optimizer takes learning_rate, " + known +
           ", and Keras's common keys at their defaults)");
    }
    // Features poolnet does not implement must be at Keras's defaults.
    for (const char* key : {"weight_decay", "clipnorm", "global_clipnorm", "clipvalue",
                            "ema_overwrite_frequency", "loss_scale_factor",
                            "gradient_accumulation_steps"}) {
      if (config.contains(key) && !config[key].is_null()) {
        fail(std::string(key) + " " + config[key].dump() +
             " is not supported (poolnet supports only null, Keras's default)");
      }
    }
    if (config.contains("use_ema") && config["use_ema"] != false) {
      fail("use_ema " + config["use_ema"].dump() + " is not supported (only false)");
    }
    if (config.contains("ema_momentum") && !config["ema_momentum"].is_number()) {
      fail("ema_momentum must be a number, got " + config["ema_momentum"].dump());
    }
    if (config.contains("name") && !config["name"].is_string()) {
      fail("name must be a string, got " + config["name"].dump());
    }
  }

  double number(const std::string& key, double fallback) const {
    const auto it = config_.find(key);
    if (it == config_.end()) return fallback;
    if (!it->is_number() || it->is_boolean()) {
      std::string what = key;
      what += " must be a number, got ";
      what += it->dump();
      if (it->is_object()) what += " (learning-rate schedules are not supported)";
      fail(what);
    }
    return it->get<double>();
  }

  bool boolean(const std::string& key, bool fallback) const {
    const auto it = config_.find(key);
    if (it == config_.end()) return fallback;
    if (!it->is_boolean()) fail(key + " must be true or false, got " + it->dump());
    return it->get<bool>();
  }

  [[noreturn]] void fail(const std::string& message) const {
    std::string text(optimizer_);
    text += " config: ";
    text += message;
    throw ArgumentError(text);
  }

 private:
  std::string optimizer_;
  const Json& config_;
};

std::unique_ptr<Optimizer> from_flat_config(const std::string& kind, const Json& config) {
  if (kind == "sgd") {
    const OptimizerConfig c("SGD", config, {"momentum", "nesterov"});
    return make_sgd(c.number("learning_rate", 0.01), c.number("momentum", 0.0),
                    c.boolean("nesterov", false));
  }
  if (kind == "adam") {
    const OptimizerConfig c("Adam", config, {"beta_1", "beta_2", "epsilon", "amsgrad"});
    if (c.boolean("amsgrad", false)) c.fail("amsgrad true is not supported");
    return make_adam(c.number("learning_rate", 0.001), c.number("beta_1", 0.9),
                     c.number("beta_2", 0.999), c.number("epsilon", 1e-7));
  }
  if (kind == "rmsprop") {
    const OptimizerConfig c("RMSprop", config, {"rho", "momentum", "epsilon", "centered"});
    return make_rmsprop(c.number("learning_rate", 0.001), c.number("rho", 0.9),
                        c.number("momentum", 0.0), c.number("epsilon", 1e-7),
                        c.boolean("centered", false));
  }
  unknown_optimizer(kind);
}

}  // namespace

std::unique_ptr<Optimizer> make_sgd(double learning_rate, double momentum, bool nesterov) {
  return std::make_unique<Sgd>(learning_rate, momentum, nesterov);
}

std::unique_ptr<Optimizer> make_adam(double learning_rate, double beta_1, double beta_2,
                                     double epsilon) {
  return std::make_unique<Adam>(learning_rate, beta_1, beta_2, epsilon);
}

std::unique_ptr<Optimizer> make_rmsprop(double learning_rate, double rho, double momentum,
                                        double epsilon, bool centered) {
  return std::make_unique<RmsProp>(learning_rate, rho, momentum, epsilon, centered);
}

std::unique_ptr<Optimizer> make_optimizer(std::string_view name,
                                          std::optional<double> learning_rate) {
  const std::string kind = lower(name);
  if (kind == "sgd") return make_sgd(learning_rate.value_or(0.01));
  if (kind == "adam") return make_adam(learning_rate.value_or(0.001));
  if (kind == "rmsprop") return make_rmsprop(learning_rate.value_or(0.001));
  unknown_optimizer(name);
}

std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& config) {
  if (config.is_string()) return make_optimizer(std::string_view(config.get_ref<const std::string&>()));
  if (!config.is_object()) {
    throw ArgumentError("optimizer config must be a name or a JSON object, got " + config.dump());
  }
  // Keras's serialized form: {"module": "keras.optimizers", "class_name": "Adam", "config": {...},
  // "registered_name": null}. The class name picks the optimizer; the config's name is free.
  if (config.contains("class_name")) {
    for (const auto& [key, value] : config.items()) {
      if (key != "module" && key != "class_name" && key != "config" && key != "registered_name") {
        throw ArgumentError("optimizer config: unknown key '" + key +
                            "' next to class_name (expected module, class_name, config, "
                            "registered_name)");
      }
    }
    if (!config["class_name"].is_string()) {
      throw ArgumentError("optimizer config: class_name must be a string, got " +
                          config["class_name"].dump());
    }
    const Json inner = config.value("config", Json::object());
    if (!inner.is_object()) {
      throw ArgumentError("optimizer config: config must be an object, got " + inner.dump());
    }
    return from_flat_config(lower(config["class_name"].get<std::string>()), inner);
  }
  // The flat form (get_config()): "name" picks the optimizer, case-insensitively.
  if (!config.contains("name") || !config["name"].is_string()) {
    throw ArgumentError(
        "optimizer config: needs \"name\" (adam, rmsprop or sgd) or \"class_name\", got " +
        config.dump());
  }
  return from_flat_config(lower(config["name"].get<std::string>()), config);
}

}  // namespace poolnet
