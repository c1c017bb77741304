// make_layer: Keras class name + config -> layer, with Keras's defaults and clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "poolnet/error.hpp"
#include "poolnet/layers/pooling.hpp"
#include "poolnet/layers/registry.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using Json = nlohmann::json;
using Dims = std::vector<std::int64_t>;

const std::vector<std::string> kAllClasses = {
    "AveragePooling1D",       "AveragePooling2D",       "AveragePooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",     "GlobalMaxPooling2D",     "GlobalMaxPooling3D",
    "MaxPooling1D",           "MaxPooling2D",           "MaxPooling3D",
};

int spatial_rank_of(std::string_view class_name) {
  return class_name[class_name.size() - 2] - '0';
}

bool is_global(std::string_view class_name) { return class_name.starts_with("Global"); }

// The layer as a PoolingLayer (every class make_layer knows is one).
const PoolingLayer& pooling(const std::unique_ptr<Layer>& layer) {
  const auto* p = dynamic_cast<const PoolingLayer*>(layer.get());
  EXPECT_NE(p, nullptr);
  if (p == nullptr) throw std::runtime_error("not a PoolingLayer");
  return *p;
}

// Expects make_layer to throw ArgumentError whose message contains every piece.
void expect_make_layer_error(std::string_view class_name, const Json& config,
                             std::initializer_list<std::string_view> pieces) {
  testing::expect_throws<ArgumentError>(
      [&] { (void)make_layer(class_name, config); }, pieces,
      " (make_layer(" + std::string(class_name) + ", " + config.dump() + "))");
}

TEST(Registry, KnownLayerClassesAreSortedAndIncludeEveryKerasLayerWeBuild) {
  const std::vector<std::string_view> known = known_layer_classes();
  EXPECT_TRUE(std::is_sorted(known.begin(), known.end()));
  EXPECT_TRUE(std::adjacent_find(known.begin(), known.end()) == known.end());
  std::vector<std::string> expected(std::begin(kAllClasses), std::end(kAllClasses));
  for (const char* other : {"Activation", "Conv1D", "Conv2D", "Conv3D", "Dense", "Dropout", "Flatten"}) {
    expected.push_back(other);
  }
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(known.size(), expected.size());
  for (std::size_t i = 0; i < known.size(); ++i) EXPECT_EQ(known[i], expected[i]);
}

TEST(Registry, BuildsEveryKnownClassFromAConformanceStyleConfig) {
  for (const std::string& name : kAllClasses) {
    SCOPED_TRACE(name);
    const int n = spatial_rank_of(name);
    Json config;
    if (is_global(name)) {
      config = {{"data_format", "channels_first"}, {"keepdims", true}};
    } else {
      config = {{"pool_size", 3}, {"strides", nullptr}, {"padding", "same"},
                {"data_format", "channels_first"}};
    }
    const auto layer = make_layer(name, config);
    ASSERT_NE(layer, nullptr);
    EXPECT_EQ(layer->class_name(), name);
    const PoolingLayer& p = pooling(layer);
    EXPECT_EQ(p.spec().spatial_rank, n);
    EXPECT_EQ(p.spec().op, name.find("Max") != std::string::npos ? PoolOp::kMax : PoolOp::kAverage);
    EXPECT_EQ(p.spec().global, is_global(name));
    EXPECT_EQ(p.spec().data_format, DataFormat::kChannelsFirst);
    if (is_global(name)) {
      EXPECT_TRUE(p.keepdims());
    } else {
      EXPECT_EQ(p.spec().window, Dims(static_cast<std::size_t>(n), 3));
      EXPECT_EQ(p.spec().strides, Dims(static_cast<std::size_t>(n), 3));
      EXPECT_EQ(p.spec().padding, Padding::kSame);
    }
  }
}

TEST(Registry, PoolSizeAndStridesAcceptIntListAndNull) {
  // Lines of public.jsonl use all of these spellings.
  const auto int_pool = make_layer(
      "MaxPooling1D",
      {{"pool_size", 4}, {"strides", nullptr}, {"padding", "valid"}, {"data_format", "channels_last"}});
  EXPECT_EQ(pooling(int_pool).spec().window, (Dims{4}));
  EXPECT_EQ(pooling(int_pool).spec().strides, (Dims{4}));

  const auto list_pool = make_layer("MaxPooling1D", {{"pool_size", {3}}, {"strides", 1}});
  EXPECT_EQ(pooling(list_pool).spec().window, (Dims{3}));
  EXPECT_EQ(pooling(list_pool).spec().strides, (Dims{1}));

  const auto tuple = make_layer("MaxPooling3D", {{"pool_size", {2, 5, 2}},
                                                 {"strides", {1, 2, 3}},
                                                 {"padding", "valid"},
                                                 {"data_format", "channels_first"}});
  EXPECT_EQ(pooling(tuple).spec().window, (Dims{2, 5, 2}));
  EXPECT_EQ(pooling(tuple).spec().strides, (Dims{1, 2, 3}));

  const auto int_strides = make_layer("AveragePooling2D", {{"pool_size", {3, 2}}, {"strides", 1}});
  EXPECT_EQ(pooling(int_strides).spec().window, (Dims{3, 2}));
  EXPECT_EQ(pooling(int_strides).spec().strides, (Dims{1, 1}));
}

