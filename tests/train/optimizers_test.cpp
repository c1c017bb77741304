// Optimizers: three hand-checked steps of every variant against an independent double
// implementation of Keras 3's update rules, slots and checkpoint resume, configs and errors.
#include "poolnet/train/optimizers.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "poolnet/error.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::contains;
using testing::error_of;
using Json = nlohmann::json;

// Two trainable parameters and a frozen one between them.
struct Params {
  Parameter kernel{"kernel", Tensor(Shape{2, 3}), Tensor(Shape{2, 3}), true};
  Parameter frozen{"frozen", Tensor(Shape{2}), Tensor(Shape{2}), false};
  Parameter bias{"bias", Tensor(Shape{3}), Tensor(Shape{3}), true};
  std::vector<Parameter*> list() { return {&kernel, &frozen, &bias}; }
};

constexpr int kSteps = 3;

// Initial values and the gradient of every step (one zero gradient, signs mixed).
std::vector<double> initial(std::size_t n, double offset) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = offset + 0.25 * static_cast<double>(i) - 0.5;
  return v;
}
double grad_at(int step, std::size_t i, double offset) {
  if (i == 1) return 0.0;
  return std::sin(1.3 * static_cast<double>(i) + 0.7 * step + offset) * (1.0 + 0.5 * step);
}

void load(Parameter& p, const std::vector<double>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) p.value[static_cast<std::int64_t>(i)] = static_cast<float>(values[i]);
}

// One parameter's state in the double reference.
struct RefState {
  std::vector<double> w, s1, s2, s3;
};

// Runs the optimizer and a double reference side by side for kSteps steps and compares.
// `update` applies one step of the reference to one parameter (t = 1, 2, 3).
void run_and_compare(Optimizer& opt,
                     const std::function<void(RefState&, const std::vector<double>&, int)>& update,
                     double tol) {
  Params params;
  const std::vector<double> k0 = initial(6, 0.1), b0 = initial(3, -0.3);
  load(params.kernel, k0);
  load(params.bias, b0);
  load(params.frozen, {3.0, 4.0});
  RefState rk{k0, std::vector<double>(6), std::vector<double>(6), std::vector<double>(6)};
  RefState rb{b0, std::vector<double>(3), std::vector<double>(3), std::vector<double>(3)};
  const std::vector<Parameter*> list = params.list();
  for (int t = 1; t <= kSteps; ++t) {
    std::vector<double> gk(6), gb(3);
    for (std::size_t i = 0; i < 6; ++i) params.kernel.grad[static_cast<std::int64_t>(i)] = static_cast<float>(gk[i] = grad_at(t, i, 0.0));
    for (std::size_t i = 0; i < 3; ++i) params.bias.grad[static_cast<std::int64_t>(i)] = static_cast<float>(gb[i] = grad_at(t, i, 2.0));
    params.frozen.grad.fill(1.0f);
    // The reference sees exactly the float gradients the optimizer sees.
    for (double& g : gk) g = static_cast<float>(g);
    for (double& g : gb) g = static_cast<float>(g);
    opt.apply(list);
    update(rk, gk, t);
    update(rb, gb, t);
    EXPECT_EQ(opt.iterations(), t);
    for (std::size_t i = 0; i < 6; ++i)
      EXPECT_NEAR(params.kernel.value[static_cast<std::int64_t>(i)], rk.w[i], tol) << opt.name() << " step " << t << " kernel " << i;
    for (std::size_t i = 0; i < 3; ++i)
      EXPECT_NEAR(params.bias.value[static_cast<std::int64_t>(i)], rb.w[i], tol) << opt.name() << " step " << t << " bias " << i;
    EXPECT_EQ(params.frozen.value[0], 3.0f);
    EXPECT_EQ(params.frozen.value[1], 4.0f);
  }
}

// ---- SGD --------------------------------------------------------------------------------------

