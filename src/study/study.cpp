#include "study/study.hpp"

#include <omp.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "io/atomic_file.hpp"
#include "model/progress.hpp"
#include "poolnet/data/idx.hpp"
#include "poolnet/error.hpp"
#include "poolnet/model/model_file.hpp"
#include "study/memory.hpp"
#include "study/report.hpp"
#include "study/shift.hpp"

#ifndef POOLNET_VERSION
#error "POOLNET_VERSION must be defined by the build"
#endif

extern "C" void openblas_set_num_threads(int num_threads);

namespace poolnet::study {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

// Bumped when what a result file holds, or how it is measured, changes: old results re-run.
constexpr int kResultFormat = 1;
constexpr std::int64_t kPredictBatch = 250;

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string mib(std::int64_t bytes) {
  return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0), 0) + " MiB";
}

// The first n samples (all when n is 0 or larger than the set).
Dataset head(const Dataset& d, std::int64_t n) {
  if (n <= 0 || n >= d.images.dim(0)) return d;
  std::vector<std::int64_t> dims = d.images.shape().to_vector();
  dims[0] = n;
  const std::int64_t row = d.images.size() / d.images.dim(0);
  Dataset out;
  out.images = Tensor(Shape(dims), std::span<const float>(d.images.data(), static_cast<std::size_t>(n * row)));
  out.labels = Tensor(Shape{n}, std::span<const float>(d.labels.data(), static_cast<std::size_t>(n)));
  return out;
}

bool valid_variant_name(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

Json history_to_json(const std::vector<EpochLogs>& history) {
  Json out = Json::array();
  for (const EpochLogs& e : history) {
    out.push_back({{"epoch", e.epoch}, {"loss", e.loss}, {"accuracy", e.accuracy},
                   {"val_loss", e.val_loss ? Json(*e.val_loss) : Json(nullptr)},
                   {"val_accuracy", e.val_accuracy ? Json(*e.val_accuracy) : Json(nullptr)},
                   {"seconds", e.seconds}});
  }
  return out;
}

std::vector<EpochLogs> history_from_json(const Json& j) {
  std::vector<EpochLogs> history;
  for (const Json& e : j) {
    EpochLogs logs;
    logs.epoch = e.at("epoch").get<int>();
    logs.loss = e.at("loss").get<double>();
    logs.accuracy = e.at("accuracy").get<double>();
    if (!e.at("val_loss").is_null()) logs.val_loss = e.at("val_loss").get<double>();
    if (!e.at("val_accuracy").is_null()) logs.val_accuracy = e.at("val_accuracy").get<double>();
    logs.seconds = e.at("seconds").get<double>();
    history.push_back(logs);
  }
  return history;
}

// What a checkpoint carries over of the epochs it holds. A value of the wrong type (the file is
// the study's own, behind a CRC, but may come from another version) is a FormatError, and the
// checkpoint is then ignored like any unreadable one.
struct CarriedState {
  std::vector<EpochLogs> history;
  double seconds = 0;
  std::int64_t peak_rss_bytes = 0, start_rss_bytes = 0;
};
CarriedState carried_from_json(const Json& settings, const std::string& where) {
  auto read = [&](const char* key, auto parse) {
    try {
      return parse(settings.contains(key) ? settings.at(key) : Json());
    } catch (const Json::exception& e) {
      throw FormatError(where + ": the training state's \"" + key + "\" is not readable: " + e.what());
    }
  };
  auto number = [](auto fallback) {
    return [fallback](const Json& j) { return j.is_null() ? fallback : j.get<decltype(fallback)>(); };
  };
  CarriedState c;
  c.history = read("history", [](const Json& j) { return history_from_json(j.is_null() ? Json::array() : j); });
  c.seconds = read("train_seconds", number(0.0));
  c.peak_rss_bytes = read("peak_rss_bytes", number(std::int64_t{0}));
  c.start_rss_bytes = read("start_rss_bytes", number(std::int64_t{0}));
  return c;
}

// The predicted class of each row of a (count, classes) output.
std::vector<int> predicted_classes(const Tensor& probabilities) {
  const std::int64_t count = probabilities.dim(0), classes = probabilities.dim(1);
  std::vector<int> out(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    const float* row = probabilities.data() + i * classes;
    out[static_cast<std::size_t>(i)] = static_cast<int>(std::max_element(row, row + classes) - row);
  }
  return out;
}

// Accuracy of every shift in every direction, and how many predictions stay what they were.
std::vector<ShiftPoint> shift_sweep(const Sequential& model, const Dataset& test, int max_shift) {
  const std::int64_t count = test.images.dim(0);
  const std::vector<int> unshifted = predicted_classes(model.predict(test.images, kPredictBatch));
  auto score = [&](const std::vector<int>& predicted, double* accuracy, double* consistency) {
    std::int64_t correct = 0, same = 0;
    for (std::int64_t i = 0; i < count; ++i) {
      const int p = predicted[static_cast<std::size_t>(i)];
      correct += p == static_cast<int>(test.labels[i]);
      same += p == unshifted[static_cast<std::size_t>(i)];
    }
    *accuracy = static_cast<double>(correct) / static_cast<double>(count);
    *consistency = static_cast<double>(same) / static_cast<double>(count);
  };
  std::vector<ShiftPoint> points;
  ShiftPoint zero;
  score(unshifted, &zero.accuracy, &zero.consistency);
  points.push_back(zero);
  for (int s = 1; s <= max_shift; ++s) {
    ShiftPoint point;
    point.shift = s;
    for (const Direction& d : shift_directions()) {
      const Tensor shifted = shift_images(test.images, s * d.rows, s * d.cols);
      double accuracy = 0.0, consistency = 0.0;
      score(predicted_classes(model.predict(shifted, kPredictBatch)), &accuracy, &consistency);
      point.accuracy_by_direction.push_back(accuracy);
      point.consistency_by_direction.push_back(consistency);
      point.accuracy += accuracy / static_cast<double>(shift_directions().size());
      point.consistency += consistency / static_cast<double>(shift_directions().size());
    }
    points.push_back(point);
  }
  return points;
}

// Which parts of two keys differ, for the message that says why a variant re-runs.
std::string key_difference(const Json& old_key, const Json& new_key) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : new_key.items()) {
    if (!old_key.contains(name) || old_key[name] != value) parts.push_back(name);
  }
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? "the key" : out;
}

