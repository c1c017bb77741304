#include "poolnet/model/sequential.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <numeric>
#include <set>

#include "model/progress.hpp"
#include "poolnet/error.hpp"
#include "poolnet/layers/registry.hpp"

namespace poolnet {
namespace {

using Json = nlohmann::json;

std::string layer_label(const Layer& layer, std::size_t index, std::size_t count) {
  return "layer '" + layer.name() + "' (" + std::string(layer.class_name()) + ", " +
         std::to_string(index + 1) + " of " + std::to_string(count) + ")";
}

// "(None, 26, 26, 32)".
std::string shape_with_none(const Shape& shape) {
  std::string s = "(None";
  for (int i = 1; i < shape.rank(); ++i) s += ", " + std::to_string(shape[i]);
  if (shape.rank() == 1) s += ",";
  return s + ")";
}

// 431242 -> "431,242".
std::string with_commas(std::int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  const int len = static_cast<int>(digits.size());
  for (int i = 0; i < len; ++i) {
    if (i > 0 && (len - i) % 3 == 0) out += ',';
    out += digits[static_cast<std::size_t>(i)];
  }
  return out;
}

// Keras's readable_memory_size: 1724968 bytes -> "1.65 MB" (powers of 1024).
std::string readable_bytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", bytes, units[unit]);
  return buf;
}

// Display width of a UTF-8 string (each code point counts 1).
std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

Shape with_batch(std::int64_t batch, const Shape& sample_shape_from) {
  std::array<std::int64_t, kMaxRank> dims{};
  const int rank = sample_shape_from.rank();
  for (int i = 0; i < rank; ++i) dims[static_cast<std::size_t>(i)] = sample_shape_from[i];
  dims[0] = batch;
  return Shape(std::span<const std::int64_t>(dims.data(), static_cast<std::size_t>(rank)));
}

// Rows index[begin], ..., index[end - 1] of `src` into `dst`, resized to end - begin rows (its
// storage is reused when large enough).
void gather_rows(const Tensor& src, const std::vector<std::int64_t>& index, std::int64_t begin,
                 std::int64_t end, Tensor& dst) {
  if (dst.rank() == 0 || dst.dim(0) != end - begin) dst.resize(with_batch(end - begin, src.shape()));
  const std::int64_t row = src.size() / std::max<std::int64_t>(src.dim(0), 1);
  for (std::int64_t i = begin; i < end; ++i) {
    std::memcpy(dst.data() + (i - begin) * row, src.data() + index[static_cast<std::size_t>(i)] * row,
                static_cast<std::size_t>(row) * sizeof(float));
  }
}

void check_finite(const Tensor& t, std::string_view what) {
  const std::int64_t row = t.size() / std::max<std::int64_t>(t.dim(0), 1);
  for (std::int64_t i = 0; i < t.size(); ++i) {
    if (!std::isfinite(t[i])) {
      throw ArgumentError(std::string(what) + " holds a non-finite value (" + std::to_string(t[i]) +
                          ") in sample " + std::to_string(row ? i / row : 0) +
                          ": clean the data before training");
    }
  }
}

// A distinct stream per epoch, so an epoch can be replayed (resumed) from the seed alone.
Rng epoch_rng(std::uint64_t seed, int epoch) {
  return Rng(seed ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(epoch + 1)));
}

std::string loss_class_to_name(const std::string& class_name) {
  if (class_name == "SparseCategoricalCrossentropy") return "sparse_categorical_crossentropy";
  if (class_name == "CategoricalCrossentropy") return "categorical_crossentropy";
  if (class_name == "MeanSquaredError") return "mean_squared_error";
  return class_name;
}

}  // namespace

Sequential::Sequential(std::string name) : name_(std::move(name)) {}
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;
Sequential::~Sequential() = default;

void Sequential::set_input_shape(std::vector<std::int64_t> shape) {
  if (shape.empty() || shape.size() + 1 > static_cast<std::size_t>(kMaxRank)) {
    throw ShapeError(name_ + ": input shape " + dims_to_string(shape) + " must have 1 to " +
                     std::to_string(kMaxRank - 1) + " dimensions (without the batch)");
  }
  for (std::int64_t d : shape) {
    if (d <= 0) throw ShapeError(name_ + ": input shape " + dims_to_string(shape) + " has a dimension <= 0");
  }
  std::vector<std::int64_t> full{1};
  full.insert(full.end(), shape.begin(), shape.end());
  (void)Shape(full);  // overflow check
  input_shape_ = std::move(shape);
  built_ = false;
}