TEST(Sgd, PlainThreeSteps) {
  const auto opt = make_sgd(0.1);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int) {
    for (std::size_t i = 0; i < g.size(); ++i) s.w[i] -= 0.1 * g[i];
  }, 1e-6);
  EXPECT_TRUE(opt->slots().empty());
  // Hand-computed: w = 1, g = 0.5, lr 0.1 -> 0.95.
  Parameter p{"w", Tensor(Shape{1}, 1.0f), Tensor(Shape{1}, 0.5f), true};
  Parameter* list[] = {&p};
  make_sgd(0.1)->apply(list);
  EXPECT_FLOAT_EQ(p.value[0], 0.95f);
}

TEST(Sgd, MomentumThreeSteps) {
  const auto opt = make_sgd(0.1, 0.9);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int) {
    for (std::size_t i = 0; i < g.size(); ++i) {
      s.s1[i] = 0.9 * s.s1[i] - 0.1 * g[i];
      s.w[i] += s.s1[i];
    }
  }, 2e-6);
  EXPECT_EQ(opt->slots().size(), 2u);  // one momentum per trainable parameter
  // Hand-computed: g = 1 twice: v = -0.1, w = 0.9; v = -0.19, w = 0.71.
  Parameter p{"w", Tensor(Shape{1}, 1.0f), Tensor(Shape{1}, 1.0f), true};
  Parameter* list[] = {&p};
  const auto hand = make_sgd(0.1, 0.9);
  hand->apply(list);
  EXPECT_FLOAT_EQ(p.value[0], 0.9f);
  hand->apply(list);
  EXPECT_FLOAT_EQ(p.value[0], 0.71f);
  EXPECT_FLOAT_EQ((*hand->slots()[0])[0], -0.19f);
}

TEST(Sgd, NesterovThreeSteps) {
  const auto opt = make_sgd(0.05, 0.8, true);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int) {
    for (std::size_t i = 0; i < g.size(); ++i) {
      s.s1[i] = 0.8 * s.s1[i] - 0.05 * g[i];
      s.w[i] += 0.8 * s.s1[i] - 0.05 * g[i];
    }
  }, 2e-6);
  // Hand-computed: g = 1 twice, lr 0.1, momentum 0.9: v = -0.1, w = 1 - 0.09 - 0.1 = 0.81;
  // v = -0.19, w = 0.81 - 0.171 - 0.1 = 0.539.
  Parameter p{"w", Tensor(Shape{1}, 1.0f), Tensor(Shape{1}, 1.0f), true};
  Parameter* list[] = {&p};
  const auto hand = make_sgd(0.1, 0.9, true);
  hand->apply(list);
  EXPECT_FLOAT_EQ(p.value[0], 0.81f);
  hand->apply(list);
  EXPECT_FLOAT_EQ(p.value[0], 0.539f);
}

// ---- Adam -------------------------------------------------------------------------------------

void adam_reference(RefState& s, const std::vector<double>& g, int t, double lr, double b1,
                    double b2, double eps) {
  const double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
  for (std::size_t i = 0; i < g.size(); ++i) {
    s.s1[i] += (g[i] - s.s1[i]) * (1 - b1);
    s.s2[i] += (g[i] * g[i] - s.s2[i]) * (1 - b2);
    s.w[i] -= alpha * s.s1[i] / (std::sqrt(s.s2[i]) + eps);
  }
}

TEST(Adam, ThreeStepsWithDefaults) {
  const auto opt = make_adam(0.01);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int t) {
    adam_reference(s, g, t, 0.01, 0.9, 0.999, 1e-7);
  }, 2e-6);
}

TEST(Adam, ThreeStepsWithOtherHyperparameters) {
  const auto opt = make_adam(0.1, 0.5, 0.75, 1e-3);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int t) {
    adam_reference(s, g, t, 0.1, 0.5, 0.75, 1e-3);
  }, 2e-6);
}