struct StudyData {
  Dataset train;       // the profile's subset, validation tail included
  Dataset test;        // all test images
  Dataset sweep;       // the first sweep_images test images
  Dataset train_eval;  // the first train_eval_images training images (before the split)
  std::int64_t fit_images = 0;
};

VariantResult train_variant(const VariantSpec& spec, const Json& key, const StudyOptions& options,
                            const StudyData& data, std::ostream& out) {
  const std::string dir = variant_dir(options.out_dir, spec.name);
  fs::create_directories(dir);
  const std::string checkpoint = (fs::path(dir) / "checkpoint.pnet").string();
  const Profile& profile = options.profile;

  VariantResult result;
  result.name = spec.name;
  result.json_path = spec.path;
  result.key = key;

  std::optional<Sequential> model;
  int epochs_done = 0;
  CarriedState carried;  // history, time and memory of the epochs already done
  if (fs::exists(checkpoint)) {
    try {
      auto [saved, state] = load_checkpoint(checkpoint);
      if (state.settings.value("key", Json()) == key) {
        carried = carried_from_json(state.settings, checkpoint);
        model.emplace(std::move(saved));
        epochs_done = state.epochs_done;
        result.resumed = true;
        out << "  resuming from " << checkpoint << " after epoch " << epochs_done << "\n" << std::flush;
      } else {
        out << "  ignoring " << checkpoint << ": it was made with other inputs ("
            << key_difference(state.settings.value("key", Json::object()), key) << ")\n" << std::flush;
      }
    } catch (const Error& e) {
      out << "  ignoring an unreadable checkpoint: " << e.what() << "\n" << std::flush;
    }
  }
  if (!model) model.emplace(model_of(spec, options.seed));
  Sequential& m = *model;
  result.model_name = m.name();
  result.params = m.count_params();

  std::vector<EpochLogs> history = std::move(carried.history);
  double seconds = carried.seconds;
  std::int64_t peak = carried.peak_rss_bytes;
  std::int64_t start = carried.start_rss_bytes;

  const PeakMemoryProbe probe;
  if (start == 0) start = probe.start_bytes();
  result.memory_method = probe.method();
  FitOptions fit;
  fit.batch_size = profile.batch_size;
  fit.epochs = profile.epochs;
  fit.validation_split = profile.validation_split;
  fit.seed = options.seed;
  fit.out = &out;
  fit.verbosity = &out == &std::cout ? Verbosity::kAuto : Verbosity::kPerEpoch;
  fit.initial_epoch = epochs_done;
  bool interrupted = false;
  fit.on_epoch_end = [&](const EpochLogs& logs) {
    history.push_back(logs);
    seconds += logs.seconds;
    peak = std::max(peak, probe.peak_bytes());
    // Atomic, once per epoch: an interruption loses at most the epoch in progress.
    Json state = {{"key", key}, {"history", history_to_json(history)}, {"train_seconds", seconds},
                  {"peak_rss_bytes", peak}, {"start_rss_bytes", start}};
    save_checkpoint(m, TrainingState{logs.epoch, state}, checkpoint);
    if (options.keep_going && !options.keep_going(spec.name, logs.epoch)) {
      interrupted = true;
      return false;
    }
    return true;
  };
  if (epochs_done < profile.epochs) m.fit(data.train.images, data.train.labels, fit);
  if (interrupted) {
    throw StudyInterrupted(spec.name + ": stopped after epoch " + std::to_string(history.back().epoch) +
                           "; the next run continues from " + checkpoint);
  }
  peak = std::max(peak, probe.peak_bytes());

  save_model(m, (fs::path(dir) / "model.pnet").string());
  const auto eval_start = std::chrono::steady_clock::now();
  const Evaluation test = m.evaluate(data.test.images, data.test.labels, kPredictBatch);
  const Evaluation train = m.evaluate(data.train_eval.images, data.train_eval.labels, kPredictBatch);
  out << "  test accuracy " << fixed(test.accuracy, 4) << ", training accuracy (no dropout) "
      << fixed(train.accuracy, 4) << "; shift sweep on " << data.sweep.images.dim(0)
      << " test images ..." << std::flush;
  result.shifts = shift_sweep(m, data.sweep, profile.max_shift);
  out << " done (" << format_duration(std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - eval_start).count())
      << ")\n" << std::flush;

  result.epochs = profile.epochs;
  result.train_images = data.fit_images;
  result.train_seconds = seconds;
  result.peak_rss_bytes = peak;
  result.start_rss_bytes = start;
  result.test_loss = test.loss;
  result.test_accuracy = test.accuracy;
  result.test_images = data.test.images.dim(0);
  result.train_loss = train.loss;
  result.train_accuracy = train.accuracy;
  result.train_eval_images = data.train_eval.images.dim(0);
  result.sweep_images = data.sweep.images.dim(0);
  result.history = history;
  io::write_file_atomically((fs::path(dir) / "result.json").string(), result_to_json(result).dump(2) + "\n");
  std::error_code ignored;
  fs::remove(checkpoint, ignored);  // the result replaces it
  return result;
}

}  // namespace