Layer& Sequential::add(std::unique_ptr<Layer> layer) {
  if (!layer) throw ArgumentError(name_ + ": add() got no layer");
  std::set<std::string> taken;
  for (const auto& l : layers_) taken.insert(l->name());
  if (taken.contains(layer->name())) {
    const std::string base = layer->name();
    int suffix = 1;
    while (taken.contains(base + "_" + std::to_string(suffix))) ++suffix;
    layer->set_name(base + "_" + std::to_string(suffix));
  }
  layers_.push_back(std::move(layer));
  built_ = false;
  return *layers_.back();
}

void Sequential::build(std::uint64_t seed) {
  if (input_shape_.empty()) {
    throw ShapeError(name_ + ": the input shape is unknown; set it with set_input_shape() or "
                     "batch_input_shape / an InputLayer in the model JSON");
  }
  if (layers_.empty()) throw ArgumentError(name_ + ": the model has no layers");
  Rng rng(seed);
  std::vector<std::int64_t> dims{1};
  dims.insert(dims.end(), input_shape_.begin(), input_shape_.end());
  Shape shape(dims);
  std::int64_t parameters = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    shape = with_context(name_ + ": " + layer_label(layer, i, layers_.size()) + ", input " +
                             shape_with_none(shape),
                         [&] {
                           layer.build(shape, rng);
                           return layer.compute_output_shape(shape);
                         });
    // Each weight is limited before it is allocated; this bounds the sum (a model file or JSON
    // may stack many large layers).
    if (shape.elements() > kMaxSampleActivationElements) {
      throw ShapeError(name_ + ": " + layer_label(layer, i, layers_.size()) + " outputs " +
                       shape_with_none(shape) + ", " + std::to_string(shape.elements()) +
                       " elements per sample, more than the limit of " +
                       std::to_string(kMaxSampleActivationElements));
    }
    parameters += layer.count_params();
    if (parameters > kMaxModelParameters) {
      throw ShapeError(name_ + ": " + layer_label(layer, i, layers_.size()) + " brings the model to " +
                       std::to_string(parameters) + " parameters, more than the limit of " +
                       std::to_string(kMaxModelParameters));
    }
  }
  built_ = true;
}

std::vector<Shape> Sequential::output_shapes(std::int64_t batch) const {
  if (input_shape_.empty()) throw ShapeError(name_ + ": the input shape is unknown");
  std::vector<std::int64_t> dims{batch};
  dims.insert(dims.end(), input_shape_.begin(), input_shape_.end());
  Shape shape(dims);
  std::vector<Shape> shapes;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = *layers_[i];
    shape = with_context(name_ + ": " + layer_label(layer, i, layers_.size()) + ", input " +
                             shape_with_none(shape),
                         [&] { return layer.compute_output_shape(shape); });
    shapes.push_back(shape);
  }
  return shapes;
}

std::int64_t Sequential::count_params() const {
  std::int64_t n = 0;
  for (const auto& l : layers_) n += l->count_params();
  return n;
}

std::int64_t Sequential::count_trainable_params() const {
  std::int64_t n = 0;
  for (const auto& l : layers_) n += l->count_trainable_params();
  return n;
}

