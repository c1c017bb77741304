// Limits on what a file may make poolnet do (docs: README "Guarantees"): JSON nesting, image and
// model sizes refused before anything that large is allocated, and the in-memory entry points
// (used by the fuzzers) agreeing with the file readers.
#include <gtest/gtest.h>

#include <cstring>

#include "io/image.hpp"
#include "io/json_parse.hpp"
#include "poolnet/data/idx.hpp"
#include "poolnet/model/model_file.hpp"
#include "test_util.hpp"

namespace poolnet {
namespace {

using testing::TempDir;

TEST(JsonParse, RefusesNestingDeeperThanTheLimitNamingLineAndColumn) {
  const std::string ok = std::string(io::kMaxJsonDepth, '[') + std::string(io::kMaxJsonDepth, ']');
  EXPECT_NO_THROW(io::parse_json(ok, "ok.json"));
  // The 101st level is the 100th '[' of line 2 (the '{' of line 1 is the first).
  const std::string deep = "{\"a\":\n" + std::string(1000000, '[');
  testing::expect_throws<FormatError>([&] { io::parse_json(deep, "deep.json"); },
                                      {"deep.json:2:100: JSON nesting deeper than 100 levels"});
}

TEST(JsonParse, BracketsInsideStringsDoNotCount) {
  const std::string text = "{\"a\": \"" + std::string(500, '[') + "\\\"{{{\", \"b\": [1]}";
  const nlohmann::json j = io::parse_json(text, "strings.json");
  EXPECT_EQ(j["a"].get<std::string>().size(), 504u);
}

TEST(JsonParse, MalformedJsonNamesTheSourceAndPosition) {
  testing::expect_throws<FormatError>([] { io::parse_json("{\"a\": [1, 2", "cut.json"); },
                                      {"cut.json: not valid JSON", "line 1, column 12"});
}

// Found by fuzzing (keras_layer): nlohmann reports a number beyond double's range with an
// out_of_range exception, not a parse_error; `poolnet summary` died of it (std::terminate).
TEST(JsonParse, NumberOutOfDoubleRangeIsAFormatError) {
  testing::expect_throws<FormatError>([] { io::parse_json("{\"units\": 5e5555555}", "big.json"); },
                                      {"big.json: not valid JSON", "number overflow parsing '5e5555555'"});
}

TEST(InputLimits, ImagesClaimingMoreThanTheirFileHoldsFailBeforeAllocating) {
  const TempDir dir("poolnet_limits");
  const std::size_t budget = std::size_t{48} << 20;  // an 8192x8192 image alone is 256 MiB as floats
  const std::string p5 = dir.file("p5.pgm", "P5 8192 8192 255\n\x01\x02");
  testing::expect_error_within_memory<FormatError>([&] { (void)io::read_gray_image(p5); }, budget,
                                                   "expected 67108864 bytes, the file holds 2");
  const std::string p2 = dir.file("p2.pgm", "P2 8192 8192 255\n1 2 3\n");
  testing::expect_error_within_memory<FormatError>([&] { (void)io::read_gray_image(p2); }, budget,
                                                   "expected 67108864 pixel values, the file holds 3");
  // A valid PNG header and one tiny IDAT chunk claiming 8000x8000 pixels.
  const std::string png = testing::read_bytes(std::string(POOLNET_SOURCE_DIR) +
                                              "/tests/data/bad_inputs/image/claims_more_than_it_holds.png");
  testing::expect_error_within_memory<FormatError>(
      [&] { (void)io::read_gray_image_bytes(png, "claims.png"); }, budget,
      "claims.png: image is 8000x8000 = 64000000 pixels, more than a PNG file of");
}

// Found by fuzzing (png): IHDR fields up to 2^32 - 1 are checked before libpng limits them to
// 2^31, and their product overflowed int64 (undefined behaviour; the check then let it through).
TEST(InputLimits, PngDimensionsAbove2To31AreRefusedWithoutOverflow) {
  const std::string png = testing::read_bytes(std::string(POOLNET_SOURCE_DIR) +
                                              "/tests/data/bad_inputs/image/ihdr_dims_above_2_31.png");
  testing::expect_throws<FormatError>(
      [&] { (void)io::read_gray_image_bytes(png, "wide.png"); },
      {"wide.png: image is 2880154368x4038762695 = 11632260017319701760 pixels, more than the limit of 67108864"});
}

std::string tiny_model_with_dense_units(std::int64_t units) {
  nlohmann::json model = nlohmann::json::parse(
      testing::read_bytes(std::string(POOLNET_SOURCE_DIR) + "/tests/data/bad_inputs/good/tiny.json"));
  model["config"]["layers"][4]["config"]["units"] = units;
  return model.dump();
}

TEST(InputLimits, AWeightAboveTheLimitIsRefusedBeforeAllocating) {
  const std::string text = tiny_model_with_dense_units(std::int64_t{1} << 40);
  testing::expect_error_within_memory<ShapeError>(
      [&] { read_model_json(text, "huge.json").build(1); }, std::size_t{64} << 20,
      "Dense: kernel of shape (8, 1099511627776) would have 8796093022208 elements, more than the "
      "limit of 134217728");
}

TEST(InputLimits, AModelAboveTheParameterLimitIsRefused) {
  // Five Dense layers of 8192 x 8192: each weight is within kMaxWeightElements, the fifth brings
  // the model above kMaxModelParameters.
  nlohmann::json layers = nlohmann::json::array();
  layers.push_back({{"class_name", "InputLayer"}, {"config", {{"batch_shape", {nullptr, 8192}}}}});
  for (int i = 0; i < 5; ++i) {
    layers.push_back({{"class_name", "Dense"}, {"config", {{"units", 8192}, {"use_bias", false}}}});
  }
  const nlohmann::json model = {{"class_name", "Sequential"}, {"config", {{"name", "wide"}, {"layers", layers}}}};
  Sequential wide = read_model_json(model.dump(), "wide.json");
  testing::expect_throws<ShapeError>([&] { wide.build(1); },
                                     {"wide: layer 'dense_4' (Dense, 5 of 5) brings the model to "
                                      "335544320 parameters, more than the limit of 268435456"});
}

TEST(InputLimits, ALayerOutputAboveTheActivationLimitIsRefused) {
  // A 1x1 convolution with 4096 filters on a 256 x 256 input: a small kernel, a 2^28-element
  // output per sample.
  nlohmann::json model = nlohmann::json::parse(
      testing::read_bytes(std::string(POOLNET_SOURCE_DIR) + "/tests/data/bad_inputs/good/tiny.json"));
  model["config"]["layers"][0]["config"]["batch_shape"] = {nullptr, 256, 256, 1};
  model["config"]["layers"][1]["config"]["filters"] = 4096;
  model["config"]["layers"][1]["config"]["kernel_size"] = {1, 1};
  Sequential wide = read_model_json(model.dump(), "wide.json");
  testing::expect_throws<ShapeError>([&] { wide.build(1); },
                                     {"layer 'conv2d' (Conv2D, 1 of 4) outputs (None, 256, 256, 4096), "
                                      "268435456 elements per sample, more than the limit of 67108864"});
}

TEST(InputLimits, InMemoryReadersAgreeWithTheFileReaders) {
  const std::string good = std::string(POOLNET_SOURCE_DIR) + "/tests/data/bad_inputs/good/";
  const std::string labels_path = good + "data/train-labels-idx1-ubyte";
  const IdxArray from_file = read_idx(labels_path);
  const IdxArray from_bytes = read_idx_bytes(testing::read_bytes(labels_path), "labels");
  EXPECT_EQ(from_file.dims, from_bytes.dims);
  EXPECT_EQ(from_file.values, from_bytes.values);

  const std::string model_path = good + "tiny.pnet";
  Sequential a = load_model(model_path);
  Sequential b = read_model(testing::read_bytes(model_path), "tiny");
  EXPECT_EQ(a.to_json(), b.to_json());
  std::vector<float> wa, wb;
  for (const Parameter* p : a.parameters())
    wa.insert(wa.end(), p->value.values().begin(), p->value.values().end());
  for (const Parameter* p : b.parameters())
    wb.insert(wb.end(), p->value.values().begin(), p->value.values().end());
  EXPECT_EQ(wa, wb);

  const TempDir dir("poolnet_limits");
  const std::string pgm = dir.file("x.pgm", "P2 3 1 4 0 2 4\n");
  const Tensor image_file = io::read_gray_image(pgm);
  const Tensor image_bytes = io::read_gray_image_bytes(testing::read_bytes(pgm), "x.pgm");
  EXPECT_EQ(std::memcmp(image_file.data(), image_bytes.data(), 3 * sizeof(float)), 0);
  testing::expect_throws<FormatError>([] { (void)read_idx_bytes("", "nothing"); },
                                      {"nothing: the file is empty"});
  testing::expect_throws<FormatError>([] { (void)io::read_gray_image_bytes("", "nothing"); },
                                      {"nothing: file is empty"});
}

}  // namespace
}  // namespace poolnet