Profile profile_named(const std::string& name) {
  Profile p;
  p.name = name;
  if (name == "quick") {
    // About 8 minutes for the five example variants on 2 idle cores (docs/STUDY.md).
    p.epochs = 4;
    p.train_images = 24000;
    p.validation_split = 0.1;
    p.sweep_images = 2000;
    p.train_eval_images = 5000;
  } else if (name == "full") {
    p.epochs = 15;
    p.train_images = 0;
    p.validation_split = 0.1;
    p.sweep_images = 0;
    p.train_eval_images = 10000;
  } else {
    throw ArgumentError("unknown profile '" + name + "' (known: quick, full)");
  }
  return p;
}

Json profile_to_json(const Profile& p) {
  return {{"name", p.name}, {"epochs", p.epochs}, {"train_images", p.train_images},
          {"validation_split", p.validation_split}, {"batch_size", p.batch_size},
          {"sweep_images", p.sweep_images}, {"train_eval_images", p.train_eval_images},
          {"max_shift", p.max_shift}};
}

std::string variant_dir(const std::string& out_dir, const std::string& name) {
  return (fs::path(out_dir) / "variants" / name).string();
}

std::uint32_t file_crc32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path + ": cannot open for reading");
  std::vector<char> buffer(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize got = in.gcount();
    if (got > 0) crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(got));
  }
  if (in.bad()) throw FormatError(path + ": read error");
  return static_cast<std::uint32_t>(crc);
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