TEST(Registry, NameTrainableAndDtypeAreAcceptedAndNameIsApplied) {
  const auto layer = make_layer("AveragePooling2D", {{"name", "avg_1"},
                                                     {"trainable", false},
                                                     {"dtype", "float32"},
                                                     {"pool_size", 2}});
  EXPECT_EQ(layer->name(), "avg_1");
  EXPECT_EQ(layer->get_config()["name"], "avg_1");
  const auto global = make_layer("GlobalMaxPooling3D", {{"name", "gmp"}, {"trainable", true}});
  EXPECT_EQ(global->name(), "gmp");
  // Without a name, Keras's default.
  EXPECT_EQ(make_layer("GlobalMaxPooling3D", Json::object())->name(), "global_max_pooling3d");
}

TEST(Registry, MissingKeysTakeKerasDefaults) {
  const auto windowed = make_layer("MaxPooling2D", Json::object());
  EXPECT_EQ(pooling(windowed).spec().window, (Dims{2, 2}));
  EXPECT_EQ(pooling(windowed).spec().strides, (Dims{2, 2}));
  EXPECT_EQ(pooling(windowed).spec().padding, Padding::kValid);
  EXPECT_EQ(pooling(windowed).spec().data_format, DataFormat::kChannelsLast);
  EXPECT_EQ(pooling(make_layer("AveragePooling3D", Json::object())).spec().window, (Dims{2, 2, 2}));
  EXPECT_EQ(pooling(make_layer("MaxPooling1D", {{"pool_size", 5}})).spec().strides, (Dims{5}));

  const auto global = make_layer("GlobalAveragePooling2D", Json::object());
  EXPECT_EQ(pooling(global).spec().data_format, DataFormat::kChannelsLast);
  EXPECT_FALSE(pooling(global).keepdims());
  EXPECT_EQ(global->compute_output_shape(Shape{2, 3, 4, 5}), (Shape{2, 5}));
}

TEST(Registry, NullDataFormatMeansChannelsLast) {
  const auto windowed = make_layer("AveragePooling1D", {{"data_format", nullptr}});
  EXPECT_EQ(pooling(windowed).spec().data_format, DataFormat::kChannelsLast);
  const auto global = make_layer("GlobalMaxPooling1D", {{"data_format", nullptr}, {"keepdims", true}});
  EXPECT_EQ(pooling(global).spec().data_format, DataFormat::kChannelsLast);
  EXPECT_EQ(global->compute_output_shape(Shape{2, 7, 3}), (Shape{2, 1, 3}));
}