std::string Sequential::summary() const {
  const std::vector<Shape> shapes = output_shapes();
  std::vector<std::array<std::string, 3>> rows;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    rows.push_back({layers_[i]->name() + " (" + std::string(layers_[i]->class_name()) + ")",
                    shape_with_none(shapes[i]), with_commas(layers_[i]->count_params())});
  }
  const std::array<std::string, 3> header = {"Layer (type)", "Output Shape", "Param #"};
  std::array<std::size_t, 3> width = {31, 22, 13};  // Keras's minimum column widths
  for (const auto& r : rows)
    for (std::size_t c = 0; c < 3; ++c) width[c] = std::max(width[c], display_width(r[c]));

  auto cell = [&](const std::string& text, std::size_t c) {
    const std::string pad(width[c] - display_width(text), ' ');
    return c == 2 ? " " + pad + text + " " : " " + text + pad + " ";
  };
  auto border = [&](const char* left, const char* fill, const char* mid, const char* right) {
    std::string s = left;
    for (std::size_t c = 0; c < 3; ++c) s += repeat(fill, width[c] + 2) + (c < 2 ? mid : right);
    return s + "\n";
  };
  std::string out = "Model: \"" + name_ + "\"\n";
  out += border("\u250f", "\u2501", "\u2533", "\u2513");
  out += "\u2503" + cell(header[0], 0) + "\u2503" + cell(header[1], 1) + "\u2503" + cell(header[2], 2) + "\u2503\n";
  out += border("\u2521", "\u2501", "\u2547", "\u2529");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out += "\u2502" + cell(rows[i][0], 0) + "\u2502" + cell(rows[i][1], 1) + "\u2502" + cell(rows[i][2], 2) + "\u2502\n";
    out += i + 1 < rows.size() ? border("\u251c", "\u2500", "\u253c", "\u2524")
                               : border("\u2514", "\u2500", "\u2534", "\u2518");
  }
  const std::int64_t total = count_params();
  const std::int64_t trainable = count_trainable_params();
  auto line = [&](const char* what, std::int64_t n) {
    return std::string(" ") + what + ": " + with_commas(n) + " (" +
           readable_bytes(static_cast<double>(n) * 4.0) + ")\n";
  };
  out += line("Total params", total);
  out += line("Trainable params", trainable);
  out += line("Non-trainable params", total - trainable);
  return out;
}

void Sequential::compile(std::unique_ptr<Optimizer> optimizer, std::unique_ptr<Loss> loss,
                         std::vector<std::string> metrics) {
  if (!optimizer || !loss) throw ArgumentError(name_ + ": compile() needs an optimizer and a loss");
  for (const std::string& m : metrics) {
    if (m != "accuracy" && m != "acc") {
      throw ArgumentError(name_ + ": unknown metric '" + m + "' (known: accuracy)");
    }
  }
  optimizer_ = std::move(optimizer);
  loss_ = std::move(loss);
  metrics_ = std::move(metrics);
}

std::vector<Parameter*> Sequential::parameters() {
  std::vector<Parameter*> params;
  for (auto& l : layers_)
    for (Parameter* p : l->parameters()) params.push_back(p);
  return params;
}

void Sequential::check_input(const Tensor& x, std::string_view what) const {
  if (input_shape_.empty()) throw ShapeError(name_ + ": the input shape is unknown");
  bool ok = x.rank() == static_cast<int>(input_shape_.size()) + 1;
  for (std::size_t i = 0; ok && i < input_shape_.size(); ++i)
    ok = x.dim(static_cast<int>(i) + 1) == input_shape_[i];
  if (!ok) {
    throw ShapeError(name_ + ": " + std::string(what) + " has shape " + x.shape().to_string() +
                     ", the model expects (samples, " +
                     dims_to_string(input_shape_).substr(1));
  }
}