Json data_fingerprint(const std::string& data_dir) {
  Json files = Json::object();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || (name.rfind("train-", 0) != 0 && name.rfind("t10k-", 0) != 0)) continue;
    files[name] = {{"crc32", hex32(file_crc32(entry.path().string()))},
                   {"bytes", static_cast<std::int64_t>(entry.file_size())}};
  }
  if (ec) throw FormatError(data_dir + ": cannot list the data directory: " + ec.message());
  return files;
}

Json variant_key(const VariantSpec& spec, const StudyInputs& inputs) {
  const std::uint32_t crc = static_cast<std::uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(spec.json_bytes.data()),
            static_cast<uInt>(spec.json_bytes.size())));
  return {{"model_json", {{"crc32", hex32(crc)}, {"bytes", spec.json_bytes.size()}}},
          {"data", inputs.data},
          {"profile", profile_to_json(inputs.profile)},
          {"seed", inputs.seed},
          {"threads", inputs.threads},
          {"poolnet_version", POOLNET_VERSION},
          {"result_format", kResultFormat}};
}

Sequential model_of(const VariantSpec& spec, std::uint64_t seed) {
  Json json;
  try {
    json = Json::parse(spec.json_bytes);
  } catch (const Json::parse_error& e) {
    throw FormatError(spec.path + ": not valid JSON: " + e.what());
  }
  return with_context(spec.path, [&] {
    Sequential model = Sequential::from_json(json);
    if (!model.compiled()) {
      model.compile(make_optimizer("adam"), make_loss("sparse_categorical_crossentropy"));
    }
    model.build(seed);
    return model;
  });
}

std::vector<VariantSpec> discover_variants(const std::string& directory, const std::string& baseline) {
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) {
    throw ArgumentError("variant directory '" + directory +
                        "' does not exist (run from the poolnet source tree, or give --variants DIR "
                        "with one Keras model JSON per variant)");
  }
  std::vector<VariantSpec> specs;
  for (const auto& entry : fs::directory_iterator(directory, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    VariantSpec spec;
    spec.name = entry.path().stem().string();
    spec.path = entry.path().string();
    if (!valid_variant_name(spec.name)) {
      throw ArgumentError(spec.path + ": a variant's file name may use only letters, digits, '-', "
                          "'_' and '.' (it names its directory and its line in the figures)");
    }
    spec.json_bytes = io::read_file(spec.path, 64u << 20);
    spec.input_shape = model_of(spec, 0).input_shape();  // a broken variant fails now, not hours later
    specs.push_back(std::move(spec));
  }
  if (ec) throw FormatError(directory + ": cannot list: " + ec.message());
  if (specs.empty()) throw ArgumentError("variant directory '" + directory + "' holds no *.json model files");
  if (std::none_of(specs.begin(), specs.end(), [&](const VariantSpec& s) { return s.name == baseline; })) {
    std::string names;
    for (const VariantSpec& s : specs) names += (names.empty() ? "" : ", ") + s.name;
    throw ArgumentError("the baseline variant '" + baseline + "' is not in " + directory + " (found: " + names +
                        "); name one with --baseline");
  }
  std::sort(specs.begin(), specs.end(), [&](const VariantSpec& a, const VariantSpec& b) {
    if ((a.name == baseline) != (b.name == baseline)) return a.name == baseline;
    return a.name < b.name;
  });
  return specs;
}

Json result_to_json(const VariantResult& r) {
  Json shifts = Json::array();
  for (const ShiftPoint& p : r.shifts) {
    shifts.push_back({{"shift", p.shift}, {"accuracy", p.accuracy}, {"consistency", p.consistency},
                      {"accuracy_by_direction", p.accuracy_by_direction},
                      {"consistency_by_direction", p.consistency_by_direction}});
  }
  return {{"name", r.name}, {"model_name", r.model_name}, {"json_path", r.json_path},
          {"key", r.key}, {"params", r.params}, {"epochs", r.epochs},
          {"train_images", r.train_images}, {"train_seconds", r.train_seconds},
          {"peak_rss_bytes", r.peak_rss_bytes}, {"start_rss_bytes", r.start_rss_bytes},
          {"memory_method", r.memory_method}, {"test_loss", r.test_loss},
          {"test_accuracy", r.test_accuracy}, {"test_images", r.test_images},
          {"train_loss", r.train_loss}, {"train_accuracy", r.train_accuracy},
          {"train_test_gap", r.gap()}, {"train_eval_images", r.train_eval_images},
          {"sweep_images", r.sweep_images}, {"history", history_to_json(r.history)},
          {"shifts", shifts}};
}