TEST(Registry, BuiltLayersComputeLikeDirectlyConstructedOnes) {
  const auto built = make_layer("MaxPooling2D", {{"pool_size", {2, 1}}, {"padding", "same"}});
  const MaxPooling2D direct(IntOrTuple{2, 1}, std::nullopt, "same");
  const float values[] = {1, 5, 2, 4, 3, 6, 0, 7, 9};
  const Tensor x(Shape{1, 3, 3, 1}, values);
  const Tensor a = built->forward(x);
  const Tensor b = direct.forward(x);
  ASSERT_EQ(a.shape(), (Shape{1, 2, 3, 1}));
  ASSERT_EQ(a.shape(), b.shape());
  for (std::int64_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
  EXPECT_EQ(a[0], 4.0f);  // max(1, 4)
  EXPECT_EQ(a[5], 9.0f);  // last row alone (padding after)
}

TEST(Registry, UnknownClassNameListsTheKnownOnes) {
  expect_make_layer_error("MaxPooling4D", Json::object(),
                          {"'MaxPooling4D'", "AveragePooling1D", "GlobalMaxPooling3D", "MaxPooling2D"});
  expect_make_layer_error("maxpooling2d", Json::object(), {"'maxpooling2d'", "MaxPooling2D"});
  expect_make_layer_error("", Json::object(), {"known"});
}

TEST(Registry, UnknownConfigKeyIsNamed) {
  expect_make_layer_error("MaxPooling2D", {{"pool", 2}}, {"MaxPooling2D", "'pool'"});
  expect_make_layer_error("GlobalAveragePooling1D", {{"keep_dims", true}},
                          {"GlobalAveragePooling1D", "'keep_dims'"});
  // keepdims belongs to global layers only, pool_size to windowed ones.
  expect_make_layer_error("AveragePooling1D", {{"keepdims", true}}, {"AveragePooling1D", "'keepdims'"});
  expect_make_layer_error("GlobalMaxPooling2D", {{"pool_size", 2}},
                          {"GlobalMaxPooling2D", "'pool_size'"});
}

TEST(Registry, PoolSizeOfTheWrongTypeIsRejected) {
  expect_make_layer_error("MaxPooling2D", {{"pool_size", 2.5}}, {"MaxPooling2D", "pool_size", "2.5"});
  expect_make_layer_error("MaxPooling2D", {{"pool_size", "2"}}, {"MaxPooling2D", "pool_size", "\"2\""});
  expect_make_layer_error("MaxPooling2D", {{"pool_size", true}}, {"MaxPooling2D", "pool_size", "true"});
  expect_make_layer_error("MaxPooling2D", {{"pool_size", Json::array({2, "a"})}},
                          {"MaxPooling2D", "pool_size", "\"a\""});
  expect_make_layer_error("MaxPooling2D", {{"pool_size", nullptr}}, {"MaxPooling2D", "pool_size"});
  expect_make_layer_error("MaxPooling2D", {{"pool_size", Json::object()}},
                          {"MaxPooling2D", "pool_size"});
  expect_make_layer_error("AveragePooling3D", {{"strides", 1.5}}, {"AveragePooling3D", "strides", "1.5"});
}

TEST(Registry, PoolSizeOfTheWrongValueIsRejected) {
  expect_make_layer_error("MaxPooling1D", {{"pool_size", 0}}, {"MaxPooling1D", "pool_size", "0"});
  expect_make_layer_error("MaxPooling2D", {{"pool_size", {2, -2}}},
                          {"MaxPooling2D", "pool_size", "(2, -2)"});
  expect_make_layer_error("MaxPooling2D", {{"pool_size", {2, 2, 2}}},
                          {"MaxPooling2D", "pool_size", "(2, 2, 2)"});
  expect_make_layer_error("MaxPooling2D", {{"pool_size", Json::array()}}, {"MaxPooling2D", "pool_size"});
  expect_make_layer_error("AveragePooling2D", {{"strides", {1, 0}}},
                          {"AveragePooling2D", "strides", "(1, 0)"});
  expect_make_layer_error("AveragePooling2D", {{"pool_size", 10000000000LL}},
                          {"AveragePooling2D", "pool_size", "10000000000"});
  expect_make_layer_error("AveragePooling2D", {{"pool_size", 18446744073709551615ULL}},
                          {"AveragePooling2D", "pool_size", "18446744073709551615"});
}

TEST(Registry, KeepdimsMustBeABool) {
  expect_make_layer_error("GlobalMaxPooling2D", {{"keepdims", "yes"}},
                          {"GlobalMaxPooling2D", "keepdims", "\"yes\""});
  expect_make_layer_error("GlobalAveragePooling1D", {{"keepdims", 1}},
                          {"GlobalAveragePooling1D", "keepdims", "1"});
}

TEST(Registry, ConfigMustBeAnObject) {
  expect_make_layer_error("MaxPooling2D", Json::array({2, 2}), {"MaxPooling2D", "config", "[2,2]"});
  expect_make_layer_error("GlobalMaxPooling1D", Json("channels_last"), {"GlobalMaxPooling1D", "config"});
  expect_make_layer_error("AveragePooling3D", Json(), {"AveragePooling3D", "config", "null"});
}

TEST(Registry, StringArgumentsMustBeStrings) {
  expect_make_layer_error("MaxPooling2D", {{"padding", 1}}, {"MaxPooling2D", "padding", "1"});
  expect_make_layer_error("MaxPooling2D", {{"padding", nullptr}}, {"MaxPooling2D", "padding"});
  expect_make_layer_error("AveragePooling1D", {{"data_format", 3}}, {"AveragePooling1D", "data_format"});
  expect_make_layer_error("MaxPooling2D", {{"name", 7}}, {"MaxPooling2D", "name"});
  expect_make_layer_error("MaxPooling2D", {{"trainable", "yes"}}, {"MaxPooling2D", "trainable"});
}

TEST(Registry, BadStringValuesAreRejectedWithTheValue) {
  expect_make_layer_error("MaxPooling2D", {{"padding", "full"}}, {"MaxPooling2D", "padding", "'full'"});
  expect_make_layer_error("AveragePooling1D", {{"padding", "causal"}},
                          {"AveragePooling1D", "padding", "'causal'"});
  expect_make_layer_error("GlobalAveragePooling2D", {{"data_format", "NHWC"}, {"keepdims", false}},
                          {"GlobalAveragePooling2D", "data_format", "'NHWC'"});
  // Keras lower-cases both.
  const auto upper = make_layer("MaxPooling2D", {{"padding", "SAME"}, {"data_format", "CHANNELS_FIRST"}});
  EXPECT_EQ(pooling(upper).spec().padding, Padding::kSame);
  EXPECT_EQ(pooling(upper).spec().data_format, DataFormat::kChannelsFirst);
}

TEST(Registry, DtypeMustBeFloat32) {
  const nlohmann::json policy = nlohmann::json::parse(
      R"({"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}})");
  EXPECT_NO_THROW(make_layer("MaxPooling2D", {{"dtype", "float32"}}));
  EXPECT_NO_THROW(make_layer("MaxPooling2D", {{"dtype", policy}}));
  EXPECT_NO_THROW(make_layer("GlobalMaxPooling1D", {{"dtype", nullptr}}));
  for (const nlohmann::json& bad : {nlohmann::json("float64"), nlohmann::json(5),
                                    nlohmann::json("mixed_float16")}) {
    try {
      make_layer("AveragePooling2D", {{"dtype", bad}});
      ADD_FAILURE() << "dtype " << bad.dump() << " accepted";
    } catch (const ArgumentError& e) {
      EXPECT_NE(std::string(e.what()).find("AveragePooling2D: dtype " + bad.dump()), std::string::npos)
          << e.what();
    }
  }
}