TEST(Adam, FirstStepMovesByTheLearningRate) {
  // Step 1: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1: the step is lr * sign(g)
  // (up to epsilon).
  Parameter p{"w", Tensor(Shape{3}, 1.0f), Tensor(Shape{3}), true};
  p.grad[0] = 2.0f;
  p.grad[1] = -0.5f;
  p.grad[2] = 0.0f;
  Parameter* list[] = {&p};
  const auto opt = make_adam();
  opt->apply(list);
  EXPECT_NEAR(p.value[0], 0.999, 1e-7);
  EXPECT_NEAR(p.value[1], 1.001, 1e-7);
  EXPECT_EQ(p.value[2], 1.0f);
  const std::vector<Tensor*> slots = opt->slots();
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_FLOAT_EQ((*slots[0])[0], 0.2f);     // momentum
  EXPECT_FLOAT_EQ((*slots[1])[0], 0.004f);   // velocity
}

// ---- RMSprop ----------------------------------------------------------------------------------

void rmsprop_reference(RefState& s, const std::vector<double>& g, double lr, double rho,
                       double momentum, double eps, bool centered) {
  for (std::size_t i = 0; i < g.size(); ++i) {
    s.s1[i] = rho * s.s1[i] + (1 - rho) * g[i] * g[i];
    double denominator = s.s1[i] + eps;
    if (centered) {
      s.s3[i] = rho * s.s3[i] + (1 - rho) * g[i];
      denominator = s.s1[i] - s.s3[i] * s.s3[i] + eps;
    }
    const double increment = lr * g[i] / std::sqrt(denominator);
    if (momentum > 0) {
      s.s2[i] = momentum * s.s2[i] + increment;
      s.w[i] -= s.s2[i];
    } else {
      s.w[i] -= increment;
    }
  }
}

TEST(RmsProp, PlainThreeSteps) {
  const auto opt = make_rmsprop(0.01);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int) {
    rmsprop_reference(s, g, 0.01, 0.9, 0.0, 1e-7, false);
  }, 2e-6);
  EXPECT_EQ(opt->slots().size(), 2u);
  // Hand-computed: g = 1: velocity 0.1, w = 1 - 0.01 / sqrt(0.1 + 1e-7).
  Parameter p{"w", Tensor(Shape{1}, 1.0f), Tensor(Shape{1}, 1.0f), true};
  Parameter* list[] = {&p};
  make_rmsprop(0.01)->apply(list);
  EXPECT_NEAR(p.value[0], 1 - 0.01 / std::sqrt(0.1 + 1e-7), 2e-7);
}

TEST(RmsProp, MomentumThreeSteps) {
  const auto opt = make_rmsprop(0.01, 0.8, 0.5);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int) {
    rmsprop_reference(s, g, 0.01, 0.8, 0.5, 1e-7, false);
  }, 2e-6);
  EXPECT_EQ(opt->slots().size(), 4u);
}

TEST(RmsProp, CenteredThreeSteps) {
  const auto opt = make_rmsprop(0.01, 0.9, 0.0, 1e-7, true);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int) {
    rmsprop_reference(s, g, 0.01, 0.9, 0.0, 1e-7, true);
  }, 2e-6);
  EXPECT_EQ(opt->slots().size(), 4u);
}

TEST(RmsProp, CenteredWithMomentumThreeSteps) {
  const auto opt = make_rmsprop(0.02, 0.7, 0.3, 1e-6, true);
  run_and_compare(*opt, [](RefState& s, const std::vector<double>& g, int) {
    rmsprop_reference(s, g, 0.02, 0.7, 0.3, 1e-6, true);
  }, 2e-6);
  EXPECT_EQ(opt->slots().size(), 6u);
}

// ---- slots, resume, parameter lists -----------------------------------------------------------

