#include "cli/model_commands.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "io/atomic_file.hpp"
#include "io/image.hpp"
#include "poolnet/data/idx.hpp"
#include "poolnet/error.hpp"
#include "poolnet/model/model_file.hpp"
#include "poolnet/model/sequential.hpp"
#include "poolnet/error.hpp"

extern "C" void openblas_set_num_threads(int num_threads);

namespace poolnet::cli {
namespace {

std::string data_dir_or_default(const std::string& dir) {
  return dir.empty() ? std::string(kDefaultFashionMnistDir) : dir;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Keeps only the first n samples of a data set.
Dataset head(const Dataset& d, std::int64_t n) {
  n = std::min(n, d.images.dim(0));
  std::vector<std::int64_t> dims = d.images.shape().to_vector();
  dims[0] = n;
  const std::int64_t row = d.images.size() / std::max<std::int64_t>(d.images.dim(0), 1);
  Dataset out;
  out.images = Tensor(Shape(dims), std::span<const float>(d.images.data(), static_cast<std::size_t>(n * row)));
  out.labels = Tensor(Shape{n}, std::span<const float>(d.labels.data(), static_cast<std::size_t>(n)));
  return out;
}

// The per-layer table of `train --profile`: milliseconds per step (wall clock).
void print_profile(const StepProfile& p, std::ostream& out) {
  if (p.steps == 0) return;
  const double per_step = 1000.0 / static_cast<double>(p.steps);
  double total = p.batches + p.loss + p.optimizer;
  for (const auto& l : p.layers) total += l.forward + l.backward;
  char line[160];
  out << "\nProfile: wall-clock ms per training step (" << p.steps << " steps)\n";
  std::snprintf(line, sizeof line, "  %-28s %9s %9s %9s %6s\n", "layer", "forward", "backward", "total", "share");
  out << line;
  auto row = [&](const std::string& name, double forward, double backward) {
    std::snprintf(line, sizeof line, "  %-28s %9.2f %9.2f %9.2f %5.1f%%\n", name.c_str(), forward * per_step,
                  backward * per_step, (forward + backward) * per_step, 100.0 * (forward + backward) / total);
    out << line;
  };
  for (const auto& l : p.layers) row(l.name + " (" + l.class_name + ")", l.forward, l.backward);
  row("batch gather", p.batches, 0.0);
  row("loss, accuracy", p.loss, 0.0);
  row("optimizer (zero grads, Adam)", p.optimizer, 0.0);
  std::snprintf(line, sizeof line, "  %-28s %9s %9s %9.2f\n", "step", "", "", total * per_step);
  out << line;
}

}  // namespace

int set_threads(int threads) {
  if (threads < 0) throw ArgumentError("--threads must be >= 0, got " + std::to_string(threads));
  if (threads > 0) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
  }
  return omp_get_max_threads();
}

int run_summary(const std::string& model_path, std::ostream& out) {
  const Sequential model = load_model_any(model_path);
  out << model.summary();
  return 0;
}

namespace {

nlohmann::json settings_of(const TrainArgs& a, int threads) {
  return {{"model_path", a.model_path}, {"data_dir", a.data_dir}, {"epochs", a.epochs},
          {"batch_size", a.batch_size}, {"validation_split", a.validation_split},
          {"seed", a.seed}, {"threads", threads}, {"out", a.out},
          {"limit", a.limit ? nlohmann::json(*a.limit) : nlohmann::json(nullptr)}};
}

// The settings a checkpoint was started with: a resumed run repeats them exactly.
TrainArgs args_from_settings(const nlohmann::json& s, const std::string& where) {
  try {
    TrainArgs a;
    a.model_path = s.at("model_path").get<std::string>();
    a.data_dir = s.at("data_dir").get<std::string>();
    a.epochs = s.at("epochs").get<int>();
    a.batch_size = s.at("batch_size").get<std::int64_t>();
    a.validation_split = s.at("validation_split").get<double>();
    a.seed = s.at("seed").get<std::uint64_t>();
    a.threads = s.at("threads").get<int>();
    a.out = s.at("out").get<std::string>();
    if (!s.at("limit").is_null()) a.limit = s.at("limit").get<std::int64_t>();
    return a;
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(where + ": checkpoint settings are incomplete: " + e.what());
  }
}

}  // namespace

std::string checkpoint_path(const std::string& directory) {
  return (std::filesystem::path(directory) / "checkpoint.pnet").string();
}

int run_train(const TrainArgs& requested, std::ostream& out) {
  TrainArgs args = requested;
  std::optional<Sequential> loaded;
  int epochs_done = 0;
  if (!requested.resume_dir.empty()) {
    // Continue a run: its settings (seed, threads, batch, data) come from the checkpoint, so the
    // final weights are the ones the uninterrupted run would have produced.
    const std::string path = checkpoint_path(requested.resume_dir);
    auto [model, state] = load_checkpoint(path);
    args = args_from_settings(state.settings, path);
    args.checkpoint_dir = requested.resume_dir;
    epochs_done = state.epochs_done;
    loaded.emplace(std::move(model));
    out << "Resuming " << path << " after epoch " << epochs_done << " of " << args.epochs << "\n";
  }
  const int threads = set_threads(args.threads);
  Sequential model = loaded ? std::move(*loaded) : load_model_any(args.model_path);
  if (!loaded && (!args.optimizer.empty() || !model.compiled() || args.learning_rate)) {
    std::string optimizer = args.optimizer;
    if (optimizer.empty()) optimizer = model.compiled() ? std::string(model.optimizer().name()) : "adam";
    const std::string loss = model.compiled() ? std::string(model.loss().name())
                                              : "sparse_categorical_crossentropy";
    model.compile(make_optimizer(optimizer, args.learning_rate), make_loss(loss));
  }
  const bool resumed_weights = model.built();
  if (!resumed_weights) model.build(args.seed);

  out << model.summary() << '\n';
  const std::string data_dir = data_dir_or_default(args.data_dir);
  const auto load_start = std::chrono::steady_clock::now();
  MnistData data = load_mnist_directory(data_dir);
  if (args.limit) {
    if (*args.limit <= 0) throw ArgumentError("--limit must be > 0");
    data.train = head(data.train, *args.limit);
  }
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  out << "Data: " << data_dir << ": " << data.train.images.dim(0) << " training and "
      << data.test.images.dim(0) << " test images " << data.train.images.shape().to_string()
      << " (loaded in " << fixed(load_seconds, 1) << " s)\n";
  out << "Training: " << args.epochs << " epochs, batch " << args.batch_size << ", "
      << model.optimizer().name() << " (learning rate " << model.optimizer().learning_rate()
      << "), validation_split " << args.validation_split << ", seed " << args.seed << ", "
      << threads << " threads" << (resumed_weights && !loaded ? ", continuing from saved weights" : "")
      << "\n\n";

  const nlohmann::json settings = settings_of(args, threads);
  if (!args.checkpoint_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.checkpoint_dir, ec);
    if (ec) throw FormatError("cannot create checkpoint directory '" + args.checkpoint_dir + "': " + ec.message());
    // A run killed during a save leaves its temporary file; the checkpoint itself is intact.
    io::remove_stale_temporaries(checkpoint_path(args.checkpoint_dir));
  }

