// Keras losses with Keras's default reduction, "sum_over_batch_size": the per-sample losses
// (one per row of the last axis) are averaged. Values are accumulated in double; gradients are
// the exact derivatives of the values (a clipped probability has zero gradient).
#include "poolnet/train/losses.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "poolnet/error.hpp"
#include "train/number_text.hpp"

namespace poolnet {
namespace {

// Keras's backend.epsilon() and the clip bounds as Keras computes them, in float32.
constexpr float kEpsilon = 1e-7f;
constexpr float kClipLow = kEpsilon;
constexpr float kClipHigh = 1.0f - kEpsilon;

[[noreturn]] void shape_mismatch(std::string_view loss, const Shape& pred, const Shape& truth,
                                 std::string_view expected) {
  std::string message(loss);
  message += ": y_pred has shape ";
  message += pred.to_string();
  message += " and y_true has shape ";
  message += truth.to_string();
  message += "; ";
  message += expected;
  throw ShapeError(message);
}

// (rows, classes) view of y_pred for losses over the last axis.
struct Rows {
  std::int64_t rows;
  std::int64_t classes;
};

Rows class_rows(std::string_view loss, const Tensor& y_pred) {
  if (y_pred.rank() < 2 || y_pred.dim(-1) == 0 || y_pred.dim(0) == 0) {
    std::string message(loss);
    message += ": y_pred must have shape (batch, ..., classes) with batch and classes > 0, got ";
    message += y_pred.shape().to_string();
    throw ShapeError(message);
  }
  return {y_pred.size() / y_pred.dim(-1), y_pred.dim(-1)};
}

// The class index held by a float label, or ArgumentError naming the row and the value.
std::int64_t label_index(std::string_view context, float label, std::int64_t row,
                         std::int64_t classes) {
  const bool ok = std::isfinite(label) && std::floor(label) == label && label >= 0.0f &&
                  static_cast<double>(label) < static_cast<double>(classes);
  if (!ok) {
    std::string message(context);
    message += ": label of row ";
    message += std::to_string(row);
    message += " is ";
    message += number_text(label);
    message += "; labels must be integers in [0, ";
    message += std::to_string(classes);
    message += ")";
    throw ArgumentError(message);
  }
  return static_cast<std::int64_t>(label);
}

// Sparse labels: y_true has y_pred's shape without the class axis, or with a class axis of 1
// (Keras accepts both (batch,) and (batch, 1)).
void check_sparse_shapes(std::string_view loss, const Tensor& y_pred, const Tensor& y_true) {
  const Shape& p = y_pred.shape();
  const Shape& t = y_true.shape();
  bool ok = false;
  if (t.rank() == p.rank() - 1 || (t.rank() == p.rank() && t[-1] == 1)) {
    ok = true;
    for (int i = 0; i < p.rank() - 1; ++i) ok = ok && t[i] == p[i];
  }
  if (!ok) {
    shape_mismatch(loss, p, t,
                   "sparse labels need y_true of y_pred's shape without the class axis (or with "
                   "a class axis of 1)");
  }
}

// log(sum(exp(row))) with the row's maximum subtracted; NaN in, NaN out.
double log_sum_exp(const float* row, std::int64_t n) {
  double m = row[0];
  for (std::int64_t j = 0; j < n; ++j) {
    if (std::isnan(row[j])) return std::nan("");
    if (row[j] > m) m = row[j];
  }
  if (std::isinf(m)) return m;  // +inf: the loss is inf or nan below; -inf: all -inf
  double sum = 0.0;
  for (std::int64_t j = 0; j < n; ++j) sum += std::exp(static_cast<double>(row[j]) - m);
  return m + std::log(sum);
}

class SparseCategoricalCrossentropy final : public Loss {
 public:
  explicit SparseCategoricalCrossentropy(bool from_logits) : from_logits_(from_logits) {}
  std::string_view name() const override { return "sparse_categorical_crossentropy"; }
  bool sparse_labels() const override { return true; }

  double value(const Tensor& y_pred, const Tensor& y_true) const override {
    const Rows r = class_rows(name(), y_pred);
    check_sparse_shapes(name(), y_pred, y_true);
    double total = 0.0;
    for (std::int64_t i = 0; i < r.rows; ++i) {
      const float* row = y_pred.data() + i * r.classes;
      const std::int64_t label = label_index(name(), y_true[i], i, r.classes);
      if (from_logits_) {
        total += log_sum_exp(row, r.classes) - static_cast<double>(row[label]);
      } else {
        // std::clamp passes NaN through.
        total -= std::log(static_cast<double>(std::clamp(row[label], kClipLow, kClipHigh)));
      }
    }
    return total / static_cast<double>(r.rows);
  }