TEST(Optimizers, SlotOrder) {
  Params params;
  params.kernel.grad.fill(1.0f);
  params.bias.grad.fill(2.0f);
  const std::vector<Parameter*> list = params.list();
  // Adam: m, v per parameter in turn.
  const auto adam = make_adam();
  adam->apply(list);
  std::vector<Tensor*> s = adam->slots();
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0]->shape(), (Shape{2, 3}));
  EXPECT_FLOAT_EQ((*s[0])[0], 0.1f);
  EXPECT_FLOAT_EQ((*s[1])[0], 0.001f);
  EXPECT_EQ(s[2]->shape(), (Shape{3}));
  EXPECT_FLOAT_EQ((*s[2])[0], 0.2f);
  EXPECT_FLOAT_EQ((*s[3])[0], 0.004f);
  // RMSprop: velocities, momentums, average gradients.
  const auto rms = make_rmsprop(0.001, 0.9, 0.5, 1e-7, true);
  rms->apply(list);
  s = rms->slots();
  ASSERT_EQ(s.size(), 6u);
  EXPECT_FLOAT_EQ((*s[0])[0], 0.1f);   // velocity, kernel
  EXPECT_FLOAT_EQ((*s[1])[0], 0.4f);   // velocity, bias
  EXPECT_EQ(s[2]->shape(), (Shape{2, 3}));  // momentum, kernel
  EXPECT_GT((*s[2])[0], 0.0f);
  EXPECT_FLOAT_EQ((*s[4])[0], 0.1f);   // average gradient, kernel
  EXPECT_FLOAT_EQ((*s[5])[0], 0.2f);   // average gradient, bias
}

TEST(Optimizers, CheckpointResumeIsBitIdentical) {
  const std::vector<std::function<std::unique_ptr<Optimizer>()>> makers = {
      [] { return make_sgd(0.1, 0.9, true); }, [] { return make_adam(0.01); },
      [] { return make_rmsprop(0.01, 0.9, 0.5, 1e-7, true); }};
  for (const auto& maker : makers) {
    Params a, b;
    load(a.kernel, initial(6, 0.0));
    load(a.bias, initial(3, 1.0));
    load(b.kernel, initial(6, 0.0));
    load(b.bias, initial(3, 1.0));
    const auto full = maker();
    auto first = maker();
    auto set_grads = [](Params& p, int t) {
      for (std::int64_t i = 0; i < 6; ++i) p.kernel.grad[i] = static_cast<float>(grad_at(t, static_cast<std::size_t>(i), 0));
      for (std::int64_t i = 0; i < 3; ++i) p.bias.grad[i] = static_cast<float>(grad_at(t, static_cast<std::size_t>(i), 1));
    };
    for (int t = 1; t <= 3; ++t) {
      set_grads(a, t);
      full->apply(a.list());
    }
    set_grads(b, 1);
    first->apply(b.list());
    // Restore into a fresh optimizer: build, copy the slots and the iteration count.
    const auto resumed = maker();
    const std::vector<Parameter*> list = b.list();
    EXPECT_TRUE(resumed->slots().empty());
    resumed->build(list);
    const std::vector<Tensor*> from = first->slots(), to = resumed->slots();
    ASSERT_EQ(from.size(), to.size());
    for (std::size_t i = 0; i < from.size(); ++i) {
      for (std::int64_t j = 0; j < to[i]->size(); ++j) EXPECT_EQ((*to[i])[j], 0.0f);
      *to[i] = *from[i];
    }
    resumed->set_iterations(first->iterations());
    for (int t = 2; t <= 3; ++t) {
      set_grads(b, t);
      resumed->apply(list);
    }
    EXPECT_EQ(resumed->iterations(), 3);
    for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(a.kernel.value[i], b.kernel.value[i]) << full->name();
    for (std::int64_t i = 0; i < 3; ++i) EXPECT_EQ(a.bias.value[i], b.bias.value[i]) << full->name();
  }
}

