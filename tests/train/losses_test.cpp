// Losses: values against hand/double computations, gradients against central differences (the
// clip region included), label validation, shapes, names, configs, and count_correct.
#include "poolnet/train/losses.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "poolnet/error.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::central_differences;
using testing::contains;
using testing::error_of;
using testing::random_tensor;

Tensor make(const Shape& shape, std::vector<float> values) { return Tensor(shape, values); }

// d value / d y_pred by central differences with step h (the rounded step divides).
std::vector<double> numeric_gradient(const Loss& loss, const Tensor& y_pred, const Tensor& y_true,
                                     float h) {
  Tensor probe = y_pred;
  return central_differences(probe, [&] { return loss.value(probe, y_true); }, h);
}

void expect_gradient_matches(const Loss& loss, const Tensor& y_pred, const Tensor& y_true,
                             float h, double tol) {
  const Tensor analytic = loss.gradient(y_pred, y_true);
  ASSERT_EQ(analytic.shape(), y_pred.shape());
  const std::vector<double> numeric = numeric_gradient(loss, y_pred, y_true, h);
  for (std::int64_t i = 0; i < y_pred.size(); ++i) {
    const double n = numeric[static_cast<std::size_t>(i)];
    EXPECT_NEAR(analytic[i], n, tol * (1 + std::abs(n))) << loss.name() << " at " << i;
  }
}

// Probabilities: random positive rows normalised to 1.
Tensor probabilities(const Shape& shape, std::uint32_t seed) {
  Tensor t = random_tensor(shape, seed, 0.1f, 1.0f);
  const std::int64_t c = shape[-1];
  for (std::int64_t r = 0; r < t.size() / c; ++r) {
    double s = 0;
    for (std::int64_t j = 0; j < c; ++j) s += t[r * c + j];
    for (std::int64_t j = 0; j < c; ++j) t[r * c + j] = static_cast<float>(t[r * c + j] / s);
  }
  return t;
}

double log_softmax(const Tensor& logits, std::int64_t row, std::int64_t c, std::int64_t j) {
  double m = -1e300;
  for (std::int64_t k = 0; k < c; ++k) m = std::max(m, static_cast<double>(logits[row * c + k]));
  double s = 0;
  for (std::int64_t k = 0; k < c; ++k) s += std::exp(logits[row * c + k] - m);
  return logits[row * c + j] - m - std::log(s);
}

// ---- sparse_categorical_crossentropy ----------------------------------------------------------

TEST(SparseCategoricalCrossentropy, ValueFromProbabilities) {
  const auto loss = make_loss("sparse_categorical_crossentropy");
  EXPECT_EQ(loss->name(), "sparse_categorical_crossentropy");
  EXPECT_TRUE(loss->sparse_labels());
  const Tensor p = make(Shape{2, 3}, {0.2f, 0.5f, 0.3f, 0.1f, 0.1f, 0.8f});
  const Tensor y = make(Shape{2}, {1.0f, 2.0f});
  const double want = -(std::log(static_cast<double>(0.5f)) + std::log(static_cast<double>(0.8f))) / 2;
  EXPECT_NEAR(loss->value(p, y), want, 1e-12);
  // (batch, 1) labels, as Keras also accepts.
  EXPECT_NEAR(loss->value(p, make(Shape{2, 1}, {1.0f, 2.0f})), want, 1e-12);
  const Tensor g = loss->gradient(p, y);
  EXPECT_NEAR(g[1], -1.0 / (2 * 0.5), 1e-6);
  EXPECT_NEAR(g[5], -1.0 / (2 * static_cast<double>(0.8f)), 1e-6);
  for (int i : {0, 2, 3, 4}) EXPECT_EQ(g[i], 0.0f);
  expect_gradient_matches(*loss, probabilities(Shape{4, 5}, 3),
                          make(Shape{4}, {0.0f, 4.0f, 2.0f, 2.0f}), 1e-3f, 1e-3);
}