History Sequential::fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  if (!compiled()) throw ArgumentError(name_ + ": call compile() before fit()");
  if (!built_) build(options.seed);
  check_input(x, "x");
  if (options.batch_size <= 0) throw ArgumentError(name_ + ": batch_size must be > 0, got " + std::to_string(options.batch_size));
  if (options.epochs < 0) throw ArgumentError(name_ + ": epochs must be >= 0, got " + std::to_string(options.epochs));
  if (!(options.validation_split >= 0.0 && options.validation_split < 1.0)) {
    throw ArgumentError(name_ + ": validation_split must be in [0, 1), got " + std::to_string(options.validation_split));
  }
  if (y.dim(0) != x.dim(0)) {
    throw ShapeError(name_ + ": x has " + std::to_string(x.dim(0)) + " samples but y has " +
                     std::to_string(y.dim(0)));
  }
  check_finite(x, "x");
  check_finite(y, "y");

  const std::int64_t samples = x.dim(0);
  std::int64_t train_count = samples;
  const Tensor* val_x = options.validation_x;
  const Tensor* val_y = options.validation_y;
  if (val_x == nullptr && options.validation_split > 0.0) {
    // Keras: split_at = floor(n * (1 - validation_split)); the tail is validation data.
    train_count = static_cast<std::int64_t>(std::floor(static_cast<double>(samples) * (1.0 - options.validation_split)));
    if (train_count <= 0 || train_count >= samples) {
      throw ArgumentError(name_ + ": validation_split " + std::to_string(options.validation_split) +
                          " leaves no training or no validation samples out of " + std::to_string(samples));
    }
  }
  if (val_x != nullptr) {
    if (val_y == nullptr) throw ArgumentError(name_ + ": validation_x given without validation_y");
    check_input(*val_x, "validation x");
  }
  if (train_count == 0) throw ArgumentError(name_ + ": no training samples");

  std::ostream& out = options.out ? *options.out : std::cout;
  const bool interactive = options.verbosity == Verbosity::kBar ||
                           (options.verbosity == Verbosity::kAuto && &out == &std::cout &&
                            stdout_is_terminal());
  const std::int64_t steps = (train_count + options.batch_size - 1) / options.batch_size;
  const std::vector<Parameter*> params = parameters();
  std::vector<Parameter*> trainable;
  for (Parameter* p : params)
    if (p->trainable) trainable.push_back(p);

  History history;
  std::vector<std::int64_t> order(static_cast<std::size_t>(train_count));
  // Every buffer of a step lives across steps and epochs: activations[i] is layer i's input,
  // gradients[i] the gradient with respect to it (gradients[0] is never computed: nobody reads
  // the input gradient of the first layer). Layers resize them in place, so after the first
  // step a step allocates nothing (tests/model/train_allocation_test.cpp).
  Tensor batch_y;
  std::vector<Tensor> activations(layers_.size() + 1);
  std::vector<Tensor> gradients(layers_.size() + 1);
  Metrics running = {{"accuracy", 0.0}, {"loss", 0.0}};
  using Clock = std::chrono::steady_clock;
  const bool profile = options.profile;
  if (profile) {
    history.profile.emplace();
    for (const auto& l : layers_) history.profile->layers.push_back({l->name(), std::string(l->class_name())});
  }
  // Adds the seconds since `since` to `total` and restarts the clock (profiling only).
  Clock::time_point since;
  auto lap = [&](double& total) {
    if (!profile) return;
    const Clock::time_point now = Clock::now();
    total += std::chrono::duration<double>(now - since).count();
    since = now;
  };
  double ignored = 0.0;
  for (int epoch = options.initial_epoch; epoch < options.epochs; ++epoch) {
    Rng rng = epoch_rng(options.seed, epoch);
    std::iota(order.begin(), order.end(), 0);
    if (options.shuffle) {
      for (std::int64_t i = train_count - 1; i > 0; --i) {
        const auto j = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(i + 1)));
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
      }
    }
    const std::string title = "Epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs);
    std::optional<ProgressBar> bar;
    if (options.verbosity != Verbosity::kSilent) bar.emplace(out, title, steps, interactive);

    double loss_sum = 0.0;
    std::int64_t correct = 0, seen = 0;
    for (std::int64_t step = 0; step < steps; ++step) {
      const std::int64_t begin = step * options.batch_size;
      const std::int64_t end = std::min(begin + options.batch_size, train_count);
      const std::int64_t n = end - begin;
      StepProfile* prof = profile ? &*history.profile : nullptr;
      if (profile) since = Clock::now();
      gather_rows(x, order, begin, end, activations[0]);
      gather_rows(y, order, begin, end, batch_y);
      lap(prof ? prof->batches : ignored);

      for (std::size_t i = 0; i < layers_.size(); ++i) {
        layers_[i]->forward_train(activations[i], activations[i + 1], rng);
        lap(prof ? prof->layers[i].forward : ignored);
      }
      const Tensor& y_pred = activations.back();
      const double batch_loss = loss_->value(y_pred, batch_y);
      if (!std::isfinite(batch_loss)) {
        throw Error(name_ + ": the loss became " + std::to_string(batch_loss) + " at epoch " +
                    std::to_string(epoch + 1) + ", step " + std::to_string(step + 1) +
                    " (learning rate too high, or bad labels?)");
      }
      loss_->gradient_into(y_pred, batch_y, gradients.back());
      loss_sum += batch_loss * static_cast<double>(n);
      correct += count_correct(y_pred, batch_y, loss_->sparse_labels());
      seen += n;
      lap(prof ? prof->loss : ignored);
      for (Parameter* p : params) p->grad.fill(0.0f);
      lap(prof ? prof->optimizer : ignored);
      for (std::size_t i = layers_.size(); i-- > 0;) {
        layers_[i]->backward_train(activations[i], activations[i + 1], gradients[i + 1],
                                   i == 0 ? nullptr : &gradients[i]);
        lap(prof ? prof->layers[i].backward : ignored);
      }
      optimizer_->apply(trainable);
      lap(prof ? prof->optimizer : ignored);
      if (prof) ++prof->steps;
      if (bar) {
        running[0].second = static_cast<double>(correct) / static_cast<double>(seen);
        running[1].second = loss_sum / static_cast<double>(seen);
        bar->update(step + 1, running);
      }
    }

    EpochLogs logs;
    logs.epoch = epoch + 1;
    logs.loss = loss_sum / static_cast<double>(seen);
    logs.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
    Metrics metrics = {{"accuracy", logs.accuracy}, {"loss", logs.loss}};
    std::optional<Evaluation> val;
    if (val_x != nullptr) {
      val = run_epoch_eval(*val_x, *val_y, 0, val_x->dim(0), options.batch_size);
    } else if (train_count < samples) {
      val = run_epoch_eval(x, y, train_count, samples, options.batch_size);
    }
    if (val) {
      logs.val_loss = val->loss;
      logs.val_accuracy = val->accuracy;
      metrics.push_back({"val_accuracy", val->accuracy});
      metrics.push_back({"val_loss", val->loss});
    }
    if (bar) {
      logs.seconds = bar->elapsed_seconds();
      bar->finish(metrics);
    }
    history.epochs.push_back(logs);
    if (options.on_epoch_end && !options.on_epoch_end(logs)) break;
  }
  return history;
}