TEST(Optimizers, ParameterListMustStayTheSame) {
  Params params;
  const auto opt = make_adam();
  opt->apply(params.list());
  Parameter extra{"x", Tensor(Shape{1}), Tensor(Shape{1}), true};
  std::vector<Parameter*> longer = params.list();
  longer.push_back(&extra);
  EXPECT_TRUE(contains(error_of([&] { opt->apply(longer); }), "different parameter list"));
  params.frozen.trainable = true;
  EXPECT_THROW(opt->apply(params.list()), ArgumentError);
  params.frozen.trainable = false;
  opt->apply(params.list());
  Parameter bad_grad{"w", Tensor(Shape{2}), Tensor(Shape{3}), true};
  Parameter* bad[] = {&bad_grad};
  EXPECT_THROW(make_sgd()->apply(bad), ShapeError);
}

TEST(Optimizers, ZeroLearningRateChangesNothing) {
  Params params;
  load(params.kernel, initial(6, 0.5));
  params.kernel.grad.fill(3.0f);
  const Tensor before = params.kernel.value;
  make_sgd(0.0, 0.9)->apply(params.list());
  make_adam(0.0)->apply(params.list());
  make_rmsprop(0.0)->apply(params.list());
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ(params.kernel.value[i], before[i]);
}

// ---- configs ----------------------------------------------------------------------------------

TEST(Optimizers, DefaultsAndNames) {
  EXPECT_EQ(make_optimizer("adam")->learning_rate(), 0.001);
  EXPECT_EQ(make_optimizer("SGD")->learning_rate(), 0.01);
  EXPECT_EQ(make_optimizer(std::string("RMSprop"))->learning_rate(), 0.001);
  EXPECT_EQ(make_optimizer("Adam", 0.5)->learning_rate(), 0.5);
  EXPECT_EQ(make_optimizer(std::string_view("rmsprop"))->name(), "rmsprop");
  const Json adam = make_adam()->get_config();
  EXPECT_EQ(adam["name"], "adam");
  EXPECT_EQ(adam["beta_1"], 0.9);
  EXPECT_EQ(adam["beta_2"], 0.999);
  EXPECT_EQ(adam["epsilon"], 1e-7);
  EXPECT_EQ(adam["amsgrad"], false);
  const Json sgd = make_sgd()->get_config();
  EXPECT_EQ(sgd["name"], "SGD");
  EXPECT_EQ(sgd["momentum"], 0.0);
  EXPECT_EQ(sgd["nesterov"], false);
  const Json rms = make_rmsprop()->get_config();
  EXPECT_EQ(rms["rho"], 0.9);
  EXPECT_EQ(rms["centered"], false);
  const std::string message = error_of([] { (void)make_optimizer("adagrad"); });
  EXPECT_TRUE(contains(message, "unknown optimizer 'adagrad'")) << message;
  EXPECT_TRUE(contains(message, "adam") && contains(message, "sgd") && contains(message, "rmsprop"));
}

TEST(Optimizers, ConfigsRoundTrip) {
  const std::vector<std::unique_ptr<Optimizer>> all = [] {
    std::vector<std::unique_ptr<Optimizer>> v;
    v.push_back(make_sgd(0.05, 0.9, true));
    v.push_back(make_adam(0.002, 0.8, 0.99, 1e-6));
    v.push_back(make_rmsprop(0.003, 0.95, 0.1, 1e-5, true));
    return v;
  }();
  for (const auto& opt : all) {
    const Json config = opt->get_config();
    const auto rebuilt = make_optimizer(config);
    EXPECT_EQ(rebuilt->name(), opt->name());
    EXPECT_EQ(rebuilt->get_config(), config);
    // Keras's serialized form, with a free name.
    Json inner = config;
    inner["name"] = "my_optimizer";
    const Json wrapped = {{"module", "keras.optimizers"},
                          {"class_name", opt->name() == "sgd" ? "SGD" : opt->name() == "adam" ? "Adam" : "RMSprop"},
                          {"config", inner},
                          {"registered_name", nullptr}};
    const Json again = make_optimizer(wrapped)->get_config();
    EXPECT_EQ(again["learning_rate"], config["learning_rate"]);
    EXPECT_EQ(again["name"], config["name"]);
  }
  // A real Keras 3 Adam config.
  const Json keras = Json::parse(R"({"name": "adam", "learning_rate": 0.0010000000474974513,
      "weight_decay": null, "clipnorm": null, "global_clipnorm": null, "clipvalue": null,
      "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null,
      "loss_scale_factor": null, "gradient_accumulation_steps": null,
      "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": false})");
  EXPECT_NEAR(make_optimizer(keras)->learning_rate(), 0.001, 1e-9);
  EXPECT_EQ(make_optimizer(Json("rmsprop"))->name(), "rmsprop");
  EXPECT_EQ(make_optimizer(Json{{"name", "SGD"}})->get_config()["learning_rate"], 0.01);
}