TEST(SparseCategoricalCrossentropy, ClipRegion) {
  const auto loss = make_loss("sparse_categorical_crossentropy");
  const float lo = 1e-7f, hi = 1.0f - 1e-7f;
  // p = 0 and p = 1 for the label: clipped, zero gradient.
  const Tensor p = make(Shape{2, 2}, {0.0f, 1.0f, 0.0f, 1.0f});
  const Tensor y = make(Shape{2}, {0.0f, 1.0f});
  EXPECT_NEAR(loss->value(p, y), -(std::log(static_cast<double>(lo)) + std::log(static_cast<double>(hi))) / 2,
              1e-9);
  const Tensor g = loss->gradient(p, y);
  for (std::int64_t i = 0; i < 4; ++i) EXPECT_EQ(g[i], 0.0f) << i;
  // Just inside the clip range the gradient is -1/p; just outside it is 0, and the finite
  // difference agrees there too (the value is flat).
  const Tensor inside = make(Shape{1, 2}, {2e-7f, 0.5f});
  EXPECT_NEAR(loss->gradient(inside, make(Shape{1}, {0.0f}))[0], -1.0 / static_cast<double>(2e-7f),
              1.0);
  const Tensor outside = make(Shape{1, 2}, {1e-9f, 0.5f});
  EXPECT_EQ(loss->gradient(outside, make(Shape{1}, {0.0f}))[0], 0.0f);
  const Tensor further = make(Shape{1, 2}, {5e-8f, 0.5f});
  EXPECT_EQ(loss->value(outside, make(Shape{1}, {0.0f})), loss->value(further, make(Shape{1}, {0.0f})));
  // Above 1 - eps (the row need not sum to one).
  const Tensor high = make(Shape{1, 2}, {0.3f, 1.5f});
  EXPECT_EQ(loss->gradient(high, make(Shape{1}, {1.0f}))[1], 0.0f);
  expect_gradient_matches(*loss, high, make(Shape{1}, {1.0f}), 1e-2f, 1e-6);
}

TEST(SparseCategoricalCrossentropy, FromLogits) {
  const auto loss = make_loss("sparse_categorical_crossentropy", true);
  const Tensor logits = random_tensor(Shape{6, 5}, 4, -3.0f, 3.0f);
  const Tensor y = make(Shape{6}, {0, 1, 2, 3, 4, 0});
  double want = 0;
  for (std::int64_t r = 0; r < 6; ++r) want -= log_softmax(logits, r, 5, static_cast<std::int64_t>(y[r]));
  EXPECT_NEAR(loss->value(logits, y), want / 6, 1e-12);
  expect_gradient_matches(*loss, logits, y, 1e-2f, 1e-4);
  // Stable for huge logits.
  const Tensor big = make(Shape{1, 3}, {1000.0f, 0.0f, -1000.0f});
  EXPECT_NEAR(loss->value(big, make(Shape{1}, {0.0f})), 0.0, 1e-12);
  EXPECT_NEAR(loss->value(big, make(Shape{1}, {1.0f})), 1000.0, 1e-9);
  const Tensor g = loss->gradient(big, make(Shape{1}, {1.0f}));
  EXPECT_NEAR(g[0], 1.0, 1e-7);
  EXPECT_NEAR(g[1], -1.0, 1e-7);
  EXPECT_EQ(g[2], 0.0f);
}

TEST(SparseCategoricalCrossentropy, BadLabelsNameRowAndValue) {
  const auto loss = make_loss("sparse_categorical_crossentropy");
  const Tensor p = probabilities(Shape{3, 4}, 1);
  const struct {
    float label;
    const char* text;
  } cases[] = {{2.5f, "2.5"}, {-1.0f, "-1"}, {4.0f, "4"}, {std::nanf(""), "nan"},
               {std::numeric_limits<float>::infinity(), "inf"}};
  for (const auto& c : cases) {
    const Tensor y = make(Shape{3}, {0.0f, 1.0f, c.label});
    for (const std::string& message : {error_of([&] { (void)loss->value(p, y); }),
                                       error_of([&] { (void)loss->gradient(p, y); }),
                                       error_of([&] { (void)count_correct(p, y, true); })}) {
      EXPECT_TRUE(contains(message, "row 2")) << message;
      EXPECT_TRUE(contains(message, std::string(" is ") + c.text)) << message;
      EXPECT_TRUE(contains(message, "[0, 4)")) << message;
    }
    EXPECT_THROW((void)loss->value(p, y), ArgumentError);
  }
}

TEST(SparseCategoricalCrossentropy, ShapeErrors) {
  const auto loss = make_loss("sparse_categorical_crossentropy");
  const Tensor p = probabilities(Shape{3, 4}, 1);
  EXPECT_THROW((void)loss->value(p, Tensor(Shape{4})), ShapeError);
  EXPECT_THROW((void)loss->value(p, Tensor(Shape{3, 4})), ShapeError);
  EXPECT_THROW((void)loss->gradient(p, Tensor(Shape{2})), ShapeError);
  EXPECT_THROW((void)loss->value(Tensor(Shape{3}), Tensor(Shape{3})), ShapeError);
  const std::string message = error_of([&] { (void)loss->value(p, Tensor(Shape{4})); });
  EXPECT_TRUE(contains(message, "(3, 4)") && contains(message, "(4,)")) << message;
}

// ---- categorical_crossentropy -----------------------------------------------------------------