  void gradient_into(const Tensor& y_pred, const Tensor& y_true, Tensor& grad) const override {
    const Rows r = class_rows(name(), y_pred);
    check_sparse_shapes(name(), y_pred, y_true);
    grad.resize(y_pred.shape());
    grad.fill(0.0f);
    const double inv_rows = 1.0 / static_cast<double>(r.rows);
    for (std::int64_t i = 0; i < r.rows; ++i) {
      const float* row = y_pred.data() + i * r.classes;
      float* g = grad.data() + i * r.classes;
      const std::int64_t label = label_index(name(), y_true[i], i, r.classes);
      if (from_logits_) {
        // softmax - one_hot
        const double lse = log_sum_exp(row, r.classes);
        for (std::int64_t j = 0; j < r.classes; ++j) {
          const double s = std::exp(static_cast<double>(row[j]) - lse);
          g[j] = static_cast<float>((s - (j == label ? 1.0 : 0.0)) * inv_rows);
        }
      } else {
        // d(-log clip(p))/dp = -1/p inside the clip range, 0 where clipped.
        const float p = row[label];
        if (std::isnan(p)) {
          g[label] = p;
        } else if (p >= kClipLow && p <= kClipHigh) {
          g[label] = static_cast<float>(-inv_rows / static_cast<double>(p));
        }
      }
    }
  }

  nlohmann::json get_config() const override {
    return {{"name", name()},
            {"reduction", "sum_over_batch_size"},
            {"from_logits", from_logits_},
            {"ignore_class", nullptr}};
  }

 private:
  bool from_logits_;
};

class CategoricalCrossentropy final : public Loss {
 public:
  explicit CategoricalCrossentropy(bool from_logits) : from_logits_(from_logits) {}
  std::string_view name() const override { return "categorical_crossentropy"; }
  bool sparse_labels() const override { return false; }

  double value(const Tensor& y_pred, const Tensor& y_true) const override {
    const Rows r = class_rows(name(), y_pred);
    check_shapes(y_pred, y_true);
    double total = 0.0;
    std::vector<double> q(static_cast<std::size_t>(r.classes));
    for (std::int64_t i = 0; i < r.rows; ++i) {
      const float* row = y_pred.data() + i * r.classes;
      const float* t = y_true.data() + i * r.classes;
      if (from_logits_) {
        const double lse = log_sum_exp(row, r.classes);
        for (std::int64_t j = 0; j < r.classes; ++j) {
          total -= static_cast<double>(t[j]) * (static_cast<double>(row[j]) - lse);
        }
      } else {
        const double sum = row_sum(row, r.classes);
        for (std::int64_t j = 0; j < r.classes; ++j) {
          total -= static_cast<double>(t[j]) * std::log(clipped(row[j], sum));
        }
      }
    }
    return total / static_cast<double>(r.rows);
  }

  void gradient_into(const Tensor& y_pred, const Tensor& y_true, Tensor& grad) const override {
    const Rows r = class_rows(name(), y_pred);
    check_shapes(y_pred, y_true);
    grad.resize(y_pred.shape());
    grad.fill(0.0f);
    const double inv_rows = 1.0 / static_cast<double>(r.rows);
    std::vector<double> dq(static_cast<std::size_t>(r.classes));
    for (std::int64_t i = 0; i < r.rows; ++i) {
      const float* row = y_pred.data() + i * r.classes;
      const float* t = y_true.data() + i * r.classes;
      float* g = grad.data() + i * r.classes;
      if (from_logits_) {
        // d/dx_j -sum_k t_k (x_k - lse) = softmax_j * sum(t) - t_j
        const double lse = log_sum_exp(row, r.classes);
        double t_sum = 0.0;
        for (std::int64_t j = 0; j < r.classes; ++j) t_sum += t[j];
        for (std::int64_t j = 0; j < r.classes; ++j) {
          const double s = std::exp(static_cast<double>(row[j]) - lse);
          g[j] = static_cast<float>((s * t_sum - static_cast<double>(t[j])) * inv_rows);
        }
      } else {
        // L = -sum_k t_k log(clip(q_k)), q = p / S: dL/dq_k = -t_k / q_k inside the clip range,
        // 0 outside; dL/dp_j = (dL/dq_j - sum_k dL/dq_k q_k) / S.
        const double sum = row_sum(row, r.classes);
        double dot = 0.0;
        for (std::int64_t j = 0; j < r.classes; ++j) {
          const double qj = static_cast<double>(row[j]) / sum;
          double d = 0.0;
          if (std::isnan(qj)) {
            d = qj;
          } else if (inside_clip(qj)) {
            d = -static_cast<double>(t[j]) / qj;
          }
          dq[static_cast<std::size_t>(j)] = d;
          dot += d * qj;
        }
        for (std::int64_t j = 0; j < r.classes; ++j) {
          g[j] = static_cast<float>((dq[static_cast<std::size_t>(j)] - dot) / sum * inv_rows);
        }
      }
    }
  }

  nlohmann::json get_config() const override {
    return {{"name", name()},
            {"reduction", "sum_over_batch_size"},
            {"from_logits", from_logits_},
            {"label_smoothing", 0.0},
            {"axis", -1}};
  }