  FitOptions fit;
  fit.batch_size = args.batch_size;
  fit.epochs = args.epochs;
  fit.validation_split = args.validation_split;
  fit.seed = args.seed;
  fit.out = &out;
  fit.verbosity = &out == &std::cout ? Verbosity::kAuto : Verbosity::kPerEpoch;
  fit.initial_epoch = epochs_done;
  if (!args.checkpoint_dir.empty()) {
    // Atomic per epoch: a crash loses at most the epoch in progress.
    const std::string path = checkpoint_path(args.checkpoint_dir);
    fit.on_epoch_end = [&model, &settings, path](const EpochLogs& logs) {
      save_checkpoint(model, TrainingState{logs.epoch, settings}, path);
      return true;
    };
  }
  fit.profile = args.profile;
  const History history = model.fit(data.train.images, data.train.labels, fit);
  double seconds = 0.0;
  for (const EpochLogs& e : history.epochs) seconds += e.seconds;
  if (history.profile) print_profile(*history.profile, out);

  const Evaluation test = model.evaluate(data.test.images, data.test.labels, 1000);
  out << "\nTest: loss " << fixed(test.loss, 4) << " - accuracy " << fixed(test.accuracy, 4)
      << " (" << data.test.images.dim(0) << " images; training took " << fixed(seconds, 1)
      << " s, " << fixed(history.epochs.empty() ? 0.0 : seconds / static_cast<double>(history.epochs.size()), 1)
      << " s per epoch)\n";