TEST(CategoricalCrossentropy, ValueRenormalisesRows) {
  const auto loss = make_loss("categorical_crossentropy");
  EXPECT_FALSE(loss->sparse_labels());
  // Rows summing to 2 and 0.5: Keras divides by the sum first.
  const Tensor p = make(Shape{2, 3}, {0.4f, 1.0f, 0.6f, 0.05f, 0.05f, 0.4f});
  const Tensor t = make(Shape{2, 3}, {0, 1, 0, 0, 0, 1});
  const double want = -(std::log(0.5) + std::log(0.8)) / 2;
  EXPECT_NEAR(loss->value(p, t), want, 1e-6);
  // Soft labels.
  const Tensor soft = make(Shape{2, 3}, {0.2f, 0.8f, 0.0f, 0.5f, 0.0f, 0.5f});
  const double want_soft =
      -(0.2 * std::log(0.2) + 0.8 * std::log(0.5) + 0.5 * std::log(0.1) + 0.5 * std::log(0.8)) / 2;
  EXPECT_NEAR(loss->value(p, soft), want_soft, 1e-6);
  expect_gradient_matches(*loss, p, soft, 1e-3f, 2e-3);
  expect_gradient_matches(*loss, random_tensor(Shape{3, 4}, 5, 0.1f, 1.0f),
                          probabilities(Shape{3, 4}, 6), 1e-3f, 2e-3);
}

TEST(CategoricalCrossentropy, ClipRegion) {
  const auto loss = make_loss("categorical_crossentropy");
  // The labelled class has probability 0 (clipped to eps) and another 1 (clipped to 1 - eps).
  const Tensor p = make(Shape{1, 3}, {0.0f, 1.0f, 0.0f});
  const Tensor t = make(Shape{1, 3}, {1, 0, 0});
  EXPECT_NEAR(loss->value(p, t), -std::log(static_cast<double>(1e-7f)), 1e-9);
  const Tensor g = loss->gradient(p, t);
  for (std::int64_t i = 0; i < 3; ++i) EXPECT_EQ(g[i], 0.0f) << i;
  // Clipped entries pass no gradient, unclipped ones do: compare with differences of value().
  const Tensor mixed = make(Shape{1, 3}, {1e-9f, 0.6f, 0.4f});
  const Tensor soft = make(Shape{1, 3}, {0.5f, 0.25f, 0.25f});
  const Tensor gm = loss->gradient(mixed, soft);
  // d/dp0: only through the sum S (q1, q2 depend on it): (0 - sum_k dq_k q_k) / S.
  const double q1 = 0.6 / (1 + 1e-9), q2 = 0.4 / (1 + 1e-9);
  const double dot = (-0.25 / q1) * q1 + (-0.25 / q2) * q2;
  EXPECT_NEAR(gm[0], -dot, 1e-5);
  // Central differences with a step that keeps each entry on its side of the clip bound.
  const float steps[] = {5e-8f, 1e-3f, 1e-3f};
  for (std::int64_t i = 0; i < 3; ++i) {
    Tensor probe = mixed;
    const float plus = mixed[i] + steps[i], minus = mixed[i] - steps[i];
    probe[i] = plus;
    const double fp = loss->value(probe, soft);
    probe[i] = minus;
    const double fm = loss->value(probe, soft);
    const double numeric = (fp - fm) / (static_cast<double>(plus) - minus);
    EXPECT_NEAR(gm[i], numeric, 1e-4 * (1 + std::abs(numeric))) << i;
  }
}

TEST(CategoricalCrossentropy, FromLogits) {
  const auto loss = make_loss("categorical_crossentropy", true);
  const Tensor logits = random_tensor(Shape{4, 6}, 7, -4.0f, 4.0f);
  const Tensor t = probabilities(Shape{4, 6}, 8);
  double want = 0;
  for (std::int64_t r = 0; r < 4; ++r)
    for (std::int64_t j = 0; j < 6; ++j) want -= t[r * 6 + j] * log_softmax(logits, r, 6, j);
  EXPECT_NEAR(loss->value(logits, t), want / 4, 1e-12);
  expect_gradient_matches(*loss, logits, t, 1e-2f, 1e-4);
  // Rank 3: one distribution per (batch, time) row, averaged over all rows.
  const Tensor l3 = random_tensor(Shape{2, 3, 4}, 9, -2.0f, 2.0f);
  const Tensor t3 = probabilities(Shape{2, 3, 4}, 10);
  double want3 = 0;
  for (std::int64_t r = 0; r < 6; ++r)
    for (std::int64_t j = 0; j < 4; ++j) want3 -= t3[r * 4 + j] * log_softmax(l3, r, 4, j);
  EXPECT_NEAR(loss->value(l3, t3), want3 / 6, 1e-12);
  expect_gradient_matches(*loss, l3, t3, 1e-2f, 1e-4);
  const Tensor big = make(Shape{1, 2}, {-1000.0f, 1000.0f});
  EXPECT_NEAR(loss->value(big, make(Shape{1, 2}, {1, 0})), 2000.0, 1e-9);
}