TEST(Optimizers, BadValuesAndKeys) {
  auto message = [](auto&& f) { return error_of(f); };
  EXPECT_TRUE(contains(message([] { (void)make_sgd(-0.1); }), "SGD: learning_rate must be in [0, inf), got -0.1"));
  EXPECT_TRUE(contains(message([] { (void)make_sgd(0.1, 1.5); }), "momentum"));
  EXPECT_TRUE(contains(message([] { (void)make_sgd(0.1, -0.5); }), "momentum"));
  EXPECT_TRUE(contains(message([] { (void)make_adam(std::nan("")); }), "learning_rate"));
  EXPECT_TRUE(contains(message([] { (void)make_adam(0.001, 1.0); }), "Adam: beta_1 must be in [0, 1), got 1"));
  EXPECT_TRUE(contains(message([] { (void)make_adam(0.001, 0.9, -0.1); }), "beta_2"));
  EXPECT_TRUE(contains(message([] { (void)make_adam(0.001, 0.9, 0.999, -1.0); }), "epsilon"));
  EXPECT_TRUE(contains(message([] { (void)make_rmsprop(0.001, 1.0); }), "RMSprop: rho"));
  EXPECT_TRUE(contains(message([] { (void)make_rmsprop(0.001, 0.9, 2.0); }), "momentum"));
  EXPECT_TRUE(contains(message([] { (void)make_optimizer("adam", -1.0); }), "learning_rate"));
  EXPECT_TRUE(contains(message([] { (void)make_optimizer(Json{{"name", "adam"}, {"beta_3", 0.5}}); }),
                       "unknown config key 'beta_3'"));
  EXPECT_TRUE(contains(message([] { (void)make_optimizer(Json{{"name", "adam"}, {"clipnorm", 1.0}}); }),
                       "clipnorm 1.0 is not supported"));
  EXPECT_TRUE(contains(message([] { (void)make_optimizer(Json{{"name", "adam"}, {"amsgrad", true}}); }),
                       "amsgrad"));
  EXPECT_TRUE(contains(message([] { (void)make_optimizer(Json{{"name", "sgd"}, {"momentum", "high"}}); }),
                       "momentum must be a number"));
  EXPECT_TRUE(contains(message([] {
                         (void)make_optimizer(Json{{"name", "adam"},
                                                   {"learning_rate", {{"class_name", "ExponentialDecay"}}}});
                       }),
                       "schedules are not supported"));
  EXPECT_TRUE(contains(message([] { (void)make_optimizer(Json{{"name", "nadam"}}); }), "unknown optimizer"));
  EXPECT_TRUE(contains(message([] { (void)make_optimizer(Json{{"learning_rate", 0.1}}); }), "needs \"name\""));
  EXPECT_THROW((void)make_optimizer(Json(3)), ArgumentError);
  EXPECT_THROW((void)make_optimizer(Json{{"name", "adam"}, {"beta_1", 1.0}}), ArgumentError);
}

}  // namespace
}  // namespace poolnet
