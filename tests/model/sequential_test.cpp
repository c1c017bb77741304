#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "poolnet/error.hpp"
#include "poolnet/layers/conv.hpp"
#include "poolnet/layers/core.hpp"
#include "poolnet/layers/pooling.hpp"
#include "poolnet/model/model_file.hpp"
#include "poolnet/model/sequential.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::contains;
using testing::TempDir;

std::string example_path() { return std::string(POOLNET_SOURCE_DIR) + "/examples/keras_convnet.json"; }

TEST(SequentialSummary, ExampleModelMatchesKeras) {
  const Sequential model = load_model_json(example_path());
  const std::vector<Shape> shapes = model.output_shapes(1);
  const std::vector<Shape> expected = {Shape{1, 26, 26, 32}, Shape{1, 13, 13, 32}, Shape{1, 13, 13, 32},
                                       Shape{1, 11, 11, 64}, Shape{1, 5, 5, 64},   Shape{1, 5, 5, 64},
                                       Shape{1, 1600},       Shape{1, 256},        Shape{1, 10}};
  ASSERT_EQ(shapes.size(), expected.size());
  for (std::size_t i = 0; i < shapes.size(); ++i) EXPECT_EQ(shapes[i], expected[i]) << i;

  Sequential built = load_model_json(example_path());
  built.build(1);
  EXPECT_EQ(built.count_params(), 431242);
  EXPECT_EQ(built.count_trainable_params(), 431242);
  const std::string summary = built.summary();
  for (const char* piece :
       {"Model: \"keras_convnet\"", "conv2d (Conv2D)", "(None, 26, 26, 32)", "max_pooling2d (MaxPooling2D)",
        "(None, 13, 13, 32)", "(None, 11, 11, 64)", "(None, 5, 5, 64)", "flatten (Flatten)", "(None, 1600)",
        "dense (Dense)", "(None, 256)", "dense_1 (Dense)", "(None, 10)", "320", "18,496", "409,856", "2,570",
        "Total params: 431,242 (1.65 MB)", "Trainable params: 431,242 (1.65 MB)",
        "Non-trainable params: 0 (0.00 B)"}) {
    EXPECT_TRUE(contains(summary, piece)) << piece << "\n" << summary;
  }
}

TEST(SequentialSummary, DefaultNamesGetKerasSuffixes) {
  Sequential model;
  model.set_input_shape({8, 8, 1});
  model.emplace<Conv2D>(2, IntOrTuple(3));
  model.emplace<Conv2D>(2, IntOrTuple(3));
  model.emplace<MaxPooling2D>();
  EXPECT_EQ(model.layer(0).name(), "conv2d");
  EXPECT_EQ(model.layer(1).name(), "conv2d_1");
  EXPECT_EQ(model.layer(2).name(), "max_pooling2d");
}

TEST(SequentialBuild, ShapeErrorNamesTheLayer) {
  Sequential model;
  model.set_input_shape({3, 3, 1});
  model.emplace<MaxPooling2D>(2);
  model.emplace<Conv2D>(4, IntOrTuple(3));
  try {
    model.build(0);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_TRUE(contains(e.what(), "conv2d")) << e.what();
    EXPECT_TRUE(contains(e.what(), "2 of 2")) << e.what();
  }
}

// A tiny task: 8x8 images with a bright 3x3 patch in the top-left (class 0) or bottom-right
// (class 1) quadrant, at a random offset, plus noise.
void make_patch_task(std::int64_t n, std::uint64_t seed, Tensor& x, Tensor& y) {
  Rng rng(seed);
  x = Tensor(Shape{n, 8, 8, 1});
  y = Tensor(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) {
    const auto label = static_cast<std::int64_t>(rng.below(2));
    y[i] = static_cast<float>(label);
    for (std::int64_t p = 0; p < 64; ++p) x[i * 64 + p] = rng.uniform(0.0f, 0.3f);
    const std::int64_t r0 = (label == 0 ? 0 : 4) + static_cast<std::int64_t>(rng.below(2));
    const std::int64_t c0 = (label == 0 ? 0 : 4) + static_cast<std::int64_t>(rng.below(2));
    for (std::int64_t r = r0; r < r0 + 3; ++r)
      for (std::int64_t c = c0; c < c0 + 3; ++c) x[i * 64 + r * 8 + c] = 1.0f;
  }
}