const Tensor& Sequential::forward_all(const Tensor& x, std::vector<Tensor>& buffers) const {
  buffers.resize(layers_.size());
  const Tensor* a = &x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward_into(*a, buffers[i]);
    a = &buffers[i];
  }
  return *a;
}

Evaluation Sequential::run_epoch_eval(const Tensor& x, const Tensor& y, std::int64_t begin,
                                      std::int64_t end, std::int64_t batch_size) const {
  if (y.dim(0) != x.dim(0)) {
    throw ShapeError(name_ + ": x has " + std::to_string(x.dim(0)) + " samples but y has " +
                     std::to_string(y.dim(0)));
  }
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  std::vector<std::int64_t> identity(static_cast<std::size_t>(x.dim(0)));
  std::iota(identity.begin(), identity.end(), 0);
  Tensor batch_x, batch_y;
  std::vector<Tensor> buffers;
  for (std::int64_t b = begin; b < end; b += batch_size) {
    const std::int64_t e = std::min(b + batch_size, end);
    const std::int64_t n = e - b;
    gather_rows(x, identity, b, e, batch_x);
    gather_rows(y, identity, b, e, batch_y);
    const Tensor& a = forward_all(batch_x, buffers);
    loss_sum += loss_->value(a, batch_y) * static_cast<double>(n);
    correct += count_correct(a, batch_y, loss_->sparse_labels());
  }
  const double count = static_cast<double>(std::max<std::int64_t>(end - begin, 1));
  return {loss_sum / count, static_cast<double>(correct) / count};
}

Evaluation Sequential::evaluate(const Tensor& x, const Tensor& y, std::int64_t batch_size) const {
  if (!compiled()) throw ArgumentError(name_ + ": call compile() before evaluate()");
  if (!built_) throw ArgumentError(name_ + ": the model has no weights yet (build, fit or load it)");
  if (batch_size <= 0) throw ArgumentError(name_ + ": batch_size must be > 0");
  check_input(x, "x");
  return run_epoch_eval(x, y, 0, x.dim(0), batch_size);
}