 private:
  void check_shapes(const Tensor& y_pred, const Tensor& y_true) const {
    if (!(y_pred.shape() == y_true.shape())) {
      shape_mismatch(name(), y_pred.shape(), y_true.shape(),
                     "they must match (one-hot labels; use sparse_categorical_crossentropy for "
                     "class indices)");
    }
  }
  static double row_sum(const float* row, std::int64_t n) {
    double s = 0.0;
    for (std::int64_t j = 0; j < n; ++j) s += row[j];
    return s;
  }
  // Keras: y_pred / sum(y_pred), clipped to [eps, 1 - eps] (the float32 bounds). Computed in
  // double so that the value is smooth where gradient() says it is.
  static bool inside_clip(double q) {
    return q >= static_cast<double>(kClipLow) && q <= static_cast<double>(kClipHigh);
  }
  static double clipped(float p, double sum) {
    const double q = static_cast<double>(p) / sum;
    if (std::isnan(q)) return q;
    return std::clamp(q, static_cast<double>(kClipLow), static_cast<double>(kClipHigh));
  }

  bool from_logits_;
};

class MeanSquaredError final : public Loss {
 public:
  std::string_view name() const override { return "mean_squared_error"; }
  bool sparse_labels() const override { return false; }

  double value(const Tensor& y_pred, const Tensor& y_true) const override {
    check_shapes(y_pred, y_true);
    // Mean over the last axis, then over the rest: with equal row lengths, the mean of all.
    double total = 0.0;
    for (std::int64_t i = 0; i < y_pred.size(); ++i) {
      const double d = static_cast<double>(y_pred[i]) - static_cast<double>(y_true[i]);
      total += d * d;
    }
    return total / static_cast<double>(y_pred.size());
  }

  void gradient_into(const Tensor& y_pred, const Tensor& y_true, Tensor& grad) const override {
    check_shapes(y_pred, y_true);
    grad.resize(y_pred.shape());
    grad.fill(0.0f);
    const double scale = 2.0 / static_cast<double>(y_pred.size());
    for (std::int64_t i = 0; i < y_pred.size(); ++i) {
      grad[i] = static_cast<float>(
          (static_cast<double>(y_pred[i]) - static_cast<double>(y_true[i])) * scale);
    }
  }

  nlohmann::json get_config() const override {
    return {{"name", name()}, {"reduction", "sum_over_batch_size"}};
  }

 private:
  void check_shapes(const Tensor& y_pred, const Tensor& y_true) const {
    if (!(y_pred.shape() == y_true.shape())) {
      shape_mismatch(name(), y_pred.shape(), y_true.shape(), "they must match");
    }
    if (y_pred.size() == 0) {
      std::string message(name());
      message += ": y_pred is empty (shape ";
      message += y_pred.shape().to_string();
      message += ")";
      throw ShapeError(message);
    }
  }
};

// Index of the first maximum, or -1 when the row holds a NaN.
std::int64_t argmax(const float* row, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    if (std::isnan(row[j])) return -1;
    if (row[j] > row[best]) best = j;
  }
  return best;
}

}  // namespace

std::unique_ptr<Loss> make_loss(std::string_view name, bool from_logits) {
  if (name == "sparse_categorical_crossentropy" || name == "SparseCategoricalCrossentropy") {
    return std::make_unique<SparseCategoricalCrossentropy>(from_logits);
  }
  if (name == "categorical_crossentropy" || name == "CategoricalCrossentropy") {
    return std::make_unique<CategoricalCrossentropy>(from_logits);
  }
  if (name == "mean_squared_error" || name == "mse" || name == "MSE" || name == "MeanSquaredError") {
    if (from_logits) {
      std::string message(name);
      message += ": from_logits is not an argument of mean_squared_error";
      throw ArgumentError(message);
    }
    return std::make_unique<MeanSquaredError>();
  }
  std::string message = "unknown loss '";
  message += name;
  message +=
      "' (known: sparse_categorical_crossentropy, categorical_crossentropy, mean_squared_error, "
      "mse)";
  throw ArgumentError(message);
}

std::int64_t count_correct(const Tensor& y_pred, const Tensor& y_true, bool sparse_labels) {
  constexpr std::string_view kContext = "count_correct";
  const Rows r = class_rows(kContext, y_pred);
  if (sparse_labels) {
    check_sparse_shapes(kContext, y_pred, y_true);
  } else if (!(y_pred.shape() == y_true.shape())) {
    shape_mismatch(kContext, y_pred.shape(), y_true.shape(), "they must match (one-hot labels)");
  }
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < r.rows; ++i) {
    const std::int64_t predicted = argmax(y_pred.data() + i * r.classes, r.classes);
    const std::int64_t expected = sparse_labels
                                      ? label_index(kContext, y_true[i], i, r.classes)
                                      : argmax(y_true.data() + i * r.classes, r.classes);
    if (predicted >= 0 && predicted == expected) ++correct;
  }
  return correct;
}

}  // namespace poolnet