Sequential tiny_model() {
  Sequential model("tiny");
  model.set_input_shape({8, 8, 1});
  model.emplace<Conv2D>(4, IntOrTuple(3), 1, "valid", "channels_last", 1, "relu");
  model.emplace<MaxPooling2D>(2);
  model.emplace<Dropout>(0.1);
  model.emplace<Flatten>();
  model.emplace<Dense>(2, "softmax");
  model.compile(make_adam(0.01), make_loss("sparse_categorical_crossentropy"));
  return model;
}

TEST(SequentialFit, TinyModelLearnsTheTinyTaskToNinetyFivePercent) {
  Tensor x, y, test_x, test_y;
  make_patch_task(256, 1, x, y);
  make_patch_task(200, 2, test_x, test_y);
  Sequential model = tiny_model();
  model.build(3);
  FitOptions options;
  options.batch_size = 16;
  options.epochs = 15;
  options.validation_split = 0.25;
  options.seed = 4;
  options.verbosity = Verbosity::kSilent;
  const History history = model.fit(x, y, options);
  ASSERT_EQ(history.epochs.size(), 15u);
  EXPECT_LT(history.epochs.back().loss, history.epochs.front().loss);
  ASSERT_TRUE(history.epochs.back().val_accuracy.has_value());
  const Evaluation test = model.evaluate(test_x, test_y);
  EXPECT_GE(test.accuracy, 0.95) << "test loss " << test.loss;
}

TEST(SequentialFit, SameSeedGivesBitIdenticalWeights) {
  Tensor x, y;
  make_patch_task(96, 5, x, y);
  auto train = [&] {
    Sequential model = tiny_model();
    model.build(7);
    FitOptions options;
    options.batch_size = 8;
    options.epochs = 2;
    options.seed = 9;
    options.verbosity = Verbosity::kSilent;
    model.fit(x, y, options);
    std::vector<float> weights;
    for (Parameter* p : model.parameters()) weights.insert(weights.end(), p->value.values().begin(), p->value.values().end());
    return weights;
  };
  const std::vector<float> a = train();
  const std::vector<float> b = train();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

// What fit() prints for 40 samples in batches of 10.
std::string fit_output(Verbosity verbosity, int epochs, double validation_split) {
  Tensor x, y;
  make_patch_task(40, 6, x, y);
  Sequential model = tiny_model();
  std::ostringstream out;
  FitOptions options;
  options.batch_size = 10;
  options.epochs = epochs;
  options.validation_split = validation_split;
  options.out = &out;
  options.verbosity = verbosity;
  model.fit(x, y, options);
  return out.str();
}

TEST(SequentialFit, ProgressPrintsOneLinePerEpochWhenNotATerminal) {
  const std::string text = fit_output(Verbosity::kPerEpoch, 2, 0.25);
  EXPECT_TRUE(contains(text, "Epoch 1/2 - 3/3 - ")) << text;
  EXPECT_TRUE(contains(text, "Epoch 2/2 - 3/3 - ")) << text;
  EXPECT_TRUE(contains(text, "val_accuracy: ")) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST(SequentialFit, BarModeRedrawsInPlaceWithABar) {
  const std::string text = fit_output(Verbosity::kBar, 1, 0.0);
  EXPECT_TRUE(contains(text, "Epoch 1/1\n")) << text;
  EXPECT_TRUE(contains(text, "\r4/4 \u2501\u2501")) << text;
  EXPECT_TRUE(contains(text, "ms/step - accuracy: ")) << text;
}

TEST(SequentialFit, RejectsNanInTheDataAndMismatchedLabels) {
  Tensor x, y;
  make_patch_task(20, 6, x, y);
  Sequential model = tiny_model();
  FitOptions options;
  options.verbosity = Verbosity::kSilent;
  Tensor bad = x;
  bad[70] = std::nanf("");
  try {
    model.fit(bad, y, options);
    FAIL() << "expected an error";
  } catch (const ArgumentError& e) {
    EXPECT_TRUE(contains(e.what(), "sample 1")) << e.what();
  }
  EXPECT_THROW(model.fit(x, Tensor(Shape{19}), options), ShapeError);
  EXPECT_THROW(model.fit(Tensor(Shape{20, 7, 8, 1}), y, options), ShapeError);
}

TEST(ModelFile, SaveLoadGivesBitIdenticalPredictions) {
  TempDir dir;
  Tensor x, y;
  make_patch_task(64, 8, x, y);
  Sequential model = tiny_model();
  FitOptions options;
  options.epochs = 1;
  options.verbosity = Verbosity::kSilent;
  model.fit(x, y, options);
  const std::string path = dir.path("tiny.pnet");
  save_model(model, path);
  const Sequential loaded = load_model(path);
  EXPECT_EQ(loaded.to_json(), model.to_json());
  const Tensor a = model.predict(x);
  const Tensor b = loaded.predict(x);
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(float)), 0);
  // Nothing but the model is left in the directory (the temporary file was renamed).
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path("")), {}), 1);
}