Tensor Sequential::predict(const Tensor& x, std::int64_t batch_size) const {
  if (!built_) throw ArgumentError(name_ + ": the model has no weights yet (build, fit or load it)");
  if (batch_size <= 0) throw ArgumentError(name_ + ": batch_size must be > 0");
  check_input(x, "x");
  const std::int64_t samples = x.dim(0);
  const std::vector<Shape> shapes = output_shapes(samples);
  Tensor result(shapes.back());
  const std::int64_t in_row = x.size() / std::max<std::int64_t>(samples, 1);
  const std::int64_t out_row = result.size() / std::max<std::int64_t>(samples, 1);
  Tensor batch;
  std::vector<Tensor> buffers;
  for (std::int64_t b = 0; b < samples; b += batch_size) {
    const std::int64_t n = std::min(batch_size, samples - b);
    batch.resize(with_batch(n, x.shape()));
    std::copy_n(x.data() + b * in_row, n * in_row, batch.data());
    const Tensor& a = forward_all(batch, buffers);
    std::copy_n(a.data(), n * out_row, result.data() + b * out_row);
  }
  return result;
}

nlohmann::json Sequential::to_json() const {
  Json layers = Json::array();
  if (!input_shape_.empty()) {
    Json batch_shape = Json::array({nullptr});
    for (std::int64_t d : input_shape_) batch_shape.push_back(d);
    layers.push_back({{"module", "keras.layers"},
                      {"class_name", "InputLayer"},
                      {"config", {{"batch_shape", batch_shape}, {"dtype", "float32"},
                                  {"sparse", false}, {"name", "input_layer"}}},
                      {"registered_name", nullptr}});
  }
  for (const auto& l : layers_) {
    layers.push_back({{"module", "keras.layers"},
                      {"class_name", std::string(l->class_name())},
                      {"config", l->get_config()},
                      {"registered_name", nullptr}});
  }
  Json model = {{"module", "keras"},
                {"class_name", "Sequential"},
                {"config", {{"name", name_}, {"trainable", true}, {"dtype", "float32"}, {"layers", layers}}},
                {"registered_name", nullptr}};
  if (compiled()) {
    model["compile_config"] = {{"optimizer", optimizer_->get_config()},
                               {"loss", loss_->get_config()},
                               {"metrics", metrics_}};
  }
  return model;
}