TEST(Registry, BadTupleMessageShowsTheWholeValue) {
  try {
    make_layer("MaxPooling2D", nlohmann::json::parse(R"({"pool_size": [2, "a"]})"));
    FAIL() << "expected ArgumentError";
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find(R"(got [2,"a"])"), std::string::npos) << e.what();
  }
}

// Conv and Dense read their weight settings (initializers, regularizers, constraints) with the
// same rules: missing, null or Keras's default in any form Keras writes is accepted; anything
// else is rejected naming the layer and the key.
TEST(Registry, ConvAndDenseAcceptTheSameDefaultWeightSettings) {
  const std::vector<std::pair<std::string, Json>> layers = {
      {"Dense", {{"units", 3}}}, {"Conv2D", {{"filters", 3}, {"kernel_size", 2}}}};
  const std::vector<std::pair<std::string, Json>> accepted = {
      {"kernel_initializer", nullptr},
      {"kernel_initializer", "glorot_uniform"},
      {"kernel_initializer", "GlorotUniform"},
      {"kernel_initializer", {{"class_name", "GlorotUniform"}, {"config", {{"seed", 7}}}}},
      {"kernel_initializer",
       {{"module", "keras.initializers"}, {"class_name", "GlorotUniform"},
        {"config", {{"seed", nullptr}}}, {"registered_name", nullptr}}},
      {"bias_initializer", nullptr},
      {"bias_initializer", "zeros"},
      {"bias_initializer", {{"class_name", "Zeros"}, {"config", Json::object()}}},
      {"kernel_regularizer", nullptr},
      {"activity_regularizer", nullptr},
      {"bias_constraint", nullptr},
  };
  const std::vector<std::pair<std::string, Json>> rejected = {
      {"kernel_initializer", "he_normal"},
      {"kernel_initializer", {{"module", "my.module"}, {"class_name", "GlorotUniform"}}},
      {"kernel_initializer", {{"class_name", "GlorotUniform"}, {"config", {{"scale", 2}}}}},
      {"bias_initializer", {{"class_name", "Zeros"}, {"config", {{"seed", 1}}}}},
      {"bias_initializer", 0},
      {"bias_regularizer", "l2"},
      {"activity_regularizer", {{"class_name", "L1"}}},
      {"kernel_constraint", {{"class_name", "NonNeg"}}},
  };
  for (const auto& [class_name, base] : layers) {
    for (const auto& [key, value] : accepted) {
      Json config = base;
      config[key] = value;
      SCOPED_TRACE(class_name + " " + config.dump());
      EXPECT_NO_THROW((void)make_layer(class_name, config));
    }
    for (const auto& [key, value] : rejected) {
      Json config = base;
      config[key] = value;
      SCOPED_TRACE(class_name + " " + config.dump());
      expect_make_layer_error(class_name, config, {class_name, key});
    }
  }
}

}  // namespace
}  // namespace poolnet