TEST(ModelFile, CorruptAndTruncatedFilesGiveClearErrors) {
  TempDir dir;
  Sequential model = tiny_model();
  model.build(1);
  const std::string good = dir.path("good.pnet");
  save_model(model, good);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  struct Variant {
    std::string name;
    std::string bytes;
    std::string expected;
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x10);
  std::string bad_magic = bytes;
  bad_magic[0] = 'X';
  std::string bad_version = bytes;
  bad_version[8] = 7;
  std::string long_header = bytes;
  long_header[15] = 0x7f;
  const std::vector<Variant> variants = {
      {"empty", "", "too short"},
      {"truncated", bytes.substr(0, bytes.size() - 5), "checksum"},
      {"truncated_header", bytes.substr(0, 30), "runs past the end"},
      {"flipped_bit", flipped, "checksum mismatch"},
      {"bad_magic", bad_magic, "not a poolnet model file"},
      {"bad_version", bad_version, "version 7 is not supported"},
      {"long_header", long_header, "runs past the end"},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    const std::string path = dir.path(v.name + ".pnet");
    std::ofstream(path, std::ios::binary) << v.bytes;
    try {
      load_model(path);
      ADD_FAILURE() << "no error";
    } catch (const FormatError& e) {
      EXPECT_TRUE(contains(e.what(), path)) << e.what();
      EXPECT_TRUE(contains(e.what(), v.expected)) << e.what();
    }
  }
  EXPECT_THROW(load_model(dir.path("missing.pnet")), FormatError);
}

TEST(ModelFile, CheckpointRestoresOptimizerStateAndPlainFilesAreNotCheckpoints) {
  TempDir dir;
  Tensor x, y;
  make_patch_task(32, 8, x, y);
  Sequential model = tiny_model();
  FitOptions options;
  options.epochs = 1;
  options.verbosity = Verbosity::kSilent;
  model.fit(x, y, options);
  const std::string path = dir.path("ckpt.pnet");
  save_checkpoint(model, TrainingState{1, {{"seed", 3}}}, path);
  auto [loaded, state] = load_checkpoint(path);
  EXPECT_EQ(state.epochs_done, 1);
  EXPECT_EQ(state.settings["seed"], 3);
  EXPECT_EQ(loaded.optimizer().iterations(), model.optimizer().iterations());
  const std::vector<Tensor*> a = model.optimizer().slots();
  const std::vector<Tensor*> b = loaded.optimizer().slots();
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i]->shape(), b[i]->shape());
    EXPECT_EQ(std::memcmp(a[i]->data(), b[i]->data(), static_cast<std::size_t>(a[i]->size()) * 4), 0) << i;
  }
  // A checkpoint is also a model file; a plain model file is not a checkpoint.
  EXPECT_NO_THROW(load_model(path));
  save_model(model, dir.path("plain.pnet"));
  try {
    load_checkpoint(dir.path("plain.pnet"));
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_TRUE(contains(e.what(), "not a checkpoint")) << e.what();
  }
}