TEST(CategoricalCrossentropy, ShapeMismatch) {
  const auto loss = make_loss("categorical_crossentropy");
  EXPECT_THROW((void)loss->value(Tensor(Shape{2, 3}), Tensor(Shape{2})), ShapeError);
  EXPECT_THROW((void)loss->gradient(Tensor(Shape{2, 3}), Tensor(Shape{2, 4})), ShapeError);
}

// ---- mean_squared_error -----------------------------------------------------------------------

TEST(MeanSquaredError, ValueAndGradient) {
  for (const char* name : {"mean_squared_error", "mse"}) {
    const auto loss = make_loss(name);
    EXPECT_EQ(loss->name(), "mean_squared_error");
    const Tensor p = make(Shape{2, 2}, {1.0f, 2.0f, 3.0f, 4.0f});
    const Tensor t = make(Shape{2, 2}, {0.0f, 2.0f, 5.0f, 3.0f});
    // Per row: (1 + 0) / 2, (4 + 1) / 2; mean over the batch: 1.5.
    EXPECT_DOUBLE_EQ(loss->value(p, t), 1.5);
    const Tensor g = loss->gradient(p, t);
    const float want[] = {0.5f, 0.0f, -1.0f, 0.5f};
    for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(g[i], want[i]);
    expect_gradient_matches(*loss, random_tensor(Shape{3, 2, 4}, 1), random_tensor(Shape{3, 2, 4}, 2),
                            1e-2f, 1e-5);
  }
  const auto loss = make_loss("mse");
  EXPECT_THROW((void)loss->value(Tensor(Shape{2, 3}), Tensor(Shape{3, 2})), ShapeError);
  EXPECT_THROW(make_loss("mse", true), ArgumentError);
  const Tensor nan = make(Shape{1, 2}, {std::nanf(""), 0.0f});
  EXPECT_TRUE(std::isnan(loss->value(nan, Tensor(Shape{1, 2}))));
}

// ---- names, configs, count_correct ------------------------------------------------------------

TEST(Losses, NamesAndConfigs) {
  const std::string message = error_of([] { (void)make_loss("hinge"); });
  EXPECT_TRUE(contains(message, "unknown loss 'hinge'")) << message;
  for (const char* known : {"sparse_categorical_crossentropy", "categorical_crossentropy",
                            "mean_squared_error", "mse"}) {
    EXPECT_TRUE(contains(message, known)) << message;
  }
  EXPECT_THROW((void)make_loss("Sparse_Categorical_Crossentropy"), ArgumentError);
  EXPECT_EQ(make_loss("SparseCategoricalCrossentropy")->name(), "sparse_categorical_crossentropy");
  for (bool logits : {false, true}) {
    for (const char* name : {"sparse_categorical_crossentropy", "categorical_crossentropy"}) {
      const nlohmann::json config = make_loss(name, logits)->get_config();
      EXPECT_EQ(config["name"], name);
      EXPECT_EQ(config["from_logits"], logits);
      EXPECT_EQ(config["reduction"], "sum_over_batch_size");
      EXPECT_EQ(make_loss(config["name"].get<std::string>(), config["from_logits"].get<bool>())->get_config(),
                config);
    }
  }
  EXPECT_EQ(make_loss("mse")->get_config()["name"], "mean_squared_error");
}

TEST(CountCorrect, ArgmaxFirstOnTies) {
  const Tensor p = make(Shape{4, 3}, {0.1f, 0.7f, 0.2f,    // 1
                                      0.4f, 0.4f, 0.2f,    // tie: 0
                                      0.3f, 0.3f, 0.3f,    // tie: 0
                                      0.0f, 0.2f, 0.8f});  // 2
  EXPECT_EQ(count_correct(p, make(Shape{4}, {1, 0, 0, 2}), true), 4);
  EXPECT_EQ(count_correct(p, make(Shape{4}, {1, 1, 2, 2}), true), 2);
  EXPECT_EQ(count_correct(p, make(Shape{4, 1}, {0, 0, 0, 0}), true), 2);
  const Tensor onehot = make(Shape{4, 3}, {0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1});
  EXPECT_EQ(count_correct(p, onehot, false), 3);
  // A row with NaN is never correct.
  Tensor nan_row = p;
  nan_row[0] = std::nanf("");
  EXPECT_EQ(count_correct(nan_row, make(Shape{4}, {1, 0, 0, 2}), true), 3);
  EXPECT_THROW((void)count_correct(p, Tensor(Shape{3}), true), ShapeError);
  EXPECT_THROW((void)count_correct(p, Tensor(Shape{4}), false), ShapeError);
}

}  // namespace
}  // namespace poolnet