VariantResult result_from_json(const Json& j, const std::string& where) {
  try {
    VariantResult r;
    r.name = j.at("name").get<std::string>();
    r.model_name = j.at("model_name").get<std::string>();
    r.json_path = j.at("json_path").get<std::string>();
    r.key = j.at("key");
    r.params = j.at("params").get<std::int64_t>();
    r.epochs = j.at("epochs").get<int>();
    r.train_images = j.at("train_images").get<std::int64_t>();
    r.train_seconds = j.at("train_seconds").get<double>();
    r.peak_rss_bytes = j.at("peak_rss_bytes").get<std::int64_t>();
    r.start_rss_bytes = j.at("start_rss_bytes").get<std::int64_t>();
    r.memory_method = j.at("memory_method").get<std::string>();
    r.test_loss = j.at("test_loss").get<double>();
    r.test_accuracy = j.at("test_accuracy").get<double>();
    r.test_images = j.at("test_images").get<std::int64_t>();
    r.train_loss = j.at("train_loss").get<double>();
    r.train_accuracy = j.at("train_accuracy").get<double>();
    r.train_eval_images = j.at("train_eval_images").get<std::int64_t>();
    r.sweep_images = j.at("sweep_images").get<std::int64_t>();
    r.history = history_from_json(j.at("history"));
    for (const Json& p : j.at("shifts")) {
      ShiftPoint point;
      point.shift = p.at("shift").get<int>();
      point.accuracy = p.at("accuracy").get<double>();
      point.consistency = p.at("consistency").get<double>();
      point.accuracy_by_direction = p.at("accuracy_by_direction").get<std::vector<double>>();
      point.consistency_by_direction = p.at("consistency_by_direction").get<std::vector<double>>();
      r.shifts.push_back(point);
    }
    return r;
  } catch (const Json::exception& e) {
    throw FormatError(where + ": not a study result: " + e.what());
  }
}