  std::string out_path = args.out;
  if (out_path.empty()) out_path = model.name() + ".pnet";
  save_model(model, out_path);
  out << "Saved the model to " << out_path << "\n";
  return 0;
}

int run_evaluate(const std::string& model_path, const std::string& data_dir, std::ostream& out) {
  Sequential model = load_model_any(model_path);
  if (!model.built()) {
    throw ArgumentError(model_path + ": holds no trained weights (train it first: poolnet train " +
                        model_path + ")");
  }
  if (!model.compiled()) model.compile(make_optimizer("adam"), make_loss("sparse_categorical_crossentropy"));
  const std::string dir = data_dir_or_default(data_dir);
  const MnistData data = load_mnist_directory(dir);
  const auto start = std::chrono::steady_clock::now();
  const Evaluation e = model.evaluate(data.test.images, data.test.labels, 1000);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out << "Test loss: " << fixed(e.loss, 4) << "\nTest accuracy: " << fixed(e.accuracy, 4) << " ("
      << data.test.images.dim(0) << " images from " << dir << ", evaluated in " << fixed(seconds, 3)
      << " s at batch 1000 on " << omp_get_max_threads() << " threads)\n";
  return 0;
}

int run_predict(const std::string& model_path, const std::vector<std::string>& images, int top,
                std::ostream& out) {
  if (images.empty()) throw ArgumentError("predict: give at least one image (PNG or PGM)");
  if (top <= 0) throw ArgumentError("predict: --top must be > 0");
  const Sequential model = load_model_any(model_path);
  if (!model.built()) throw ArgumentError(model_path + ": holds no trained weights");
  const std::vector<std::int64_t>& in = model.input_shape();
  if (in.size() != 3 || in[2] != 1) {
    throw ShapeError(model_path + ": predict takes grayscale images; the model's input is " +
                     dims_to_string(in));
  }
  const std::vector<std::string>& names = fashion_mnist_class_names();
  for (const std::string& path : images) {
    Tensor image = io::read_gray_image(path);
    const bool resized = image.dim(0) != in[0] || image.dim(1) != in[1];
    if (resized) image = io::resize_gray(image, in[0], in[1]);
    const Tensor x = std::move(image).reshaped(Shape{1, in[0], in[1], 1});
    const Tensor p = model.predict(x, 1);
    const std::int64_t classes = p.dim(1);
    std::vector<std::int64_t> order(static_cast<std::size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return p[a] > p[b]; });
    out << path << (resized ? " (resized to " + std::to_string(in[0]) + "x" + std::to_string(in[1]) + ")" : "") << '\n';
    for (int k = 0; k < std::min<std::int64_t>(top, classes); ++k) {
      const std::int64_t c = order[static_cast<std::size_t>(k)];
      const std::string label = classes == static_cast<std::int64_t>(names.size())
                                    ? names[static_cast<std::size_t>(c)]
                                    : "class " + std::to_string(c);
      char percent[16];
      std::snprintf(percent, sizeof percent, "%5.1f%%", 100.0 * static_cast<double>(p[c]));
      out << "  " << percent << "  " << label << " (" << c << ")\n";
    }
  }
  return 0;
}

}  // namespace poolnet::cli