TEST(ModelJson, RoundTripsAndAcceptsKeras2Shapes) {
  const Sequential model = load_model_json(example_path());
  const Sequential again = Sequential::from_json(model.to_json());
  EXPECT_EQ(again.to_json(), model.to_json());
  const nlohmann::json keras2 = nlohmann::json::parse(R"({
    "class_name": "Sequential",
    "config": {"name": "k2", "layers": [
      {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": [3, 3],
        "batch_input_shape": [null, 10, 10, 1], "activation": "relu"}},
      {"class_name": "GlobalAveragePooling2D", "config": {"name": "g"}}]}})");
  Sequential k2 = Sequential::from_json(keras2);
  EXPECT_EQ(k2.input_shape(), (std::vector<std::int64_t>{10, 10, 1}));
  EXPECT_EQ(k2.output_shapes(1).back(), (Shape{1, 2}));
}

TEST(ModelJson, UnknownLayerTypesAndKeysAreNamed) {
  auto model_with = [](const std::string& layer) {
    return nlohmann::json::parse(R"({"class_name": "Sequential", "config": {"name": "m", "layers": [
      {"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 1]}}, )" + layer + "]}}");
  };
  try {
    Sequential::from_json(model_with(R"({"class_name": "LSTM", "config": {"units": 4}})"));
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_TRUE(contains(e.what(), "layer 2 (LSTM)")) << e.what();
    EXPECT_TRUE(contains(e.what(), "unknown layer type 'LSTM'")) << e.what();
  }
  try {
    Sequential::from_json(model_with(R"({"class_name": "MaxPooling2D", "config": {"pool_sise": 2}})"));
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_TRUE(contains(e.what(), "pool_sise")) << e.what();
  }
  EXPECT_THROW(Sequential::from_json(nlohmann::json::parse(R"({"class_name": "Functional", "config": {}})")),
               ArgumentError);
}

// Keys of the wrong JSON type are refused with the library's own error, never with the JSON
// library's type_error (which callers do not catch: the fuzzer found a class_name object).
TEST(ModelJson, KeysOfTheWrongTypeAreRefusedWithAMessage) {
  try {
    Sequential::from_json(nlohmann::json::parse(R"({"class_name": {"name": "tiny"}, "config": {}})"));
    FAIL();
  } catch (const ArgumentError& e) {
    EXPECT_TRUE(contains(e.what(), "only Sequential models")) << e.what();
    EXPECT_TRUE(contains(e.what(), "tiny")) << e.what();
  }
  const std::string layers = R"("layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 4]}},
      {"class_name": "Dense", "config": {"units": 2}}])";
  for (const std::string loss : {R"({"class_name": 3})", R"({"config": {"name": ["x"]}})",
                                 R"({"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": "no"}})"}) {
    SCOPED_TRACE(loss);
    try {
      Sequential::from_json(nlohmann::json::parse(R"({"class_name": "Sequential", "config": {)" + layers +
                                                  R"(}, "compile_config": {"loss": )" + loss + "}}"));
      FAIL();
    } catch (const ArgumentError& e) {
      EXPECT_TRUE(contains(e.what(), "compile_config.loss")) << e.what();
    }
  }
}

TEST(ModelJson, MalformedJsonFileNamesThePosition) {
  TempDir dir;
  const std::string path = dir.path("bad.json");
  std::ofstream(path) << "{\"class_name\": \"Sequential\",\n \"config\": {\"layers\": [}\n";
  try {
    load_model_json(path);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_TRUE(contains(e.what(), path)) << e.what();
    EXPECT_TRUE(contains(e.what(), "line 2")) << e.what();
  }
}

}  // namespace
}  // namespace poolnet