StudyResults run_study(const StudyOptions& options) {
  std::ostream& out = options.out ? *options.out : std::cout;
  const std::vector<VariantSpec> specs = discover_variants(options.variants_dir, options.baseline);
  const std::string data_dir = options.data_dir.empty() ? std::string(kDefaultFashionMnistDir) : options.data_dir;
  const Profile& profile = options.profile;
  // The thread count is part of every key (it decides the bits of the results), so it is set here.
  if (options.threads > 0) {
    omp_set_num_threads(options.threads);
    openblas_set_num_threads(options.threads);
  }
  const int threads = omp_get_max_threads();

  const auto load_start = std::chrono::steady_clock::now();
  const MnistData mnist = load_mnist_directory(data_dir);
  const std::vector<std::int64_t> image_shape(mnist.train.images.shape().dims().begin() + 1,
                                              mnist.train.images.shape().dims().end());
  for (const VariantSpec& spec : specs) {
    if (spec.input_shape != image_shape) {
      throw ShapeError(spec.path + ": the model takes inputs of shape " + dims_to_string(spec.input_shape) +
                       " but the images in " + data_dir + " have shape " + dims_to_string(image_shape));
    }
  }
  StudyInputs inputs;
  inputs.data = data_fingerprint(data_dir);
  inputs.profile = profile;
  inputs.seed = options.seed;
  inputs.threads = threads;
  StudyData data;
  data.train = head(mnist.train, profile.train_images);
  data.test = mnist.test;
  data.sweep = head(mnist.test, profile.sweep_images);
  data.fit_images = static_cast<std::int64_t>(
      static_cast<double>(data.train.images.dim(0)) * (1.0 - profile.validation_split));
  // Training accuracy is measured on images the model trained on (the split's head).
  data.train_eval = head(data.train, std::min(profile.train_eval_images > 0 ? profile.train_eval_images
                                                                             : data.fit_images,
                                              data.fit_images));

  out << "poolnet study: " << specs.size() << " variants from " << options.variants_dir << " (";
  for (std::size_t i = 0; i < specs.size(); ++i) out << (i ? ", " : "") << specs[i].name;
  out << "), report in " << options.out_dir << "\n"
      << "Data: " << data_dir << " (loaded and checksummed in "
      << fixed(std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count(), 1)
      << " s)\n"
      << "Profile '" << profile.name << "': " << profile.epochs << " epochs on the first "
      << data.train.images.dim(0) << " training images (" << data.fit_images << " for training, the last "
      << (data.train.images.dim(0) - data.fit_images) << " for validation), batch " << profile.batch_size
      << "; test accuracy on " << data.test.images.dim(0) << " test images; shift sweep 0-"
      << profile.max_shift << " px x 8 directions on the first " << data.sweep.images.dim(0)
      << "; train/test gap on " << data.train_eval.images.dim(0) << " training images; seed "
      << options.seed << ", " << threads << " threads\n" << std::flush;

  fs::create_directories(options.out_dir);
  StudyResults results;
  results.settings = {{"profile", profile_to_json(profile)}, {"seed", options.seed},
                      {"threads", threads}, {"data_dir", data_dir},
                      {"variants_dir", options.variants_dir}, {"baseline", options.baseline},
                      {"poolnet_version", POOLNET_VERSION},
                      {"training_images_used", data.fit_images},
                      {"validation_images", data.train.images.dim(0) - data.fit_images},
                      {"hardware_threads", omp_get_num_procs()}};
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const VariantSpec& spec = specs[i];
    const Json key = variant_key(spec, inputs);
    out << "\n[" << (i + 1) << "/" << specs.size() << "] " << spec.name << " (" << spec.path << ")\n" << std::flush;
    const std::string result_path = (fs::path(variant_dir(options.out_dir, spec.name)) / "result.json").string();
    if (fs::exists(result_path)) {
      try {
        VariantResult old = result_from_json(Json::parse(io::read_file(result_path, 64u << 20)), result_path);
        if (old.key == key) {
          old.reused = true;
          out << "  finished earlier with the same model, data and settings: reusing " << result_path
              << " (test accuracy " << fixed(old.test_accuracy, 4) << ")\n" << std::flush;
          results.variants.push_back(std::move(old));
          continue;
        }
        out << "  re-running: " << key_difference(old.key, key) << " changed since " << result_path << "\n" << std::flush;
      } catch (const std::exception& e) {
        out << "  re-running: cannot use " << result_path << ": " << e.what() << "\n" << std::flush;
      }
    }
    results.variants.push_back(train_variant(spec, key, options, data, out));
  }

  // Feature maps from the baseline's trained first convolution, for the first test image.
  std::optional<FeatureMaps> maps;
  const VariantResult& first = results.variants.front();
  try {
    const Sequential baseline =
        load_model((fs::path(variant_dir(options.out_dir, first.name)) / "model.pnet").string());
    maps = compute_feature_maps(baseline, first.name, mnist.test, 0);
  } catch (const Error& e) {
    out << "No feature-map figures: " << e.what() << "\n" << std::flush;
  }
  out << "\n" << results_table(results);
  write_report(results, maps ? &*maps : nullptr, options.out_dir);
  out << "\nReport: " << (fs::path(options.out_dir) / "report.html").string() << " (also report.md, "
      << "results.csv, results.json, figures/)\n" << std::flush;
  return results;
}

std::string results_table(const StudyResults& results) {
  std::vector<std::vector<std::string>> rows = {
      {"variant", "params", "train time", "peak RSS", "test acc", "train acc", "gap", "acc@2px",
       "acc@4px", "acc@6px", "same class@4px"}};
  auto at_shift = [](const VariantResult& r, int s, bool consistency) -> std::string {
    for (const ShiftPoint& p : r.shifts)
      if (p.shift == s) return fixed(consistency ? p.consistency : p.accuracy, 3);
    return "-";
  };
  for (const VariantResult& r : results.variants) {
    rows.push_back({r.name, std::to_string(r.params), format_duration(r.train_seconds),
                    mib(r.peak_rss_bytes), fixed(r.test_accuracy, 4), fixed(r.train_accuracy, 4),
                    fixed(r.gap(), 4), at_shift(r, 2, false), at_shift(r, 4, false),
                    at_shift(r, 6, false), at_shift(r, 4, true)});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string text;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const std::string pad(width[c] - rows[r][c].size(), ' ');
      text += c == 0 ? rows[r][c] + pad : "  " + pad + rows[r][c];
    }
    text += "\n";
    if (r == 0) {
      for (std::size_t c = 0; c < width.size(); ++c) text += (c ? "  " : "") + std::string(width[c], '-');
      text += "\n";
    }
  }
  return text;
}

}  // namespace poolnet::study