Sequential Sequential::from_json(const nlohmann::json& model) {
  if (!model.is_object()) throw ArgumentError("model JSON: expected an object, got " + model.dump().substr(0, 60));
  // Read as JSON, not as a string: a class_name of another type is an error to report, and
  // value<std::string> would throw the JSON library's type_error instead.
  const Json class_name = model.value("class_name", Json());
  if (class_name != "Sequential") {
    throw ArgumentError("model JSON: only Sequential models are supported, got class_name " +
                        (class_name.is_string() ? "'" + class_name.get<std::string>() + "'"
                                                : class_name.dump().substr(0, 60)));
  }
  if (!model.contains("config") || !model["config"].is_object()) {
    throw ArgumentError("model JSON: missing the \"config\" object");
  }
  const Json& config = model["config"];
  const std::string name = config.contains("name") && config["name"].is_string()
                               ? config["name"].get<std::string>()
                               : "sequential";
  Sequential seq(name);
  if (!config.contains("layers") || !config["layers"].is_array()) {
    throw ArgumentError("model JSON: config.layers must be an array of layers");
  }

  auto read_shape = [](const Json& value, const std::string& where, bool has_batch) {
    if (!value.is_array() || value.empty()) {
      throw ArgumentError(where + " must be a list like [null, 28, 28, 1], got " + value.dump());
    }
    std::vector<std::int64_t> dims;
    for (std::size_t i = has_batch ? 1 : 0; i < value.size(); ++i) {
      if (!value[i].is_number_integer() || value[i].get<std::int64_t>() <= 0) {
        throw ArgumentError(where + " must hold positive ints after the batch, got " + value.dump());
      }
      dims.push_back(value[i].get<std::int64_t>());
    }
    return dims;
  };

  const Json& layers = config["layers"];
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Json& entry = layers[i];
    const std::string where = "model JSON: layer " + std::to_string(i + 1);
    if (!entry.is_object() || !entry.contains("class_name") || !entry["class_name"].is_string()) {
      throw ArgumentError(where + ": expected {\"class_name\": ..., \"config\": {...}}");
    }
    for (const auto& [key, value] : entry.items()) {
      static const std::set<std::string> kEntryKeys = {"class_name", "config", "module",
                                                        "registered_name", "build_config", "name",
                                                        "inbound_nodes"};
      if (!kEntryKeys.contains(key)) throw ArgumentError(where + ": unknown key '" + key + "'");
    }
    const std::string layer_class = entry["class_name"].get<std::string>();
    Json layer_config = entry.value("config", Json::object());
    if (!layer_config.is_object()) throw ArgumentError(where + " (" + layer_class + "): config must be an object");

    std::optional<std::vector<std::int64_t>> declared;
    for (const char* key : {"batch_shape", "batch_input_shape"}) {
      if (layer_config.contains(key) && !layer_config[key].is_null()) {
        declared = read_shape(layer_config[key], where + " (" + layer_class + "): " + key, true);
      }
      layer_config.erase(key);
    }
    if (layer_config.contains("input_shape") && !layer_config["input_shape"].is_null()) {
      declared = read_shape(layer_config["input_shape"], where + " (" + layer_class + "): input_shape", false);
    }
    layer_config.erase("input_shape");
    if (declared) {
      if (!seq.input_shape_.empty() && seq.input_shape_ != *declared) {
        throw ArgumentError(where + " (" + layer_class + "): declares input shape " +
                            dims_to_string(*declared) + " but the model's is " +
                            dims_to_string(seq.input_shape_));
      }
      seq.set_input_shape(*declared);
    }
    if (layer_class == "InputLayer") {
      if (!declared) throw ArgumentError(where + " (InputLayer): needs batch_shape, e.g. [null, 28, 28, 1]");
      continue;
    }
    if (seq.input_shape_.empty() && entry.contains("build_config") &&
        entry["build_config"].is_object() && entry["build_config"].contains("input_shape")) {
      seq.set_input_shape(read_shape(entry["build_config"]["input_shape"], where + " build_config.input_shape", true));
    }
    std::unique_ptr<Layer> layer = with_context(where + " (" + layer_class + ")", [&] {
      return make_layer(layer_class, layer_config);
    });
    seq.add(std::move(layer));
  }
  if (seq.layers_.empty()) throw ArgumentError("model JSON: the model has no layers");

  if (model.contains("compile_config") && !model["compile_config"].is_null()) {
    const Json& cc = model["compile_config"];
    if (!cc.is_object()) throw ArgumentError("model JSON: compile_config must be an object");
    std::unique_ptr<Optimizer> optimizer;
    const Json opt = cc.value("optimizer", Json("adam"));
    if (opt.is_string()) {
      optimizer = make_optimizer(opt.get<std::string>());
    } else if (opt.is_object() && opt.contains("config") && opt["config"].is_object()) {
      optimizer = make_optimizer(opt["config"]);
    } else {
      optimizer = make_optimizer(opt);
    }
    std::unique_ptr<Loss> loss;
    const Json l = cc.value("loss", Json("sparse_categorical_crossentropy"));
    if (l.is_string()) {
      loss = make_loss(l.get<std::string>());
    } else if (l.is_object()) {
      const Json lc = l.value("config", l);
      const Json loss_class = l.value("class_name", Json());
      const Json config_name = lc.is_object() ? lc.value("name", Json("?")) : Json();
      const Json from_logits = lc.is_object() ? lc.value("from_logits", Json(false)) : Json();
      if ((!loss_class.is_null() && !loss_class.is_string()) || (loss_class.is_null() && !config_name.is_string()) ||
          !from_logits.is_boolean()) {
        throw ArgumentError("model JSON: compile_config.loss needs a string class_name (or config.name) and a "
                            "boolean config.from_logits, got " + l.dump().substr(0, 120));
      }
      const std::string loss_name =
          loss_class.is_string() ? loss_class_to_name(loss_class.get<std::string>()) : config_name.get<std::string>();
      loss = make_loss(loss_name, from_logits.get<bool>());
    } else {
      throw ArgumentError("model JSON: compile_config.loss must be a name or an object, got " + l.dump());
    }
    std::vector<std::string> metrics;
    if (cc.contains("metrics") && cc["metrics"].is_array()) {
      for (const Json& m : cc["metrics"]) {
        if (!m.is_string()) throw ArgumentError("model JSON: compile_config.metrics must be names");
        metrics.push_back(m.get<std::string>());
      }
    }
    seq.compile(std::move(optimizer), std::move(loss), metrics);
  }
  return seq;
}

}  // namespace poolnet
